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
        for (int i = 10; i < expected.Count; i++)
            Assert.True(expected[i] == actual[i], $"step {expected[i].Step}: uninterrupted {expected[i]}, resumed {actual[i]}");

        // The weights the resumed run ends with are the uninterrupted run's.
        var end = Checkpoint.Load(new CheckpointStore(folder).LatestFile()!);
        Assert.Equal(20, end.Step);
        foreach (var (name, t) in whole.Contents.Tensors.Where(kv => kv.Key.StartsWith("G.") || kv.Key.StartsWith("D.")))
            Assert.True(t.Data.AsSpan().SequenceEqual(end.Contents.Tensors[name].Data), $"{name} differs");
    }
}
