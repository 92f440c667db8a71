using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using IlgpuGan.IO;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// A training checkpoint as one safetensors file (loadable by Python's <c>safetensors</c> package):
/// <list type="bullet">
/// <item><c>G.*</c> and <c>D.*</c>: the generator's and discriminator's state dicts under PyTorch's
/// names (<c>G.0.weight</c>, <c>G.2.running_mean</c>, ...);</item>
/// <item><c>optG.state.{i}.{exp_avg|exp_avg_sq}</c> and <c>optD.state...</c>: Adam's moments for
/// parameter i, as in PyTorch's optimizer state_dict;</item>
/// <item>metadata (<c>__metadata__</c>, strings): the format, the step, both optimizers' step
/// counts, the random stream (seed, offset), the loader's epoch and batch, the run configuration
/// (JSON), the report's history (JSON), the device, the time, and a SHA-256 of the tensor data.</item>
/// </list>
/// </summary>
public static class Checkpoint
{
    public const string Format = "ilgpu-gan-checkpoint/1";

    /// <summary>Writes the session's state atomically (temporary file, fsync, rename, fsync of the folder).
    /// A NaN or infinite parameter is a <see cref="IlgpuGan.Training.NonFiniteLossException"/> and nothing
    /// is written, so the last good checkpoint stays the latest.</summary>
    public static void Save(string path, Session s, RunHistory history)
    {
        var tensors = new List<(string, HostTensor)>();
        void Add(string name, Tensor t)
        {
            var values = t.ToArray();
            foreach (float v in values)
                if (!float.IsFinite(v))
                    throw new IlgpuGan.Training.NonFiniteLossException(
                        $"Training diverged by step {s.Trainer.Step}: {name} holds {v}. Try a lower learning rate.");
            tensors.Add((name, new HostTensor([.. t.Shape.Dims], values)));
        }
        foreach (var (n, t) in s.G.StateDict()) Add("G." + n, t);
        foreach (var (n, t) in s.D.StateDict()) Add("D." + n, t);
        foreach (var (i, n, t) in s.OptG.NamedState()) Add($"optG.state.{i}.{n}", t);
        foreach (var (i, n, t) in s.OptD.NamedState()) Add($"optD.state.{i}.{n}", t);

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (_, t) in tensors) sha.AppendData(MemoryMarshal.AsBytes(t.Data.AsSpan()));

        var meta = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["step"] = Num(s.Trainer.Step),
            ["model"] = s.Config.Model,
            ["optG.step"] = Num(s.OptG.Steps),
            ["optD.step"] = Num(s.OptD.Steps),
            ["rng.seed"] = Num(s.Device.Random.Seed),
            ["rng.offset"] = Num(s.Device.Random.Offset),
            ["loader.epoch"] = Num(s.Loader.Epoch),
            ["loader.batch"] = Num(s.Loader.BatchIndex),
            ["config"] = s.Config.ToJson(),
            ["history"] = history.ToJson(),
            ["device"] = s.Device.ToString(),
            ["created"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["data_sha256"] = Convert.ToHexStringLower(sha.GetHashAndReset()),
        };
        SafeTensors.Write(path, tensors, meta);     // atomic, folder synced
    }

    /// <summary>Reads and checks a checkpoint: a missing, truncated or corrupt file, or one that is not an
    /// ilgpu-gan checkpoint, is an <see cref="InvalidDataException"/> (FileNotFound when absent) naming it.</summary>
    public static LoadedCheckpoint Load(string path)
    {
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"Checkpoint not found: {full}", full);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(full); }
        catch (IOException e) { throw new InvalidDataException($"Checkpoint {full} cannot be read: {e.Message}", e); }
        SafeTensors.Contents contents;
        try { contents = SafeTensors.Parse(bytes); }
        catch (Exception e) when (e is InvalidDataException or JsonException or ArgumentException or InvalidOperationException
                                      or FormatException or NullReferenceException or KeyNotFoundException or IndexOutOfRangeException)
        {
            throw new InvalidDataException($"Checkpoint {full} is corrupt or truncated ({bytes.Length:N0} bytes): {e.Message}", e);
        }
        var m = contents.Metadata;
        string Get(string key) => m.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"Checkpoint {full} is not an ilgpu-gan checkpoint: its metadata has no '{key}'.");
        if (Get("format") != Format)
            throw new InvalidDataException($"Checkpoint {full} has format '{m["format"]}'; this tool reads '{Format}'.");

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string hash = Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(8 + (int)headerLength)));
        if (hash != Get("data_sha256"))
            throw new InvalidDataException($"Checkpoint {full} is corrupt: its tensor data does not match the SHA-256 recorded in it.");
        try
        {
            return new LoadedCheckpoint(full, contents,
                Step: long.Parse(Get("step"), CultureInfo.InvariantCulture),
                Config: RunConfig.FromJson(Get("config")),
                History: RunHistory.FromJson(Get("history")),
                OptGSteps: long.Parse(Get("optG.step"), CultureInfo.InvariantCulture),
                OptDSteps: long.Parse(Get("optD.step"), CultureInfo.InvariantCulture),
                RngSeed: ulong.Parse(Get("rng.seed"), CultureInfo.InvariantCulture),
                RngOffset: ulong.Parse(Get("rng.offset"), CultureInfo.InvariantCulture),
                LoaderEpoch: int.Parse(Get("loader.epoch"), CultureInfo.InvariantCulture),
                LoaderBatch: int.Parse(Get("loader.batch"), CultureInfo.InvariantCulture),
                Device: Get("device"));
        }
        catch (Exception e) when (e is FormatException or OverflowException or JsonException)
        {
            throw new InvalidDataException($"Checkpoint {full} has unreadable metadata: {e.Message}", e);
        }
    }

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);
    private static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A checkpoint read from disk and checked.</summary>
