// W-DCGAN28 (shared/bench/WORKLOADS.md) on the bundled 7,996 MNIST training digits.
// Usage: dotnet run -c Release --project samples/MnistDcgan -- [--steps N] [--batch 64] [--accelerator cpu|opencl|cuda]
//        [--data DIR] [--out DIR] [--sample-every N] [--seed S] [--loss bce|wgan|wgan-gp|hinge|lsgan]
//        [--bench N]  (times N W-DCGAN28 steps as WORKLOADS.md defines them and prints the median)
// Writes a grid of G's digits for a fixed noise batch every --sample-every steps (out/mnist-dcgan/step_NNNNN.png).
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
    var model = ModelRegistry.Dcgan28;
    var defaults = model.DefaultsFor(loss);                           // the registry's settings for W-DCGAN28 and this loss
    int steps = opts.Int("steps", loss == Objective.Bce ? 1500 : (int)defaults.Steps), batch = opts.Int("batch", 64), sampleEvery = opts.Int("sample-every", 250), seed = opts.Int("seed", 1);
    string data = opts.Get("data", null) ?? MnistDataset.DefaultFolder;
    string outDir = opts.Get("out", null) ?? Path.Combine("out", "mnist-dcgan");
    var kind = Device.ParseKind(opts.Get("accelerator", null));
    int bench = opts.Int("bench", 0);
    if (opts.Unused.Any()) throw new ArgumentException($"Unknown option --{opts.Unused.First()}.");
    if (bench > 0)
    {
        using var benchDevice = Device.Create(kind, seed: 1);
        Console.WriteLine(GanWorkload.Dcgan28.Time(benchDevice, bench).Format(benchDevice.Kind.ToString().ToLowerInvariant()));
        return 0;
    }

    var mnist = MnistDataset.Load(data);
    var loader = BatchLoader.FromMnist(mnist, batch, seed);
    using var device = Device.Create(kind, (ulong)seed);
    Console.WriteLine($"device: {device}; data: {mnist.Count} digits from {data}; {steps} steps of batch {batch}");

    // G: z (N, 100, 1, 1) -> (N, 256, 7, 7) -> (N, 128, 14, 14) -> (N, 1, 28, 28)
    // D: (N, 1, 28, 28) -> (N, 64, 14, 14) -> (N, 128, 7, 7) -> logit (N, 1, 1, 1)  (wgan-gp: LayerNorm for BatchNorm)
    using var trainer = GanRecipe.Create(device, model, defaults.Options, batch);

    // A fixed noise batch, so that the grids over time are comparable.
    using var fixedNoise = device.Persistent(model.LatentShape(64, model.LatentSize));
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
        // (1) D step(s): real batch labelled 1, G(z) (not back-propagated into G) labelled 0 (bce).
        // (2) G step: a fresh z, G's fakes labelled real through the updated D.
        trainer.TrainStep(NextReal);
        if (step % 50 == 0 || step == steps)
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
