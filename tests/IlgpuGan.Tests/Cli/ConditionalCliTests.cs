using IlgpuGan.Cli;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Data;
using StbImageSharp;

namespace IlgpuGan.Tests.Cli;

/// <summary>Conditional models in the tool: class folders, class names in checkpoints, by-class grids,
/// sample --class / --by-class, and the one-line errors of issue 12.</summary>
public sealed class ConditionalCliTests
{
    /// <summary>A folder of 28x28 grey PNGs, <paramref name="perClass"/> in each named subfolder.</summary>
    private static string ClassFolder(TempFolder tmp, string name, params string[] classes)
    {
        string root = tmp.File(name);
        int k = 0;
        foreach (var c in classes)
        {
            Directory.CreateDirectory(Path.Combine(root, c));
            for (int i = 0; i < 12; i++, k++)
            {
                var pixels = new float[28 * 28];
                for (int p = 0; p < pixels.Length; p++) pixels[p] = ((p + 7 * k) % 29) / 14.5f - 1f;
                IlgpuGan.Imaging.ImageGrid.SavePng(Path.Combine(root, c, $"{i:D2}.png"), pixels, 1, 1, 28, 28, 1);
            }
        }
        return root;
    }

    [Fact]
    public void FolderClassesTrainAndAreKeptInTheCheckpoint()
    {
        using var tmp = new TempFolder();
        string data = ClassFolder(tmp, "pets", "cat", "dog", "owl");
        var config = CliTestSupport.For("cgan-mlp", "bce", 2, data, 8) with { SampleEvery = 2, CheckpointEvery = 2 };
        CliTestSupport.Train(config, tmp.File("run"));
        var ck = CheckpointStore.LoadForResume(tmp.File("run"));
        Assert.Equal(["cat", "dog", "owl"], ck.ClassNames);
        // The training grid: one row of 8 per class.
        var png = ImageResult.FromMemory(File.ReadAllBytes(tmp.File("run/samples/step-00000002.png")), ColorComponents.Grey);
        Assert.Equal(3 * 30 + 2, png.Height);

        var r = CliTestSupport.Run(tmp.Path, "sample", tmp.File("run"), "--class", "dog", "-n", "4", "-o", tmp.File("dog.png"));
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.True(File.Exists(tmp.File("dog.png")));
        r = CliTestSupport.Run(tmp.Path, "sample", tmp.File("run"), "--class", "horse");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("error: --class horse: Unknown class 'horse': the classes are 0 (cat), 1 (dog), 2 (owl).", r.Err.Trim());
    }

    [Fact]
    public void AFolderWithOneClassIsRefusedInOneLine()
    {
        using var tmp = new TempFolder();
        string data = ClassFolder(tmp, "only", "cat");
        var run = new TrainRun { Config = CliTestSupport.For("cdcgan28", "hinge", 1, data, 4), OutFolder = tmp.File("run") };
        var e = Assert.Throws<CliException>(() => run.Execute());
        Assert.Contains("holds one class ('cat')", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void SamplingErrorsNameTheValue()
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.For("cgan-mlp", "bce", 1, "mnist", 8) with { SampleEvery = 1, CheckpointEvery = 1 }, tmp.File("cond"));
        CliTestSupport.Train(CliTestSupport.Toy(1) with { SampleEvery = 1, CheckpointEvery = 1 }, tmp.File("toy"));

        var r = CliTestSupport.Run(tmp.Path, "sample", tmp.File("cond"), "--class", "10");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("error: --class 10: Class 10 is outside [0, 10): the classes are 0-9.", r.Err.Trim());
        r = CliTestSupport.Run(tmp.Path, "sample", tmp.File("toy"), "--class", "3");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("error: --class 3: the model 'toy' is not conditional (it takes no class); sample it without --class.", r.Err.Trim());

        // Without a class: all classes in turn; --by-class: a row per class, the same noise per column.
        r = CliTestSupport.Run(tmp.Path, "sample", tmp.File("cond"), "-n", "20", "-o", tmp.File("all.png"));
        Assert.True(r.ExitCode == 0, r.Err);
        r = CliTestSupport.Run(tmp.Path, "sample", tmp.File("cond"), "--by-class", "-n", "3", "-o", tmp.File("by.png"));
        Assert.True(r.ExitCode == 0, r.Err);
        var by = ImageResult.FromMemory(File.ReadAllBytes(tmp.File("by.png")), ColorComponents.Grey);
        Assert.Equal((3 * 30 + 2, 10 * 30 + 2), (by.Width, by.Height));
    }

    [Fact]
    public void LabelsOutsideTheClassesAreOneLineErrors()
    {
        var e = Assert.Throws<ArgumentException>(() => Ops.CheckLabels([0, 3, 11], 10));
        Assert.Equal("label 11 (at 2) is outside [0, 10): this model has 10 classes (0 to 9).", e.Message);
        Assert.Throws<ArgumentException>(() => Ops.CheckLabels([1.5f], 10));
        var labels = new ClassLabels(["a", "b"], []);
        Assert.Equal(1, labels.Resolve("B"));
        Assert.Equal("Class 2 is outside [0, 2): the classes are 0 (a), 1 (b).", Assert.Throws<ArgumentException>(() => labels.Resolve("2")).Message);
    }
}
