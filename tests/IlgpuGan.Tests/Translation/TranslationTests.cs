using IlgpuGan.Cli;
using IlgpuGan.Cli.Commands;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Data;
using IlgpuGan.Nn;
using IlgpuGan.Tests.Cli;
using IlgpuGan.Translation;
using StbImageWriteSharp;

namespace IlgpuGan.Tests.Translation;

/// <summary>
/// Issue 14 in small: the translation networks' shapes, the built-in digit pair, every model's
/// steps, CycleGAN's exact resume (image pools included), and the one-line errors for bad input.
/// Training to quality is a command (train-translation), not a test.
/// </summary>
[Collection("devices")]
public sealed class TranslationTests
{
    private static readonly Lazy<(MnistDataset Train, MnistDataset Test)> Mnist = new(() =>
        (MnistDataset.Load(MnistDataset.DefaultFolder, true), MnistDataset.Load(MnistDataset.DefaultFolder, false)));

    private static TranslationData BuiltIn(bool paired, int size = 28) => TranslationData.BuiltIn(Mnist.Value.Train, Mnist.Value.Test, paired, size);

    private static Shape Out(Module m, Device d, params int[] input)
    {
        using var _ = d.Tape.NoGrad();
        var x = d.Persistent(new Shape(input), 0.1f);
        try { return m.Forward(x).Shape; }
        finally { x.Dispose(); d.Tape.EndStep(); }
    }

    [Fact]
    public void NetworksKeepOrMapTheirShapes()
    {
        using var d = Device.Create(AcceleratorKind.Cpu, 1);
        using var g = new ResnetGenerator(d, 1, 1, 4, 2);
        Assert.Equal(new Shape(2, 1, 28, 28), Out(g, d, 2, 1, 28, 28));
        Assert.Equal(new Shape(1, 1, 32, 44), Out(g, d, 1, 1, 32, 44));       // any multiple of 4
        Assert.Null(ResnetGenerator.CheckSize(28, 28));
        Assert.Contains("multiples of 4", ResnetGenerator.CheckSize(30, 28));
        using var dd = new PatchDiscriminator(d, 1, 4, 2);
        Assert.Equal(new Shape(1, 1, 5, 5), Out(dd, d, 1, 1, 28, 28));
        Assert.Equal(5, PatchDiscriminator.GridSide(28, 2));
        Assert.Equal(30, PatchDiscriminator.GridSide(256, 3));                // the 70x70 PatchGAN's 30x30 grid
        using var u = new UnetGenerator(d, 1, 1, 5, 4);
        Assert.Equal(new Shape(2, 1, 32, 32), Out(u, d, 2, 1, 32, 32));
        Assert.Contains("multiples of 32", u.CheckSize(28, 28));
        // PyTorch's parameter names.
        Assert.Contains(g.NamedParameters(), p => p.Name == "model.10.conv_block.1.weight");
        Assert.Contains(dd.NamedParameters(), p => p.Name == "model.0.bias");
    }

    [Fact]
    public void TheBuiltInPairIsBoldNegativeDigitsFromTheOtherHalf()
    {
        // A 5x5 image with one ink pixel: B is a 3x3 block of -1 (ink, negated) on +1.
        var img = Enumerable.Repeat(-1f, 25).ToArray();
        img[12] = 1f;
        var b = TranslationData.BoldNegative(img, 1, 5);
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 5; x++)
                Assert.Equal(Math.Abs(y - 2) <= 1 && Math.Abs(x - 2) <= 1 ? -1f : 1f, b[y * 5 + x]);

