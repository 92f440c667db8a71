using IlgpuGan.Models;
using IlgpuGan.Recipes;

namespace IlgpuGan.Tests.Training;

/// <summary>The objectives of <see cref="GanRecipe"/>: their statistics, WGAN's clipping and critic schedule,
/// WGAN-GP's penalty, and the combinations a model cannot train.</summary>
public sealed class RecipeTests
{
    private static GanRecipe Toy(Device device, Objective loss, int batch = 16, Func<TrainingOptions, TrainingOptions>? change = null)
    {
        var o = ModelRegistry.Toy.DefaultsFor(loss).Options;
        return GanRecipe.Create(device, ModelRegistry.Toy, change?.Invoke(o) ?? o, batch);
    }

    [Theory]
    [InlineData(Objective.Bce, "Loss_D Loss_G D(x) D(G(z)) D(G(z))_after")]
    [InlineData(Objective.Wgan, "Loss_D Loss_G W D(x) D(G(z))")]
    [InlineData(Objective.WganGp, "Loss_D Loss_G W GP GradNorm")]
    [InlineData(Objective.Hinge, "Loss_D Loss_G D(x) D(G(z))")]
    [InlineData(Objective.Lsgan, "Loss_D Loss_G D(x) D(G(z))")]
    public void EachObjectiveTrainsAndReportsItsStatistics(Objective loss, string names)
    {
        using var device = Device.Create(AcceleratorKind.Cpu, seed: 2);
        using var recipe = Toy(device, loss, change: o => o with { Schedule = CriticSchedule.Constant });
        using var real = device.Persistent(new Shape(16, ToyCurves.Points));
        device.Kernels.Uniform(real.View, device.Random.Next(real.Length), 0, 2);
        for (int i = 0; i < 3; i++) recipe.TrainStep(() => real);
        var s = recipe.ReadStats();
        Assert.Equal(names.Split(' '), s.Names);
        Assert.Equal(3, s.Step);
        Assert.Equal(["G", "D"], recipe.Parts.Select(p => p.Name));
        switch (loss)
        {
            case Objective.Wgan:
                Assert.Equal(-s["Loss_D"], s["W"], 1e-6f);
                Assert.Equal(s["D(x)"] - s["D(G(z))"], s["W"], 1e-6f);
                break;
            case Objective.WganGp:
                Assert.True(s["GP"] >= 0);
                Assert.True(s["GradNorm"] > 0);
                Assert.Equal(-s["W"] + s["GP"], s["Loss_D"], 1e-5f);
                break;
            case Objective.Hinge or Objective.Lsgan:
                Assert.True(s["Loss_D"] >= 0);
                break;
        }
    }

    [Fact]
    public void WganClampsEveryCriticWeightAfterEachUpdate()
    {
        using var device = Device.Create(AcceleratorKind.Cpu, seed: 3);
        using var recipe = Toy(device, Objective.Wgan, change: o => o with { Schedule = CriticSchedule.Constant, Clip = 0.005f });
        Assert.Contains(recipe.D.Module.Parameters().SelectMany(p => p.ToArray()), v => Math.Abs(v) > 0.005f);   // N(0, 0.02) at start
        Assert.IsType<Optim.RmsProp>(recipe.D.Optimizer);
        using var real = device.Persistent(new Shape(16, ToyCurves.Points), 1f);
        recipe.TrainStep(() => real);
        Assert.All(recipe.D.Module.Parameters().SelectMany(p => p.ToArray()), v => Assert.InRange(v, -0.005f, 0.005f));
        Assert.Contains(recipe.G.Module.Parameters().SelectMany(p => p.ToArray()), v => Math.Abs(v) > 0.005f);  // G is not clipped
    }

