using System.Buffers.Binary;
using System.Numerics;
using StbImageSharp;

namespace IlgpuGan.Data;

/// <summary>What <see cref="ImageFolderDataset.Load"/> does with a file it cannot read.</summary>
public enum BadFileAction
{
    /// <summary>Leave the file out and list it, with the reason, in <see cref="ImageFolderDataset.Skipped"/>.</summary>
    Skip,

    /// <summary>Throw an <see cref="InvalidDataException"/> naming the file and the reason.</summary>
    Fail,
}

/// <summary>An image file that <see cref="ImageFolderDataset.Load"/> left out.</summary>
/// <param name="Path">The file's full path.</param>
/// <param name="Reason">Why it could not be read (the decoder's message, or what is wrong with it).</param>
public sealed record SkippedFile(string Path, string Reason)
{
    /// <summary>"name: reason [full path]", like the data readers' error messages.</summary>
    public override string ToString() => $"{System.IO.Path.GetFileName(Path)}: {Reason} [{Path}]";
}

/// <summary>Options of <see cref="ImageFolderDataset.Load"/>.</summary>
public sealed class ImageFolderOptions
{
    /// <summary>3 (RGB) or 1 (grey: ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B). Default 3.</summary>
    public int Channels { get; init; } = 3;

    /// <summary>What to do with an unreadable, corrupt or truncated file. Default <see cref="BadFileAction.Skip"/>.</summary>
    public BadFileAction OnBadFile { get; init; } = BadFileAction.Skip;

    /// <summary>Read only the first this many image files (in path order; bad ones among them are
    /// skipped, not replaced). 0, the default, reads them all.</summary>
    public int MaxImages { get; init; }

    /// <summary>The images are kept in blocks of at most this many bytes (an image is never split
    /// between blocks; a block holds at least one image). Default <see cref="ImageFolderDataset.DefaultBlockBytes"/>
    /// (1 GiB); smaller values are for tests.</summary>
    public int MaxBlockBytes { get; init; } = ImageFolderDataset.DefaultBlockBytes;

    /// <summary>Files decoded at once; -1 (the default) lets <see cref="Parallel"/> decide.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>Told the number of files done so far (decoded or skipped), from worker threads, about
    /// every 1/200 of the files and once more, from the calling thread, with the total at the end.
    /// <see cref="Progress{T}"/> may deliver the worker reports out of order.</summary>
    public IProgress<int>? Progress { get; init; }
}

/// <summary>
/// A folder of images in memory, ready for training: every PNG, JPEG, BMP, GIF (first frame) or TGA
/// file under a folder and its subfolders, read with StbImageSharp, resized so that its shorter side
/// is <see cref="Size"/> and centre-cropped to Size x Size (torchvision's
/// <c>Resize(size), CenterCrop(size)</c>), as RGB or grey, and kept as the 8-bit pixels that come
/// out of the resize (C, Size, Size planes per image): 1 byte per value, 12 KiB per 64 x 64 RGB
/// image, so the whole of CelebA (202,599 images, 2.49 GB at 64 x 64) fits. The images are held in
/// blocks of up to 1 GiB (<see cref="ImageFolderOptions.MaxBlockBytes"/>), since one .NET array
/// cannot hold them all. <see cref="BatchLoader.FromImages"/> serves them in batches, scaled to
/// [-1, 1] as it fills each batch (x / 127.5 - 1, as <see cref="PixelsToFloats"/>);
/// <see cref="CopySample"/> and <see cref="ToFloats"/> give samples as floats (e.g. for a grid).
/// <para>
/// Resizing is PIL's antialiased bilinear resampling, as torchvision's <c>Resize</c> uses: a triangle
/// filter that is stretched to the scale factor when shrinking (so each output pixel averages the
/// source pixels it covers instead of aliasing) and plain bilinear interpolation when enlarging. The
/// result is rounded to 8 bits per channel, as PIL stores it. An alpha channel is dropped, as PIL's
/// <c>convert("RGB")</c> does.
/// </para>
/// <para>
/// Files are ordered by path (ordinal comparison), so sample k is the same file on every run; hidden
/// files and folders (names starting with '.') are ignored. Files are decoded in parallel.
/// A file the decoder rejects, a PNG it finds truncated, a JPEG without its end-of-image marker and a
/// BMP shorter than its header announces are bad files: skipped and listed in <see cref="Skipped"/>,
/// or an <see cref="InvalidDataException"/> naming the file (see <see cref="ImageFolderOptions.OnBadFile"/>).
/// </para>
/// </summary>
public sealed class ImageFolderDataset
{
    /// <summary>The file extensions read (lower case; matched without regard to case).</summary>
    public static IReadOnlyList<string> SupportedExtensions { get; } = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga"];

