using IlgpuGan.Cli;
using IlgpuGan.Cli.Runs;

namespace IlgpuGan.Tests.Cli;

/// <summary><c>train --eval-every</c> (issue 13 item 6): FID, KID and classes covered as statistics of the run,
/// charted in report.html and kept in the checkpoints' history, and best.safetensors at the lowest FID.</summary>
public sealed class EvalInTrainingTests
{
    [Fact]
    public void ScoresGDuringTrainingAndKeepsTheBestCheckpoint()
    {
        using var tmp = new TempFolder();
        string outDir = tmp.File("run");
        var config = CliTestSupport.For("mlp", "bce", 6, "mnist", 32) with { EvalEvery = 2, EvalSamples = 200, CheckpointEvery = 100, Keep = 1, LogEvery = 1 };
        var run = CliTestSupport.Train(config, outDir);

        var evals = run.History.Points.Where(p => float.IsFinite(p[TrainingEval.Fid])).ToList();
        Assert.Equal([2L, 4, 6], evals.Select(p => p.Step));
        Assert.All(evals, p => Assert.InRange(p[TrainingEval.Covered], 0, 10));
        Assert.All(evals, p => Assert.True(p[TrainingEval.Fid] > 0 && float.IsFinite(p[TrainingEval.Kid])));
        Assert.All(evals, p => Assert.True(float.IsFinite(p["Loss_D"])));      // merged with the step's own statistics

        var store = new CheckpointStore(Path.Combine(outDir, "checkpoints"));
        var best = evals.MinBy(p => p[TrainingEval.Fid])!.Step;
        string? bestFile = store.BestFile();
        Assert.NotNull(bestFile);
        Assert.Equal(best, Checkpoint.Load(bestFile).Step);                  // kept though --keep 1
        Assert.True(File.Exists(store.LatestFile()));
        // The checkpoint holds its own step's figures (the evaluation ran before it was written).
        Assert.Equal(evals.First(p => p.Step == best)[TrainingEval.Fid], Checkpoint.Load(bestFile).History.Points.Last()[TrainingEval.Fid]);

        string html = File.ReadAllText(Path.Combine(outDir, Report.FileName));
        Assert.Contains("FID (shipped classifier, lower is better)", html);
        Assert.Contains("Classes covered", html);
    }

    [Fact]
    public void ModelsTheClassifierCannotReadAreRefused()
    {
        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, "train", "--model", "dcgan64", "--data", "fake", "--eval-every", "10", "--out", tmp.File("x"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--eval-every scores 28x28 grey digits", r.Err);
        Assert.False(Directory.Exists(tmp.File("x")));
        var few = CliTestSupport.Run(tmp.Path, "train", "--model", "mlp", "--eval-every", "10", "--eval-samples", "50", "--out", tmp.File("y"));
        Assert.Equal(1, few.ExitCode);
        Assert.Contains("--eval-samples must be at least 129", few.Err);
    }
}
