using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IlgpuGan.IO;

/// <summary>A float32 tensor read from or written to a safetensors file.</summary>
public sealed record HostTensor(int[] Shape, float[] Data)
{
    public long Length => Data.LongLength;
}

/// <summary>
/// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// ({name: {dtype, shape, data_offsets}}, plus "__metadata__": string map), then the raw data.
/// Only F32 tensors. Every inconsistency is an InvalidDataException naming the file.
/// </summary>
public static class SafeTensors
{
    public sealed record Contents(Dictionary<string, HostTensor> Tensors, Dictionary<string, string> Metadata);

    public static Contents Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file.", path);
        byte[] bytes = File.ReadAllBytes(path);
        try { return Parse(bytes); }
        catch (Exception e) when (e is InvalidDataException or JsonException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a valid safetensors file: {e.Message}", e);
        }
    }

    public static Contents Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8) throw new InvalidDataException($"{bytes.Length} bytes is too short for a header.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > (ulong)bytes.Length - 8) throw new InvalidDataException($"the header claims {n} bytes but the file has {bytes.Length}.");
        var root = JsonNode.Parse(bytes.Slice(8, (int)n).ToArray())?.AsObject()
                   ?? throw new InvalidDataException("the header is not a JSON object.");
        var data = bytes[(8 + (int)n)..];
        var tensors = new Dictionary<string, HostTensor>();
        var metadata = new Dictionary<string, string>();
        foreach (var (name, node) in root)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node!.AsObject()) metadata[k] = v!.GetValue<string>();
                continue;
            }
            var o = node!.AsObject();
            string dtype = o["dtype"]!.GetValue<string>();
            if (dtype != "F32") throw new InvalidDataException($"tensor '{name}' has dtype {dtype}; only F32 is supported.");
            int[] shape = o["shape"]!.AsArray().Select(d => d!.GetValue<int>()).ToArray();
            var offsets = o["data_offsets"]!.AsArray();
            long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (begin < 0 || end > data.Length || end - begin != count * 4)
                throw new InvalidDataException($"tensor '{name}' {Format(shape)} has data offsets [{begin}, {end}) that do not fit its size or the file.");
            var values = new float[count];
            MemoryMarshal.Cast<byte, float>(data.Slice((int)begin, (int)(end - begin))).CopyTo(values);
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts");
            tensors[name] = new HostTensor(shape, values);
        }
        return new Contents(tensors, metadata);
    }

    /// <summary>Writes atomically (<see cref="AtomicFile"/>): a temporary file beside the target, flushed to disk, renamed over it, the folder synced.
    /// With <paramref name="headerHashKey"/>, the metadata also holds under that key the SHA-256 of the whole header as
    /// written (the 8 length bytes and the JSON: every tensor's name, dtype, shape and offsets, and every metadata
    /// value), computed with the key's own value as 64 zeros (<see cref="HeaderHash"/>).</summary>
    public static void Write(string path, IEnumerable<(string Name, HostTensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null,
        string? headerHashKey = null)
    {
        var list = tensors.ToList();
        JsonObject? md = null;
        if (metadata is { Count: > 0 } || headerHashKey is not null)
        {
            md = new JsonObject();
            foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) md[k] = v;
            if (headerHashKey is not null) md[headerHashKey] = ZeroHash;
        }
        var head = Header(md, list.Select(x => (x.Name, x.Tensor.Shape, (long)x.Tensor.Length)));
        if (headerHashKey is not null)
        {
            int at = HashValueOffset(head, headerHashKey) ?? throw new InvalidOperationException("the header hash's place was not written");
            System.Text.Encoding.ASCII.GetBytes(HeaderHash(head, headerHashKey)!).CopyTo(head, at);
        }
        AtomicFile.Write(path, f =>
        {
            f.Write(head);
            foreach (var (_, t) in list) f.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
        });
    }

    /// <summary>A tensor to write by <see cref="WriteStreamed"/>: its name and shape, and how to fill a host span
    /// of its length with its values (from a device, say) when its turn comes.</summary>
    public readonly record struct TensorSource(string Name, int[] Shape, Action<Span<float>> Fill)
    {
        public long Length => Shape.Aggregate(1L, (a, b) => a * b);
    }

    /// <summary>As <see cref="Write"/>, but the tensors pass one at a time through one pooled host buffer, so writing
    /// allocates no array per tensor (a checkpoint every N steps of a long run then leaves no garbage behind).
    /// The metadata key <paramref name="dataHashKey"/> gets the SHA-256 of all tensor data and
    /// <paramref name="headerHashKey"/> that of the header (<see cref="HeaderHash"/>): the header goes first with
    /// zeros in both places, and is written again once the data has been hashed. <paramref name="check"/> sees each
    /// tensor's values before they are written; an exception from it writes nothing.</summary>
    public static void WriteStreamed(string path, IReadOnlyList<TensorSource> tensors, IReadOnlyDictionary<string, string> metadata,
        string dataHashKey, string headerHashKey, Action<string, ReadOnlySpan<float>>? check = null)
    {
        var md = new JsonObject();
        foreach (var (k, v) in metadata) md[k] = v;
        md[dataHashKey] = ZeroHash;
        md[headerHashKey] = ZeroHash;
        var head = Header(md, tensors.Select(t => (t.Name, t.Shape, t.Length)));
        long largest = tensors.Count == 0 ? 0 : tensors.Max(t => t.Length);
        int dataAt = HashValueOffset(head, dataHashKey) ?? throw new InvalidOperationException("the data hash's place was not written");
        int headerAt = HashValueOffset(head, headerHashKey) ?? throw new InvalidOperationException("the header hash's place was not written");

        float[] buffer = System.Buffers.ArrayPool<float>.Shared.Rent((int)Math.Max(1, largest));
        try
        {
            AtomicFile.Write(path, f =>
            {
                f.Write(head);
                using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
                foreach (var t in tensors)
                {
                    var values = buffer.AsSpan(0, (int)t.Length);
                    t.Fill(values);
                    check?.Invoke(t.Name, values);
                    var bytes = MemoryMarshal.AsBytes(values);
                    sha.AppendData(bytes);
                    f.Write(bytes);
                }
                System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(sha.GetHashAndReset())).CopyTo(head, dataAt);
                System.Text.Encoding.ASCII.GetBytes(HeaderHash(head, headerHashKey)!).CopyTo(head, headerAt);
                f.Position = 0;
                f.Write(head);
            });
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(buffer); }
    }

    /// <summary>The header as written: 8 length bytes, then the JSON (<c>__metadata__</c> when given, then each tensor's
    /// dtype, shape and data offsets, one after another), padded with spaces so the data stays 8-byte aligned, as the
    /// reference writer does.</summary>
    private static byte[] Header(JsonObject? metadata, IEnumerable<(string Name, int[] Shape, long Length)> tensors)
    {
        var header = new JsonObject();
        if (metadata is not null) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, shape, length) in tensors)
        {
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + length * 4),
            };
            offset += length * 4;
        }
        byte[] json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8;
        var head = new byte[8 + json.Length + pad];
        BinaryPrimitives.WriteUInt64LittleEndian(head, (ulong)(json.Length + pad));
        json.CopyTo(head, 8);
        head.AsSpan(8 + json.Length).Fill((byte)' ');
        return head;
    }

    private static readonly string ZeroHash = new('0', 64);

    /// <summary>The SHA-256 (lower-case hex) of a file's header, <c>bytes[0 .. 8 + N)</c>, with the 64-character
    /// value of the metadata key <paramref name="key"/> read as 64 zeros; null if the header holds no such key
    /// (or more than one) with a value of 64 characters.</summary>
    public static string? HeaderHash(ReadOnlySpan<byte> bytes, string key)
    {
        if (bytes.Length < 8) return null;
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > (ulong)bytes.Length - 8) return null;
        var head = bytes[..(8 + (int)n)].ToArray();
        if (HashValueOffset(head, key) is not int at) return null;
        System.Text.Encoding.ASCII.GetBytes(ZeroHash).CopyTo(head, at);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(head));
    }

    /// <summary>Where the 64 characters of <c>"key":"..."</c> start in the header (exactly one occurrence), else null.
    /// Inside a JSON string value a quote is escaped, so the unescaped pattern can only be the key itself.</summary>
    private static int? HashValueOffset(byte[] head, string key)
    {
        byte[] pattern = System.Text.Encoding.UTF8.GetBytes($"\"{key}\":\"");
        var span = head.AsSpan(8);
        int first = span.IndexOf(pattern);
        if (first < 0 || span[(first + 1)..].IndexOf(pattern) >= 0) return null;
        int at = 8 + first + pattern.Length;
        if (at + 65 > head.Length || head[at + 64] != (byte)'"') return null;
        return at;
    }

    private static string Format(int[] shape) => $"({string.Join(", ", shape)})";
}
