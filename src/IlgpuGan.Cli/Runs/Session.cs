using IlgpuGan.Data;
using IlgpuGan.Kernels;
using IlgpuGan.Recipes;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// One model being trained: its device, the recipe (its parts G and D with their optimizers), the
/// seeded batch loader over the data and the fixed noise batch of the sample grids. Everything a
/// checkpoint holds is reachable from here (<see cref="Checkpoint"/>).
/// </summary>
public sealed class Session : IDisposable
{
    private readonly Tensor real;
    private readonly float[] host;
    private readonly Tensor? realLabels;      // conditional models: the real batch's labels (N) on the device
    private readonly byte[]? hostLabels;
    private readonly float[]? hostLabelFloats;
    private readonly bool ownsDevice;

    public RunConfig Config { get; }
    public ModelSpec Model { get; }
    public Dataset Data { get; }
    public Device Device { get; }
    public GanRecipe Recipe { get; }
    public BatchLoader Loader { get; }
    /// <summary>The latent batch behind every sample grid: drawn from its own stream (seed-derived), so it
    /// is the same in a fresh and in a resumed run and does not move the training stream.</summary>
    public Tensor FixedNoise { get; }
    /// <summary>Conditional models: the class of each fixed sample (row r of the grid is class r; the
    /// same noise in each column); null otherwise.</summary>
    public Tensor? FixedLabels { get; }
    /// <summary>The samples in each grid, and per row of it.</summary>
    public int FixedCount { get; }
    public int FixedPerRow { get; }
    /// <summary>The class names of a conditional model (checkpoints keep them); null otherwise.</summary>
    public IReadOnlyList<string>? ClassNames => Model.IsConditional ? Data.Classes!.Names : null;

    /// <summary>Samples per row of a conditional model's by-class grids.</summary>
    public const int ByClassColumns = 8;

    public Session(RunConfig config, ModelSpec model, Dataset data, Device? device = null)
    {
        Config = config; Model = model; Data = data;
        if (config.Batch > data.Count)
            throw new CliException($"The batch size {config.Batch} is larger than the data set ({data.Count} samples in {data.Description}).");
        if (config.Batch < 2)
            throw new CliException($"The batch size must be at least 2 (batch norm needs two samples); got {config.Batch}.");
        ownsDevice = device is null;
        Device = device ?? Device.Create(Device.ParseKind(config.Accelerator), (ulong)config.Seed);
        try
        {
            try { Recipe = GanRecipe.Create(Device, model, config.ToOptions(), config.Batch, model.IsConditional ? data.Classes!.Count : 0); }
            catch (ArgumentException e) { throw new CliException(e.Message, ExitCodes.Error, e); }
            Loader = data.CreateLoader(config.Batch, config.Seed);
            real = Device.Persistent(new Shape([config.Batch, .. model.SampleShape]));
            host = new float[config.Batch * data.SampleSize];
            if (model.IsConditional)
            {
                int classes = Recipe.Classes;
                realLabels = Device.Persistent(new Shape(config.Batch));
                hostLabels = new byte[config.Batch];
                hostLabelFloats = new float[config.Batch];
                (FixedCount, FixedPerRow) = (classes * ByClassColumns, ByClassColumns);
                FixedNoise = Device.Persistent(model.LatentShape(FixedCount, model.LatentSize));
                using (var column = Device.Persistent(model.LatentShape(ByClassColumns, model.LatentSize)))
                {
                    Device.Kernels.Normal(column.View, new RandomState(FixedNoiseSeed(config.Seed), 0), 0f, 1f);
                    for (int r = 0; r < classes; r++)
                        Device.Kernels.Copy(column.View, FixedNoise.View.SubView(r * column.Length, column.Length));
                }
                FixedLabels = Device.Persistent(new Shape(FixedCount), ByClassLabels(classes, ByClassColumns));
            }
            else
            {
                (FixedCount, FixedPerRow) = (config.SampleCount, 8);
                FixedNoise = Device.Persistent(model.LatentShape(config.SampleCount, model.LatentSize));
                Device.Kernels.Normal(FixedNoise.View, new RandomState(FixedNoiseSeed(config.Seed), 0), 0f, 1f);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The stream of the fixed noise: apart from the training stream (seed, 0..).</summary>
    public static ulong FixedNoiseSeed(int seed) => (ulong)(uint)seed ^ 0xF1CED_501CEUL;

    /// <summary>One training step (the recipe's D updates and one G update) on the next batches of the loader.</summary>
    public void Step()
    {
        if (Model.IsConditional) Recipe.TrainStep(NextLabelled);
        else Recipe.TrainStep(NextReal);
    }

    private Tensor NextReal()
    {
        if (!Loader.Next(host)) Loader.Next(host);     // the call that returns false starts the next epoch
        real.CopyFrom(host);
        return real;
    }

    private (Tensor, Tensor?) NextLabelled()
    {
        if (!Loader.Next(host, hostLabels)) Loader.Next(host, hostLabels);
        real.CopyFrom(host);
        for (int i = 0; i < hostLabels!.Length; i++) hostLabelFloats![i] = hostLabels[i];
        realLabels!.CopyFrom(hostLabelFloats);
        return (real, realLabels);
    }

    /// <summary>Labels 0..classes-1, each repeated <paramref name="perClass"/> times: one grid row per class.</summary>
    public static float[] ByClassLabels(int classes, int perClass) =>
        Enumerable.Range(0, classes * perClass).Select(i => (float)(i / perClass)).ToArray();

    /// <summary>G's samples for the fixed noise (eval mode), on the host: <see cref="FixedCount"/> of them.</summary>
    public float[] SampleFixed() => Recipe.Sample(FixedNoise, FixedLabels);

    public void Dispose()
    {
        FixedNoise?.Dispose();
        FixedLabels?.Dispose();
        realLabels?.Dispose();
        real?.Dispose();
        Recipe?.Dispose();
        if (ownsDevice) Device?.Dispose();
    }
}
