using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;

namespace IlgpuGan.Data;

/// <summary>Images read from an IDX file: <see cref="Count"/> images of <see cref="Height"/> x
/// <see cref="Width"/> unsigned bytes, row-major, one image after another.</summary>
public sealed class IdxImages
{
    public IdxImages(int count, int height, int width, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if ((long)count * height * width != pixels.Length)
            throw new ArgumentException(
                $"{count} images of {height}x{width} need {(long)count * height * width} bytes, got {pixels.Length}.",
                nameof(pixels));
        Count = count;
        Height = height;
        Width = width;
        Pixels = pixels;
    }

    public int Count { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>Count * Height * Width bytes, image after image, each row-major.</summary>
    public byte[] Pixels { get; }
}

/// <summary>
/// Reader for the IDX format of the MNIST database (big-endian header: two zero bytes, a data-type
/// byte, a dimension-count byte, then one 32-bit size per dimension, then the data). Files may be
/// gzip-compressed; compression is detected by the gzip magic bytes 1f 8b, not by the file name.
/// Only unsigned-byte data (type 0x08) is supported. Every problem with a file's content is an
/// <see cref="InvalidDataException"/> whose message starts with the file name and says what is
/// wrong; a missing file is a <see cref="FileNotFoundException"/> naming the path.
/// </summary>
public static class Idx
{
    /// <summary>Magic number of a uint8 3-D IDX file (images: count, rows, columns).</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic number of a uint8 1-D IDX file (labels: count).</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>The data-type byte for unsigned bytes.</summary>
    public const byte UnsignedByteType = 0x08;

    /// <summary>Reads a uint8 3-D IDX file (magic 0x00000803), gzip-compressed or plain.</summary>
    public static IdxImages ReadImages(string path)
    {
        byte[] bytes = ReadDecompressed(path);
        int[] dims = ParseHeader(path, bytes, expectedDims: 3, "an image file");
        int count = dims[0], rows = dims[1], cols = dims[2];
        if (rows == 0 || cols == 0)
            throw Invalid(path, $"header announces images of {rows}x{cols} pixels; both sides must be at least 1");
        long announced = (long)count * rows * cols;
        string what = $"{Num(count)} images of {rows}x{cols}";
        CheckLength(path, bytes, HeaderSize(3), announced, what);
        byte[] pixels = bytes.AsSpan(HeaderSize(3)).ToArray();
        return new IdxImages(count, rows, cols, pixels);
    }

    /// <summary>Reads a uint8 1-D IDX file (magic 0x00000801), gzip-compressed or plain.</summary>
    public static byte[] ReadLabels(string path)
    {
        byte[] bytes = ReadDecompressed(path);
        int[] dims = ParseHeader(path, bytes, expectedDims: 1, "a label file");
        int count = dims[0];
        CheckLength(path, bytes, HeaderSize(1), count, $"{Num(count)} labels");
        return bytes.AsSpan(HeaderSize(1)).ToArray();
    }

    /// <summary>
    /// Returns the content of a file, decompressed if it starts with the gzip magic bytes 1f 8b.
    /// A corrupt or truncated gzip stream is an <see cref="InvalidDataException"/> naming the file.
    /// </summary>
    public static byte[] ReadDecompressed(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            string full = Path.GetFullPath(path);
            string? dir = Path.GetDirectoryName(full);
            string why = dir is not null && !Directory.Exists(dir) ? $" (the folder {dir} does not exist)" : "";
            throw new FileNotFoundException($"IDX file not found: {full}{why}", full);
        }

        byte[] raw = File.ReadAllBytes(path);
        if (raw.Length < 2 || raw[0] != 0x1f || raw[1] != 0x8b)
            return raw;

        byte[] result;
        try
        {
            using var input = new MemoryStream(raw, writable: false);
            using var gzip = new GZipStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream(capacity: (int)Math.Clamp((long)raw.Length * 4, 1024, 1L << 30));
            gzip.CopyTo(output);
            result = output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException(
                $"{Path.GetFileName(path)}: corrupt gzip stream ({e.Message}) [{Path.GetFullPath(path)}]", e);
        }
        CheckGzipTrailer(path, raw, result.Length);
        return result;
    }

