// The 1-D GAN: G learns to paint curves a*x^2 + (a-1), a ~ U(1, 2), from 5 random ideas.
// Usage: dotnet run -c Release --project samples/ToyCurves -- [--steps N] [--accelerator cpu|opencl|cuda] [--out DIR]
using IlgpuGan;
using IlgpuGan.Imaging;
using IlgpuGan.Models;
using IlgpuGan.Recipes;

var opts = Args.Parse(args);
int steps = opts.Int("steps", 3000), batch = 64;
string outDir = opts.Get("out", null) ?? Path.Combine("out", "toy-curves");

using var device = Device.Create(Device.ParseKind(opts.Get("accelerator", null)), seed: 1);
Console.WriteLine($"device: {device}");
// G: z (N, 5) -> (N, 128) -> curve (N, 15); D: curve (N, 15) -> (N, 128) -> logit (N, 1); Adam 1e-3, betas (0.5, 0.999).
using var trainer = GanRecipe.Create(device, ModelRegistry.Toy, ModelRegistry.Toy.DefaultsFor(Objective.Bce).Options, batch);
using var real = device.Persistent(new Shape(batch, ToyCurves.Points));
var random = new Random(1);
var paintings = new float[batch * ToyCurves.Points];
using var fixedNoise = device.Persistent(new Shape(batch, ToyCurves.Ideas));
device.Kernels.Normal(fixedNoise.View, device.Random.Next(fixedNoise.Length), 0, 1);

var clock = System.Diagnostics.Stopwatch.StartNew();
for (int step = 1; step <= steps; step++)
{
    trainer.TrainStep(() => { ToyCurves.Paintings(paintings, random); real.CopyFrom(paintings); return real; });
    if (step % 500 == 0 || step == steps)
        Console.WriteLine($"{trainer.ReadStats()}  in bounds {ToyCurves.ShareInBounds(trainer.Sample(fixedNoise)):P0}  ({clock.Elapsed.TotalSeconds:F1} s)");
}

// Plot a few generated curves (blue) against the bounds x^2 and 2x^2 + 1 (red).
float[] curves = trainer.Sample(fixedNoise);
var plot = new LinePlot().SetXRange(-1, 1).SetYRange(-0.5f, 3.5f);
plot.AddSeries(ToyCurves.X, ToyCurves.X.Select(ToyCurves.Upper).ToArray(), (214, 39, 40), 2);
plot.AddSeries(ToyCurves.X, ToyCurves.X.Select(ToyCurves.Lower).ToArray(), (214, 39, 40), 2);
for (int i = 0; i < 8; i++) plot.AddSeries(ToyCurves.X, curves.AsSpan(i * ToyCurves.Points, ToyCurves.Points).ToArray(), (31, 119, 180), 1);
string path = Path.Combine(outDir, "curves.png");
plot.SavePng(path);
Console.WriteLine($"wrote {path}");
