using IlgpuGan.Cli.Runs;
using IlgpuGan.Models;
using IlgpuGan.Tests.Cli;

namespace IlgpuGan.Tests.Training;

/// <summary>The 2-D grid of 25 Gaussians (issue 13 item 4): its figures on real and collapsed points, and its
/// training under every objective.</summary>
public sealed class Grid25Tests
{
    [Fact]
    public void RealPointsCoverEveryModeAndOneModeIsCollapse()
    {
        var real = Grid25.Points(5000, 3);
        var f = Grid25.Figures(real, 5000);
        Assert.Equal(25, f.Covered);
        Assert.InRange(f.HighQualityShare, 0.98, 1.0);          // within 3 sigma in 2-D: 1 - exp(-4.5) = 98.9 %
        Assert.InRange(f.KlToUniform, 0, 0.01);
        Assert.Equal(5000 * f.HighQualityShare, f.Histogram.Sum(), 3);

        var (cx, cy) = Grid25.Centres[7];
        var collapsed = Enumerable.Range(0, 100).SelectMany(i => new[] { cx + 0.001f * (i % 3), cy }).ToArray();
        var c = Grid25.Figures(collapsed, 100);
        Assert.Equal(1, c.Covered);
        Assert.Equal(100, c.Histogram[7]);
        Assert.Equal(Math.Log(25), c.KlToUniform, 6);

        var far = Grid25.Figures([0.25f, 0.25f, 2f, 2f], 2);        // a point between four modes, one far outside
        Assert.Equal(0, far.Covered);
        Assert.Equal(0, far.HighQualityShare);
    }

    [Theory]
    [InlineData("bce")]
    [InlineData("wgan")]
    [InlineData("wgan-gp")]
    [InlineData("hinge")]
    [InlineData("lsgan")]
    public void TrainsUnderEveryObjective(string loss)
    {
        using var tmp = new TempFolder();
        var config = CliTestSupport.For("grid25", loss, 4, "grid25", 64) with { SampleEvery = 4, SampleCount = 500 };
        var run = CliTestSupport.Train(config, tmp.File("run"));
        Assert.All(run.History.Points[^1].Values.Values, v => Assert.True(float.IsFinite(v)));
        Assert.True(new FileInfo(tmp.File("run/samples/step-00000004.png")).Length > 1000);      // the scatter plot
    }
}
