using System.Collections.Concurrent;
using IlgpuGan.Data;
using StbImageWriteSharp;

namespace IlgpuGan.Tests.Data;

public sealed class ImageFolderTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    // ---- writing test images -------------------------------------------------------------------

    private delegate (byte R, byte G, byte B) PixelAt(int x, int y);

    private static byte[] Rgb(int width, int height, PixelAt pixel)
    {
        var data = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                (data[(y * width + x) * 3], data[(y * width + x) * 3 + 1], data[(y * width + x) * 3 + 2]) = pixel(x, y);
        return data;
    }

    private static PixelAt Solid(byte r, byte g, byte b) => (_, _) => (r, g, b);

    private static byte[] Encode(string extension, byte[] pixels, int width, int height, ColorComponents components = ColorComponents.RedGreenBlue)
    {
        using var stream = new MemoryStream();
        var writer = new ImageWriter();
        switch (extension)
        {
            case ".png": writer.WritePng(pixels, width, height, components, stream); break;
            case ".jpg": writer.WriteJpg(pixels, width, height, components, stream, 95); break;
            case ".bmp": writer.WriteBmp(pixels, width, height, components, stream); break;
            default: throw new ArgumentException(extension);
        }
        return stream.ToArray();
    }

    /// <summary>Writes an RGB image; the format follows the name's extension. Returns the full path.</summary>
    private string Write(string name, int width, int height, PixelAt pixel) =>
        WriteBytes(name, Encode(Path.GetExtension(name).ToLowerInvariant(), Rgb(width, height, pixel), width, height));

    private string WriteBytes(string name, byte[] bytes)
    {
        string path = _temp.File(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string WriteCorrupt(string name, int seed = 1)
    {
        var bytes = new byte[700];
        new Random(seed).NextBytes(bytes);
        return WriteBytes(name, bytes);
    }

    private string WriteTruncated(string name, double keep)
    {
        byte[] full = Encode(Path.GetExtension(name), Rgb(48, 40, (x, y) => ((byte)(x * 5), (byte)(y * 6), (byte)(x ^ y))), 48, 40);
        return WriteBytes(name, full[..(int)(full.Length * keep)]);
    }

    private static ImageFolderDataset Load(string folder, int size, int channels = 3,
        BadFileAction onBadFile = BadFileAction.Skip, int parallelism = -1, int maxImages = 0, IProgress<int>? progress = null,
        int maxBlockBytes = ImageFolderDataset.DefaultBlockBytes) =>
        ImageFolderDataset.Load(folder, size, new ImageFolderOptions
        {
            Channels = channels,
            OnBadFile = onBadFile,
            MaxDegreeOfParallelism = parallelism,
            MaxImages = maxImages,
            Progress = progress,
            MaxBlockBytes = maxBlockBytes,
        });

    private static float[] All(ImageFolderDataset set) => set.ToFloats(0, set.Count);

    private static byte[] AllPixels(ImageFolderDataset set) =>
        Enumerable.Range(0, set.Count).SelectMany(k => set.Pixels(k).ToArray()).ToArray();

    private static ReadOnlySpan<float> Sample(ImageFolderDataset set, string path)
    {
        int k = set.Files.ToList().IndexOf(path);
        Assert.True(k >= 0, $"{path} is not among the loaded files");
        return set.ToFloats(k, 1);
    }

    private static ReadOnlySpan<float> Plane(ReadOnlySpan<float> sample, int size, int c) => sample.Slice(c * size * size, size * size);

    private static void AllEqual(float expected, ReadOnlySpan<float> values, float tolerance = 0f, string what = "")
    {
        for (int i = 0; i < values.Length; i++)
            Assert.True(Math.Abs(values[i] - expected) <= tolerance,
                $"{what} value {i} is {values[i]}, expected {expected} (tolerance {tolerance})");
    }

    private static float Value(int b) => b / 127.5f - 1f;

    // ---- tests -------------------------------------------------------------------------------------

    [Fact]
    public void MixedFolderLoadsSortedWithTheRightShapeAndRange()
    {
        string b = Write("b-gradient.png", 50, 30, (x, y) => ((byte)(x * 5), (byte)(y * 8), 128));
        string a = Write("a-tall.jpg", 40, 80, (x, y) => ((byte)(x * 6), 90, (byte)(y * 3)));
        string c = Write("c-square.bmp", 33, 33, (x, y) => ((byte)((x + y) * 3), 10, 250));
        string nested = Write(Path.Combine("sub", "deeper", "d-small.png"), 7, 5, Solid(1, 2, 3));
        string upper = Write("E-UPPER.JPG", 20, 20, Solid(9, 9, 9));
        WriteBytes("notes.txt", "not an image"u8.ToArray());
        WriteCorrupt(".hidden.png"); // hidden: ignored, not even listed as skipped

        ImageFolderDataset set = Load(_temp.Path, 16);
        string[] expected = [upper, a, b, c, nested];
        Array.Sort(expected, StringComparer.Ordinal);
        Assert.Equal(expected, set.Files);
        Assert.Equal(Path.GetFullPath(_temp.Path), set.Folder);
        Assert.Empty(set.Skipped);
        Assert.Equal(5, set.Count);
        Assert.Equal(3, set.Channels);
        Assert.Equal(16, set.Size);
        Assert.Equal(16, set.Height);
        Assert.Equal(16, set.Width);
        Assert.Equal(3 * 16 * 16, set.SampleSize);
        Assert.Equal(5 * 3 * 16 * 16, set.ByteCount);
        Assert.Equal(1, set.BlockCount);
        foreach (float v in All(set))
        {
            Assert.InRange(v, -1f, 1f);
            // Every value is an 8-bit level scaled to [-1, 1].
            float level = (v + 1f) * 127.5f;
            Assert.True(Math.Abs(level - MathF.Round(level)) < 1e-3f, $"{v} is not k / 127.5 - 1");
        }
        // The upscaled 7x5 solid image keeps its colour exactly.
        ReadOnlySpan<float> small = Sample(set, nested);
        AllEqual(Value(1), Plane(small, 16, 0));
        AllEqual(Value(2), Plane(small, 16, 1));
        AllEqual(Value(3), Plane(small, 16, 2));
    }

    [Fact]
    public void SolidColoursMapToTheExpectedValues()
    {
        string white = Write("white.png", 30, 20, Solid(255, 255, 255));
        string black = Write("black.png", 20, 30, Solid(0, 0, 0));
        string red = Write("red.png", 1, 1, Solid(255, 0, 0));
        string bmp = Write("colour.bmp", 25, 25, Solid(10, 200, 30));
        string jpg = Write("red.jpg", 24, 24, Solid(255, 0, 0));

        ImageFolderDataset set = Load(_temp.Path, 8);
        Assert.Equal(5, set.Count);
        AllEqual(1f, Sample(set, white), what: "white");
        AllEqual(-1f, Sample(set, black), what: "black");
        ReadOnlySpan<float> r = Sample(set, red);
        AllEqual(1f, Plane(r, 8, 0), what: "red R");
        AllEqual(-1f, Plane(r, 8, 1), what: "red G");
        AllEqual(-1f, Plane(r, 8, 2), what: "red B");
        ReadOnlySpan<float> c = Sample(set, bmp);
        AllEqual(Value(10), Plane(c, 8, 0), what: "bmp R");
        AllEqual(Value(200), Plane(c, 8, 1), what: "bmp G");
        AllEqual(Value(30), Plane(c, 8, 2), what: "bmp B");
        // JPEG is lossy: within a few levels.
        ReadOnlySpan<float> j = Sample(set, jpg);
        AllEqual(1f, Plane(j, 8, 0), 6 / 127.5f, "jpeg R");
        AllEqual(-1f, Plane(j, 8, 1), 6 / 127.5f, "jpeg G");
        AllEqual(-1f, Plane(j, 8, 2), 6 / 127.5f, "jpeg B");
    }

    [Fact]
    public void CentreCropKeepsTheMiddleOfWideAndTallImages()
    {
        // 120x30 -> 40x10 -> crop columns 15..24 of 40, which see only source columns 43..76:
        // the white middle third. Without the crop (or with a left crop) black would show.
        string wide = Write("wide.png", 120, 30, (x, _) => x is >= 40 and < 80 ? ((byte)255, (byte)255, (byte)255) : ((byte)0, (byte)0, (byte)0));
        // The negative: white sides, black middle -> all black.
        string wideDark = Write("wide-dark.png", 120, 30, (x, _) => x is >= 40 and < 80 ? ((byte)0, (byte)0, (byte)0) : ((byte)255, (byte)255, (byte)255));
        // 30x120, top third red, middle green, bottom blue -> all green.
        string tall = Write("tall.png", 30, 120, (_, y) => y < 40 ? ((byte)255, (byte)0, (byte)0) : y < 80 ? ((byte)0, (byte)255, (byte)0) : ((byte)0, (byte)0, (byte)255));

        ImageFolderDataset set = Load(_temp.Path, 10);
        AllEqual(1f, Sample(set, wide), what: "wide");
        AllEqual(-1f, Sample(set, wideDark), what: "wide-dark");
        ReadOnlySpan<float> t = Sample(set, tall);
        AllEqual(-1f, Plane(t, 10, 0), what: "tall R");
        AllEqual(1f, Plane(t, 10, 1), what: "tall G");
        AllEqual(-1f, Plane(t, 10, 2), what: "tall B");
    }

    [Fact]
    public void CropIsCentredOnAnAsymmetricImage()
    {
        // 100x20 -> 50x10; crop left = round(40 / 2) = 20: output column j shows source columns around
        // 2 * (20 + j) + 1. A ramp R = x makes the source column readable: R = 2 * (20 + j) + 0.5 (+-0.5).
        var pixels = new byte[100 * 20 * 3];
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 100; x++)
                pixels[(y * 100 + x) * 3] = (byte)x;
        var dst = new byte[3 * 10 * 10];
        ImageFolderDataset.ResizeCrop(pixels, 100, 20, 10, 3, dst);
        for (int y = 0; y < 10; y++)
            for (int j = 0; j < 10; j++)
                Assert.InRange((int)dst[y * 10 + j], 2 * (20 + j), 2 * (20 + j) + 1);
    }

    [Fact]
    public void ShrinkingAveragesAndEnlargingInterpolates()
    {
        // A horizontal ramp, value 4x at column x, 64x64 -> 16x16: scale 4, the antialiased triangle
        // filter spans 8 source columns around each output centre and is symmetric away from the
        // edges, so output column j is the ramp at 4j + 1.5: 16j + 6.
        var ramp = new byte[64 * 64 * 3];
        for (int i = 0; i < 64 * 64; i++)
            ramp[i * 3] = ramp[i * 3 + 1] = ramp[i * 3 + 2] = (byte)(4 * (i % 64));
        var small = new byte[3 * 16 * 16];
        ImageFolderDataset.ResizeCrop(ramp, 64, 64, 16, 3, small);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 16; y++)
                for (int j = 1; j < 15; j++)
                    Assert.Equal(16 * j + 6, small[c * 256 + y * 16 + j]);

        // A stripe pattern (0, 255, 0, 255, ...) shrunk 4x averages to mid-grey instead of aliasing
        // to 0 or 255 as point sampling would.
        var stripes = new byte[64 * 64 * 3];
        for (int i = 0; i < 64 * 64; i++)
            stripes[i * 3] = stripes[i * 3 + 1] = stripes[i * 3 + 2] = (byte)(i % 2 * 255);
        ImageFolderDataset.ResizeCrop(stripes, 64, 64, 16, 1, small);
        for (int y = 0; y < 16; y++)
            for (int j = 1; j < 15; j++)
                Assert.InRange((int)small[y * 16 + j], 126, 129);

        // 8 columns, value 32x, -> 16: plain linear interpolation between pixel centres: 16j - 8.
        var coarse = new byte[8 * 8 * 3];
        for (int i = 0; i < 64; i++)
            coarse[i * 3] = coarse[i * 3 + 1] = coarse[i * 3 + 2] = (byte)(32 * (i % 8));
        var large = new byte[3 * 16 * 16];
        ImageFolderDataset.ResizeCrop(coarse, 8, 8, 16, 3, large);
        for (int y = 0; y < 16; y++)
        {
            for (int j = 1; j < 15; j++)
                Assert.Equal(16 * j - 8, large[y * 16 + j]);
            Assert.Equal(0, large[y * 16]);        // before the first pixel centre: clamped
            Assert.Equal(224, large[y * 16 + 15]); // after the last
        }
    }

    [Fact]
    public void SameSizeIsTheIdentity()
    {
        var pixels = new byte[12 * 12 * 3];
        new Random(5).NextBytes(pixels);
        var dst = new byte[3 * 12 * 12];
        ImageFolderDataset.ResizeCrop(pixels, 12, 12, 12, 3, dst);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 144; i++)
                Assert.Equal(pixels[i * 3 + c], dst[c * 144 + i]);
    }

    [Fact]
    public void GreyscaleUsesBt601Luma()
    {
        string colour = Write("colour.png", 9, 6, Solid(200, 100, 50));
        // A one-channel PNG: grey sources stay exactly grey in both modes.
        var greyPixels = new byte[10 * 10];
        Array.Fill(greyPixels, (byte)77);
        string grey = WriteBytes("grey.png", Encode(".png", greyPixels, 10, 10, ColorComponents.Grey));

        ImageFolderDataset g = Load(_temp.Path, 4, channels: 1);
        Assert.Equal(1, g.Channels);
        Assert.Equal(16, g.SampleSize);
        Assert.Equal(2 * 16, g.ByteCount);
        // 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2 -> 124.
        AllEqual(Value(124), Sample(g, colour), what: "luma");
        AllEqual(Value(77), Sample(g, grey), what: "grey, grey mode");

        ImageFolderDataset rgb = Load(_temp.Path, 4, channels: 3);
        AllEqual(Value(77), Sample(rgb, grey), what: "grey, RGB mode");
        AllEqual(Value(200), Plane(Sample(rgb, colour), 4, 0), what: "colour R");
    }

    [Fact]
    public void SkipListsBadFilesByNameWithTheReason()
    {
        string good1 = Write("good1.png", 10, 10, Solid(255, 255, 255));
        string good2 = Write("good2.jpg", 10, 10, Solid(0, 0, 0));
        string corrupt = WriteCorrupt("corrupt.png");
        string empty = WriteBytes("empty.jpg", []);
        string truncPng = WriteTruncated("truncated.png", 0.5);
        string truncJpg = WriteTruncated("truncated.jpg", 0.6);
        string truncBmp = WriteTruncated("truncated.bmp", 0.5);

        ImageFolderDataset set = Load(_temp.Path, 6);
        Assert.Equal([good1, good2], set.Files);
        Assert.Equal(2, set.Count);
        Assert.Equal(2 * 3 * 36, set.ByteCount);
        AllEqual(1f, Sample(set, good1));
        AllEqual(-1f, Sample(set, good2), 3 / 127.5f);

        Assert.Equal([corrupt, empty, truncBmp, truncJpg, truncPng], set.Skipped.Select(s => s.Path));
        var reason = set.Skipped.ToDictionary(s => Path.GetFileName(s.Path), s => s.Reason);
        Assert.Contains("unknown image type", reason["corrupt.png"]);
        Assert.Equal("the file is empty", reason["empty.jpg"]);
        Assert.StartsWith("corrupt or truncated PNG data", reason["truncated.png"]);
        Assert.StartsWith("truncated JPEG", reason["truncated.jpg"]);
        Assert.StartsWith("truncated BMP: the header announces 48x40 pixels of 24 bits", reason["truncated.bmp"]);
        Assert.StartsWith("corrupt.png: ", set.Skipped[0].ToString());
        Assert.EndsWith($"[{corrupt}]", set.Skipped[0].ToString());
    }

    [Fact]
    public void FailThrowsNamingTheFirstBadFile()
    {
        Write("a-good.png", 10, 10, Solid(1, 2, 3));
        WriteCorrupt(Path.Combine("m", "bad.png"));
        WriteCorrupt("z-bad.png", seed: 2);
        for (int i = 0; i < 20; i++)
            Write($"n{i:D2}.png", 10, 10, Solid(4, 5, 6));

        var e = Assert.Throws<InvalidDataException>(() => Load(_temp.Path, 4, onBadFile: BadFileAction.Fail));
        Assert.StartsWith($"{Path.Combine("m", "bad.png")}: cannot read the image: ", e.Message);
        Assert.Contains("unknown image type", e.Message);
        Assert.Contains(_temp.File(Path.Combine("m", "bad.png")), e.Message);

        // The same folder with Skip loads the 21 good files and lists both bad ones.
        ImageFolderDataset set = Load(_temp.Path, 4);
        Assert.Equal(21, set.Count);
        Assert.Equal([_temp.File(Path.Combine("m", "bad.png")), _temp.File("z-bad.png")], set.Skipped.Select(s => s.Path));
    }

    [Fact]
    public void EmptyAndAllBadFoldersAreClearErrors()
    {
        var e = Assert.Throws<InvalidDataException>(() => Load(_temp.Path, 8));
        Assert.StartsWith($"No images found in {Path.GetFullPath(_temp.Path)}", e.Message);
        Assert.Contains(".png, .jpg, .jpeg, .bmp", e.Message);

        WriteBytes("readme.txt", "hello"u8.ToArray());
        e = Assert.Throws<InvalidDataException>(() => Load(_temp.Path, 8));
        Assert.StartsWith("No images found in", e.Message);

        WriteCorrupt("only.png");
        e = Assert.Throws<InvalidDataException>(() => Load(_temp.Path, 8));
        Assert.StartsWith($"No images found in {Path.GetFullPath(_temp.Path)}: all 1 image files were unreadable", e.Message);
        Assert.Contains("only.png: ", e.Message);
    }

    [Fact]
    public void MissingFolderIsReportedWithItsPath()
    {
        string missing = _temp.File("no-such-folder");
        var e = Assert.Throws<DirectoryNotFoundException>(() => Load(missing, 8));
        Assert.Contains(missing, e.Message);

        string file = Write("file.png", 4, 4, Solid(0, 0, 0));
        e = Assert.Throws<DirectoryNotFoundException>(() => Load(file, 8));
        Assert.Contains("is a file, not a folder", e.Message);
    }

    [Fact]
    public void BadOptionsAreRejected()
    {
        Write("x.png", 4, 4, Solid(0, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Load(_temp.Path, 8, channels: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Load(_temp.Path, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Load(_temp.Path, 8, maxImages: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Load(_temp.Path, 8, parallelism: 0));
    }

    [Fact]
    public void ParallelLoadEqualsSerialLoad()
    {
        var rng = new Random(3);
        for (int i = 0; i < 30; i++)
        {
            int w = rng.Next(5, 60), h = rng.Next(5, 60);
            byte seed = (byte)rng.Next(256);
            string ext = (i % 3) switch { 0 => ".png", 1 => ".jpg", _ => ".bmp" };
            Write($"img{i:D2}{ext}", w, h, (x, y) => ((byte)(x * 7 + seed), (byte)(y * 5), (byte)(x * y)));
        }
        for (int i = 0; i < 8; i++)
            WriteCorrupt($"bad{i}.png", seed: i);
        for (int i = 0; i < 4; i++)
            WriteTruncated($"cut{i}.png", 0.3 + 0.1 * i);

        ImageFolderDataset serial = Load(_temp.Path, 12, parallelism: 1);
        for (int run = 0; run < 3; run++)
        {
            ImageFolderDataset parallel = Load(_temp.Path, 12, parallelism: 4);
            Assert.Equal(30, parallel.Count);
            Assert.Equal(serial.Files, parallel.Files);
            Assert.Equal(AllPixels(serial), AllPixels(parallel));
            Assert.Equal(serial.Skipped, parallel.Skipped); // the reasons too: no message from another thread
        }
        Assert.Equal(12, serial.Skipped.Count);
        Assert.All(serial.Skipped.Where(s => Path.GetFileName(s.Path).StartsWith("bad")),
            s => Assert.Contains("unknown image type", s.Reason));
    }

    private sealed class Recorder : IProgress<int>
    {
        public ConcurrentQueue<int> Values { get; } = new();
        public void Report(int value) => Values.Enqueue(value);
    }

    [Fact]
    public void ProgressEndsWithTheFileCountAndMaxImagesLimits()
    {
        for (int i = 0; i < 12; i++)
            Write($"p{i:D2}.png", 6, 6, Solid((byte)(i * 20), 0, 0));
        WriteCorrupt("p05x.png"); // sorts between p05 and p06

        var recorder = new Recorder();
        ImageFolderDataset set = Load(_temp.Path, 4, progress: recorder);
        Assert.Equal(12, set.Count);
        int[] values = recorder.Values.ToArray();
        Assert.Equal(13, values[^1]);
        Assert.All(values, v => Assert.InRange(v, 1, 13));
        Assert.Equal(values.Length, values.Distinct().Count());

        ImageFolderDataset first = Load(_temp.Path, 4, maxImages: 7);
        Assert.Equal(6, first.Count); // p00..p05 and the corrupt p05x, which is skipped
        Assert.Single(first.Skipped);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => _temp.File($"p{i:D2}.png")), first.Files);
        AllEqual(Value(100), Plane(first.ToFloats(5, 1), 4, 0));
    }

    [Fact]
    public void BatchLoaderServesTheImages()
    {
        ImageFolderDataset set = ImageFolderDataset.Fake(10, 3, 4, seed: 9);
        BatchLoader loader = BatchLoader.FromImages(set, batchSize: 4, seed: 1);
        Assert.Equal(48, loader.SampleSize);
        Assert.Equal(10, loader.Count);
        Assert.False(loader.HasLabels);
        var batch = new float[4 * 48];
        int batches = 0;
        while (loader.Next(batch))
        {
            batches++;
            for (int i = 0; i < 4; i++)
                Assert.Equal(set.ToFloats(loader.CurrentIndices[i], 1), batch.AsSpan(i * 48, 48).ToArray());
        }
        Assert.Equal(2, batches);
    }

    [Fact]
    public void FakeIsDeterministicSmoothAndInRange()
    {
        ImageFolderDataset a = ImageFolderDataset.Fake(6, 3, 16, seed: 42);
        ImageFolderDataset b = ImageFolderDataset.Fake(6, 3, 16, seed: 42);
        ImageFolderDataset other = ImageFolderDataset.Fake(6, 3, 16, seed: 43);
        ImageFolderDataset prefix = ImageFolderDataset.Fake(2, 3, 16, seed: 42);
        Assert.Equal(All(a), All(b));
        Assert.NotEqual(All(a), All(other));
        Assert.Equal(a.ToFloats(0, 2), All(prefix)); // image k depends on (seed, k) only
        Assert.Equal(6, a.Count);
        Assert.Equal(768, a.SampleSize);
        Assert.Equal(6 * 768, a.ByteCount);
        Assert.Null(a.Folder);
        Assert.Empty(a.Files);
        Assert.Empty(a.Skipped);
        Assert.All(All(a), v => Assert.InRange(v, -1f, 1f));

        for (int k = 0; k < 6; k++)
        {
            float[] image = a.ToFloats(k, 1);
            // Not flat: the values spread out...
            float mean = image.Average();
            double sd = Math.Sqrt(image.Average(v => (v - mean) * (v - mean)));
            Assert.True(sd > 0.05, $"image {k} is nearly flat (sd {sd})");
            // ...but smoothly: neighbours differ far less than in noise of the same spread.
            double step = 0;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 16; y++)
                    for (int x = 1; x < 16; x++)
                        step += Math.Abs(image[c * 256 + y * 16 + x] - image[c * 256 + y * 16 + x - 1]);
            step /= 3 * 16 * 15;
            Assert.True(step < 0.5 * sd, $"image {k}: mean neighbour step {step} vs sd {sd}");
        }
        // Different images differ.
        Assert.NotEqual(a.ToFloats(0, 1), a.ToFloats(1, 1));

        ImageFolderDataset grey = ImageFolderDataset.Fake(3, 1, 8, seed: 1);
        Assert.Equal(1, grey.Channels);
        Assert.Equal(3 * 64, grey.ByteCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageFolderDataset.Fake(0, 3, 8, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageFolderDataset.Fake(1, 2, 8, 1));
    }

    [Fact]
    public void ImagesAreKeptAsBytesInBlocksWithBadFilesSqueezedOut()
    {
        // 9 good files with bad ones among them; blocks of 2 images (2 * 3 * 8 * 8 bytes), so the
        // good images move down over the bad ones' slots across block boundaries.
        var rng = new Random(11);
        for (int i = 0; i < 12; i++)
        {
            if (i is 0 or 4 or 5)
            {
                WriteCorrupt($"f{i:D2}.png", seed: i);
                continue;
            }
            byte seed = (byte)rng.Next(256);
            Write($"f{i:D2}.png", 10 + i, 9, (x, y) => ((byte)(x * 9 + seed), (byte)(y * 13), (byte)(x * y + seed)));
        }

        ImageFolderDataset one = Load(_temp.Path, 8);
        ImageFolderDataset small = Load(_temp.Path, 8, maxBlockBytes: 2 * 192 + 191);
        Assert.Equal(9, one.Count);
        Assert.Equal(1, one.BlockCount);
        Assert.Equal(2, small.ImagesPerBlock);
        Assert.Equal(5, small.BlockCount);     // 12 slots in 6 blocks, 9 images kept: 5 blocks
        Assert.Equal(one.Files, small.Files);
        Assert.Equal(3, small.Skipped.Count);
        Assert.Equal(AllPixels(one), AllPixels(small));
        Assert.Equal(9 * 192, small.ByteCount);

        // Floats are the bytes scaled, exactly, in every access path.
        var sample = new float[192 + 5];
        for (int k = 0; k < small.Count; k++)
        {
            ReadOnlySpan<byte> pixels = small.Pixels(k);
            small.CopySample(k, sample);
            float[] floats = small.ToFloats(k, 1);
            for (int j = 0; j < 192; j++)
            {
                Assert.Equal(Value(pixels[j]), sample[j]);
                Assert.Equal(Value(pixels[j]), floats[j]);
            }
        }
        // The loader over the blocked set serves the same batches as over the one-block set.
        var batchA = new float[4 * 192];
        var batchB = new float[4 * 192];
        BatchLoader a = BatchLoader.FromImages(one, 4, seed: 2), b = BatchLoader.FromImages(small, 4, seed: 2);
        for (int n = 0; n < 5; n++)
        {
            Assert.Equal(a.Next(batchA), b.Next(batchB));
            Assert.Equal(batchA, batchB);
        }

        // One image bigger than a block still gets a block of its own.
        ImageFolderDataset tiny = Load(_temp.Path, 8, maxBlockBytes: 1);
        Assert.Equal(9, tiny.BlockCount);
        Assert.Equal(AllPixels(one), AllPixels(tiny));
    }

    [Fact]
    public void PixelsToFloatsIsExactlyTheScalarFormula()
    {
        // Every byte value, at every offset of a vector (lengths that leave a scalar tail too).
        var source = new byte[256 * 3 + 7];
        for (int i = 0; i < source.Length; i++) source[i] = (byte)(i * 7 % 256);
        for (int length = 0; length < 80; length++)
            Check(source.AsSpan(0, length));
        Check(source);
        Check(source.AsSpan(3));

        static void Check(ReadOnlySpan<byte> src)
        {
            var dst = new float[src.Length + 1];
            dst[^1] = 42f;
            ImageFolderDataset.PixelsToFloats(src, dst);
            for (int i = 0; i < src.Length; i++)
                Assert.Equal(BitConverter.SingleToInt32Bits(src[i] / 127.5f - 1f), BitConverter.SingleToInt32Bits(dst[i]));
            Assert.Equal(42f, dst[^1]); // nothing past the end
        }
        Assert.Equal(-1f, Value(0));
        Assert.Equal(1f, Value(255));
        Assert.Throws<ArgumentException>(() => ImageFolderDataset.PixelsToFloats(new byte[4], new float[3]));
    }

    [Fact]
    public void FakeInBlocksAndSampleAccessErrors()
    {
        ImageFolderDataset one = ImageFolderDataset.Fake(7, 3, 8, seed: 5);
        ImageFolderDataset blocks = ImageFolderDataset.Fake(7, 3, 8, seed: 5, maxBlockBytes: 3 * 192);
        Assert.Equal(1, one.BlockCount);
        Assert.Equal(3, blocks.BlockCount);
        Assert.Equal(AllPixels(one), AllPixels(blocks));
        Assert.Equal(All(one), All(blocks));

        Assert.Throws<ArgumentOutOfRangeException>(() => one.Pixels(7).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => one.Pixels(-1).Length);
        Assert.Throws<ArgumentException>(() => one.CopySample(0, new float[191]));
        Assert.Throws<ArgumentOutOfRangeException>(() => one.ToFloats(5, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => one.ToFloats(-1, 1));
        Assert.Empty(one.ToFloats(7, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageFolderDataset.Fake(1, 3, 8, 1, maxBlockBytes: 0));
    }
}
