using IlgpuGan.Imaging;
using IlgpuGan.Models;
using IlgpuGan.Nn;
using IlgpuGan.Training;

namespace IlgpuGan.Cli.Runs;

/// <summary>A model's training defaults (WORKLOADS.md's Adam settings unless said otherwise).</summary>
public sealed record TrainDefaults(int Batch, long Steps, double Lr, double Beta1, double Beta2, long SampleEvery, long CheckpointEvery);

/// <summary>
/// One model the tool can train: how to build G and D on a device, the latent and sample shapes,
/// the data it trains on by default, its defaults, and how to draw a batch of its samples.
/// </summary>
public sealed record ModelSpec(
    string Name,
    string Description,
    Func<Device, Module> Generator,
    Func<Device, Module> Discriminator,
    int LatentSize,
    Func<int, int, Shape> LatentShape,
    int[] SampleShape,
    string DefaultData,
    TrainDefaults Defaults)
{
    /// <summary>Floats per sample.</summary>
    public int SampleSize => SampleShape.Aggregate(1, (a, b) => a * b);

    /// <summary>Images (C, H, W) or 1-D curves.</summary>
    public bool IsImage => SampleShape.Length == 3;

    public string ShapeText => $"({string.Join("x", SampleShape)})";

    /// <summary>Writes <paramref name="count"/> samples as one PNG: a grid of images, or a plot of curves.</summary>
    public void SaveGrid(string path, ReadOnlySpan<float> samples, int count, int nrow = 8)
    {
        if (IsImage)
        {
            ImageGrid.SavePng(path, samples, count, SampleShape[0], SampleShape[1], SampleShape[2], nrow);
            return;
        }
        // Curves (the toy GAN): the real data's bounds in red, G's curves in blue.
        var plot = new LinePlot().SetXRange(-1, 1).SetYRange(-0.5f, 3.5f);
        plot.AddSeries(ToyCurves.X, ToyCurves.X.Select(ToyCurves.Upper).ToArray(), (214, 39, 40), 2);
        plot.AddSeries(ToyCurves.X, ToyCurves.X.Select(ToyCurves.Lower).ToArray(), (214, 39, 40), 2);
        int n = SampleSize;
        for (int i = 0; i < count; i++) plot.AddSeries(ToyCurves.X, samples.Slice(i * n, n).ToArray(), (31, 119, 180), 1);
        plot.SavePng(path, 480, 360);
    }
}

/// <summary>
/// The models the tool knows, by name. A new model is one line in <see cref="All"/>: a name, G and
/// D builders, the latent size and shape, the sample shape, its default data and defaults.
/// </summary>
public static class ModelRegistry
{
    private static readonly Func<int, int, Shape> Flat = (n, nz) => new Shape(n, nz);

    /// <summary>A model of WORKLOADS.md: builders, latent and image shapes as <see cref="GanWorkload"/> defines them.</summary>
    private static ModelSpec FromWorkload(string name, string description, GanWorkload w, string defaultData, TrainDefaults defaults) =>
        new(name, description, w.Generator, w.Discriminator, GanWorkload.LatentSize, w.LatentShape, w.Image.Dims.ToArray(), defaultData, defaults);

    public static IReadOnlyList<ModelSpec> All { get; } =
    [
        new("toy", "the 1-D GAN: 15-point curves a*x^2 + (a-1) from 5 random ideas (seconds on a CPU)",
            ToyCurves.Generator, ToyCurves.Discriminator, ToyCurves.Ideas, Flat, [ToyCurves.Points], "curves",
            new TrainDefaults(Batch: 64, Steps: 3000, Lr: 1e-3, Beta1: 0.5, Beta2: 0.999, SampleEvery: 250, CheckpointEvery: 250)),
        FromWorkload("mlp", "W-MLP: the multilayer-perceptron GAN for 28x28 digits (WORKLOADS.md)", GanWorkload.Mlp, "mnist",
            new TrainDefaults(Batch: 64, Steps: 6000, Lr: 2e-4, Beta1: 0.5, Beta2: 0.999, SampleEvery: 500, CheckpointEvery: 500)),
        FromWorkload("dcgan28", "W-DCGAN28: the DCGAN for 28x28 digits (WORKLOADS.md)", GanWorkload.Dcgan28, "mnist",
            new TrainDefaults(Batch: 64, Steps: 3000, Lr: 2e-4, Beta1: 0.5, Beta2: 0.999, SampleEvery: 250, CheckpointEvery: 250)),
        FromWorkload("dcgan64", "W-DCGAN64: the classic 64x64 RGB DCGAN (WORKLOADS.md); needs --data FOLDER or fake", GanWorkload.Dcgan64, "",
            new TrainDefaults(Batch: 128, Steps: 5000, Lr: 2e-4, Beta1: 0.5, Beta2: 0.999, SampleEvery: 250, CheckpointEvery: 250)),
    ];

    public static IEnumerable<string> Names => All.Select(m => m.Name);

    public static ModelSpec Get(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new CliException($"Unknown model '{name}': use {string.Join(", ", Names)}.");
}
