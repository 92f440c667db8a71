using System.Globalization;
using System.Text.Json;
using IlgpuGan.IO;
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
    public int Seed { get; init; } = 1;

    public string ToJson() => JsonSerializer.Serialize(this);
    public static TranslationOptions FromJson(string json) => JsonSerializer.Deserialize<TranslationOptions>(json)!;
}

/// <summary>A trained part: a module and its Adam, under a name (G_A, D_B, E, ...).</summary>
public sealed record TrainedPart(string Name, Module Module, Adam Optimizer);

/// <summary>
/// A translation or autoencoder model: named parts, one training step on a batch of A and a batch
/// of B (B unused by the single-domain autoencoders), named statistics kept on the device until
/// read, the learning-rate schedule, and a checkpoint of everything the next step depends on
/// (parts, Adam moments and counts, the random stream, the model's own state such as CycleGAN's
/// image pool, and the caller's metadata).
/// </summary>
public abstract class TranslationModel : IDisposable
{
    private readonly Tensor stats;

    protected TranslationModel(Device device, TranslationOptions options, IReadOnlyList<TrainedPart> parts, IReadOnlyList<string> statistics)
    {
        Device = device; Options = options; Parts = parts; Statistics = statistics;
        stats = device.Persistent(new Shape(statistics.Count), 0f);
    }

    public Device Device { get; }
    public TranslationOptions Options { get; }
    public IReadOnlyList<TrainedPart> Parts { get; }
    public IReadOnlyList<string> Statistics { get; }
    public long Step { get; set; }
    public Module this[string part] => Parts.First(p => p.Name == part).Module;

    /// <summary>Whether the model needs A[i] to go with B[i].</summary>
    public virtual bool NeedsPairs => false;

    /// <summary>Whether the model trains on B too.</summary>
    public virtual bool UsesB => true;

    /// <summary>One step on real batches a and b (N, C, H, W) on the device.</summary>
    public abstract void TrainStep(Tensor a, Tensor b);

    /// <summary>Null when the model takes images of this size, else why not (one sentence).</summary>
    public abstract string? CheckSize(int h, int w);

    /// <summary>Sets every optimizer's learning rate for the coming step: constant, then linear to 0.</summary>
    protected void Schedule()
    {
        double f = Step < Options.DecayFrom ? 1 : Math.Max(0, (double)(Options.Steps - Step) / Math.Max(1, Options.Steps - Options.DecayFrom));
        foreach (var p in Parts) p.Optimizer.LearningRate = Options.Lr * f;
    }

    protected void Report(int index, Tensor scalar) => Device.Kernels.Copy(scalar.View, stats.View.SubView(index, 1));

    /// <summary>The last step's statistics (waits for the device); a NaN or infinity is an error naming it.</summary>
    public float[] ReadStats()
    {
        var s = stats.ToArray();
        for (int i = 0; i < s.Length; i++)
            if (!float.IsFinite(s[i])) throw new InvalidOperationException($"Training diverged at step {Step}: {Statistics[i]} is {s[i]}.");
        return s;
    }

    public string StatsText(float[] s) => string.Join("  ", Statistics.Select((n, i) => string.Create(CultureInfo.InvariantCulture, $"{n} {s[i]:F4}")));

    /// <summary>Runs a module in eval mode without recording, on host images (count, C, H, W).</summary>
    public float[] Apply(string part, ReadOnlySpan<float> images, int count, int channels, int h, int w)
    {
        var m = this[part];
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

    protected virtual IEnumerable<(string Name, Tensor Tensor)> ExtraTensors() => [];
    protected virtual IEnumerable<(string Key, string Value)> ExtraState() => [];
    protected virtual void LoadExtra(IReadOnlyDictionary<string, HostTensor> tensors, IReadOnlyDictionary<string, string> meta) { }

    /// <summary>Writes the checkpoint atomically: "{part}.{name}" for parameters and buffers,
    /// "opt_{part}.state.{i}.{exp_avg|exp_avg_sq}", the model's extra tensors, and in the metadata
    /// the options, step, Adam counts, the random stream and <paramref name="meta"/>.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? meta = null)
    {
        var tensors = new List<(string, HostTensor)>();
        HostTensor H(Tensor t) => new(Enumerable.Range(0, t.Shape.Rank).Select(i => t.Shape[i]).ToArray(), t.ToArray());
        foreach (var p in Parts)
        {
            foreach (var (n, t) in p.Module.StateDict()) tensors.Add(($"{p.Name}.{n}", H(t)));
            foreach (var (i, n, t) in p.Optimizer.NamedState()) tensors.Add(($"opt_{p.Name}.state.{i}.{n}", H(t)));
        }
        foreach (var (n, t) in ExtraTensors()) tensors.Add((n, H(t)));
        var m = new Dictionary<string, string>(meta ?? new Dictionary<string, string>())
        {
            ["format"] = "ilgpugan-translation-1",
            ["model"] = Options.Model,
            ["options"] = Options.ToJson(),
            ["step"] = Step.ToString(CultureInfo.InvariantCulture),
            ["rng_seed"] = Device.Random.Seed.ToString(CultureInfo.InvariantCulture),
            ["rng_offset"] = Device.Random.Offset.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var p in Parts) m[$"opt_{p.Name}.steps"] = p.Optimizer.Steps.ToString(CultureInfo.InvariantCulture);
        foreach (var (k, v) in ExtraState()) m[k] = v;
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        string tmp = path + ".tmp";
        SafeTensors.Write(tmp, tensors, m);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Puts a checkpoint's state back (the model must have been built with its options).</summary>
    public void Load(SafeTensors.Contents c)
    {
        var t = c.Tensors;
        foreach (var p in Parts)
        {
            foreach (var (n, tensor) in p.Module.StateDict())
                tensor.CopyFrom((t.TryGetValue($"{p.Name}.{n}", out var h) ? h : throw new InvalidDataException($"the checkpoint has no {p.Name}.{n}")).Data);
            string prefix = $"opt_{p.Name}.state.";
            var saved = t.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(kv =>
            {
                var rest = kv.Key[prefix.Length..].Split('.', 2);
                return (int.Parse(rest[0], CultureInfo.InvariantCulture), rest[1], kv.Value.Data);
            }).ToList();
            p.Optimizer.LoadState(long.Parse(c.Metadata[$"opt_{p.Name}.steps"], CultureInfo.InvariantCulture), saved);
        }
        Step = long.Parse(c.Metadata["step"], CultureInfo.InvariantCulture);
        Device.Random.Restore(ulong.Parse(c.Metadata["rng_seed"], CultureInfo.InvariantCulture), ulong.Parse(c.Metadata["rng_offset"], CultureInfo.InvariantCulture));
        LoadExtra(t, c.Metadata);
    }

    protected static TrainedPart Part(string name, Module m, TranslationOptions o) => new(name, m, new Adam(m.Parameters(), o.Lr, o.Beta1, o.Beta2));

    /// <summary>A persistent tensor of <paramref name="shape"/> filled with <paramref name="value"/>, cached per shape.</summary>
    private readonly Dictionary<(Shape, float), Tensor> constants = new();
    protected Tensor Constant(Shape shape, float value)
    {
        if (!constants.TryGetValue((shape, value), out var t)) constants[(shape, value)] = t = Device.Persistent(shape, value);
        return t;
    }

    public virtual void Dispose()
    {
        stats.Dispose();
        foreach (var t in constants.Values) t.Dispose();
        foreach (var p in Parts.Reverse()) { p.Optimizer.Dispose(); p.Module.Dispose(); }
        GC.SuppressFinalize(this);
    }
}
