using System.Text.RegularExpressions;
using IlgpuGan.Cli;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Recipes;

namespace IlgpuGan.Tests.Cli;

/// <summary>Runs that explode without a NaN (issue 16, finding 4): the guard, the last good checkpoint, compact numbers.</summary>
public sealed class DivergenceTests
{
    private static StepStats Stats(long step, params (string Name, float Value)[] values) =>
        new(step, values.Select(v => v.Name).ToArray(), values.Select(v => v.Value).ToArray());

    private static PartNorms[] Norms(double rms = 0.05, double? grad = 1.0) =>
        [new("G", "G.0.weight", rms, grad), new("D", "D.0.weight", rms, grad)];

    [Fact]
    public void NumbersArePrintedCompactly()
    {
        Assert.Equal("5.1e+21", Numbers.Compact(5.1e21));
        Assert.Equal("-3e+35", Numbers.Compact(-3e35));
        Assert.Equal("0.6931", Numbers.Compact(0.693147));
        Assert.Equal("1.23e-05", Numbers.Compact(1.234e-5));
        Assert.Equal("0.0000", Numbers.Compact(0));
        Assert.Equal("Loss_D 1.3863  Loss_G 5.1e+21", Stats(1, ("Loss_D", 1.3863f), ("Loss_G", 5.1e21f)).Text());
    }

    [Theory]
    [InlineData(Objective.Bce, "Loss_G", 999f, false)]
    [InlineData(Objective.Bce, "Loss_G", 1001f, true)]
    [InlineData(Objective.Bce, "D(x)", 1f, false)]                // probabilities: never beyond a bound
    [InlineData(Objective.Lsgan, "D(x)", 150f, true)]
    [InlineData(Objective.Lsgan, "Loss_D", 5000f, false)]
    [InlineData(Objective.Hinge, "D(G(z))", -2e4f, true)]
    [InlineData(Objective.Wgan, "W", 50f, false)]
    [InlineData(Objective.WganGp, "GP", 5e4f, false)]
    [InlineData(Objective.WganGp, "Loss_D", 2e5f, true)]
    [InlineData(Objective.WganGp, "GradNorm", 2e3f, true)]
    public void StatisticsHaveBoundsPerObjective(Objective o, string name, float value, bool exploding)
    {
        var guard = new DivergenceGuard(o);
        var news = guard.Observe(Stats(10, (name, value)), Norms());
        Assert.Equal(exploding, !guard.ValuesSane);
        Assert.Equal(exploding ? 1 : 0, news.Count);
        if (exploding) Assert.Contains($"step 10: {name} is", news[0].Message);
    }

    [Fact]
    public void WeightsBeyondBoundsAndGradientSpikesAreFoundAndWarnedAboutOnce()
    {
        var guard = new DivergenceGuard(Objective.Bce);
        for (int i = 1; i <= 6; i++) Assert.Empty(guard.Observe(Stats(i * 10, ("Loss_G", 0.7f)), Norms(grad: 1 + 0.1 * i)));
        var spike = guard.Observe(Stats(70, ("Loss_G", 0.7f)), Norms(grad: 5e3));
        Assert.Equal(2, spike.Count);                                   // G's and D's
        Assert.Contains("G's gradient norm is 5000.0000, 3.57e+03 times its median (1.4000)", spike[0].Message);
        Assert.True(guard.ValuesSane);                                  // a spike is a warning sign, not insane values
        Assert.Empty(guard.Observe(Stats(80, ("Loss_G", 0.7f)), Norms(grad: 5e6)));   // still spiking: not warned again

        var weights = guard.Observe(Stats(90, ("Loss_G", 0.7f)), Norms(rms: 3e35, grad: 1.2));
        Assert.Equal(2, weights.Count);
        Assert.Contains("step 90: G's weights exploded: G.0.weight has a root-mean-square of 3e+35, beyond 1e+03", weights[0].Message);
        Assert.False(guard.ValuesSane);
        Assert.Equal(90, guard.FirstInsaneStep);
        guard.Observe(Stats(100, ("Loss_G", 0.7f)), Norms());
        Assert.True(guard.ValuesSane);
    }

    [Fact]
    public void BcesDOutputsPinnedAtZeroOrOneForLongAreFound()
    {
        var guard = new DivergenceGuard(Objective.Bce, DivergenceBounds.For(Objective.Bce) with { PinnedSteps = 100 });
        Assert.Empty(guard.Observe(Stats(10, ("D(x)", 0.9995f), ("D(G(z))", 0.3f)), Norms()));
        Assert.Empty(guard.Observe(Stats(60, ("D(x)", 0.9999f), ("D(G(z))", 0.3f)), Norms()));
        var pinned = guard.Observe(Stats(110, ("D(x)", 0.99999f), ("D(G(z))", 0.3f)), Norms());
        Assert.Equal("step 110: D(x) has stayed within 0.001 of 1 since step 10: D is saturated and G learns little", Assert.Single(pinned).Message);
        Assert.True(guard.ValuesSane);
        guard.Observe(Stats(120, ("D(x)", 0.8f), ("D(G(z))", 0.3f)), Norms());        // released: the clock starts again
        Assert.Empty(guard.Observe(Stats(200, ("D(x)", 1f), ("D(G(z))", 0.3f)), Norms()));
        // Under the other objectives D's outputs are scores: 1 is nothing special.
        var hinge = new DivergenceGuard(Objective.Hinge, DivergenceBounds.For(Objective.Hinge) with { PinnedSteps = 10 });
        Assert.Empty(hinge.Observe(Stats(10, ("D(x)", 1f)), Norms()));
        Assert.Empty(hinge.Observe(Stats(100, ("D(x)", 1f)), Norms()));
    }

