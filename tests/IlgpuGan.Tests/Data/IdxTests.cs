using System.Buffers.Binary;
using System.IO.Compression;
using IlgpuGan.Data;

namespace IlgpuGan.Tests.Data;

public sealed class IdxTests : IDisposable
{
    private const string TrainImages = "train-images-idx3-ubyte";
    private const string TrainLabels = "train-labels-idx1-ubyte";
    private const string TestImages = "t10k-images-idx3-ubyte";
    private const string TestLabels = "t10k-labels-idx1-ubyte";

    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Bundled(string name) => Path.Combine(MnistDataset.DefaultFolder, name);

    private static byte[] Gunzip(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            gz.Write(data);
        return ms.ToArray();
    }

    private string Write(string name, byte[] bytes)
    {
        string path = _temp.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void BundledTrainSetLoads()
    {
        MnistDataset train = MnistDataset.Load(MnistDataset.DefaultFolder);
        Assert.Equal(7996, train.Count);
        Assert.Equal(28, train.Height);
        Assert.Equal(28, train.Width);
        Assert.Equal(784, train.SampleSize);
        Assert.Equal(7996 * 784, train.Images.Length);
        Assert.Equal(7996, train.Labels.Length);
        Assert.All(train.Labels, l => Assert.InRange(l, (byte)0, (byte)9));
        Assert.Equal(10, train.ClassCount);

        float min = float.MaxValue, max = float.MinValue;
        foreach (float v in train.Images)
        {
            Assert.True(v >= -1f && v <= 1f, $"value {v} outside [-1, 1]");
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        Assert.Equal(-1f, min); // background
        Assert.Equal(1f, max);  // saturated ink

        // The scaling is exactly x / 127.5 - 1 of the stored bytes.
        byte[] raw = Gunzip(Bundled(TrainImages + ".gz"));
        for (int i = 0; i < train.Images.Length; i += 997)
            Assert.Equal(raw[16 + i] / 127.5f - 1f, train.Images[i]);
    }

    [Fact]
    public void BundledTestSetLoads()
    {
        MnistDataset test = MnistDataset.Load(MnistDataset.DefaultFolder, train: false);
        Assert.Equal(2004, test.Count);
        Assert.Equal(28, test.Height);
        Assert.Equal(28, test.Width);
        Assert.Equal(2004 * 784, test.Images.Length);
        Assert.All(test.Labels, l => Assert.InRange(l, (byte)0, (byte)9));
        Assert.Equal(10, test.ClassCount);
    }

    [Fact]
    public void PlainCopyLoadsTheSame()
    {
        Write(TestImages, Gunzip(Bundled(TestImages + ".gz")));
        Write(TestLabels, Gunzip(Bundled(TestLabels + ".gz")));

        MnistDataset plain = MnistDataset.Load(_temp.Path, train: false);
        MnistDataset gz = MnistDataset.Load(MnistDataset.DefaultFolder, train: false);
        Assert.Equal(gz.Count, plain.Count);
        Assert.Equal(gz.Images, plain.Images);
        Assert.Equal(gz.Labels, plain.Labels);
    }

    [Fact]
    public void CompressionIsDetectedByContentNotName()
    {
        // gzip content under a plain name, plain content under a .gz name.
        string images = Write("images.idx", File.ReadAllBytes(Bundled(TestImages + ".gz")));
        string labels = Write("labels.gz", Gunzip(Bundled(TestLabels + ".gz")));
        MnistDataset set = MnistDataset.FromFiles(images, labels);
        Assert.Equal(2004, set.Count);
        Assert.Equal(MnistDataset.Load(MnistDataset.DefaultFolder, train: false).Images, set.Images);
    }

    [Fact]
    public void BadMagicIsReported()
    {
        byte[] bytes = Gunzip(Bundled(TestImages + ".gz"));
        bytes[0] = 0x12;
        bytes[1] = 0x34;
        string path = Write("bad-magic-images", bytes);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith("bad-magic-images: ", e.Message);
        Assert.Contains("not an IDX file", e.Message);
        Assert.Contains("magic number 0x123408", e.Message);
        Assert.Contains("0x00000803", e.Message);
    }

    [Fact]
    public void WrongDataTypeIsReported()
    {
        byte[] bytes = Gunzip(Bundled(TestImages + ".gz"));
        bytes[2] = 0x0D; // float32
        string path = Write("float-images", bytes);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith("float-images: ", e.Message);
        Assert.Contains("data type byte is 0x0D (float32)", e.Message);
    }

    [Fact]
    public void LabelFileGivenAsImagesIsReported()
    {
        var e = Assert.Throws<InvalidDataException>(() =>
            MnistDataset.FromFiles(Bundled(TestLabels + ".gz"), Bundled(TestLabels + ".gz")));
        Assert.StartsWith(TestLabels + ".gz: ", e.Message);
        Assert.Contains("bad magic number 0x00000801", e.Message);
        Assert.Contains("looks like a label file", e.Message);
    }

    [Fact]
    public void TruncatedFileIsReported()
    {
        byte[] bytes = Gunzip(Bundled(TrainImages + ".gz"));
        string path = Write(TrainImages, bytes.AsSpan(0, 16 + 1_000_000).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith(TrainImages + ": truncated: ", e.Message);
        Assert.Contains("header announces 7,996 images of 28x28 (6,268,864 bytes) but the file has 1,000,000 bytes", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TruncatedCompressedFileIsReported()
    {
        // Compressed whole, truncated inside the IDX data: the gzip stream itself is intact.
        byte[] bytes = Gunzip(Bundled(TestLabels + ".gz"));
        string path = Write(TestLabels + ".gz", Gzip(bytes.AsSpan(0, 1000).ToArray()));
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.StartsWith(TestLabels + ".gz: truncated: ", e.Message);
        Assert.Contains("header announces 2,004 labels (2,004 bytes) but the file has 992 bytes", e.Message);
    }

    [Fact]
    public void TooLongFileIsReported()
    {
        byte[] bytes = Gunzip(Bundled(TestLabels + ".gz"));
        string path = Write("long-labels", [.. bytes, 1, 2, 3]);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadLabels(path));
        Assert.StartsWith("long-labels: too long: ", e.Message);
        Assert.Contains("3 extra", e.Message);
    }

    [Fact]
    public void TooShortForHeaderIsReported()
    {
        string path = Write("tiny", [0, 0, 8, 3, 0, 0]);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith("tiny: truncated header", e.Message);
    }

    [Theory]
    [InlineData(true)]   // cut in the middle of the deflate data
    [InlineData(false)]  // only the last 7 bytes (most of the trailer) cut: all data still decodes
    public void TruncatedGzipIsReported(bool half)
    {
        byte[] gz = File.ReadAllBytes(Bundled(TrainImages + ".gz"));
        int keep = half ? gz.Length / 2 : gz.Length - 7;
        string path = Write(TrainImages + ".gz", gz.AsSpan(0, keep).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith(TrainImages + ".gz: truncated or corrupt gzip stream", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void CorruptGzipIsReported()
    {
        byte[] gz = File.ReadAllBytes(Bundled(TrainImages + ".gz"));
        for (int i = 40; i < 60; i++) gz[i] ^= 0xA5;
        string path = Write("corrupt.gz", gz);
        var e = Assert.Throws<InvalidDataException>(() => Idx.ReadImages(path));
        Assert.StartsWith("corrupt.gz: ", e.Message);
        Assert.Contains("gzip stream", e.Message);
    }

    [Fact]
    public void CountMismatchIsReported()
    {
        var e = Assert.Throws<InvalidDataException>(() =>
            MnistDataset.FromFiles(Bundled(TrainImages + ".gz"), Bundled(TestLabels + ".gz")));
        Assert.Contains(TrainImages + ".gz", e.Message);
        Assert.Contains(TestLabels + ".gz", e.Message);
        Assert.Contains("count mismatch: 7,996 images but 2,004 labels", e.Message);
    }

    [Fact]
    public void MissingFileIsReported()
    {
        string missing = _temp.File("no-such-images-idx3-ubyte.gz");
        var e = Assert.Throws<FileNotFoundException>(() => Idx.ReadImages(missing));
        Assert.Equal(missing, e.FileName);
        Assert.Contains(missing, e.Message);

        var e2 = Assert.Throws<FileNotFoundException>(() => MnistDataset.FromFiles(Bundled(TrainImages + ".gz"), missing));
        Assert.Contains(missing, e2.Message);
    }

    [Fact]
    public void MissingFileInFolderIsReported()
    {
        Write(TrainImages + ".gz", File.ReadAllBytes(Bundled(TrainImages + ".gz")));
        var e = Assert.Throws<FileNotFoundException>(() => MnistDataset.Load(_temp.Path));
        Assert.Contains(TrainLabels, e.Message);
        Assert.Contains(_temp.Path, e.Message);

        string nowhere = Path.Combine(_temp.Path, "nowhere");
        var e2 = Assert.Throws<FileNotFoundException>(() => MnistDataset.Load(nowhere, train: false));
        Assert.Contains(TestImages, e2.Message);
        Assert.Contains("does not exist", e2.Message);
    }

    [Fact]
    public void HeaderIsBigEndian()
    {
        // A hand-made 2 x 2x3 image file and its 2 labels.
        byte[] images = new byte[16 + 12];
        BinaryPrimitives.WriteInt32BigEndian(images, Idx.ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), 2);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 2);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), 3);
        for (int i = 0; i < 12; i++) images[16 + i] = (byte)(i * 20);
        byte[] labels = [0, 0, 8, 1, 0, 0, 0, 2, 7, 3];
        MnistDataset set = MnistDataset.FromFiles(Write("i", images), Write("l", labels));
        Assert.Equal(2, set.Count);
        Assert.Equal(2, set.Height);
        Assert.Equal(3, set.Width);
        Assert.Equal(new byte[] { 7, 3 }, set.Labels);
        Assert.Equal(-1f, set.Images[0]);
        Assert.Equal(220 / 127.5f - 1f, set.Images[11]);
    }
}
