using System.Buffers.Binary;
using System.Text.Json.Nodes;
using IlgpuGan.Cli;
using IlgpuGan.Cli.Runs;

namespace IlgpuGan.Tests.Cli;

public sealed class CheckpointTests
{
    [Fact]
    public void CheckpointHoldsEachPartsModuleAndOptimizerUnderItsNameStepRngLoaderAndConfig()
    {
        using var tmp = new TempFolder();
        var config = CliTestSupport.Toy(10) with { CheckpointEvery = 5 };
        CliTestSupport.Train(config, tmp.Path);
        var store = new CheckpointStore(Path.Combine(tmp.Path, "checkpoints"));
        var ck = Checkpoint.Load(store.LatestFile()!);

        Assert.Equal(10, ck.Step);
        Assert.Equal(config, ck.Config);
        Assert.Equal(10, ck.Contents.OptimizerSteps("G"));
        Assert.Equal(10, ck.Contents.OptimizerSteps("D"));
        Assert.Equal(2, ck.Contents.Format);
        Assert.Equal(["G", "D"], ck.Contents.Parts);
        Assert.Equal("adam", ck.Contents.Metadata["optimizer.G.type"]);
        Assert.Equal("10", ck.Contents.Metadata["recipe.generator_updates"]);
        Assert.Equal(7UL, ck.RngSeed);
        Assert.True(ck.RngOffset > 0);
        Assert.Equal((0, 10), (ck.LoaderEpoch, ck.LoaderBatch));
        Assert.Equal(10, ck.History.Points.Count);
        // Format 2: PyTorch's state-dict names under each part's name (toy G and D: Linear, ReLU, Linear), and
        // each part's Adam state per parameter index under optimizer.<part>.
        string[] expected =
        [
            "G.0.weight", "G.0.bias", "G.2.weight", "G.2.bias", "D.0.weight", "D.0.bias", "D.2.weight", "D.2.bias",
            .. Enumerable.Range(0, 4).SelectMany(i => new[] { $"optimizer.G.state.{i}.exp_avg", $"optimizer.G.state.{i}.exp_avg_sq", $"optimizer.D.state.{i}.exp_avg", $"optimizer.D.state.{i}.exp_avg_sq" }),
        ];
        Assert.Equal(expected.Order(), ck.Contents.Tensors.Keys.Order());
        Assert.Equal([128, 5], ck.Contents.Tensors["G.0.weight"].Shape);
    }

