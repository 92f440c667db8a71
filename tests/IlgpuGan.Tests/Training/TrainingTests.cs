using System.Diagnostics;
using IlgpuGan.Models;
using IlgpuGan.Recipes;

namespace IlgpuGan.Tests.Training;

public sealed class TrainingTests
{
    /// <summary>The toy GAN on the CPU, disposed in reverse order of creation.</summary>
    private sealed class ToyRun : IDisposable
    {
        public readonly Device Device;
        public readonly GanRecipe Trainer;

        public ToyRun(int batch, ulong seed = 0, double beta1 = 0.9, Objective loss = Objective.Bce)
        {
            Device = Device.Create(AcceleratorKind.Cpu, seed);
            Trainer = GanRecipe.Create(Device, ModelRegistry.Toy, ModelRegistry.Toy.DefaultsFor(loss).Options with { Beta1 = beta1 }, batch);
        }

        public void Dispose()
        {
            Trainer.Dispose(); Device.Dispose();
        }
    }

    [Fact]
    public void ToyGanConvergesInBoundedTime()
    {
        using var run = new ToyRun(64, seed: 1, beta1: 0.5);
        var (device, trainer) = (run.Device, run.Trainer);
        using var real = device.Persistent(new Shape(64, ToyCurves.Points));
        using var noise = device.Persistent(new Shape(256, ToyCurves.Ideas));
        device.Kernels.Normal(noise.View, device.Random.Next(noise.Length), 0, 1);
        var random = new Random(1);
        var host = new float[64 * ToyCurves.Points];

        double before = ToyCurves.ShareInBounds(trainer.Sample(noise));
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 1500; i++)
            trainer.TrainStep(() => { ToyCurves.Paintings(host, random); real.CopyFrom(host); return real; });
        var stats = trainer.ReadStats();
        double after = ToyCurves.ShareInBounds(trainer.Sample(noise));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"1500 toy steps took {clock.Elapsed}");
        Assert.True(before < 0.5, $"an untrained G already paints {before:P0} in bounds");
        Assert.True(after >= 0.85, $"after training only {after:P0} of G's points lie between x^2 and 2x^2+1");
        Assert.InRange(stats["D(x)"], 0.35f, 0.65f);      // D can no longer tell: accuracy near 0.5
        Assert.InRange(stats["D(G(z))"], 0.35f, 0.65f);
    }

    [Fact]
    public void MlpGanStepsStopAllocatingAfterWarmUp()
    {
        using var device = Device.Create(AcceleratorKind.Cpu, seed: 3);
        using var trainer = GanRecipe.Create(device, ModelRegistry.Mlp, ModelRegistry.Mlp.DefaultsFor(Objective.Bce).Options, 16);
        var (g, d) = (trainer.G.Module, trainer.D.Module);
        using var real = device.Persistent(new Shape(16, 1, 28, 28));
        device.Kernels.Uniform(real.View, device.Random.Next(real.Length), -1, 1);

        for (int i = 0; i < 3; i++) trainer.TrainStep(() => real);
        long warm = device.Pool.Allocations;
        for (int i = 0; i < 5; i++) trainer.TrainStep(() => real);
        var s = trainer.ReadStats();

        Assert.Equal(warm, device.Pool.Allocations);
        Assert.Equal(8, s.Step);
        Assert.True(float.IsFinite(s["Loss_D"]) && float.IsFinite(s["Loss_G"]));
        Assert.InRange(s["D(x)"], 0f, 1f);
        // PyTorch-style names and counts (W-MLP's G has 1,489,936 parameters; D 1,460,225).
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], g.NamedParameters().Take(4).Select(p => p.Name));
        Assert.Contains(g.NamedBuffers(), b => b.Name == "2.running_mean");
        Assert.Equal(1_489_936, g.ParameterCount());
        Assert.Equal(1_460_225, d.ParameterCount());
    }

    [Fact]
    public void NonFiniteLossStopsWithTheStepAndValue()
    {
        using var run = new ToyRun(4);
        var (device, trainer) = (run.Device, run.Trainer);
        using var real = device.Persistent(new Shape(4, ToyCurves.Points), float.NaN);
        trainer.TrainStep(() => real);
        var e = Assert.Throws<NonFiniteLossException>(() => trainer.ReadStats());
        Assert.Contains("step 1", e.Message);
        Assert.Contains("NaN", e.Message);
    }

    [Fact]
    public void WrongRealBatchShapeIsAClearError()
    {
        using var run = new ToyRun(8);
        var (device, trainer) = (run.Device, run.Trainer);
        using var wrongBatch = device.Persistent(new Shape(4, ToyCurves.Points));
        var e = Assert.Throws<ArgumentException>(() => trainer.TrainStep(() => wrongBatch));
        Assert.Contains("(4, 15)", e.Message);
        using var wrongWidth = device.Persistent(new Shape(8, 14));
        e = Assert.Throws<ArgumentException>(() => trainer.TrainStep(() => wrongWidth));
        Assert.Contains("14 features", e.Message);
    }
}
