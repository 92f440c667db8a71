using IlgpuGan.Data;
using IlgpuGan.Evaluation;
using IlgpuGan.Tests.Cli;

namespace IlgpuGan.Tests.Evaluation;

/// <summary>Stacked MNIST (issue 13 item 4): real stacked digits read back as their modes, a collapsed set as one mode,
/// and the stacked28 model training under bce and wgan-gp.</summary>
[Collection("devices")]
public sealed class StackedMnistTests
{
    [Fact]
    public void RealStacksCoverTheModesAndOneImageIsOneMode()
    {
        var train = MnistDataset.Load(MnistDataset.DefaultFolder, train: true);
        var (images, truth) = StackedMnist.Make(train, 5000, seed: 4);
        Assert.Equal(StackedMnist.Make(train, 5000, seed: 4).Modes, truth);           // the same for a seed
        Assert.All(truth, m => Assert.InRange(m, 0, 999));

        using var device = Device.Create(AcceleratorKind.Cpu);
        using var classifier = Classifier.Load(device, Classifier.ShippedPath!);
        var read = StackedMnist.ModesOf(classifier, images, 5000);
        double agree = read.Zip(truth).Count(x => x.First == x.Second) / 5000.0;
        Assert.InRange(agree, 0.95, 1.0);                                             // about 0.988^3 (each digit read right)
        var (covered, kl) = StackedMnist.Figures(read);
        Assert.InRange(covered, 975, 1000);                                           // 1000 (1 - e^-5) = 993 expected
        Assert.InRange(kl, 0, 0.2);

        var one = Enumerable.Repeat(truth[0], 300).ToArray();
        var (c1, k1) = StackedMnist.Figures(one);
        Assert.Equal(1, c1);
        Assert.Equal(Math.Log(1000), k1, 9);
    }

    [Theory]
    [InlineData("bce")]
    [InlineData("wgan-gp")]
    public void Stacked28Trains(string loss)
    {
        using var tmp = new TempFolder();
        var config = CliTestSupport.For("stacked28", loss, 2, "stacked-mnist", 8) with { SampleEvery = 2 };
        var run = CliTestSupport.Train(config, tmp.File("run"));
        Assert.All(run.History.Points[^1].Values.Values, v => Assert.True(float.IsFinite(v)));
        Assert.True(File.Exists(tmp.File("run/samples/step-00000002.png")));
    }
}