    /// <summary>The default largest block of image bytes: 1 GiB.</summary>
    public const int DefaultBlockBytes = 1 << 30;

    private static readonly HashSet<string> ExtensionSet = new(SupportedExtensions, StringComparer.OrdinalIgnoreCase);

    private readonly byte[][] _blocks;
    private readonly int _perBlock;

    private ImageFolderDataset(string? folder, int count, int channels, int size, Storage storage,
        IReadOnlyList<string> files, IReadOnlyList<SkippedFile> skipped)
    {
        Folder = folder;
        Count = count;
        Channels = channels;
        Size = size;
        _blocks = storage.Blocks;
        _perBlock = storage.PerBlock;
        Files = files;
        Skipped = skipped;
    }

    /// <summary>The folder's full path; null for <see cref="Fake"/> data.</summary>
    public string? Folder { get; }

    /// <summary>Number of images.</summary>
    public int Count { get; }

    /// <summary>3 (RGB) or 1 (grey).</summary>
    public int Channels { get; }

    /// <summary>Side of the square images.</summary>
    public int Size { get; }

    public int Height => Size;

    public int Width => Size;

    /// <summary>Values per image: Channels * Size * Size (bytes as stored, floats as served).</summary>
    public int SampleSize => Channels * Size * Size;

    /// <summary>The memory the images take: Count * SampleSize bytes (plus at most one image's worth of
    /// unused room per block).</summary>
    public long ByteCount => (long)Count * SampleSize;

    /// <summary>The number of blocks (arrays) the images are held in.</summary>
    public int BlockCount => _blocks.Length;

    /// <summary>Images per block (the last block may hold fewer).</summary>
    public int ImagesPerBlock => _perBlock;

    /// <summary>Image <paramref name="index"/>'s 8-bit pixels: Channels planes of Size x Size bytes
    /// (C, H, W), exactly as decoded, resized and cropped.</summary>
    public ReadOnlySpan<byte> Pixels(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The data set holds {Count} images.");
        return _blocks[index / _perBlock].AsSpan(index % _perBlock * SampleSize, SampleSize);
    }

    /// <summary>Writes image <paramref name="index"/> as SampleSize floats in [-1, 1] (x / 127.5 - 1),
    /// (C, H, W), to the start of <paramref name="destination"/>. Allocates nothing.</summary>
    public void CopySample(int index, Span<float> destination)
    {
        if (destination.Length < SampleSize)
            throw new ArgumentException(
                $"The destination holds {destination.Length} floats; an image needs {SampleSize}.", nameof(destination));
        PixelsToFloats(Pixels(index), destination);
    }

    /// <summary>Images start .. start + count - 1 as one new (count, C, H, W) float array in [-1, 1],
    /// e.g. for <see cref="Imaging.ImageGrid.SavePng"/>.</summary>
    public float[] ToFloats(int start, int count)
    {
        if (start < 0 || count < 0 || (long)start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(count),
                $"Images {start}..{(long)start + count - 1} are not all among the {Count} images.");
        if ((long)count * SampleSize > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"{count} images do not fit in one float array.");
        var result = new float[count * SampleSize];
        for (int k = 0; k < count; k++)
            PixelsToFloats(Pixels(start + k), result.AsSpan(k * SampleSize, SampleSize));
        return result;
    }

