using System.Diagnostics;
using System.Text.RegularExpressions;
using IlgpuGan.Cli.Runs;

namespace IlgpuGan.Tests.Cli;

/// <summary>A test that needs Debian's chromium (apt-get install -y chromium; .ci/run installs it): skipped,
/// with that message, only where it is absent.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public static string? Chromium { get; } = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    public ChromiumFactAttribute()
    {
        if (Chromium is null) Skip = "chromium is not installed (apt-get install -y chromium); .ci/run installs it";
    }
}

public sealed partial class ReportTests
{
    [ChromiumFact]
    public void ReportRendersInHeadlessChromiumWithChartsAndGrids()
    {
        using var tmp = new TempFolder();
        string outDir = tmp.File("run");
        CliTestSupport.Train(CliTestSupport.Toy(30) with { SampleEvery = 10, CheckpointEvery = 15 }, outDir);
        string report = Path.Combine(outDir, Report.FileName);
        Assert.True(File.Exists(report));

        string dom = DumpDom(report, tmp.File("profile"));

        Assert.Contains("ilgpu-gan: toy (bce) on curves", dom);
        Assert.Contains("finished", dom);
        // Two inline SVG charts (BCE's groups), its five statistics drawn as paths through every recorded step.
        Assert.Contains("id=\"chart-loss\"", dom);
        Assert.Contains("id=\"chart-d\"", dom);
        var paths = SeriesPath().Matches(dom);
        Assert.Equal(["D(G(z))", "D(G(z))_after", "D(x)", "Loss_D", "Loss_G"], paths.Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal));
        Assert.All(paths, m => Assert.Equal(30, m.Groups[2].Value.Count(c => c is 'M' or 'L')));
        // The three fixed-noise grids (steps 10, 20, 30) and the real data, all loaded by the browser.
        Assert.Equal(3, SampleImage().Matches(dom).Count);
        var loaded = Regex.Match(dom, "data-images-loaded=\"(\\d+)\"");
        var images = Regex.Match(dom, "data-images=\"(\\d+)\"");
        Assert.True(loaded.Success && images.Success, "the page's load script did not run");
        Assert.Equal("4", images.Groups[1].Value);
        Assert.Equal("4", loaded.Groups[1].Value);
        // The configuration and the device.
        Assert.Contains("lrG", dom);
        Assert.Contains("cpu (", dom);
    }

    [GeneratedRegex("<path class=\"series\" data-series=\"([^\"]+)\" d=\"([^\"]*)\"")]
    private static partial Regex SeriesPath();

    [GeneratedRegex("<img class=\"sample\" src=\"samples/step-\\d{8}\\.png\"")]
    private static partial Regex SampleImage();

    private static string DumpDom(string file, string profile)
    {
        var psi = new ProcessStartInfo(ChromiumFactAttribute.Chromium!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     $"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", new Uri(file).AbsoluteUri })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string dom = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromSeconds(90))) { p.Kill(true); Assert.Fail("chromium did not finish in 90 s"); }
        Assert.True(dom.Length > 0, "chromium printed no DOM: " + stderr.Result);
        return dom;
    }
}
