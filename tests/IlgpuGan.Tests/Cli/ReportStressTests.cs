using System.Text.RegularExpressions;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Recipes;

namespace IlgpuGan.Tests.Cli;

/// <summary>The report under stress (issue 16): an exploding run's charts, a killed run's status, the last x tick, the caption.</summary>
public sealed partial class ReportTests
{
    private static readonly Statistic[] Losses = [new("Loss_D", "Losses"), new("Loss_G", "Losses")];

    private static RunHistory Exploding()
    {
        var h = new RunHistory();
        for (int s = 10; s <= 3000; s += 10)
            h.Points.Add(new HistoryPoint(s, new Dictionary<string, float> { ["Loss_D"] = 1.3f + 0.01f * (s % 7), ["Loss_G"] = s < 2000 ? 0.7f : MathF.Pow(10, (s - 2000) / 50f) }));
        return h;
    }

    [Fact]
    public void AnExplodingRunIsDrawnOnASymmetricLogScale()
    {
        var h = Exploding();
        string svg = Report.Chart("Losses", "chart-loss", h.Points, [("Loss_D", "#000", p => p["Loss_D"]), ("Loss_G", "#111", p => p["Loss_G"])]);
        Assert.Contains("data-scale=\"symlog\"", svg);
        Assert.Contains("Losses (log scale)", svg);
        Assert.Contains(">1e+20<", svg);
        Assert.Contains(">1e+05<", svg);
        // The explosion climbs most of the chart, and the usual values are not drawn on the zero line as a linear scale draws them.
        List<double> Ys(string series) => Regex.Match(svg, $"data-series=\"{Regex.Escape(series)}\" d=\"([^\"]+)\"").Groups[1].Value
            .Split(['M', 'L'], StringSplitOptions.RemoveEmptyEntries).Select(p => double.Parse(p.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var g = Ys("Loss_G");
        Assert.True(g[0] - g[^1] >= 150, $"Loss_G climbs {g[0] - g[^1]} px");
        double zero = double.Parse(Regex.Match(svg, "y1=\"([\\d.]+)\" y2=\"[\\d.]+\" class=\"grid\"/><text x=\"\\d+\" y=\"[\\d.]+\" class=\"ytick\">0<").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(zero - Ys("Loss_D").Max() >= 2, "Loss_D is drawn on the zero line");
        // A healthy run stays linear.
        h.Points.RemoveAll(p => p.Step > 1990);
        Assert.Contains("data-scale=\"linear\"", Report.Chart("Losses", "chart-loss", h.Points, [("Loss_D", "#000", p => p["Loss_D"])]));
    }

    [Fact]
    public void TheLastXTickStaysInsideTheChart()
    {
        string svg = Report.Chart("Losses", "chart-loss", Exploding().Points, [("Loss_D", "#000", p => p["Loss_D"])]);
        var last = Regex.Matches(svg, "<text x=\"([\\d.]+)\" y=\"[\\d.]+\" class=\"xtick\"( style=\"text-anchor:end\")?>([^<]+)</text>")[^1];
        Assert.Equal("3,000", last.Groups[3].Value);
        double x = double.Parse(last.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        // Centred, half of "3,000" (about 15 px) must fit inside the 560 px; else it is anchored at its end.
        Assert.True(x + 16 <= 560 || last.Groups[2].Success, $"the last tick label at x {x} is cut off");
    }

    [ChromiumFact]
    public void AKilledRunsReportSaysWhenItWasLastWrittenAndThatItIsOverdue()
    {
        using var tmp = new TempFolder();
        var config = CliTestSupport.Toy(3000);
        try
        {
            Report.Now = () => DateTime.UtcNow.AddHours(-3);
            Report.Write(tmp.Path, config, "cpu", "curves", Exploding(), Losses, 1200, new ReportStatus("training", true, TimeSpan.FromMinutes(2)), [], null);
        }
        finally { Report.Now = null; }
        string dom = DumpDom(Path.Combine(tmp.Path, Report.FileName), tmp.File("profile"));
        Assert.Matches("training · step 1,200 of 3,000 · last written <time id=\"written\" datetime=\"[^\"]+\">\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC</time>", dom);
        Assert.Matches("No update since [^<]+ UTC \\(18\\d min ago\\), though one was due by then: the training process may have been stopped or killed", dom);

        // A fresh report of a running run says nothing of the kind.
        Report.Write(tmp.Path, config, "cpu", "curves", Exploding(), Losses, 1200, new ReportStatus("training", true, TimeSpan.FromMinutes(2)), [], null);
        Assert.DoesNotMatch("id=\"stale\"[^>]*>No update", DumpDom(Path.Combine(tmp.Path, Report.FileName), tmp.File("profile2")));
    }

    [ChromiumFact]
    public void TheRealSamplesCaptionSitsUnderItsGrid()
    {
        using var tmp = new TempFolder();
        string outDir = tmp.File("run");
        CliTestSupport.Train(CliTestSupport.Toy(10) with { SampleEvery = 10, CheckpointEvery = 10 }, outDir);
        string dom = DumpDom(Path.Combine(outDir, Report.FileName), tmp.File("profile"));
        // In the grid container as the sample grids are: the figure is as wide as its image, so the caption is centred under it.
        Assert.Matches("<div class=\"grids\"><figure><img class=\"real\" src=\"real.png\" alt=\"real samples\"><figcaption>real samples</figcaption></figure></div>", dom);
    }
}