    /// <summary>Scales 8-bit values to [-1, 1]: destination[i] = source[i] / 127.5f - 1f (the same
    /// float, bit for bit, as that scalar expression; vectorised). Allocates nothing.</summary>
    public static void PixelsToFloats(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException(
                $"The destination holds {destination.Length} floats; {source.Length} are needed.", nameof(destination));
        int i = 0;
        if (Vector.IsHardwareAccelerated && source.Length >= Vector<byte>.Count)
        {
            var scale = new Vector<float>(127.5f);
            var one = Vector<float>.One;
            int step = Vector<byte>.Count, quarter = Vector<float>.Count;
            for (; i <= source.Length - step; i += step)
            {
                Vector.Widen(new Vector<byte>(source[i..]), out Vector<ushort> lo, out Vector<ushort> hi);
                Vector.Widen(lo, out Vector<uint> a, out Vector<uint> b);
                Vector.Widen(hi, out Vector<uint> c, out Vector<uint> d);
                Span<float> dst = destination[i..];
                (Vector.ConvertToSingle(a) / scale - one).CopyTo(dst);
                (Vector.ConvertToSingle(b) / scale - one).CopyTo(dst[quarter..]);
                (Vector.ConvertToSingle(c) / scale - one).CopyTo(dst[(2 * quarter)..]);
                (Vector.ConvertToSingle(d) / scale - one).CopyTo(dst[(3 * quarter)..]);
            }
        }
        for (; i < source.Length; i++)
            destination[i] = source[i] / 127.5f - 1f;
    }

    /// <summary>The full path of each image, in sample order (empty for <see cref="Fake"/> data).</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The files left out, in path order, each with the reason; empty when none was.</summary>
    public IReadOnlyList<SkippedFile> Skipped { get; }

    /// <summary>
    /// Loads every image under <paramref name="folder"/> (see the class remarks).
    /// </summary>
    /// <param name="folder">The folder, e.g. CelebA's <c>img_align_celeba</c>.</param>
    /// <param name="size">Side of the square images produced (e.g. 64).</param>
    /// <param name="options">Channels, bad-file handling, a limit, block size, parallelism and progress; null for the defaults.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">No image file is in the folder, every one was bad, or
    /// (with <see cref="BadFileAction.Fail"/>) a file is bad: the message names it.</exception>
    public static ImageFolderDataset Load(string folder, int size, ImageFolderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        options ??= new ImageFolderOptions();
        CheckShape(options.Channels, size, nameof(options));
        if (options.MaxImages < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxImages, "MaxImages cannot be negative (0 reads every image).");
        if (options.MaxDegreeOfParallelism is 0 or < -1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxDegreeOfParallelism,
                "MaxDegreeOfParallelism must be -1 (no limit) or at least 1.");

        string full = Path.GetFullPath(folder);
        string[] files = FindImageFiles(full);
        if (files.Length == 0)
            throw new InvalidDataException(
                $"No images found in {full}: no file with a supported extension ({string.Join(", ", SupportedExtensions)}) " +
                "in it or its subfolders.");
        if (options.MaxImages > 0 && files.Length > options.MaxImages)
            files = files[..options.MaxImages];

        if (options.MaxBlockBytes < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxBlockBytes, "MaxBlockBytes must be at least 1.");

        int channels = options.Channels;
        int sampleSize = channels * size * size;

        // Decode each file straight into its slot (file i -> image i) of the blocks, in parallel;
        // then move the good images down over the bad ones' slots, in order, and drop the spare room.
        var storage = Storage.Create(files.Length, sampleSize, options.MaxBlockBytes);
        var good = new bool[files.Length];
        var reasons = new string?[files.Length];
        var retry = new bool[files.Length];
        int done = 0;
        int reportEvery = Math.Max(1, files.Length / 200);
        IProgress<int>? progress = options.Progress;
        bool fail = options.OnBadFile == BadFileAction.Fail;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism };
        Parallel.For(0, files.Length, parallel, (i, state) =>
        {
            good[i] = Read(files[i], size, channels, storage.Slot(i), out reasons[i], out retry[i]);
            if (!good[i] && fail)
                state.Break(); // every file before this one is still read, so the first bad file is found
            int n = Interlocked.Increment(ref done);
            if (progress is not null && n % reportEvery == 0 && n != files.Length)
                progress.Report(n);
        });

        // StbImageSharp keeps its failure message in one static field, so a message read while other
        // threads were decoding may be theirs: decode the rejected files again, one at a time.
        for (int i = 0; i < files.Length; i++)
            if (retry[i])
                good[i] = Read(files[i], size, channels, storage.Slot(i), out reasons[i], out _);

