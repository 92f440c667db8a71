using System.Diagnostics;
using IlgpuGan.Kernels;
using IlgpuGan.Training;

namespace IlgpuGan.Bench;

/// <summary>
/// The workloads of shared/bench/WORKLOADS.md on one device, printed one figure per line in the form
/// of shared/bench/torch_workloads.py (so the two can be compared line by line, as a ratio):
/// <c>W-MLP device=cpu steps_per_s=.. ms_per_step=..</c>, <c>K-GEMM device=cpu n=1024 ms=.. gflops=..</c>,
/// <c>K-CONV device=cpu pass=backward_weight ms=.. gflops=..</c>. The device is synchronised before
/// every clock read; every figure is a median (training steps: with the fastest beside it). On the host
/// kernels, kernel figures also carry <c>peak_share=</c>: their GFLOP/s over the machine's measured FMA peak
/// on the threads the kernels use (<see cref="FmaPeak"/>, also printed alone as K-PEAK).
/// </summary>
public static class Benchmarks
{
    public static readonly IReadOnlyList<string> Names = ["W-MLP", "W-DCGAN28", "W-DCGAN64", "W-WGANGP28", "K-PEAK", "K-GEMM", "K-CONV", "K-CONVT"];

    /// <param name="steps">Timed training steps of the W- workloads; 0 takes the CPU peer's counts
    /// (shared/bench/torchsharp: W-MLP 200, W-DCGAN28 60, W-DCGAN64 10, W-WGANGP28 30) on a CPU, 100 on a GPU.</param>
    /// <param name="batch">A batch for the W- workloads instead of WORKLOADS.md's (the kernel workloads ignore it).</param>
    public static void Run(Device device, IEnumerable<string> names, TextWriter output, int steps = 0, int? batch = null)
    {
        string dev = device.Kind.ToString().ToLowerInvariant();
        // A CPU, or an OpenCL CPU device (PoCL): WORKLOADS.md's CPU sizes and step counts.
        bool cpu = device.Kind == AcceleratorKind.Cpu || device.Kernels.Variant == IlgpuGan.Kernels.KernelVariant.ClCpu;
        // The host kernels' kernel figures are also stated as a share of this machine's measured FMA peak on the
        // threads they use (K-PEAK, measured once, when first needed).
        double? peak = null;
        string Share(double gflops)
        {
            if (device.Kernels.Variant != IlgpuGan.Kernels.KernelVariant.Host || FmaPeak.Bits == 0) return "";
            peak ??= FmaPeak.Measure(Environment.ProcessorCount);
            return $" peak_share={gflops / peak.Value:F3}";
        }
        foreach (var name in names)
        {
            string upper = name.ToUpperInvariant();
            switch (upper)
            {
                case "W-MLP" or "W-DCGAN28" or "W-DCGAN64" or "W-WGANGP28":
                {
                    var workload = GanWorkload.Find(upper);
                    int n = steps > 0 ? steps : cpu ? workload.CpuSteps : 100;
                    output.WriteLine(workload.Time(device, n, batch: batch).Format(dev));
                    break;
                }
                case "K-GEMM":
                    foreach (int n in cpu ? new[] { 256, 512, 1024 } : [1024, 4096, 8192])
                    {
                        double ms = Gemm(device, n, cpu ? 10 : 50);
                        double gflops = 2.0 * n * n * n / ms / 1e6;
                        output.WriteLine($"K-GEMM device={dev} n={n} ms={ms:F3} gflops={gflops:F1}{Share(gflops)}");
                    }
                    break;
                case "K-CONV":
                    ConvPasses(device, "K-CONV", ConvShape.Conv(128, 64, 32, 32, 128, 4, 4, 2, 1), transposed: false, cpu ? 5 : 50, output, dev, Share);
                    break;
                case "K-CONVT":
                    ConvPasses(device, "K-CONVT", ConvShape.Transposed(128, 512, 4, 4, 256, 4, 4, 2, 1, 0), transposed: true, cpu ? 5 : 50, output, dev, Share);
                    break;
                case "K-PEAK":
                    // the host's FMA ceiling (not in WORKLOADS.md; the peer's extra K-PEAK), on 1 thread and on all
                    if (FmaPeak.Bits == 0) { output.WriteLine("# K-PEAK: no vector FMA on this machine, skipped"); break; }
                    foreach (int t in new[] { 1, Environment.ProcessorCount }.Distinct())
                    {
                        double g = FmaPeak.Measure(t);
                        if (t == Environment.ProcessorCount) peak = g;
                        output.WriteLine($"K-PEAK device=host threads={t} fma{FmaPeak.Bits}_gflops={g:F1}");
                    }
                    break;
                default:
                    throw new ArgumentException($"Unknown workload '{name}'; expected one of {string.Join(", ", Names)}.");
            }
        }
    }

    /// <summary>Median milliseconds of <paramref name="reps"/> runs after 3 warm-up runs.</summary>
    public static double Median(Device device, Action run, int reps, int warmup = 3)
    {
        for (int i = 0; i < warmup; i++) run();
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            device.Synchronize();
            long t0 = Stopwatch.GetTimestamp();
            run();
            device.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[reps / 2];
    }

    private static double Gemm(Device device, int n, int reps)
    {
        using Tensor a = device.Persistent(new Shape(n, n)), b = device.Persistent(new Shape(n, n)), c = device.Persistent(new Shape(n, n));
        device.Kernels.Normal(a.View, device.Random.Next(a.Length), 0, 1);
        device.Kernels.Normal(b.View, device.Random.Next(b.Length), 0, 1);
        var shape = GemmShape.Dense(n, n, n);
        return Median(device, () => device.Kernels.Gemm(shape, a.View, b.View, c.View), reps);
    }

    /// <summary>The three passes of one convolution; flops are the direct convolution's for every pass.</summary>
    private static void ConvPasses(Device device, string name, ConvShape s, bool transposed, int reps, TextWriter output, string dev, Func<double, string> share)
    {
        var k = device.Kernels;
        using Tensor x = device.Persistent(new Shape((int)s.InputLength)), w = device.Persistent(new Shape((int)s.WeightLength)),
            y = device.Persistent(new Shape((int)s.OutputLength)), gw = device.Persistent(new Shape((int)s.WeightLength));
        foreach (var t in new[] { x, w, y }) k.Normal(t.View, device.Random.Next(t.Length), 0, 1);
        // A transposed convolution runs its convolution's passes in the other roles: its input is
        // the convolution's output (y here) and its output the convolution's input (x).
        (string Pass, Action Run)[] passes = transposed
            ? [("forward", () => k.ConvBackwardData(s, y.View, w.View, x.View)),
               ("backward_data", () => k.ConvForward(s, x.View, w.View, y.View)),
               ("backward_weight", () => k.ConvBackwardWeight(s, x.View, y.View, gw.View))]
            : [("forward", () => k.ConvForward(s, x.View, w.View, y.View)),
               ("backward_data", () => k.ConvBackwardData(s, y.View, w.View, x.View)),
               ("backward_weight", () => k.ConvBackwardWeight(s, x.View, y.View, gw.View))];
        foreach (var (pass, run) in passes)
        {
            double ms = Median(device, run, reps);
            double gflops = s.Flops / ms / 1e6;
            output.WriteLine($"{name} device={dev} pass={pass} ms={ms:F3} gflops={gflops:F1}{share(gflops)}");
        }
    }
}
