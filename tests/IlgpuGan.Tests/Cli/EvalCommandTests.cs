using System.Text.Json;
using IlgpuGan.Data;
using IlgpuGan.Imaging;

namespace IlgpuGan.Tests.Cli;

/// <summary><c>ilgpu-gan eval</c> as a user runs it, on a PNG grid of real digits (fast: no generator).</summary>
public sealed class EvalCommandTests
{
    [Fact]
    public void EvalOfAGridPrintsTheTableWithTheRealLineAndWritesJson()
    {
        using var tmp = new TempFolder();
        var held = MnistDataset.Load(MnistDataset.DefaultFolder, train: false);
        string png = Path.Combine(tmp.Path, "digits.png");
        ImageGrid.SavePng(png, held.Images.AsSpan(1000 * 784, 300 * 784), 300, 1, 28, 28, nrow: 20);
        var r = CliTestSupport.Run(tmp.Path, "eval", png, "--out", "scores.json");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        foreach (var s in new[] { "FID", "KID", "Inception Score", "precision", "recall", "density", "coverage", "classes covered",
                                  "class KL to uniform", "near-copies", "duplicate pairs", "generated (300)", "real held-out (300)" })
            Assert.Contains(s, r.Out);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Path, "scores.json")));
        var sets = json.RootElement.GetProperty("sets");
        Assert.Equal(2, sets.GetArrayLength());
        Assert.Equal(300, sets[1].GetProperty("samples").GetInt32());
        double gridFid = sets[0].GetProperty("fid").GetDouble(), realFid = sets[1].GetProperty("fid").GetDouble();
        Assert.True(gridFid < 1.5 * realFid + 5, $"real digits read from a grid score like real digits: {gridFid} against {realFid}");
        Assert.True(File.Exists(Path.Combine(tmp.Path, "scores-closest.png")));

        var few = CliTestSupport.Run(tmp.Path, "eval", png, "--samples", "100");
        Assert.Equal(1, few.ExitCode);
        Assert.Contains("needs at least 129", few.Err);
    }

    /// <summary>The libtorch peer's train output (raw float32 with FILE.json) is scored like any other samples, with
    /// exactly the pixels it holds; a file that does not match its shape is refused naming both.</summary>
    [Fact]
    public void EvalReadsRawFloat32SamplesWithTheirShape()
    {
        using var tmp = new TempFolder();
        var held = MnistDataset.Load(MnistDataset.DefaultFolder, train: false);
        const int n = 200;
        string raw = Path.Combine(tmp.Path, "peer.f32");
        File.WriteAllBytes(raw, System.Runtime.InteropServices.MemoryMarshal.AsBytes(held.Images.AsSpan(500 * 784, n * 784)).ToArray());
        File.WriteAllText(raw + ".json", $$"""{"n": {{n}}, "shape": [{{n}}, 1, 28, 28], "steps": 6000, "seed": 1, "workload": "W-MLP", "implementation": "TorchSharp-cpu"}""");
        var r = CliTestSupport.Run(tmp.Path, "eval", raw);
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        Assert.Contains("raw float32 samples", r.Out);
        using (var json = JsonDocument.Parse(File.ReadAllText(raw + ".eval.json")))
        {
            var sets = json.RootElement.GetProperty("sets");
            Assert.Equal("raw", json.RootElement.GetProperty("source").GetString());
            Assert.Equal(n, sets[0].GetProperty("samples").GetInt32());
            double fid = sets[0].GetProperty("fid").GetDouble(), real = sets[1].GetProperty("fid").GetDouble();
            Assert.True(fid < 1.5 * real + 5, $"real digits as raw floats score like real digits: {fid} against {real}");
        }

        File.WriteAllText(raw + ".json", """{"shape": [300, 1, 28, 28]}""");
        var bad = CliTestSupport.Run(tmp.Path, "eval", raw);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("peer.f32: 627,200 bytes, but its shape [300, 1, 28, 28] needs 940,800", bad.Err);

        File.WriteAllText(raw + ".json", """{"shape": ["200", 1, 28, 28.5], "implementation": 7}""");
        var odd = CliTestSupport.Run(tmp.Path, "eval", raw);
        Assert.Equal(1, odd.ExitCode);
        Assert.Contains("peer.f32.json: needs \"shape\": [n, channels, height, width]", odd.Err);
    }

    /// <summary>A conditional checkpoint's eval also gives, for each class c, the share of --class c samples labelled c.</summary>
    [Fact]
    public void EvalOfAConditionalRunGivesThePerClassAccuracy()
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.For("cgan-mlp", "bce", 2, "mnist", 16), tmp.File("run"));
        var r = CliTestSupport.Run(tmp.Path, "eval", tmp.File("run"), "--samples", "200", "-a", "cpu");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("per class (500 samples of --class c each, labelled c): 0 ", r.Out);
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tmp.File("run/eval.json")))!;
        var perClass = json["per_class_accuracy"]!.AsObject();
        Assert.Equal(10, perClass.Count);
        Assert.All(perClass, kv => Assert.InRange(kv.Value!.GetValue<double>(), 0, 1));
    }
}
