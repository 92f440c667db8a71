using IlgpuGan.Cli.Runs;

namespace IlgpuGan.Tests.Cli;

/// <summary>A run stopped at a checkpoint and resumed computes exactly what an uninterrupted run computes.</summary>
public sealed class ResumeTests
{
    public static TheoryData<string, string, int, int, long, long> Cases => new()
    {
        // model, data, batch, d-steps, stop at, steps: the toy on fake data crosses epochs (1024 samples = 16 batches of 64)
        { "toy", "fake", 64, 2, 13, 24 },
        { "toy", "curves", 64, 1, 5, 12 },
        { "mlp", "mnist", 64, 1, 3, 6 },
        { "dcgan28", "mnist", 8, 1, 2, 4 },
    };

    public static TheoryData<string, string, string, int, long, long> ObjectiveCases => new()
    {
        // model, loss, data, batch, stop at, steps (with the loss's defaults: wgan's original schedule, RMSProp state, the penalty)
        { "toy", "wgan", "fake", 16, 2, 4 },
        { "toy", "wgan-gp", "curves", 32, 3, 6 },
        { "toy", "hinge", "curves", 32, 3, 6 },
        { "toy", "lsgan", "curves", 32, 3, 6 },
        { "dcgan28", "wgan-gp", "mnist", 4, 1, 2 },
        // the conditional models: labels from the data, the fakes' labels and dropout masks from the device's stream
        { "cgan-mlp", "bce", "mnist", 16, 3, 6 },
        { "cdcgan28", "hinge", "mnist", 8, 2, 4 },
        { "acgan28", "bce", "mnist", 8, 2, 4 },
    };

    [Theory]
    [MemberData(nameof(ObjectiveCases))]
    public void ObjectivesResumeExactly(string model, string loss, string data, int batch, long stopAt, long steps) =>
        ResumeEqualsUninterrupted(CliTestSupport.For(model, loss, steps, data, batch) with { CheckpointEvery = 1000, SampleEvery = 4, SampleCount = 4 }, stopAt, steps);

    [Theory]
    [MemberData(nameof(Cases))]
    public void LossesAfterResumeEqualAnUninterruptedRun(string model, string data, int batch, int dSteps, long stopAt, long steps)
    {
        var config = CliTestSupport.Toy(steps, data, dSteps) with
        {
            Model = model, Batch = batch, LrG = 2e-4, LrD = 2e-4, CheckpointEvery = 1000, SampleEvery = 4, SampleCount = 4,
        };
        ResumeEqualsUninterrupted(config, stopAt, steps);
    }

    [Fact]
    public void AConfigurationWithoutNewerSettingsReadsTheirDefaults()
    {
        // config.json of a run written before --eval-samples and --keep existed (a wgan run of 2026-11-23)
        var c = RunConfig.FromJson("""{"model":"dcgan28","data":"mnist","loss":"wgan","optimizer":"rmsprop","steps":4000,"batch":64,"lrG":5E-05,"lrD":5E-05,"dSteps":5,"criticSchedule":"original","clip":0.01,"seed":1,"accelerator":"cpu","sampleEvery":250,"checkpointEvery":250,"logEvery":10}""");
        Assert.Equal(2000, c.EvalSamples);
        Assert.Equal(3, c.Keep);
        Assert.Equal("wgan", c.Loss);
        Assert.Equal(4000, c.Steps);
        Assert.Equal(5e-5, c.LrG);
        // a configuration from before the recipes: BCE with Adam and a constant number of D updates
        var old = RunConfig.FromJson("""{"model":"mlp","data":"mnist","steps":10,"batch":64,"lrG":0.0002,"lrD":0.0002,"dSteps":1,"seed":1}""");
        Assert.Equal(("bce", "adam", "constant"), (old.Loss, old.Optimizer, old.CriticSchedule));
    }

    private static void ResumeEqualsUninterrupted(RunConfig config, long stopAt, long steps)
    {
        using var tmp = new TempFolder();

        var whole = CliTestSupport.Train(config, tmp.File("whole"));
        CliTestSupport.Train(config with { Steps = stopAt }, tmp.File("parts"));
        var checkpoint = CheckpointStore.LoadForResume(tmp.File("parts"));
        Assert.Equal(stopAt, checkpoint.Step);
        var resumed = CliTestSupport.Train(config, tmp.File("parts"), checkpoint);

        var expected = whole.History.Points;
        var actual = resumed.History.Points;
        Assert.Equal(steps, expected.Count);
        Assert.Equal(expected.Select(p => p.Step), actual.Select(p => p.Step));
        for (int i = (int)stopAt; i < steps; i++)
            Assert.True(expected[i] == actual[i], $"step {expected[i].Step}: uninterrupted {expected[i]}, resumed {actual[i]}");

        // The final weights, optimizer state and data position agree too.
        var a = Checkpoint.Load(new CheckpointStore(tmp.File("whole/checkpoints")).LatestFile()!);
        var b = Checkpoint.Load(new CheckpointStore(tmp.File("parts/checkpoints")).LatestFile()!);
        Assert.Equal(a.Contents.Tensors.Keys.Order(), b.Contents.Tensors.Keys.Order());
        foreach (var (name, t) in a.Contents.Tensors)
            Assert.True(t.Data.AsSpan().SequenceEqual(b.Contents.Tensors[name].Data), $"{name} differs");
        Assert.Equal((a.RngSeed, a.RngOffset, a.LoaderEpoch, a.LoaderBatch, a.Contents.OptimizerSteps("G")), (b.RngSeed, b.RngOffset, b.LoaderEpoch, b.LoaderBatch, b.Contents.OptimizerSteps("G")));
        Assert.Equal(a.Contents.RecipeState, b.Contents.RecipeState);
    }
}
