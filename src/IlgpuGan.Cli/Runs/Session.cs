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
            try { Recipe = GanRecipe.Create(Device, model, config.ToOptions(), config.Batch); }
            catch (ArgumentException e) { throw new CliException(e.Message, ExitCodes.Error, e); }
            Loader = data.CreateLoader(config.Batch, config.Seed);
            real = Device.Persistent(new Shape([config.Batch, .. model.SampleShape]));
            host = new float[config.Batch * data.SampleSize];
            FixedNoise = Device.Persistent(model.LatentShape(config.SampleCount, model.LatentSize));
            Device.Kernels.Normal(FixedNoise.View, new RandomState(FixedNoiseSeed(config.Seed), 0), 0f, 1f);
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
    public void Step() => Recipe.TrainStep(NextReal);

    private Tensor NextReal()
    {
        if (!Loader.Next(host)) Loader.Next(host);     // the call that returns false starts the next epoch
        real.CopyFrom(host);
        return real;
    }

    /// <summary>G's samples for the fixed noise (eval mode), on the host.</summary>
    public float[] SampleFixed() => Recipe.Sample(FixedNoise);

    public void Dispose()
    {
        FixedNoise?.Dispose();
        real?.Dispose();
        Recipe?.Dispose();
        if (ownsDevice) Device?.Dispose();
    }
}
