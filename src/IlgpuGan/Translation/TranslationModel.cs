using System.Globalization;
using System.Text.Json;
using IlgpuGan.Recipes;
using IlgpuGan.Nn;
using IlgpuGan.Optim;

namespace IlgpuGan.Translation;

/// <summary>The options of the translation and autoencoder models (each uses what it needs).</summary>
public sealed record TranslationOptions
{
    public string Model { get; init; } = "cyclegan";
    public int Channels { get; init; } = 1;
    public int Size { get; init; } = 28;
    public int Ngf { get; init; } = 64;
    public int Ndf { get; init; } = 64;
    /// <summary>ResNet blocks of the CycleGAN generator (6 or 9 in the paper).</summary>
    public int Blocks { get; init; } = 9;
    /// <summary>Stride-2 layers of the PatchGAN (3: 70x70 patches).</summary>
    public int DLayers { get; init; } = 3;
    /// <summary>Levels of the U-Net (pix2pix): 8 for 256x256, 5 for 32x32.</summary>
    public int UnetDowns { get; init; } = 8;
    public int Batch { get; init; } = 1;
    public double Lr { get; init; } = 2e-4;
    public double Beta1 { get; init; } = 0.5;
    public double Beta2 { get; init; } = 0.999;
    public float LambdaCycle { get; init; } = 10f;
    /// <summary>The identity loss weight as a fraction of the cycle weight (0.5 in the paper's code).</summary>
    public float LambdaIdentity { get; init; } = 0.5f;
    public float LambdaL1 { get; init; } = 100f;
    public int PoolSize { get; init; } = 50;
    public long Steps { get; init; } = 1000;
    /// <summary>The step from which the learning rate falls linearly to 0 at <see cref="Steps"/> (constant before).</summary>
    public long DecayFrom { get; init; } = 500;
    /// <summary>The autoencoders: mlp or conv.</summary>
    public string Arch { get; init; } = "conv";
    public int Latent { get; init; } = 32;
    /// <summary>ae-swap: the probability that an encoder input is shown inverted (x -> -x on the [-1, 1] scale) while
    /// its decoder still reconstructs the image as it is (a colour augmentation, as face-swap tools match the two
    /// domains' colours): the shared encoder cannot then keep the domains apart by their tone.</summary>
    public float InvertAugment { get; init; }
    public int Seed { get; init; } = 1;

    public string ToJson() => JsonSerializer.Serialize(this);
    public static TranslationOptions FromJson(string json) => JsonSerializer.Deserialize<TranslationOptions>(json)!;
}

/// <summary>
/// A translation or autoencoder model as a <see cref="Recipe"/>: named parts (each a module and its
/// Adam), one training step on a batch of A and a batch of B (B unused by the single-domain
/// autoencoders; <see cref="TrainStep(Func{Tensor})"/> draws A, then B), named statistics kept on
/// the device until read, the learning-rate schedule, and a format-2 checkpoint
/// (<see cref="CheckpointFile"/>) of everything the next step depends on: parts, Adam moments and
/// counts, the random stream, the model's own state such as CycleGAN's image pools (as recipe
/// counters), its options and the caller's metadata.
/// </summary>
public abstract class TranslationModel : Recipe
{
    /// <summary>The metadata key of the options in a checkpoint (it marks a translation checkpoint).</summary>
    public const string OptionsKey = "translation_options";

    protected TranslationModel(Device device, TranslationOptions options, IReadOnlyList<Part> parts, IReadOnlyList<Statistic> statistics)
        : base(device, parts, statistics) => Options = options;

    public TranslationOptions Options { get; }

    /// <summary>A part's module.</summary>
    public Module Net(string part) => this[part].Module;

    /// <summary>Whether the model needs A[i] to go with B[i].</summary>
    public virtual bool NeedsPairs => false;

    /// <summary>Whether the model trains on B too.</summary>
    public virtual bool UsesB => true;

    /// <summary>One step on real batches a and b (N, C, H, W) on the device.</summary>
    public abstract void TrainStep(Tensor a, Tensor b);

    /// <summary>The recipe form: a batch of A, then (when the model uses it) one of B.</summary>
    public override void TrainStep(Func<Tensor> nextRealBatch)
    {
        var a = nextRealBatch();
        TrainStep(a, UsesB ? nextRealBatch() : a);
    }

    /// <summary>Null when the model takes images of this size, else why not (one sentence).</summary>
    public abstract string? CheckSize(int h, int w);

    /// <summary>Sets every optimizer's learning rate for the coming step: constant, then linear to 0.</summary>
    protected void Schedule()
    {
        double f = Step < Options.DecayFrom ? 1 : Math.Max(0, (double)(Options.Steps - Step) / Math.Max(1, Options.Steps - Options.DecayFrom));
        foreach (var p in Parts) ((Adam)p.Optimizer).LearningRate = Options.Lr * f;
    }

    /// <summary>Runs a module in eval mode without recording, on host images (count, C, H, W).</summary>
    public float[] Apply(string part, ReadOnlySpan<float> images, int count, int channels, int h, int w)
    {
        var m = Net(part);
        bool was = m.Training;
        m.Eval();
        try
        {
            using var _ = Device.Tape.NoGrad();
            var x = Device.Persistent(new Shape(count, channels, h, w), images);
            try { return m.Forward(x).ToArray(); }
            finally { x.Dispose(); Device.Tape.EndStep(); }
        }
        finally { m.Train(was); }
    }

    // ---- checkpoints ----------------------------------------------------------------------------

    /// <summary>Writes a format-2 checkpoint: the parts and their Adam state, the step, the model's
    /// counters (<see cref="Recipe.SaveState"/>), its options, the random stream and <paramref name="meta"/>.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? meta = null)
    {
        var m = new Dictionary<string, string>(meta ?? new Dictionary<string, string>())
        {
            ["model"] = Options.Model,
            [OptionsKey] = Options.ToJson(),
            ["rng_seed"] = Device.Random.Seed.ToString(CultureInfo.InvariantCulture),
            ["rng_offset"] = Device.Random.Offset.ToString(CultureInfo.InvariantCulture),
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        CheckpointFile.Save(path, this, m);
    }

    /// <summary>Puts a checkpoint's state back (the model must have been built with its options).</summary>
    public void Load(CheckpointContents c)
    {
        c.Restore(this);
        Device.Random.Restore(c.ParseNumber("rng_seed", s => ulong.Parse(s, CultureInfo.InvariantCulture)),
            c.ParseNumber("rng_offset", s => ulong.Parse(s, CultureInfo.InvariantCulture)));
    }

    protected static Part Part(string name, Module m, TranslationOptions o) => new(name, m, new Adam(m.Parameters(), o.Lr, o.Beta1, o.Beta2));

    /// <summary>Statistics of one chart.</summary>
    protected static Statistic[] Stats(string chart, params string[] names) => names.Select(n => new Statistic(n, chart)).ToArray();

    /// <summary>A persistent tensor of <paramref name="shape"/> filled with <paramref name="value"/>, cached per shape.</summary>
    private readonly Dictionary<(Shape, float), Tensor> constants = new();
    protected Tensor Constant(Shape shape, float value)
    {
        if (!constants.TryGetValue((shape, value), out var t)) constants[(shape, value)] = t = Device.Persistent(shape, value);
        return t;
    }

    public override void Dispose()
    {
        foreach (var t in constants.Values) t.Dispose();
        constants.Clear();
        base.Dispose();
    }
}
