using System.Diagnostics;
using IlgpuGan.Recipes;

namespace IlgpuGan.Training;

/// <summary>One GAN workload of shared/bench/WORKLOADS.md: a model of the <see cref="ModelRegistry"/>,
/// an objective (with that model's defaults for it), the batch, and the steps the CPU peer
/// (shared/bench/torchsharp) counts.</summary>
public sealed record GanWorkload(string Name, ModelSpec Model, Objective Loss, int Batch, int CpuSteps)
{
    public static readonly GanWorkload Mlp = new("W-MLP", ModelRegistry.Mlp, Objective.Bce, 64, 200);
    public static readonly GanWorkload Dcgan28 = new("W-DCGAN28", ModelRegistry.Dcgan28, Objective.Bce, 64, 60);
    public static readonly GanWorkload Dcgan64 = new("W-DCGAN64", ModelRegistry.Dcgan64, Objective.Bce, 128, 10);
    /// <summary>WGAN-GP on the DCGAN-28 nets: W-DCGAN28's G, its D with LayerNorm([128, 7, 7]) for BatchNorm;
    /// Adam 1e-4 (0.5, 0.9); one step = 5 critic updates with the gradient penalty (lambda 10), then one G update.</summary>
    public static readonly GanWorkload WganGp28 = new("W-WGANGP28", ModelRegistry.Dcgan28, Objective.WganGp, 64, 30);

    public static IReadOnlyList<GanWorkload> All { get; } = [Mlp, Dcgan28, Dcgan64, WganGp28];

    public static GanWorkload Find(string name) =>
        All.FirstOrDefault(w => string.Equals(w.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown workload '{name}'; expected one of {string.Join(", ", All.Select(w => w.Name))}.");

    /// <summary>WORKLOADS.md's settings: the model's defaults for the objective (for BCE: Adam 2e-4, betas (0.5, 0.999)).</summary>
    public TrainingOptions Options => Model.DefaultsFor(Loss).Options;

    /// <summary>The workload's recipe on <paramref name="device"/> (learning rate <paramref name="lr"/> for
    /// both parts when given); the caller disposes it.</summary>
    public GanRecipe Create(Device device, int? batch = null, double? lr = null) =>
        GanRecipe.Create(device, Model, lr is { } r ? Options with { LrG = r, LrD = r } : Options, batch ?? Batch);

    /// <summary>
    /// Times training steps as WORKLOADS.md defines them: a fixed random real batch in [-1, 1] on
    /// the device, <paramref name="warmup"/> untimed steps, the device synchronised before every
    /// clock read; the median and the fastest step are reported. <paramref name="batch"/> replaces
    /// WORKLOADS.md's batch (the line then also carries the batch and images per second, as the peer's <c>--batch</c> does).
    /// </summary>
    public StepTiming Time(Device device, int steps, int warmup = 5, int? batch = null)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), "Time at least one step.");
        if (batch is < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "The batch must be at least 1.");
        using var recipe = Create(device, batch);
        using var real = device.Persistent(new Shape([batch ?? Batch, .. Model.SampleShape]));
        device.Kernels.Uniform(real.View, device.Random.Next(real.Length), -1, 1);
        for (int i = 0; i < warmup; i++) recipe.TrainStep(() => real);
        device.Synchronize();
        long allocations = device.Pool.Allocations;
        var times = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            device.Synchronize();
            long t0 = Stopwatch.GetTimestamp();
            recipe.TrainStep(() => real);
            device.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        var stats = recipe.ReadStats();
        Array.Sort(times);
        return new StepTiming(this, times[steps / 2], times[0], steps, device.Pool.Allocations - allocations, device.Pool.PeakInUseBytes, stats, batch);
    }
}

/// <summary>The result of <see cref="GanWorkload.Time"/>, printed in torch_workloads.py's form with the
/// fastest step beside the median.</summary>
public sealed record StepTiming(GanWorkload Workload, double MedianMs, double MinMs, int Steps, long AllocationsAfterWarmup, long PeakDeviceBytes, StepStats Last,
    int? Batch = null)
{
    /// <summary>Images per second: the batch times steps per second (a W-WGANGP28 step is 5 critic updates and one G update, each on a batch).</summary>
    public double ImagesPerSecond => (Batch ?? Workload.Batch) * 1000 / MedianMs;

    public string Format(string device) =>
        $"{Workload.Name} device={device} steps_per_s={1000 / MedianMs:F2} ms_per_step={MedianMs:F2} ms_min={MinMs:F2} steps={Steps} " +
        (Batch is { } b ? $"batch={b} images_per_s={ImagesPerSecond:F1} " : "") +
        $"allocations_after_warmup={AllocationsAfterWarmup} peak_device_bytes={PeakDeviceBytes}";
}