        var u = BuiltIn(paired: false);
        var (train, test) = Mnist.Value;
        Assert.False(u.Paired);
        Assert.Equal(train.Count / 2, u.TrainA.Count);
        Assert.Equal(train.Count - train.Count / 2, u.TrainB.Count);
        Assert.Equal(TranslationData.BoldNegative(train.Images.AsSpan(u.TrainA.Count * 784, 784).ToArray(), 1, 28), u.TrainB.Sample(0).ToArray());
        Assert.Equal(test.Count, u.TestA!.Count);
        Assert.Equal(TranslationData.BoldNegative(u.TestA.Sample(7).ToArray(), 1, 28), u.TestB!.Sample(7).ToArray());
        Assert.Equal(test.Labels, u.TestA.Labels);
        var p = BuiltIn(paired: true, size: 32);
        Assert.True(p.Paired);
        Assert.Equal(train.Count, p.TrainB.Count);
        Assert.Equal(-1f, p.TrainA.Sample(0)[0]);          // the padding is background
        Assert.Equal(1f, p.TrainB.Sample(0)[0]);
    }

    private static TranslationOptions Tiny(string model) => TranslationRun.Defaults(model, builtIn: true) with
    {
        Ngf = 4, Ndf = 4, Blocks = 1, PoolSize = 3, Steps = 8, DecayFrom = 4, Latent = 4, Batch = model is "cyclegan" or "pix2pix" ? 1 : 4,
    };

    [Fact]
    public void ADivergedRunStopsWithItsLastGoodCheckpointAndSaysSoInTheReport()
    {
        // An absurd learning rate: D's outputs overflow within a few steps. The loop stops with exit code 3
        // naming the step and the statistic, the report says "diverged", and latest.safetensors is still the
        // checkpoint of the last finite step (nothing non-finite is written).
        using var tmp = new TempFolder();
        var o = Tiny("cyclegan") with { Steps = 60, DecayFrom = 59, Lr = 1e12 };
        using var d = Device.Create(AcceleratorKind.Cpu, (ulong)o.Seed);
        using var run = new TranslationRun(d, o, BuiltIn(paired: false));
        string outDir = tmp.File("run");
        var e = Assert.Throws<CliException>(() => TranslationTraining.Run(run, outDir, "cpu", new RunHistory(), TextWriter.Null, 1, 1, () => false));
        Assert.Equal(ExitCodes.Diverged, e.ExitCode);
        Assert.Matches(@"^Training diverged (at|by) step \d+: .+\. Try a lower learning rate\. The last good checkpoint is checkpoints/latest\.safetensors\.$", e.Message);
        Assert.Contains("diverged: Training diverged ", File.ReadAllText(Path.Combine(outDir, "report.html")));
        using var good = new TranslationRun(d, o, BuiltIn(paired: false));
        good.Load(Path.Combine(outDir, "checkpoints", "latest.safetensors"));
        Assert.InRange(good.Model.Step, 1, run.Model.Step - 1);
        Assert.All(good.Model.Parts.SelectMany(p => p.Module.Parameters()).SelectMany(t => t.ToArray()), v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>Each step's statistics over <paramref name="steps"/> steps.</summary>
    private static float[][] Stats(TranslationRun r, int steps)
    {
        var s = new List<float[]>();
        for (int i = 0; i < steps; i++) { r.Step(); s.Add(r.Model.ReadStats().Values.ToArray()); }
        return s.ToArray();
    }

    [Fact]
    public void CycleGanResumesExactlyWithItsImagePools()
    {
        using var tmp = new TempFolder();
        var o = Tiny("cyclegan");
        var data = BuiltIn(paired: false);
        float[][] whole;
        float[] weights, poolB;
        using (var d = Device.Create(AcceleratorKind.Cpu, (ulong)o.Seed))
        using (var run = new TranslationRun(d, o, data))
        {
            whole = Stats(run, 8);
            weights = run.Model.Net("G_B").Parameters().SelectMany(p => p.ToArray()).ToArray();
            poolB = ((CycleGan)run.Model).PoolB.Images!.ToArray();
            Assert.Equal(3, ((CycleGan)run.Model).PoolB.Count);
            Assert.True(((CycleGan)run.Model).PoolB.Draws > 0);       // the pool was full and drawing from step 4
        }
        string ck = tmp.File("step4.safetensors");
        using (var d = Device.Create(AcceleratorKind.Cpu, (ulong)o.Seed))
        using (var run = new TranslationRun(d, o, data))
        {
            Assert.Equal(whole[..4], Stats(run, 4));
            run.Save(ck);
        }
        using (var d = Device.Create(AcceleratorKind.Cpu, 99))       // another seed: everything must come from the checkpoint
        using (var run = new TranslationRun(d, o, data))
        {
            run.Load(ck);
            Assert.Equal(4, run.Model.Step);
            Assert.Equal(whole[4..], Stats(run, 4));
            Assert.Equal(weights, run.Model.Net("G_B").Parameters().SelectMany(p => p.ToArray()).ToArray());
            Assert.Equal(poolB, ((CycleGan)run.Model).PoolB.Images!.ToArray());
        }
    }

    /// <summary>ae-swap on the built-in pair shows half the encoder's inputs inverted (drawn from the run's random
    /// stream): with that augmentation off the steps differ, and with it on a resumed run repeats the uninterrupted one.</summary>
    [Fact]
    public void AeSwapInvertsHalfTheEncodersInputsAndResumesExactly()
    {
        using var tmp = new TempFolder();
        var o = Tiny("ae-swap");
        Assert.Equal(0.5f, o.InvertAugment);
        Assert.Equal(0f, TranslationRun.Defaults("ae-swap", builtIn: false).InvertAugment);
        var data = BuiltIn(paired: false);
        float[][] whole, plain;
        string ck = tmp.File("step4.safetensors");
        using (var d = Device.Create(AcceleratorKind.Cpu, (ulong)o.Seed))
        using (var run = new TranslationRun(d, o, data))
            whole = Stats(run, 8);
        using (var d = Device.Create(AcceleratorKind.Cpu, (ulong)o.Seed))
        using (var run = new TranslationRun(d, o with { InvertAugment = 0f }, data))
            plain = Stats(run, 8);
        Assert.NotEqual(whole[1], plain[1]);
        using (var d = Device.Create(AcceleratorKind.Cpu, (ulong)o.Seed))
        using (var run = new TranslationRun(d, o, data))
        {
            Assert.Equal(whole[..4], Stats(run, 4));
            run.Save(ck);
        }
        using (var d = Device.Create(AcceleratorKind.Cpu, 99))       // another seed: the stream's place comes from the checkpoint
        using (var run = new TranslationRun(d, o, data))
        {
            run.Load(ck);
            Assert.Equal(0.5f, run.Model.Options.InvertAugment);
            Assert.Equal(whole[4..], Stats(run, 4));
        }
    }

    [Theory]
    [InlineData("cyclegan")]
    [InlineData("pix2pix")]
    [InlineData("ae")]
    [InlineData("ae-swap")]
    [InlineData("vae")]
    public void EveryModelTrainsAndDrawsItsGrid(string model)
    {
        using var tmp = new TempFolder();
        var o = Tiny(model) with { Steps = 3 };
        var data = BuiltIn(paired: model is "pix2pix" or "ae" or "vae", o.Size);
        using var d = Device.Create(AcceleratorKind.Cpu, 1);
        using var run = new TranslationRun(d, o, data);
        var before = run.Model.Parts.ToDictionary(p => p.Name, p => p.Module.Parameters().Select(t => t.ToArray()).ToList());
        for (int i = 0; i < 3; i++) run.Step();
        Assert.All(run.Model.ReadStats().Values, v => Assert.True(float.IsFinite(v)));
        // Every parameter of every part learns (a part whose graph was dropped before its backward would not).
        foreach (var p in run.Model.Parts)
            foreach (var (t, old) in p.Module.NamedParameters().Zip(before[p.Name]))
                Assert.False(t.Tensor.ToArray().SequenceEqual(old), $"{model}: {p.Name}.{t.Name} did not change in 3 steps");
        run.Grid(tmp.File("grid.png"));
        Assert.True(new FileInfo(tmp.File("grid.png")).Length > 100);
        run.Save(tmp.File("ck.safetensors"));
        using var again = TranslationRun.LoadModel(d, tmp.File("ck.safetensors"));
        Assert.Equal(3, again.Step);
    }

    /// <summary>train-translation's loop writes report.html (charts, the held-out grids with what their rows show),
    /// stops with a checkpoint when asked, and a resumed run's report goes on from the checkpoint's history.</summary>
    [Fact]
    public void TrainingWritesAReportWithTheGridsRowsAndResumesItsHistory()
    {
        using var tmp = new TempFolder();
        var o = Tiny("ae") with { Steps = 6 };
        var data = BuiltIn(paired: true);
        string outDir = tmp.File("run"), report = Path.Combine(outDir, Report.FileName), latest = Path.Combine(outDir, "checkpoints", "latest.safetensors");
        using (var d = Device.Create(AcceleratorKind.Cpu, 1))
        using (var run = new TranslationRun(d, o, data))
            Assert.False(TranslationTraining.Run(run, outDir, "cpu", new RunHistory(), TextWriter.Null, 1, 2, () => run.Model.Step >= 3));
        string html = File.ReadAllText(report);
        Assert.Contains("stopped at step 3", html);
        Assert.Contains("Rows, top to bottom: input / reconstruction.", html);
        Assert.Contains("samples/step-00000002.png", html);
        Assert.Contains("<svg", html);
        var history = TranslationTraining.HistoryOf(latest);
        Assert.Equal([1L, 2, 3], history.Points.Select(p => p.Step));
        Assert.Equal(3, IlgpuGan.Recipes.CheckpointFile.Load(latest).Step);

        using (var d = Device.Create(AcceleratorKind.Cpu, 1))
        using (var run = new TranslationRun(d, o, data))
        {
            run.Load(latest);
            Assert.True(TranslationTraining.Run(run, outDir, "cpu", history, TextWriter.Null, 1, 2, () => false));
        }
        html = File.ReadAllText(report);
        Assert.Contains("finished", html);
        foreach (int s in new[] { 2, 4, 6 }) Assert.Contains($"samples/step-{s:D8}.png", html);
        Assert.Equal([1L, 2, 3, 4, 5, 6], TranslationTraining.HistoryOf(latest).Points.Select(p => p.Step));
        // --keep 3 (the default): the newest three step files stay.
        Assert.Equal([6L, 4, 3], new CheckpointStore(Path.Combine(outDir, "checkpoints")).List().Select(c => c.Step));
    }

    [Fact]
    public void BadInputIsOneLineNamingTheFileOrOption()
    {
        using var tmp = new TempFolder();
        var o = Tiny("pix2pix");
        // Unpaired data given to pix2pix.
        using (var d = Device.Create(AcceleratorKind.Cpu, 1))
        {
            var e = Assert.Throws<ArgumentException>(() => new TranslationRun(d, o, BuiltIn(paired: false, 32)));
            Assert.Contains("needs paired data", e.Message);
        }
        Directory.CreateDirectory(tmp.File("ds/trainA"));
        Directory.CreateDirectory(tmp.File("ds/trainB"));
        var ce = Assert.Throws<CliException>(() => TranslationCommands.LoadData(o, tmp.File("ds"), null, null));
        Assert.Contains("pix2pix needs pairs", ce.Message);
        // An empty domain folder.
        var ie = Assert.Throws<InvalidDataException>(() => TranslationCommands.LoadData(Tiny("cyclegan"), tmp.File("ds"), null, null));
        Assert.Contains("trainA", ie.Message);
        Assert.Contains("holds no images", ie.Message);
        // Two folders without a common file name, given to pix2pix.
        WritePng(tmp.File("ds/trainA/x.png"), 8, 8);
        WritePng(tmp.File("ds/trainB/y.png"), 8, 8);
        var pe = Assert.Throws<InvalidDataException>(() => TranslationCommands.LoadData(o with { Size = 32 }, null, tmp.File("ds/trainA"), tmp.File("ds/trainB")));
        Assert.Contains("no file names in common", pe.Message);
    }

    [Fact]
    public void TranslateSaysWhichSizesTheGeneratorTakes()
    {
        using var tmp = new TempFolder();
        var o = Tiny("cyclegan") with { Steps = 1 };
        using (var d = Device.Create(AcceleratorKind.Cpu, 1))
        using (var run = new TranslationRun(d, o, BuiltIn(paired: false)))
        {
            run.Step();
            run.Save(tmp.File("cg.safetensors"));
        }
        WritePng(tmp.File("odd.png"), 30, 28);
        WritePng(tmp.File("ok.png"), 32, 36);
        var bad = CliTestSupport.Run(tmp.Path, "translate", tmp.File("cg.safetensors"), "--direction", "b2a", tmp.File("odd.png"), "--out", tmp.File("out"));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("odd.png", bad.Err);
        Assert.Contains("multiples of 4", bad.Err);
        Assert.Single(bad.Err.Trim().Split('\n'));
        var good = CliTestSupport.Run(tmp.Path, "translate", tmp.File("cg.safetensors"), "--direction", "a2b", tmp.File("ok.png"), "--out", tmp.File("out"));
        Assert.Equal(0, good.ExitCode);
        var img = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(tmp.File("out/ok.png")));
        Assert.Equal((32, 36), (img.Width, img.Height));
    }

    private static void WritePng(string path, int w, int h)
    {
        var pixels = new byte[w * h * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 37 % 251);
        using var f = File.Create(path);
        new ImageWriter().WritePng(pixels, w, h, ColorComponents.RedGreenBlue, f);
    }
}