    // A gzip member ends with CRC-32 and ISIZE (the uncompressed length mod 2^32, little-endian).
    // .NET's GZipStream stops silently at the end of a truncated deflate stream (it returns what it
    // could decode and throws nothing), so the decompressed length is checked against the trailer.
    // A multi-member gzip file (several gzip streams concatenated; not what gzip or the MNIST
    // distribution produce) fails this check unless its last member happens to match.
    private static void CheckGzipTrailer(string path, byte[] raw, int decompressedLength)
    {
        if (raw.Length < 18)
            throw Invalid(path, $"truncated gzip stream: {Num(raw.Length)} bytes is shorter than an empty gzip file (18 bytes)");
        uint isize = BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(raw.Length - 4));
        if (isize != unchecked((uint)decompressedLength))
            throw Invalid(path,
                $"truncated or corrupt gzip stream: it decompresses to {Num(decompressedLength)} bytes, but the " +
                $"size recorded in its last 4 bytes is {Num(isize)} (a file cut short, or a multi-member gzip file, " +
                "which is not supported)");
    }

    private static int HeaderSize(int dims) => 4 + 4 * dims;

    private static int[] ParseHeader(string path, byte[] bytes, int expectedDims, string kind)
    {
        if (bytes.Length < 4)
            throw Invalid(path, $"too short to be an IDX file: {Num(bytes.Length)} bytes, the header alone needs {HeaderSize(expectedDims)}");

        int magic = BinaryPrimitives.ReadInt32BigEndian(bytes);
        int expectedMagic = 0x800 | expectedDims;
        if (bytes[0] != 0 || bytes[1] != 0)
            throw Invalid(path,
                $"not an IDX file: bad magic number 0x{magic:X8} (expected 0x{expectedMagic:X8} for {kind}; " +
                "an IDX file starts with two zero bytes)");
        if (bytes[2] != UnsignedByteType)
            throw Invalid(path,
                $"bad magic number 0x{magic:X8}: data type byte is 0x{bytes[2]:X2} ({TypeName(bytes[2])}), " +
                $"only 0x08 (unsigned byte) is supported (expected 0x{expectedMagic:X8} for {kind})");
        if (bytes[3] != expectedDims)
            throw Invalid(path,
                $"bad magic number 0x{magic:X8}: the file has {bytes[3]} dimension(s) but {kind} has {expectedDims} " +
                $"(expected 0x{expectedMagic:X8}{(bytes[3] == 1 ? "; this looks like a label file" : bytes[3] == 3 ? "; this looks like an image file" : "")})");

        if (bytes.Length < HeaderSize(expectedDims))
            throw Invalid(path,
                $"truncated header: {Num(bytes.Length)} bytes, the header of {kind} needs {HeaderSize(expectedDims)}");

        var dims = new int[expectedDims];
        for (int i = 0; i < expectedDims; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(4 + 4 * i));
            if (d > int.MaxValue)
                throw Invalid(path, $"dimension {i} is {d}, which is not a plausible size");
            dims[i] = (int)d;
        }
        return dims;
    }

    private static void CheckLength(string path, byte[] bytes, int headerSize, long announced, string what)
    {
        long actual = bytes.Length - headerSize;
        if (announced > Array.MaxLength)
            throw Invalid(path, $"header announces {what} ({Num(announced)} bytes), more than one array can hold");
        if (actual < announced)
            throw Invalid(path,
                $"truncated: header announces {what} ({Num(announced)} bytes) but the file has {Num(actual)} " +
                $"bytes after the {headerSize}-byte header");
        if (actual > announced)
            throw Invalid(path,
                $"too long: header announces {what} ({Num(announced)} bytes) but the file has {Num(actual)} " +
                $"bytes after the {headerSize}-byte header ({Num(actual - announced)} extra)");
    }

    private static string TypeName(byte type) => type switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown type",
    };

    internal static string Num(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    internal static InvalidDataException Invalid(string path, string problem) =>
        new($"{Path.GetFileName(path)}: {problem} [{Path.GetFullPath(path)}]");
}