public sealed record LoadedCheckpoint(string Path, SafeTensors.Contents Contents, long Step, RunConfig Config, RunHistory History,
    long OptGSteps, long OptDSteps, ulong RngSeed, ulong RngOffset, int LoaderEpoch, int LoaderBatch, string Device)
{
    /// <summary>Copies G's weights (and buffers) into <paramref name="g"/>: every tensor of its state dict must
    /// be there with the same shape.</summary>
    public void LoadModule(Nn.Module module, string prefix)
    {
        var expected = module.StateDict().ToList();
        foreach (var (name, t) in expected)
        {
            if (!Contents.Tensors.TryGetValue(prefix + name, out var saved))
                throw new InvalidDataException($"Checkpoint {Path} has no tensor '{prefix}{name}': it was saved from another model than '{Config.Model}'.");
            if (!saved.Shape.AsSpan().SequenceEqual(t.Shape.Dims))
                throw new InvalidDataException($"Checkpoint {Path}: '{prefix}{name}' is ({string.Join(", ", saved.Shape)}); the model has {t.Shape}.");
            t.CopyFrom(saved.Data);
        }
        int extra = Contents.Tensors.Keys.Count(k => k.StartsWith(prefix, StringComparison.Ordinal)) - expected.Count;
        if (extra != 0)
            throw new InvalidDataException($"Checkpoint {Path} holds {extra} more '{prefix}' tensors than the model '{Config.Model}' has.");
    }

    /// <summary>Puts the whole training state back, so the next step is the one an uninterrupted run would take.</summary>
    public void Restore(Session s)
    {
        LoadModule(s.G, "G.");
        LoadModule(s.D, "D.");
        s.OptG.LoadState(OptGSteps, OptimizerState("optG.state."));
        s.OptD.LoadState(OptDSteps, OptimizerState("optD.state."));
        s.Device.Random.Restore(RngSeed, RngOffset);
        s.Loader.Seek(LoaderEpoch, LoaderBatch);
        s.Trainer.Step = Step;
    }

    private IEnumerable<(int, string, float[])> OptimizerState(string prefix)
    {
        foreach (var (key, t) in Contents.Tensors)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string rest = key[prefix.Length..];
            int dot = rest.IndexOf('.');
            if (dot <= 0 || !int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                throw new InvalidDataException($"Checkpoint {Path}: cannot read the optimizer tensor name '{key}'.");
            yield return (index, rest[(dot + 1)..], t.Data);
        }
    }
}
