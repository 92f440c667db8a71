using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using IlgpuGan.IO;
using IlgpuGan.Nn;
using IlgpuGan.Optim;

namespace IlgpuGan.Recipes;

/// <summary>
/// A recipe's training state as one safetensors file (float32; loadable by Python's
/// <c>safetensors</c> package). Format 2 (<c>ilgpu-gan-checkpoint/2</c>):
/// <list type="bullet">
/// <item><c>{part}.{name}</c>: each part's state dict under PyTorch's names (<c>G.0.weight</c>,
/// <c>D.3.running_mean</c>, ...);</item>
/// <item><c>optimizer.{part}.state.{i}.{name}</c>: its optimizer's state for parameter i, named as in
/// PyTorch's optimizer state_dict (<c>exp_avg</c>, <c>exp_avg_sq</c>; RMSProp's <c>square_avg</c>);</item>
/// <item>metadata (strings): <c>format</c>, <c>step</c>, <c>parts</c> (<c>G,D</c>),
/// <c>optimizer.{part}.type</c> and <c>.step</c>, the recipe's counters as <c>recipe.{key}</c>, what the
/// caller adds (the run's configuration, random stream, data position...), <c>data_sha256</c>, a
/// SHA-256 of the tensor data, and <c>header_sha256</c>, a SHA-256 of the whole header (the length, every
/// tensor's name, dtype, shape and offsets, every metadata value; its own value read as 64 zeros), so a
/// changed digit anywhere in the file is found.</item>
/// </list>
/// Format 1 (<c>ilgpu-gan-checkpoint/1</c>, before the recipes) is read too: the same part tensors,
/// the optimizer state under <c>optG.state.{i}.{name}</c> / <c>optD.</c>, its step in <c>optG.step</c>.
/// It has no header checksum: only its tensor data is checked against <c>data_sha256</c>; its metadata is
/// checked only for being present and readable.
/// </summary>
public static class CheckpointFile
{
    public const string Format1 = "ilgpu-gan-checkpoint/1", Format2 = "ilgpu-gan-checkpoint/2";
    /// <summary>The metadata keys of the two checksums.</summary>
    public const string DataHashKey = "data_sha256", HeaderHashKey = "header_sha256";

    /// <summary>Writes the recipe's parts, optimizer state, step and counters and <paramref name="metadata"/>
    /// atomically (temporary file, fsync, rename, fsync of the folder). A NaN or infinite value is a
    /// <see cref="NonFiniteLossException"/> and nothing is written, so the last good checkpoint stays.</summary>
    public static void Save(string path, Recipe recipe, IReadOnlyDictionary<string, string> metadata)
    {
        var tensors = new List<SafeTensors.TensorSource>();
        void Add(string name, Tensor t) => tensors.Add(new(name, [.. t.Shape.Dims], t.CopyTo));
        var meta = new Dictionary<string, string>
        {
            ["format"] = Format2,
            ["step"] = Num(recipe.Step),
            ["parts"] = string.Join(",", recipe.Parts.Select(p => p.Name)),
        };
        foreach (var part in recipe.Parts)
        {
            foreach (var (n, t) in part.Module.StateDict()) Add($"{part.Name}.{n}", t);
            foreach (var (i, n, t) in part.Optimizer.NamedState()) Add($"optimizer.{part.Name}.state.{i}.{n}", t);
            meta[$"optimizer.{part.Name}.type"] = part.OptimizerName;
            meta[$"optimizer.{part.Name}.step"] = Num(part.Optimizer.Steps);
        }
        foreach (var (k, v) in recipe.SaveState()) meta["recipe." + k] = v;
        foreach (var (k, v) in metadata) meta.TryAdd(k, v);
        meta.Remove(DataHashKey);
        meta.Remove(HeaderHashKey);
        SafeTensors.WriteStreamed(path, tensors, meta, DataHashKey, HeaderHashKey, (name, values) =>
        {
            foreach (float v in values)
                if (!float.IsFinite(v))
                    throw new NonFiniteLossException($"Training diverged by step {recipe.Step}: {name} holds {v.ToString(CultureInfo.InvariantCulture)}. Try a lower learning rate.");
        });
    }

    /// <summary>Reads and checks a checkpoint of format 1 or 2: a missing file is a <see cref="FileNotFoundException"/>;
    /// a truncated or corrupt one, or one that is not an ilgpu-gan checkpoint, an <see cref="InvalidDataException"/> naming it.</summary>
    public static CheckpointContents Load(string path)
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
        if (!m.TryGetValue("format", out var format))
            throw new InvalidDataException($"Checkpoint {full} is not an ilgpu-gan checkpoint: its metadata has no 'format'.");
        if (format is not (Format1 or Format2))
            throw new InvalidDataException($"Checkpoint {full} has format '{format}'; this version reads '{Format2}' and '{Format1}'.");
        if (!m.TryGetValue("data_sha256", out var recorded))
            throw new InvalidDataException($"Checkpoint {full} is not an ilgpu-gan checkpoint: its metadata has no 'data_sha256'.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string hash = Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(8 + (int)headerLength)));
        if (hash != recorded)
            throw new InvalidDataException($"Checkpoint {full} is corrupt: its tensor data does not match the SHA-256 recorded in it.");
        if (format == Format2)
        {
            if (!m.TryGetValue(HeaderHashKey, out var recordedHeader))
                throw new InvalidDataException($"Checkpoint {full} is corrupt or was written before header checksums: its metadata has no '{HeaderHashKey}'.");
            if (SafeTensors.HeaderHash(bytes, HeaderHashKey) != recordedHeader)
                throw new InvalidDataException($"Checkpoint {full} is corrupt: its header (metadata and tensor table) does not match the SHA-256 recorded in it.");
        }
        return new CheckpointContents(full, format == Format1 ? 1 : 2, contents.Tensors, contents.Metadata);
    }

