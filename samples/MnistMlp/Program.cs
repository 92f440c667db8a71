// W-MLP (shared/bench/WORKLOADS.md) on the bundled 7,996 MNIST training digits.
// Usage: dotnet run -c Release --project samples/MnistMlp -- [--steps N] [--batch 64] [--accelerator cpu|opencl|cuda]
//        [--data DIR] [--out DIR] [--sample-every N] [--seed S] [--loss bce|wgan|wgan-gp|hinge|lsgan]
//        [--bench N]  (times N W-MLP steps as WORKLOADS.md defines them and prints the median)
//        [--gemm N]   (times K-GEMM of WORKLOADS.md: C = A * B, square n = N, median of 10 after warm-up)
// Writes a grid of G's digits for a fixed noise batch every --sample-every steps (out/mnist-mlp/step_NNNNN.png).
using System.Diagnostics;
using IlgpuGan;
using IlgpuGan.Data;
using IlgpuGan.Imaging;
using IlgpuGan.Recipes;
using IlgpuGan.Training;

try
{
    var opts = Args.Parse(args);
    var loss = Objectives.Parse(opts.Get("loss", null) ?? "bce");
    var defaults = ModelRegistry.Mlp.DefaultsFor(loss);             // the registry's settings for W-MLP and this loss
    int steps = opts.Int("steps", loss == Objective.Bce ? 6000 : (int)defaults.Steps), batch = opts.Int("batch", 64), sampleEvery = opts.Int("sample-every", 1000), seed = opts.Int("seed", 1);
    string data = opts.Get("data", null) ?? MnistDataset.DefaultFolder;
    string outDir = opts.Get("out", null) ?? Path.Combine("out", "mnist-mlp");
    var kind = Device.ParseKind(opts.Get("accelerator", null));
    int bench = opts.Int("bench", int.MaxValue);
    int gemm = opts.Int("gemm", int.MaxValue);
    if (opts.Unused.Any()) throw new ArgumentException($"Unknown option --{opts.Unused.First()}.");
    if (bench != int.MaxValue) return Bench(kind, bench, batch);
    if (gemm != int.MaxValue) return BenchGemm(kind, gemm);

    var mnist = MnistDataset.Load(data);
    var loader = BatchLoader.FromMnist(mnist, batch, seed);
    using var device = Device.Create(kind, (ulong)seed);
    Console.WriteLine($"device: {device}; data: {mnist.Count} digits from {data}; {steps} steps of batch {batch}");

    // G: z (N, 100) -> (N, 1, 28, 28); D: (N, 1, 28, 28) -> logit (N, 1); one optimizer each (bce: Adam 2e-4, betas (0.5, 0.999)).
    using var trainer = GanRecipe.Create(device, ModelRegistry.Mlp, defaults.Options, batch);

    // A fixed noise batch, so that the grids over time are comparable.
    using var fixedNoise = device.Persistent(new Shape(64, 100));
    device.Kernels.Normal(fixedNoise.View, device.Random.Next(fixedNoise.Length), 0, 1);
    using var real = device.Persistent(new Shape(batch, 1, 28, 28));
    var host = new float[batch * 28 * 28];
    Tensor NextReal()
    {
        if (!loader.Next(host)) loader.Next(host);      // a new epoch starts when one runs out
        real.CopyFrom(host);
        return real;
    }
    ImageGrid.SavePng(Path.Combine(outDir, "real.png"), mnist.Images.AsSpan(0, 64 * 784), 64, 1, 28, 28);

    var clock = Stopwatch.StartNew();
    for (int step = 1; step <= steps; step++)
    {
        trainer.TrainStep(NextReal);
        if (step % 100 == 0 || step == steps)
        {
            var s = trainer.ReadStats();   // waits for the device
            double rate = step / clock.Elapsed.TotalSeconds;
            Console.WriteLine($"[{step}/{steps}] epoch {loader.Epoch}  {s.Text()}  {rate:F1} steps/s  ETA {(steps - step) / rate:F0} s");
        }
        if (step % sampleEvery == 0 || step == steps)
        {
            string path = Path.Combine(outDir, $"step_{step:D5}.png");
            ImageGrid.SavePng(path, trainer.Sample(fixedNoise), 64, 1, 28, 28);
            Console.WriteLine($"wrote {path}");
        }
    }
    Console.WriteLine($"done: {steps} steps in {clock.Elapsed.TotalSeconds:F1} s ({clock.Elapsed.TotalMilliseconds / steps:F1} ms/step)");
    return 0;
}
catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or InvalidOperationException or NotSupportedException or NonFiniteLossException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

// W-MLP as WORKLOADS.md times it (GanWorkload.Time): a fixed random real batch on the device,
// 5 warm-up steps, the device synchronised before every clock read, the median step reported.
static int Bench(AcceleratorKind kind, int steps, int batch)
{
    if (batch != GanWorkload.Mlp.Batch) throw new ArgumentException($"W-MLP is defined with batch {GanWorkload.Mlp.Batch}.");
    using var device = Device.Create(kind, seed: 1);
    Console.WriteLine(GanWorkload.Mlp.Time(device, steps).Format(device.Kind.ToString().ToLowerInvariant()));
    return 0;
}

// K-GEMM as WORKLOADS.md defines it: C = A * B, row-major float32, M = N = K = n, median of 10 runs
// after 2 warm-up runs, the device synchronised before every clock read.
static int BenchGemm(AcceleratorKind kind, int n)
{
    using var device = Device.Create(kind, seed: 1);
    using var a = device.Persistent(new Shape(n, n));
    using var b = device.Persistent(new Shape(n, n));
    using var c = device.Persistent(new Shape(n, n));
    device.Kernels.Uniform(a.View, device.Random.Next(a.Length), -1, 1);
    device.Kernels.Uniform(b.View, device.Random.Next(b.Length), -1, 1);
    var shape = IlgpuGan.Kernels.GemmShape.Dense(n, n, n);
    var times = new double[10];
    for (int i = -2; i < times.Length; i++)
    {
        device.Synchronize();
        long t0 = Stopwatch.GetTimestamp();
        device.Kernels.Gemm(shape, a.View, b.View, c.View);
        device.Synchronize();
        if (i >= 0) times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
    }
    Array.Sort(times);
    double ms = times[times.Length / 2];
    Console.WriteLine($"K-GEMM device={device.Kind.ToString().ToLowerInvariant()} n={n} ms={ms:F3} gflops={2.0 * n * n * n / (ms * 1e6):F1} " +
                      $"variant={device.Kernels.Variant}");
    return 0;
}
