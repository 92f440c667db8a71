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

    /// <summary>Writes atomically (<see cref="AtomicFile"/>): a temporary file beside the target, flushed to disk, renamed over it, the folder synced.</summary>
    public static void Write(string path, IEnumerable<(string Name, HostTensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var md = new JsonObject();
            foreach (var (k, v) in metadata) md[k] = v;
            header["__metadata__"] = md;
        }
        long offset = 0;
        foreach (var (name, t) in list)
        {
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.Length * 4),
            };
            offset += t.Length * 4;
        }
        byte[] json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8;      // keep the data 8-byte aligned, as the reference writer does
        AtomicFile.Write(path, f =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
            f.Write(len);
            f.Write(json);
            for (int i = 0; i < pad; i++) f.WriteByte((byte)' ');
            foreach (var (_, t) in list) f.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
        });
    }

    private static string Format(int[] shape) => $"({string.Join(", ", shape)})";
}