        var kept = new List<string>(files.Length);
        var skipped = new List<SkippedFile>();
        for (int i = 0; i < files.Length; i++)
        {
            if (good[i])
            {
                if (kept.Count != i)
                    storage.Slot(i).CopyTo(storage.Slot(kept.Count)); // the target slot is free: its file was bad
                kept.Add(files[i]);
                continue;
            }
            if (reasons[i] is null)
                continue; // not read: the loop stopped at an earlier bad file
            if (fail)
                throw new InvalidDataException(
                    $"{Path.GetRelativePath(full, files[i])}: cannot read the image: {reasons[i]} [{files[i]}]");
            skipped.Add(new SkippedFile(files[i], reasons[i]!));
        }
        if (kept.Count == 0)
            throw new InvalidDataException(
                $"No images found in {full}: all {Idx.Num(files.Length)} image files were unreadable " +
                $"(supported: {string.Join(", ", SupportedExtensions)}); the first: {skipped[0]}");

        storage = storage.Trim(kept.Count);
        progress?.Report(files.Length);
        return new ImageFolderDataset(full, kept.Count, channels, size, storage, kept.AsReadOnly(), skipped.AsReadOnly());
    }

    /// <summary>The image files under <paramref name="folder"/> and its subfolders (supported
    /// extensions, any case; hidden files and folders left out), as full paths in ordinal order.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static string[] FindImageFiles(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        string full = Path.GetFullPath(folder);
        if (!Directory.Exists(full))
            throw new DirectoryNotFoundException(
                File.Exists(full) ? $"Image folder not found: {full} is a file, not a folder" : $"Image folder not found: {full}");
        var enumeration = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = true,
            AttributesToSkip = FileAttributes.Hidden | FileAttributes.System,
        };
        string[] files = Directory.EnumerateFiles(full, "*", enumeration)
            .Where(f => ExtensionSet.Contains(Path.GetExtension(f)))
            .ToArray();
        Array.Sort(files, StringComparer.Ordinal);
        return files;
    }

    /// <summary>
    /// A synthetic data set of <paramref name="count"/> images for dry runs: each a smooth gradient
    /// between two colours with one to three soft round blobs on it, stored as 8-bit pixels like loaded
    /// images. Image k depends only on (<paramref name="seed"/>, k), through integer hashing and
    /// correctly rounded float arithmetic (+, -, *, /, sqrt), so the data are the same on every run and
    /// machine. <paramref name="maxBlockBytes"/>: as <see cref="ImageFolderOptions.MaxBlockBytes"/>.
    /// </summary>
    public static ImageFolderDataset Fake(int count, int channels, int size, int seed, int maxBlockBytes = DefaultBlockBytes)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "At least one image is needed.");
        CheckShape(channels, size, nameof(channels));
        if (maxBlockBytes < 1)
            throw new ArgumentOutOfRangeException(nameof(maxBlockBytes), maxBlockBytes, "maxBlockBytes must be at least 1.");
        int sampleSize = channels * size * size;
        var storage = Storage.Create(count, sampleSize, maxBlockBytes);
        Parallel.For(0, count,
            () => new float[sampleSize],
            (k, _, scratch) =>
            {
                FakeImage(scratch, channels, size, seed, k);
                Span<byte> dst = storage.Slot(k);
                for (int j = 0; j < scratch.Length; j++)
                    dst[j] = ToByte((scratch[j] + 1f) * 127.5f);
                return scratch;
            },
            _ => { });
        return new ImageFolderDataset(null, count, channels, size, storage, [], []);
    }

    /// <summary>
    /// Resizes an 8-bit RGB image (<paramref name="width"/> x <paramref name="height"/> pixels,
    /// 3 interleaved bytes each, row-major) so that its shorter side is <paramref name="size"/>,
    /// crops the centre Size x Size, and writes it to <paramref name="destination"/> as
    /// <paramref name="channels"/> planes of Size x Size bytes (CHW; 1 channel = BT.601 luma).
    /// As torchvision: the longer side becomes floor(size * long / short), the crop starts at
    /// round((resized - size) / 2) (halves to even), and the resampling is PIL's antialiased bilinear.
    /// </summary>
    public static void ResizeCrop(ReadOnlySpan<byte> rgb, int width, int height, int size, int channels, Span<byte> destination)
    {
        CheckShape(channels, size, nameof(channels));
        if (width < 1 || height < 1)
            throw new ArgumentOutOfRangeException(nameof(width), $"The image is {width}x{height}; both sides must be at least 1.");
        if (rgb.Length < (long)width * height * 3)
            throw new ArgumentException($"A {width}x{height} RGB image needs {(long)width * height * 3} bytes, the span holds {rgb.Length}.", nameof(rgb));
        if (destination.Length < channels * size * size)
            throw new ArgumentException($"The destination holds {destination.Length} bytes; {channels}x{size}x{size} are needed.", nameof(destination));

        int resizedW, resizedH;
        if (width <= height)
        {
            resizedW = size;
            resizedH = (int)Math.Max(size, (long)size * height / width);
        }
        else
        {
            resizedH = size;
            resizedW = (int)Math.Max(size, (long)size * width / height);
        }
        int left = (int)Math.Round((resizedW - size) / 2.0, MidpointRounding.ToEven);
        int top = (int)Math.Round((resizedH - size) / 2.0, MidpointRounding.ToEven);
        Filter fx = Filter.Create(width, resizedW, left, size);
        Filter fy = Filter.Create(height, resizedH, top, size);

        // Horizontal pass over the source rows the vertical pass needs, interleaved RGB floats.
        int rowFirst = fy.Start[0];
        int rowEnd = fy.Start[size - 1] + fy.Length[size - 1];
        var rows = new float[(rowEnd - rowFirst) * size * 3];
        for (int y = rowFirst; y < rowEnd; y++)
        {
            ReadOnlySpan<byte> src = rgb.Slice(y * width * 3, width * 3);
            Span<float> dst = rows.AsSpan((y - rowFirst) * size * 3, size * 3);
            for (int x = 0; x < size; x++)
            {
                ReadOnlySpan<float> w = fx.Weights(x);
                int s = fx.Start[x] * 3;
                float r = 0, g = 0, b = 0;
                for (int k = 0; k < w.Length; k++, s += 3)
                {
                    r += w[k] * src[s];
                    g += w[k] * src[s + 1];
                    b += w[k] * src[s + 2];
                }
                dst[x * 3] = r;
                dst[x * 3 + 1] = g;
                dst[x * 3 + 2] = b;
            }
        }

        // Vertical pass, then luma (grey) or planar RGB, rounded to bytes.
        int plane = size * size;
        for (int y = 0; y < size; y++)
        {
            ReadOnlySpan<float> w = fy.Weights(y);
            int first = fy.Start[y] - rowFirst;
            for (int x = 0; x < size; x++)
            {
                float r = 0, g = 0, b = 0;
                for (int k = 0; k < w.Length; k++)
                {
                    int s = ((first + k) * size + x) * 3;
                    r += w[k] * rows[s];
                    g += w[k] * rows[s + 1];
                    b += w[k] * rows[s + 2];
                }
                int o = y * size + x;
                if (channels == 1)
                {
                    destination[o] = ToByte(0.299f * r + 0.587f * g + 0.114f * b);
                }
                else
                {
                    destination[o] = ToByte(r);
                    destination[plane + o] = ToByte(g);
                    destination[2 * plane + o] = ToByte(b);
                }
            }
        }
    }

    private static byte ToByte(float v) => v <= 0f ? (byte)0 : v >= 255f ? (byte)255 : (byte)(v + 0.5f);

    private static void CheckShape(int channels, int size, string paramName)
    {
        if (channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(paramName, channels, "Only 1 (grey) or 3 (RGB) channels are supported.");
        if (size < 1)
            throw new ArgumentOutOfRangeException(nameof(size), size, "The image size must be at least 1.");
        if ((long)channels * size * size > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"{channels}x{size}x{size} values do not fit in one array.");
    }

    /// <summary>Fixed-size image slots in blocks of at most maxBlockBytes (at least one image each).</summary>
    private readonly record struct Storage(byte[][] Blocks, int PerBlock, int SampleSize)
    {
        public static Storage Create(int count, int sampleSize, int maxBlockBytes)
        {
            int perBlock = Math.Max(1, Math.Min(count, maxBlockBytes / sampleSize));
            var blocks = new byte[(count + perBlock - 1) / perBlock][];
            for (int b = 0; b < blocks.Length; b++)
                blocks[b] = new byte[(long)Math.Min(perBlock, count - b * perBlock) * sampleSize];
            return new Storage(blocks, perBlock, sampleSize);
        }

        public Span<byte> Slot(int i) => Blocks[i / PerBlock].AsSpan(i % PerBlock * SampleSize, SampleSize);

        /// <summary>Keeps the first <paramref name="count"/> slots: drops the blocks after them and
        /// shortens the last one kept when that frees more than a quarter of it.</summary>
        public Storage Trim(int count)
        {
            int blocks = (count + PerBlock - 1) / PerBlock;
            var kept = Blocks[..blocks];
            long used = (long)(count - (blocks - 1) * PerBlock) * SampleSize;
            if (used < kept[^1].Length - kept[^1].Length / 4)
                kept[^1] = kept[^1].AsSpan(0, (int)used).ToArray();
            return this with { Blocks = kept };
        }
    }

    /// <summary>Reads, checks, decodes and transforms one file into <paramref name="destination"/>;
    /// false with a reason when it is bad.
    /// <paramref name="retry"/>: the reason is the decoder's message (which may be another thread's).</summary>
    private static bool Read(string path, int size, int channels, Span<byte> destination, out string? reason, out bool retry)
    {
        retry = false;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            reason = $"cannot read the file ({e.Message})";
            return false;
        }

        reason = Truncation(bytes);
        if (reason is not null)
            return false;

        ImageResult image;
        try
        {
            image = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException
                                      or NullReferenceException or OverflowException or NotSupportedException)
        {
            // StbImageSharp throws InvalidOperationException with stb's message; a corrupt stream can
            // also trip an index or null check in the ported C code.
            reason = DecoderReason(e, bytes);
            retry = e is InvalidOperationException;
            return false;
        }

        ResizeCrop(image.Data, image.Width, image.Height, size, channels, destination);
        return true;
    }

    private static string DecoderReason(Exception e, byte[] bytes)
    {
        if (bytes.Length == 0)
            return "the file is empty";
        if (e is not InvalidOperationException)
            return $"corrupt image data (the decoder failed with {e.GetType().Name}: {e.Message})";
        string message = e.Message ?? "";
        string clean = new string(message.Where(c => !char.IsControl(c)).ToArray()).Trim();
        if (clean == "unknown image type")
            return "not an image the decoder knows (PNG, JPEG, BMP, GIF, TGA): unknown image type";
        if (message.Any(char.IsControl) || clean.Length == 0)
            // stb reports an unknown PNG chunk with the chunk's type as the message: after the end of a
            // truncated file that is four zero bytes.
            return $"corrupt or truncated PNG data: unreadable chunk{(clean.Length > 0 ? $" '{clean}'" : "")}";
        return $"corrupt image data (the decoder says: {clean})";
    }

    /// <summary>stb decodes a cut-off JPEG or BMP without complaint (the missing part comes out grey or
    /// black), so those are checked here; null when the file looks complete.</summary>
    private static string? Truncation(byte[] bytes)
    {
        ReadOnlySpan<byte> b = bytes;
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        {
            // Entropy-coded data escapes 0xFF as FF 00, so FF D9 after the last start-of-scan (FF DA)
            // can only be the end-of-image marker.
            int sos = b.LastIndexOf((ReadOnlySpan<byte>)[0xFF, 0xDA]);
            if (sos < 0)
                return $"truncated JPEG: no image data (no start-of-scan marker) in {Idx.Num(b.Length)} bytes";
            if (b[(sos + 2)..].IndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) < 0)
                return $"truncated JPEG: the file ends after {Idx.Num(b.Length)} bytes without an end-of-image marker";
            return null;
        }
        if (b.Length >= 2 && b[0] == (byte)'B' && b[1] == (byte)'M')
        {
            if (b.Length < 26)
                return $"truncated BMP: {Idx.Num(b.Length)} bytes is shorter than a BMP header";
            uint offset = BinaryPrimitives.ReadUInt32LittleEndian(b[10..]);
            uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(b[14..]);
            long w, h;
            int bpp;
            uint compression = 0;
            if (headerSize == 12)
            {
                w = BinaryPrimitives.ReadUInt16LittleEndian(b[18..]);
                h = BinaryPrimitives.ReadInt16LittleEndian(b[20..]);
                bpp = BinaryPrimitives.ReadUInt16LittleEndian(b[24..]);
            }
            else
            {
                if (b.Length < 34)
                    return $"truncated BMP: {Idx.Num(b.Length)} bytes is shorter than its header";
                w = BinaryPrimitives.ReadInt32LittleEndian(b[18..]);
                h = BinaryPrimitives.ReadInt32LittleEndian(b[22..]);
                bpp = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]);
                compression = BinaryPrimitives.ReadUInt32LittleEndian(b[30..]);
            }
            if (compression is 0 or 3 && w > 0 && bpp is 1 or 4 or 8 or 16 or 24 or 32)
            {
                long stride = (w * bpp + 31) / 32 * 4;
                long needed = offset + stride * Math.Abs(h);
                if (b.Length < needed)
                    return $"truncated BMP: the header announces {w}x{Math.Abs(h)} pixels of {bpp} bits " +
                           $"({Idx.Num(needed)} bytes in all) but the file has {Idx.Num(b.Length)}";
            }
        }
        return null;
    }

    /// <summary>PIL's resampling coefficients (ImagingResample, bilinear) for the output pixels
    /// [offset, offset + count) of an axis resized from inSize to outSize.</summary>
    private sealed class Filter
    {
        public required int[] Start { get; init; }
        public required int[] Length { get; init; }
        public required float[] Coefficients { get; init; }
        public required int Stride { get; init; }

        public ReadOnlySpan<float> Weights(int i) => Coefficients.AsSpan(i * Stride, Length[i]);

        public static Filter Create(int inSize, int outSize, int offset, int count)
        {
            double scale = (double)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = 1.0 * filterScale; // the triangle filter's support is 1
            int stride = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[count];
            var length = new int[count];
            var coefficients = new float[count * stride];
            var w = new double[stride];
            for (int i = 0; i < count; i++)
            {
                double center = (offset + i + 0.5) * scale;
                int min = Math.Max((int)(center - support + 0.5), 0);
                int max = Math.Min((int)(center + support + 0.5), inSize) - min;
                double sum = 0;
                for (int k = 0; k < max; k++)
                {
                    double t = Math.Abs((k + min - center + 0.5) / filterScale);
                    w[k] = t < 1.0 ? 1.0 - t : 0.0;
                    sum += w[k];
                }
                for (int k = 0; k < max; k++)
                    coefficients[i * stride + k] = (float)(sum > 0 ? w[k] / sum : 0);
                start[i] = min;
                length[i] = max;
            }
            return new Filter { Start = start, Length = length, Coefficients = coefficients, Stride = stride };
        }
    }

    private static void FakeImage(Span<float> image, int channels, int size, int seed, int index)
    {
        ulong state = ((ulong)(uint)seed << 32 | (uint)index) ^ 0xA0761D6478BD642FUL;
        float Next()
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 40) * (1f / (1 << 24)); // [0, 1)
        }

        Span<float> c0 = stackalloc float[3], c1 = stackalloc float[3];
        for (int c = 0; c < channels; c++)
        {
            c0[c] = Next() * 2 - 1;
            c1[c] = Next() * 2 - 1;
        }
        float dx = Next() * 2 - 1, dy = Next() * 2 - 1;
        float norm = MathF.Sqrt(dx * dx + dy * dy) + 1e-3f;
        dx /= norm;
        dy /= norm;

        int plane = size * size;
        for (int y = 0; y < size; y++)
        {
            float v = (y + 0.5f) / size - 0.5f;
            for (int x = 0; x < size; x++)
            {
                float u = (x + 0.5f) / size - 0.5f;
                float t = Math.Clamp(0.5f + dx * u + dy * v, 0f, 1f);
                for (int c = 0; c < channels; c++)
                    image[c * plane + y * size + x] = c0[c] + (c1[c] - c0[c]) * t;
            }
        }

        int blobs = 1 + (int)(Next() * 3);
        Span<float> colour = stackalloc float[3];
        for (int n = 0; n < blobs; n++)
        {
            float cx = Next(), cy = Next(), radius = 0.1f + 0.3f * Next();
            for (int c = 0; c < channels; c++)
                colour[c] = Next() * 2 - 1;
            float inv = 1f / (radius * radius);
            for (int y = 0; y < size; y++)
            {
                float v = (y + 0.5f) / size - cy;
                for (int x = 0; x < size; x++)
                {
                    float u = (x + 0.5f) / size - cx;
                    float s = 1f - (u * u + v * v) * inv;
                    if (s <= 0f) continue;
                    float w = s * s * (3f - 2f * s); // smoothstep: soft edge, flat top
                    for (int c = 0; c < channels; c++)
                    {
                        ref float p = ref image[c * plane + y * size + x];
                        p += (colour[c] - p) * w;
                    }
                }
            }
        }
        for (int i = 0; i < image.Length; i++)
            image[i] = Math.Clamp(image[i], -1f, 1f);
    }
}
