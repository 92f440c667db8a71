using System.Diagnostics;
using IlgpuGan.Models;
using IlgpuGan.Nn;
using IlgpuGan.Optim;

namespace IlgpuGan.Training;

/// <summary>One GAN workload of shared/bench/WORKLOADS.md: its models, batch and tensor shapes.</summary>
public sealed record GanWorkload(string Name, int Batch, Shape Image, Func<Device, Module> Generator, Func<Device, Module> Discriminator,
    Func<int, int, Shape> LatentShape)
{
    public const int LatentSize = 100;

    public static readonly GanWorkload Mlp = new("W-MLP", 64, new Shape(1, 28, 28),
        d => Models.Mlp.Generator(d), d => Models.Mlp.Discriminator(d), (n, nz) => new Shape(n, nz));
    public static readonly GanWorkload Dcgan28 = new("W-DCGAN28", 64, new Shape(1, 28, 28),
        d => Dcgan.Generator28(d), d => Dcgan.Discriminator28(d), Dcgan.LatentShape);
    public static readonly GanWorkload Dcgan64 = new("W-DCGAN64", 128, new Shape(3, 64, 64),
        d => Dcgan.Generator64(d), d => Dcgan.Discriminator64(d), Dcgan.LatentShape);

    public static IReadOnlyList<GanWorkload> All { get; } = [Mlp, Dcgan28, Dcgan64];

    public static GanWorkload Find(string name) =>
        All.FirstOrDefault(w => string.Equals(w.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown workload '{name}'; expected one of {string.Join(", ", All.Select(w => w.Name))}.");

    /// <summary>A trainer for this workload with WORKLOADS.md's Adam settings (lr 2e-4 unless
    /// <paramref name="lr"/> says otherwise; the caller disposes the models and optimizers through the
    /// returned set).</summary>
    public GanSetup Create(Device device, int? batch = null, double lr = 2e-4)
    {
        var g = Generator(device);
        var d = Discriminator(device);
        var optG = new Adam(g.Parameters(), lr: lr, beta1: 0.5, beta2: 0.999);
        var optD = new Adam(d.Parameters(), lr: lr, beta1: 0.5, beta2: 0.999);
        var trainer = new GanTrainer(device, g, d, optG, optD, batch ?? Batch,
            new TrainerOptions { LatentSize = LatentSize, LatentShape = LatentShape });
        return new GanSetup(g, d, optG, optD, trainer);
    }

    /// <summary>
    /// Times training steps as WORKLOADS.md defines them: a fixed random real batch in [-1, 1] on
    /// the device, <paramref name="warmup"/> untimed steps, the device synchronised before every
    /// clock read; the median step is reported.
    /// </summary>
    public StepTiming Time(Device device, int steps, int warmup = 5)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), "Time at least one step.");
        using var setup = Create(device);
        using var real = device.Persistent(new Shape([Batch, .. Image.Dims]));
        device.Kernels.Uniform(real.View, device.Random.Next(real.Length), -1, 1);
        for (int i = 0; i < warmup; i++) setup.Trainer.TrainStep(() => real);
        device.Synchronize();
        long allocations = device.Pool.Allocations;
        var times = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            device.Synchronize();
            long t0 = Stopwatch.GetTimestamp();
            setup.Trainer.TrainStep(() => real);
            device.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        var stats = setup.Trainer.ReadStats();
        Array.Sort(times);
        return new StepTiming(this, times[steps / 2], times[0], steps, device.Pool.Allocations - allocations, device.Pool.PeakInUseBytes, stats);
    }
}

/// <summary>Models, optimizers and trainer of one run; disposed together.</summary>
public sealed record GanSetup(Module G, Module D, Optimizer OptG, Optimizer OptD, GanTrainer Trainer) : IDisposable
{
    public void Dispose()
    {
        Trainer.Dispose(); OptG.Dispose(); OptD.Dispose(); G.Dispose(); D.Dispose();
    }
}

/// <summary>The result of <see cref="GanWorkload.Time"/>, printed in torch_workloads.py's form.</summary>
public sealed record StepTiming(GanWorkload Workload, double MedianMs, double MinMs, int Steps, long AllocationsAfterWarmup, long PeakDeviceBytes, StepStats Last)
{
    public string Format(string device) =>
        $"{Workload.Name} device={device} steps_per_s={1000 / MedianMs:F2} ms_per_step={MedianMs:F2} min_ms={MinMs:F2} steps={Steps} " +
        $"allocations_after_warmup={AllocationsAfterWarmup} peak_device_bytes={PeakDeviceBytes}";
}