    /// <summary>The layout Python's safetensors package accepts: an 8-byte header size, a JSON object whose
    /// tensors' data_offsets tile the data section exactly, in order, with string-only metadata.</summary>
    [Fact]
    public void CheckpointIsAValidSafetensorsFile()
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.Toy(3), tmp.Path);
        byte[] bytes = File.ReadAllBytes(Path.Combine(tmp.Path, "checkpoints", CheckpointStore.FileName(3)));
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)n))!.AsObject();
        Assert.Equal((byte)'{', bytes[8]);
        foreach (var (k, v) in header["__metadata__"]!.AsObject()) Assert.Equal(System.Text.Json.JsonValueKind.String, v!.GetValueKind());
        var ranges = header.Where(kv => kv.Key != "__metadata__")
            .Select(kv => (Begin: kv.Value!["data_offsets"]![0]!.GetValue<long>(), End: kv.Value!["data_offsets"]![1]!.GetValue<long>()))
            .OrderBy(r => r.Begin).ToList();
        long at = 0;
        foreach (var (b, e) in ranges) { Assert.Equal(at, b); at = e; }
        Assert.Equal(bytes.Length - 8 - (long)n, at);
    }

    [Fact]
    public void KeepsLatestAndTheNewestN()
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.Toy(30) with { CheckpointEvery = 5, Keep = 2 }, tmp.Path);
        var store = new CheckpointStore(Path.Combine(tmp.Path, "checkpoints"));
        Assert.Equal([30, 25], store.List().Select(c => c.Step));
        Assert.Equal(Path.Combine(store.Folder, CheckpointStore.FileName(30)), store.LatestFile());
        Assert.Equal(30, Checkpoint.Load(store.LatestPath).Step);
        Assert.Empty(Directory.GetFiles(store.Folder, "*.tmp"));
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("flip")]
    [InlineData("header")]
    public void CorruptCheckpointIsAClearErrorNamingTheFileAndIsNeverOverwritten(string damage)
    {
        using var tmp = new TempFolder();
        var config = CliTestSupport.Toy(10) with { CheckpointEvery = 5 };
        CliTestSupport.Train(config, tmp.Path);
        string latest = Path.Combine(tmp.Path, "checkpoints", CheckpointStore.FileName(10));
        byte[] good = File.ReadAllBytes(latest);
        byte[] bad = damage switch
        {
            "truncate" => good[..(good.Length / 2)],
            "flip" => Flip(good, good.Length - 100),
            _ => Flip(good, 20),
        };
        File.WriteAllBytes(latest, bad);

        var e = Assert.Throws<CliException>(() => CheckpointStore.LoadForResume(tmp.Path));
        Assert.Contains(latest, e.Message);
        Assert.Contains(damage == "flip" ? "SHA-256" : "corrupt", e.Message);
        Assert.Contains(CheckpointStore.FileName(5), e.Message);        // the newest one that loads
        Assert.DoesNotContain('\n', e.Message);

        // A new run into the folder is refused; resuming from the older one and passing step 10 sets the bad file aside.
        Assert.Throws<CliException>(() => new TrainRun { Config = config, OutFolder = tmp.Path }.Execute());
        Assert.Equal(bad, File.ReadAllBytes(latest));
        var older = CheckpointStore.LoadForResume(Path.Combine(tmp.Path, "checkpoints", CheckpointStore.FileName(5)));
        CliTestSupport.Train(config with { Steps = 12 }, tmp.Path, older);
        Assert.Equal(bad, File.ReadAllBytes(latest + ".corrupt"));
        Assert.Equal(10, Checkpoint.Load(latest).Step);
    }

    private static byte[] Flip(byte[] bytes, int at)
    {
        var copy = (byte[])bytes.Clone();
        copy[at] ^= 0x5A;
        return copy;
    }

    [Fact]
    public void NonFiniteLossStopsTrainingNamingTheStepAndKeepsTheLastGoodCheckpoint()
    {
        using var tmp = new TempFolder();
        // Adam moves every weight by about lr per step: with G's lr 1e20, G's weights reach ~1e20 in step 1 and
        // its output (1e20 x 1e20 x 128) overflows in step 2.
        var config = CliTestSupport.Toy(50) with { LrG = 1e20, CheckpointEvery = 1 };
        var e = Assert.Throws<CliException>(() => new TrainRun { Config = config, OutFolder = tmp.Path }.Execute());
        Assert.Equal(ExitCodes.Diverged, e.ExitCode);
        var m = System.Text.RegularExpressions.Regex.Match(e.Message, @"diverged (at|by) step (\d+): .* (is|holds) (NaN|-?∞|-?Infinity)");
        Assert.True(m.Success, e.Message);
        long bad = long.Parse(m.Groups[2].Value);
        var store = new CheckpointStore(Path.Combine(tmp.Path, "checkpoints"));
        Assert.True(bad > 1, e.Message);
        var last = Checkpoint.Load(store.LatestFile()!);
        Assert.Equal(bad - 1, last.Step);
        Assert.Contains(store.LatestFile()!, e.Message);
        Assert.All(last.Contents.Tensors.Values, t => Assert.All(t.Data, v => Assert.True(float.IsFinite(v))));
        Assert.Contains("diverged", File.ReadAllText(Path.Combine(tmp.Path, Report.FileName)));
    }
}
