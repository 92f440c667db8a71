using System.Globalization;
using IlgpuGan.Data;
using IlgpuGan.Evaluation;
using IlgpuGan.Imaging;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Evaluation;

/// <summary>The shipped classifier, its training, and the evaluator on real digits.</summary>
[Collection("devices")]
public sealed class ClassifierTests
{
    private static readonly Lazy<MnistDataset> Train = new(() => MnistDataset.Load(MnistDataset.DefaultFolder, train: true));
    private static readonly Lazy<MnistDataset> HeldOut = new(() => MnistDataset.Load(MnistDataset.DefaultFolder, train: false));

    [Fact]
    public void TheShippedClassifierReachesItsStatedAccuracy()
    {
        string? path = Classifier.ShippedPath;
        Assert.NotNull(path);
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "models", Classifier.ShippedFileName), path);   // copied beside the output
        using var c = Classifier.Load(Backends.Get("cpu"), path);
        double stated = double.Parse(c.Metadata["held_out_accuracy"], CultureInfo.InvariantCulture);
        Assert.True(stated >= 0.985, $"stated accuracy {stated}");
        Assert.Equal("2004", c.Metadata["held_out_count"]);
        Assert.Equal(stated, c.Accuracy(HeldOut.Value), 6);
    }

    [Fact]
    public void TrainingLowersTheLossAndTheFileRoundTrips()
    {
        var d = Backends.Get("cpu");
        var small = Subset(Train.Value, 640);
        var epochs = new List<ClassifierEpoch>();
        using var c = Classifier.Train(d, small, Subset(HeldOut.Value, 200), new ClassifierOptions { Epochs = 2, Seed = 3 }, epochs.Add);
        Assert.Equal(2, epochs.Count);
        Assert.True(epochs[1].TrainLoss < epochs[0].TrainLoss, $"loss {epochs[0].TrainLoss} -> {epochs[1].TrainLoss}");
        Assert.True(epochs[1].HeldOutAccuracy > 0.5, $"accuracy {epochs[1].HeldOutAccuracy}");
        string file = Path.Combine(Path.GetTempPath(), $"clf-{Guid.NewGuid():N}.safetensors");
        try
        {
            c.Save(file);
            using var back = Classifier.Load(d, file);
            var images = HeldOut.Value.Images.AsSpan(0, 50 * 784);
            Assert.Equal(c.Evaluate(images, 50).Features, back.Evaluate(images, 50).Features);
            Assert.Equal(c.Metadata["held_out_accuracy"], back.Metadata["held_out_accuracy"]);
            var e = Assert.Throws<InvalidDataException>(() => Classifier.Load(d, Path.Combine(Paths.SharedReferenceDir, "linear-0.safetensors")));
            Assert.Contains("not an IlgpuGan classifier", e.Message);
        }
        finally { File.Delete(file); }
    }

    private static MnistDataset Subset(MnistDataset s, int n)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mnist-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var (prefix, train) in new[] { ("train", true), ("t10k", false) })
            {
                WriteIdx(Path.Combine(dir, $"{prefix}-images-idx3-ubyte"), 0x803, [n, 28, 28], s.Images.AsSpan(0, n * 784).ToArray().Select(v => (byte)Math.Round((v + 1) * 127.5)).ToArray());
                WriteIdx(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte"), 0x801, [n], s.Labels[..n]);
            }
            return MnistDataset.Load(dir, train: true);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static void WriteIdx(string path, int magic, int[] dims, byte[] data)
    {
        using var w = new BinaryWriter(File.Create(path));
        void Big(int v) { w.Write((byte)(v >> 24)); w.Write((byte)(v >> 16)); w.Write((byte)(v >> 8)); w.Write((byte)v); }
        Big(magic);
        foreach (int d in dims) Big(d);
        w.Write(data);
    }

    [Fact]
    public void RealDigitsScoreFarBetterThanOneClassOrNoise()
    {
        var d = Backends.Get("cpu");
        using var c = Classifier.Load(d, Classifier.ShippedPath!);
        var ev = new Evaluator(c, Train.Value.Images, Train.Value.Count);
        var held = HeldOut.Value;
        var real = ev.Evaluate("real", held.Images, 1000, kidSubsets: 10);
        // Only the digit 1, 400 of them.
        var ones = Enumerable.Range(0, held.Count).Where(i => held.Labels[i] == 1).Take(200)
            .Concat(Enumerable.Range(0, Train.Value.Count).Where(i => Train.Value.Labels[i] == 1).Skip(500).Take(200)).ToList();
        var oneImages = ones.Take(200).SelectMany(i => held.Images.AsSpan(i * 784, 784).ToArray()).ToArray();
        var oneClass = ev.Evaluate("ones", oneImages, 200, kidSubsets: 10);
        var r = new Random(1);
        var noise = Enumerable.Range(0, 200 * 784).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var noisy = ev.Evaluate("noise", noise, 200, kidSubsets: 10);

        Assert.True(real.Fid < 15, $"real FID {real.Fid}");       // 1,000 held-out digits against the 7,996: about 9
        Assert.Equal(10, real.Classes.Covered);
        Assert.True(real.Classes.Entropy > 0.98);
        Assert.InRange(real.PrecisionRecall.Precision, 0.6, 1.0);
        Assert.InRange(real.PrecisionRecall.Recall, 0.6, 1.0);
        Assert.True(real.InceptionScore.Mean > 8, $"real IS {real.InceptionScore.Mean}");
        Assert.True(real.NearCopyShare < 0.05, $"real near-copies {real.NearCopyShare}");

        Assert.Equal(1, oneClass.Classes.Covered);
        Assert.True(oneClass.Classes.KlToUniform > 2, $"KL {oneClass.Classes.KlToUniform}");
        Assert.True(oneClass.Fid > 10 * real.Fid, $"one class FID {oneClass.Fid}");
        Assert.True(noisy.Fid > 10 * real.Fid && noisy.PrecisionRecall.Precision < 0.05, $"noise FID {noisy.Fid}, precision {noisy.PrecisionRecall.Precision}");

        // Copies of training digits are near-copies and their closest pairs are exact.
        var copies = Train.Value.Images.AsSpan(0, 200 * 784).ToArray();
        var copied = ev.Evaluate("copies", copies, 200, kidSubsets: 10);
        Assert.Equal(1.0, copied.NearCopyShare);
        Assert.Equal(0.0, copied.ClosestPairs[0].Distance, 6);
        string png = Path.Combine(Path.GetTempPath(), $"pairs-{Guid.NewGuid():N}.png");
        ev.SaveClosestPairs(png, copies, copied);
        Assert.True(new FileInfo(png).Length > 0);
        File.Delete(png);

        var few = Assert.Throws<ArgumentException>(() => ev.Evaluate("few", held.Images, 100));
        Assert.Contains("at least 129 samples", few.Message);
    }

    [Fact]
    public void ImagesOfAnotherSizeAreResizedOrRefusedSayingWhich()
    {
        var rgb = new float[2 * 3 * 64 * 64];
        Array.Fill(rgb, 0.5f);
        var out28 = DigitImages.Prepare(rgb, 2, 3, 64, 64, out var note);
        Assert.Equal(2 * 784, out28.Length);
        Assert.All(out28, v => Assert.Equal(0.5f, v, 5));
        Assert.Contains("RGB turned grey", note);
        Assert.Contains("resized from 64x64 to 28x28", note);
        var e = Assert.Throws<ArgumentException>(() => DigitImages.Prepare(new float[2 * 2 * 28 * 28], 2, 2, 28, 28, out _));
        Assert.Contains("2 channels (refused)", e.Message);
        DigitImages.Prepare(new float[784], 1, 1, 28, 28, out var none);
        Assert.Null(none);
    }

    [Fact]
    public void AGridPngReadsBackAsItsDigits()
    {
        var held = HeldOut.Value;
        string png = Path.Combine(Path.GetTempPath(), $"grid-{Guid.NewGuid():N}.png");
        try
        {
            ImageGrid.SavePng(png, held.Images.AsSpan(0, 20 * 784), 20, 1, 28, 28);
            var (images, count, cell, channels) = DigitImages.ReadGrid(png);
            Assert.Equal((20, 28, 1), (count, cell, channels));        // the 4 empty cells of the last row are left out
            for (int i = 0; i < images.Length; i++) Assert.True(Math.Abs(images[i] - held.Images[i]) <= 1 / 127.5f + 1e-6, $"value {i}");
            File.WriteAllBytes(png, ImageGrid.Encode(held.Images.AsSpan(0, 784), 1, 1, 28, 28, padding: 5));
            var e = Assert.Throws<InvalidDataException>(() => DigitImages.ReadGrid(png));
            Assert.Contains("is not a grid of 28x28", e.Message);
        }
        finally { File.Delete(png); }
    }
}
