using IlgpuGan.Imaging;
using IlgpuGan.Models;
using IlgpuGan.Nn;

namespace IlgpuGan.Recipes;

/// <summary>A translation or autoencoder model (<see cref="ModelRegistry.Translation"/>): its name, what it is, its
/// defaults (for the built-in digit pair, or for folder data) and how to build it on a device.</summary>
public sealed record TranslationSpec(string Name, string Description, Func<bool, Translation.TranslationOptions> DefaultsFor,
    Func<Device, Translation.TranslationOptions, Translation.TranslationModel> Create);

/// <summary>A model's training defaults for one objective.</summary>
/// <param name="DecayLastHalf">The learning rates fall linearly to 0 over the last half of the steps (whatever --steps is).</param>
public sealed record TrainDefaults(int Batch, long Steps, long SampleEvery, long CheckpointEvery, TrainingOptions Options, bool DecayLastHalf = false);

/// <summary>
/// One model: how to build its parts on a device (G, D, and where the objective needs one, a critic
/// without batch norm), the latent and sample shapes, the data it trains on by default, and its
/// defaults per objective (<see cref="DefaultsFor"/>). <see cref="ModelRegistry"/> lists them all.
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
    Func<Objective, TrainDefaults> DefaultsFor)
{
    /// <summary>D as a WGAN-GP critic: without batch norm (which has no second derivative), e.g.
    /// W-WGANGP28's LayerNorm critic. Null: D itself, if it has no batch norm.</summary>
    public Func<Device, Module>? GpCritic { get; init; }

    /// <summary>The classes a conditional model is built for by default (10: MNIST's digits); 0 for
    /// an unconditional model. Folder data with another number of classes builds it for those.</summary>
    public int Classes { get; init; }

    /// <summary>A conditional model's G and D for a number of classes (null for unconditional models).</summary>
    public Func<Device, int, ConditionalModule>? ConditionalGenerator { get; init; }
    public Func<Device, int, ConditionalModule>? ConditionalDiscriminator { get; init; }

    /// <summary>The objective used when none is asked for (bce; cdcgan28: hinge).</summary>
    public Objective DefaultLoss { get; init; } = Objective.Bce;

    /// <summary>Whether G and D take a class label per sample.</summary>
    public bool IsConditional => Classes > 0;

    /// <summary>G (for <paramref name="classes"/> classes when conditional; 0: the model's default).</summary>
    public Module BuildGenerator(Device device, int classes = 0) =>
        IsConditional ? ConditionalGenerator!(device, classes > 0 ? classes : Classes) : Generator(device);

    /// <summary>Floats per sample.</summary>
    public int SampleSize => SampleShape.Aggregate(1, (a, b) => a * b);

    /// <summary>Images (C, H, W) or 1-D curves.</summary>
    public bool IsImage => SampleShape.Length == 3;

    public string ShapeText => $"({string.Join("x", SampleShape)})";

    /// <summary>D for an objective: <see cref="GpCritic"/> under wgan-gp when there is one.</summary>
    public Module BuildDiscriminator(Device device, Objective loss, int classes = 0) =>
        IsConditional ? ConditionalDiscriminator!(device, classes > 0 ? classes : Classes)
        : loss == Objective.WganGp && GpCritic is not null ? GpCritic(device) : Discriminator(device);

    /// <summary>Points in each fixed-noise picture of a new run (the grid's cells; grid25: the scatter's points).</summary>
    public int SampleCount { get; init; } = 64;

    /// <summary>A model of 2-D points (grid25): draws samples as a scatter plot instead of a grid.</summary>
    public Action<string, float[], int>? ScatterPlot { get; init; }

    /// <summary>A model with its own mode-collapse figures (grid25: modes covered, high-quality share, KL): a line
    /// for <c>count</c> samples, which the tool prints with each fixed-noise picture and <c>eval</c> prints; computed on
    /// the device given (stacked MNIST's classifier runs there).</summary>
    public Func<Device, float[], int, string>? Figures { get; init; }

    /// <summary>Whether the tool prints <see cref="Figures"/> with each fixed-noise picture (false where they need many samples).</summary>
    public bool FiguresEachPicture { get; init; } = true;

    /// <summary>The samples <c>eval</c> draws for <see cref="Figures"/> (grid25: PacGAN's 2,500; stacked MNIST: its 26,000).</summary>
    public int FiguresSamples { get; init; } = 2500;

    /// <summary>Writes <paramref name="count"/> samples as one PNG: a grid of images, a scatter of points, or a plot of curves.</summary>
    public void SaveGrid(string path, ReadOnlySpan<float> samples, int count, int nrow = 8)
    {
        if (IsImage)
        {
            ImageGrid.SavePng(path, samples, count, SampleShape[0], SampleShape[1], SampleShape[2], nrow);
            return;
        }
        if (ScatterPlot is not null)
        {
            ScatterPlot(path, samples[..(count * SampleSize)].ToArray(), count);
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