    internal static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A checkpoint read from disk and checked (<see cref="CheckpointFile.Load"/>), of format 1 or 2.</summary>
public sealed record CheckpointContents(string Path, int Format, IReadOnlyDictionary<string, HostTensor> Tensors, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>A metadata value; a missing one is an <see cref="InvalidDataException"/> naming the file and key.</summary>
    public string Get(string key) => Metadata.TryGetValue(key, out var v) ? v
        : throw new InvalidDataException($"Checkpoint {Path} is not an ilgpu-gan checkpoint: its metadata has no '{key}'.");

    public long GetLong(string key) => ParseNumber(key, s => long.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));

    public T ParseNumber<T>(string key, Func<string, T> parse)
    {
        string text = Get(key);
        try { return parse(text); }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new InvalidDataException($"Checkpoint {Path} has an unreadable '{key}': '{text}'.", e);
        }
    }

    public long Step => GetLong("step");

    /// <summary>The parts it holds: format 2's <c>parts</c>; format 1's were always G and D.</summary>
    public IReadOnlyList<string> Parts => Format == 1 ? ["G", "D"] : Get("parts").Split(',');

    /// <summary>The recipe's counters (format 2's <c>recipe.*</c> metadata; none in format 1).</summary>
    public IReadOnlyDictionary<string, string> RecipeState =>
        Metadata.Where(kv => kv.Key.StartsWith("recipe.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["recipe.".Length..], kv => kv.Value);

    /// <summary>Copies the part's state dict into <paramref name="module"/>: every tensor must be there with
    /// the same shape, and the checkpoint must hold no other tensor of that part.</summary>
    public void LoadModule(Module module, string part)
    {
        string prefix = part + ".";
        var expected = module.StateDict().ToList();
        foreach (var (name, t) in expected)
        {
            if (!Tensors.TryGetValue(prefix + name, out var saved))
                throw new InvalidDataException($"Checkpoint {Path} has no tensor '{prefix}{name}': it was saved from another model{ModelText}.");
            if (!saved.Shape.AsSpan().SequenceEqual(t.Shape.Dims))
                throw new InvalidDataException($"Checkpoint {Path}: '{prefix}{name}' is ({string.Join(", ", saved.Shape)}); the model has {t.Shape}.");
            t.CopyFrom(saved.Data);
        }
        int extra = Tensors.Keys.Count(k => k.StartsWith(prefix, StringComparison.Ordinal)) - expected.Count;
        if (extra != 0)
            throw new InvalidDataException($"Checkpoint {Path} holds {extra} more '{prefix}' tensors than the model{ModelText} has.");
    }

    private string ModelText => Metadata.TryGetValue("model", out var m) ? $" than '{m}'" : "";

    /// <summary>Puts the part's optimizer state and step count back.</summary>
    public void LoadOptimizer(Optimizer optimizer, string part)
    {
        string prefix = Format == 1 ? $"opt{part}.state." : $"optimizer.{part}.state.";
        long steps = GetLong(Format == 1 ? $"opt{part}.step" : $"optimizer.{part}.step");
        optimizer.LoadState(steps, OptimizerState(prefix));
    }

    /// <summary>The part's optimizer step count.</summary>
    public long OptimizerSteps(string part) => GetLong(Format == 1 ? $"opt{part}.step" : $"optimizer.{part}.step");

    /// <summary>Puts a whole recipe back: every part's module and optimizer, the step and the recipe's counters.</summary>
    public void Restore(Recipe recipe)
    {
        var missing = recipe.Parts.Select(p => p.Name).Except(Parts).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"Checkpoint {Path} holds the parts {string.Join(", ", Parts)}; this recipe also needs {string.Join(", ", missing)}.");
        foreach (var part in recipe.Parts)
        {
            LoadModule(part.Module, part.Name);
            if (Format == 2 && Metadata.TryGetValue($"optimizer.{part.Name}.type", out var type) && type != part.OptimizerName)
                throw new InvalidDataException($"Checkpoint {Path}: {part.Name}'s optimizer was {type}; this recipe's is {part.OptimizerName}.");
            LoadOptimizer(part.Optimizer, part.Name);
        }
        recipe.Step = Step;
        recipe.LoadState(RecipeState);
    }

    private IEnumerable<(int, string, float[])> OptimizerState(string prefix)
    {
        foreach (var (key, t) in Tensors)
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