    [Fact]
    public void TheOriginalCriticScheduleTakes100UpdatesForTheFirst25GUpdatesAndEvery500th()
    {
        using var device = Device.Create(AcceleratorKind.Cpu, seed: 4);
        using var recipe = Toy(device, Objective.Wgan, batch: 4);
        Assert.Equal(CriticSchedule.Original, recipe.Options.Schedule);
        using var real = device.Persistent(new Shape(4, ToyCurves.Points), 1f);
        int batches = 0;
        Tensor Next() { batches++; return real; }
        recipe.TrainStep(Next);
        Assert.Equal(100, batches);
        recipe.LoadState(new Dictionary<string, string> { ["generator_updates"] = "25" });
        Assert.Equal(5, recipe.CriticUpdates);
        recipe.LoadState(new Dictionary<string, string> { ["generator_updates"] = "500" });
        Assert.Equal(100, recipe.CriticUpdates);
        recipe.LoadState(new Dictionary<string, string> { ["generator_updates"] = "501" });
        batches = 0;
        recipe.TrainStep(Next);
        Assert.Equal(5, batches);
        Assert.Equal("502", recipe.SaveState().Single(kv => kv.Key == "generator_updates").Value);
    }

    /// <summary>The penalty reaches the critic's weights: the same step with lambda 10 and with a tiny lambda
    /// gives different weight gradients (a penalty computed on a graph that was not kept would change nothing).</summary>
    [Fact]
    public void TheGradientPenaltyChangesTheCriticsUpdate()
    {
        // (Adam's first update is about lr * sign(gradient), so the gradients are compared, not the weights.)
        float[] CriticGradient(float lambda)
        {
            using var device = Device.Create(AcceleratorKind.Cpu, seed: 5);
            using var recipe = Toy(device, Objective.WganGp, change: o => o with { GpLambda = lambda, NCritic = 1 });
            using var real = device.Persistent(new Shape(16, ToyCurves.Points), 1f);
            recipe.TrainStep(() => real);
            return recipe.D.Module.Parameters().SelectMany(p => p.Grad!.ToArray()).ToArray();
        }
        float[] a = CriticGradient(10), b = CriticGradient(1e-6f);
        Assert.Equal(a.Length, b.Length);
        double diff = Math.Sqrt(a.Zip(b).Sum(x => (double)(x.First - x.Second) * (x.First - x.Second)));
        double norm = Math.Sqrt(b.Sum(x => (double)x * x));
        Assert.True(diff > 0.05 * norm, $"the penalty changed the critic's gradient by {diff:G3} (its norm without: {norm:G3})");
    }

    [Fact]
    public void ABatchNormCriticUnderWganGpIsRefusedInOneLineNamingTheLayerAndTheAlternative()
    {
        using var device = Device.Create(AcceleratorKind.Cpu, seed: 6);
        var e = Assert.Throws<ArgumentException>(() =>
            GanRecipe.Create(device, ModelRegistry.Dcgan64, ModelRegistry.Dcgan64.DefaultsFor(Objective.WganGp).Options, 4));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("D.3 is a BatchNorm2d", e.Message);
        Assert.Contains("--loss wgan", e.Message);
        Assert.Contains("dcgan28", e.Message);
        // dcgan28 trains under wgan-gp with W-WGANGP28's critic: LayerNorm where D has BatchNorm.
        using var ok = GanRecipe.Create(device, ModelRegistry.Dcgan28, ModelRegistry.Dcgan28.DefaultsFor(Objective.WganGp).Options, 4);
        Assert.IsType<Nn.LayerNorm>(((Nn.Sequential)ok.D.Module).Modules[3]);
        Assert.Contains(ok.D.Module.NamedParameters(), p => p.Name == "3.weight" && p.Tensor.Shape == new Shape(128, 7, 7));
    }

