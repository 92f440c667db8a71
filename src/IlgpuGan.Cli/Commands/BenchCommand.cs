using System.CommandLine;
using IlgpuGan.Bench;

namespace IlgpuGan.Cli.Commands;

/// <summary>
/// <c>ilgpu-gan bench [W-MLP W-DCGAN28 W-DCGAN64 W-WGANGP28 K-GEMM K-CONV K-CONVT]</c>: the workloads of
/// shared/bench/WORKLOADS.md on one accelerator, one figure per line in the form of
/// shared/bench/torch_workloads.py, so the two compare line by line.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var names = new Argument<string[]>("workloads")
        {
            Description = $"Any of {string.Join(", ", Benchmarks.Names)} (default: all).",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var accelerator = new Option<string?>("--accelerator", "-a") { Description = "cpu, opencl, cuda or auto (default: $ILGPUGAN_ACCELERATOR, else the best present).", HelpName = "kind" };
        var steps = new Option<int>("--steps") { Description = "Timed training steps per GAN workload after 5 warm-up ones (default: the CPU peer's counts, W-MLP 200, W-DCGAN28 60, W-DCGAN64 10, W-WGANGP28 30; GPU 100).", DefaultValueFactory = _ => 0 };
        var batch = new Option<int?>("--batch") { Description = "Batch of the GAN workloads instead of WORKLOADS.md's (64; W-DCGAN64 128); their lines then carry batch= and images_per_s=, as the TorchSharp peer's --batch does. The kernel workloads ignore it.", HelpName = "n" };
        var tf32 = new Option<bool>("--tf32") { Description = "Run GEMMs on TF32 tensor cores where supported (CUDA, compute capability 8.0+; about 3e-4 relative error instead of FP32's ~1e-6). Also $ILGPUGAN_TF32=1." };
        var cmd = new Command("bench", "Time the shared benchmark workloads (medians, device synchronised before every clock read).")
        {
            names, accelerator, steps, batch, tf32,
        };
        cmd.SetAction(parse =>
        {
            var chosen = parse.GetValue(names) is { Length: > 0 } n ? n : [.. Benchmarks.Names];
            foreach (var name in chosen)
                if (!Benchmarks.Names.Contains(name, StringComparer.OrdinalIgnoreCase))
                    throw new CliException($"unknown workload '{name}'; expected one of {string.Join(", ", Benchmarks.Names)}");
            if (parse.GetValue(steps) < 0) throw new CliException("--steps must be positive");
            if (parse.GetValue(batch) is < 1 and var b) throw new CliException($"--batch must be at least 1; got {b}");
            using var device = Device.Create(Device.ParseKind(parse.GetValue(accelerator)), seed: 1);
            if (parse.GetValue(tf32))
            {
                device.Kernels.AllowTf32 = true;
                if (!device.Kernels.UsesTf32)
                    Console.Error.WriteLine("warning: --tf32 ignored: TF32 tensor cores need a CUDA device of compute capability 8.0 or later; GEMMs stay FP32");
            }
            Console.WriteLine($"# ilgpu-gan bench device={device} cores={Environment.ProcessorCount} date={DateTime.UtcNow:yyyy-MM-dd}");
            Benchmarks.Run(device, chosen, Console.Out, parse.GetValue(steps), parse.GetValue(batch));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
