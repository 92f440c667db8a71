using IlgpuGan.Cli.Runs;

namespace IlgpuGan.Tests.Cli;

/// <summary>
/// Checkpoints written before the training recipes (format 1: <c>ilgpu-gan-checkpoint/1</c>, optimizer
/// state under <c>optG.</c>/<c>optD.</c>) still load and resume exactly. The two files in
/// TestData/checkpoints were written by the code of commit 2ccd45f with
/// <c>train --model toy --steps 20 --checkpoint-every 10 --sample-every 10 --log-every 1 --seed 7 -a cpu --keep 5</c>:
/// step 10 (resumed here) and step 20 (what the uninterrupted run reached).
/// </summary>
public sealed class Format1CheckpointTests
{
    private static string File(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "checkpoints", name);

    [Fact]
    public void AFormat1CheckpointResumesToTheUninterruptedRun()
    {
        using var tmp = new TempFolder();
        string folder = tmp.File("run/checkpoints");
        Directory.CreateDirectory(folder);
        System.IO.File.Copy(File("toy-format1-step10.safetensors"), Path.Combine(folder, CheckpointStore.FileName(10)));
        var ck = CheckpointStore.LoadForResume(tmp.File("run"));
        Assert.Equal(10, ck.Step);
        Assert.Equal("toy", ck.Config.Model);

        var run = CliTestSupport.Train(ck.Config, tmp.File("run"), ck);
        var whole = Checkpoint.Load(File("toy-format1-step20.safetensors"));
        var expected = whole.History.Points;
        var actual = run.History.Points;
        Assert.Equal(expected.Select(p => p.Step), actual.Select(p => p.Step));
        Assert.Equal(4, expected[0].Values.Count);      // format 1's history: Loss_D, Loss_G, D(x), D(G(z))
        for (int i = 10; i < expected.Count; i++)
            foreach (var (name, value) in expected[i].Values)
                Assert.True(BitConverter.SingleToInt32Bits(value) == BitConverter.SingleToInt32Bits(actual[i][name]),
                    $"step {expected[i].Step} {name}: uninterrupted {value:R}, resumed {actual[i][name]:R}");

        // The resumed run writes format 2; its optimizer state is the uninterrupted run's format-1 state under the new names.

        // The weights the resumed run ends with are the uninterrupted run's.
        var end = Checkpoint.Load(new CheckpointStore(folder).LatestFile()!);
        Assert.Equal(20, end.Step);
        Assert.Equal(1, whole.Contents.Format);
        Assert.Equal(2, end.Contents.Format);
        foreach (var (name, t) in whole.Contents.Tensors)
        {
            string now = name.StartsWith("opt", StringComparison.Ordinal) ? $"optimizer.{name[3]}.{name[5..]}" : name;   // optG.state.0.exp_avg -> optimizer.G.state.0.exp_avg
            Assert.True(t.Data.AsSpan().SequenceEqual(end.Contents.Tensors[now].Data), $"{name} differs ({now})");
        }
        Assert.Equal(whole.Contents.Tensors.Count, end.Contents.Tensors.Count);
        Assert.Equal(20, end.Contents.OptimizerSteps("G"));
        Assert.Equal((whole.RngSeed, whole.RngOffset, whole.LoaderEpoch, whole.LoaderBatch), (end.RngSeed, end.RngOffset, end.LoaderEpoch, end.LoaderBatch));
    }
}