    /// <summary>--lr-decay-from: the rates hold until the step named, then fall linearly to 0 at the last step; the
    /// schedule is a function of the step count alone, so a resumed run takes the same rates.</summary>
    [Fact]
    public void TheLearningRatesFallLinearlyFromTheDecayStepToTheLast()
    {
        var o = new TrainingOptions { LrDecayFrom = 2, LrDecayTo = 6 };
        Assert.Equal([1, 1, 1, 0.75, 0.5, 0.25, 0], Enumerable.Range(0, 7).Select(k => o.LrFactor(k)));
        Assert.Equal(1, new TrainingOptions().LrFactor(1_000_000));

        using var device = Device.Create(AcceleratorKind.Cpu, seed: 3);
        using var constant = Toy(device, Objective.Bce);
        using var decaying = Toy(device, Objective.Bce, change: x => x with { LrDecayFrom = 2, LrDecayTo = 6 });
        using var real = device.Persistent(new Shape(16, ToyCurves.Points), 0.5f);
        for (int k = 0; k < 5; k++)
        {
            decaying.TrainStep(() => real);
            Assert.Equal(decaying.Options.LrG * decaying.Options.LrFactor(k), decaying.G.Optimizer.LearningRate, 12);
            Assert.Equal(decaying.Options.LrD * decaying.Options.LrFactor(k), decaying.D.Optimizer.LearningRate, 12);
        }
        constant.TrainStep(() => real);
        Assert.Equal(constant.Options.LrG, constant.G.Optimizer.LearningRate);

        var bce = ModelRegistry.Mlp.DefaultsFor(Objective.Bce).Options;
        Assert.Contains("--lr-decay-from 10 must be below the run's last step (10)", GanRecipe.Validate(bce with { LrDecayFrom = 10, LrDecayTo = 10 }));
    }

    [Fact]
    public void OptionsTheObjectiveDoesNotTakeAreRefused()
    {
        var bce = ModelRegistry.Mlp.DefaultsFor(Objective.Bce).Options;
        Assert.Contains("--gp-lambda applies to --loss wgan-gp only", GanRecipe.Validate(bce with { GpLambda = 10 }));
        Assert.Contains("Unknown optimizer 'sgd'", GanRecipe.Validate(bce with { Optimizer = "sgd" }));
        Assert.Null(GanRecipe.Validate(bce with { Optimizer = "rmsprop", Clip = 0.01f }));
        Assert.Throws<ArgumentException>(() => Objectives.Parse("wasserstein"));
    }

    [Fact]
    public void TheRegistryGivesThePapersDefaults()
    {
        var wgan = ModelRegistry.Dcgan28.DefaultsFor(Objective.Wgan).Options;
        Assert.Equal(("rmsprop", 5e-5, 0.01f, 5, CriticSchedule.Original), (wgan.Optimizer, wgan.LrD, wgan.Clip, wgan.NCritic, wgan.Schedule));
        Assert.Equal(10_000L, ModelRegistry.Dcgan28.DefaultsFor(Objective.Wgan).Steps);   // measured: see the README's Objectives
        var gp28 = ModelRegistry.Dcgan28.DefaultsFor(Objective.WganGp).Options;
        Assert.Equal(("adam", 1e-4, 0.5, 0.9, 10f, 5), (gp28.Optimizer, gp28.LrG, gp28.Beta1, gp28.Beta2, gp28.GpLambda, gp28.NCritic));
        var gp64 = ModelRegistry.Dcgan64.DefaultsFor(Objective.WganGp).Options;
        Assert.Equal((0.0, 0.9), (gp64.Beta1, gp64.Beta2));
        var bce = ModelRegistry.Mlp.DefaultsFor(Objective.Bce);
        Assert.Equal((6000L, 2e-4, 0.5, 0.999, 1), (bce.Steps, bce.Options.LrG, bce.Options.Beta1, bce.Options.Beta2, bce.Options.NCritic));
        Assert.Equal(["toy", "grid25", "mlp", "dcgan28", "stacked28", "dcgan64", "cgan-mlp", "cdcgan28", "acgan28"], ModelRegistry.Names);
        // The conditional models: 10 classes (MNIST's digits) and their objectives.
        Assert.Equal([false, false, false, false, false, false, true, true, true], ModelRegistry.All.Select(m => m.IsConditional));
        Assert.Equal(Objective.Hinge, ModelRegistry.Cdcgan28.DefaultLoss);
        var cgan = ModelRegistry.CganMlp.DefaultsFor(Objective.Bce);
        Assert.Equal((12000L, true), (cgan.Steps, cgan.DecayLastHalf));
        Assert.False(ModelRegistry.Mlp.DefaultsFor(Objective.Bce).DecayLastHalf);
        Assert.Equal((Objective.Bce, Objective.Bce, 10), (ModelRegistry.CganMlp.DefaultLoss, ModelRegistry.Acgan28.DefaultLoss, ModelRegistry.Acgan28.Classes));
    }
}