    [Fact]
    public void TheNormProbeMeasuresEachPartOnTheDevice()
    {
        using var device = Device.Create(AcceleratorKind.Cpu, 3);
        var model = ModelRegistry.Toy;
        using var recipe = GanRecipe.Create(device, model, model.DefaultsFor(Objective.Bce).Options, 8);
        using var probe = new NormProbe(recipe);
        var before = probe.Measure();
        Assert.Equal(["G", "D"], before.Select(n => n.Part));
        Assert.All(before, n => Assert.Null(n.GradNorm));
        var w = recipe.G.Module.NamedParameters().First();
        float[] values = w.Tensor.ToArray();
        double rms = Math.Sqrt(values.Sum(v => (double)v * v) / values.Length);
        Assert.True(before[0].WorstRms >= rms - 1e-6);
        w.Tensor.CopyFrom(Enumerable.Repeat(2e4f, values.Length).ToArray());
        var after = probe.Measure();
        Assert.Equal("G." + w.Name, after[0].WorstTensor);
        Assert.Equal(2e4, after[0].WorstRms, 1);
    }

    /// <summary>A sane run that explodes after a resume at a learning rate of 1e3: the warnings, exit code 3 at the
    /// end, the checkpoint of sane values kept as last-good (and spared by --keep), exploded ones not.</summary>
    [Fact]
    public void ARunThatExplodesKeepsItsLastGoodCheckpointAndExitsWith3()
    {
        using var tmp = new TempFolder();
        var config = CliTestSupport.Toy(20) with { CheckpointEvery = 10, Keep = 2, LogEvery = 5 };
        CliTestSupport.Train(config, tmp.Path);
        var store = new CheckpointStore(Path.Combine(tmp.Path, "checkpoints"));
        Assert.Equal(Path.Combine(store.Folder, CheckpointStore.FileName(20)), store.LastGoodFile());

        var log = new StringWriter();
        var resumed = new TrainRun
        {
            Config = config with { Steps = 50, LrG = 1e3, LrD = 1e3 }, OutFolder = tmp.Path, ResumeFrom = CheckpointStore.LoadForResume(tmp.Path),
            Progress = new PlainProgress(log, 10), Log = log,
        };
        var e = Assert.Throws<CliException>(() => resumed.Execute());
        Assert.Equal(ExitCodes.Diverged, e.ExitCode);
        string good = Path.Combine(store.Folder, CheckpointStore.FileName(20));
        Assert.Matches(@"^Training ran to step 50, but its values exploded \(first at step 25; now step 50: .*\)\. The last good checkpoint \(sane values\) is " + Regex.Escape(good), e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(good, store.LastGoodFile());
        Assert.Equal([50, 40, 20], store.List().Select(c => c.Step));            // keep 2, and the last good one
        Assert.Contains("step 30: checkpoint checkpoints/step-00000030.safetensors (exploded values: not the last good one)", log.ToString());
        Assert.Matches(@"warning: step 25: .* beyond .* \(--stop-on-divergence stops a run here\)", log.ToString());
        // no 28-digit numbers (the temporary folder's name is a GUID, which may hold 12 digits in a row: it is left out)
        Assert.DoesNotMatch(@"\d{12}", log.ToString().Replace(tmp.Path, "TMP"));
        Assert.Contains("Warnings", File.ReadAllText(Path.Combine(tmp.Path, Report.FileName)));
    }

    public static TheoryData<string[], string> ToolCases => new()
    {
        { ["--lr", "1e3", "--steps", "40"], "Training ran to step 40, but its values exploded (first at step 10; now step 40: " },
        { ["--lr", "1e3", "--steps", "40", "--stop-on-divergence"], "Training stopped at step 10 (--stop-on-divergence): step 10: " },
    };

    [Theory]
    [MemberData(nameof(ToolCases))]
    public void TheToolWarnsOrStopsAndExitsWith3(string[] args, string expected)
    {
        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, ["train", "--model", "toy", "--out", "run", "--checkpoint-every", "20", "--progress", "plain", .. args]);
        string line = ToolStressTests.AssertOneLineError(r, ExitCodes.Diverged, expected);
        bool stopped = args.Contains("--stop-on-divergence");
        Assert.Contains(stopped ? "No checkpoint had been written." : "No checkpoint with sane values was written", line);
        Assert.Contains("warning: step 10: Loss_G is ", r.Out);
        Assert.DoesNotMatch(@"\d{12}", (r.Out + r.Err).Replace(tmp.Path, "TMP"));   // the folder's GUID name may hold 12 digits
        Assert.Equal(!stopped, File.Exists(tmp.File("run/checkpoints/step-00000020.safetensors")));
        Assert.False(File.Exists(tmp.File("run/checkpoints/last-good.safetensors")));
    }
}
