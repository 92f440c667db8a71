using IlgpuGan.Recipes;
using System.Diagnostics;
using IlgpuGan.Data;
using IlgpuGan.Imaging;
using IlgpuGan.Training;
using StbImageSharp;

namespace IlgpuGan.Tests.Training;

/// <summary>samples/Dcgan64's path end to end, small: fake 64x64 RGB images through BatchLoader.FromImages
/// into a W-DCGAN64 step, then a fixed-noise grid written as a PNG.</summary>
public sealed class Dcgan64DryRunTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void OneStepOnFakeImagesGivesFiniteLossesAndAGrid()
    {
        const int batch = 4, grid = 4;
        var clock = Stopwatch.StartNew();
        ImageFolderDataset images = ImageFolderDataset.Fake(8, 3, 64, seed: 1);
        var loader = BatchLoader.FromImages(images, batch, seed: 1);
        using var device = Device.Create(AcceleratorKind.Cpu, seed: 1);
        using var run = GanWorkload.Dcgan64.Create(device, batch);
        using var fixedNoise = device.Persistent(ModelRegistry.Dcgan64.LatentShape(grid, ModelRegistry.LatentSize));
        device.Kernels.Normal(fixedNoise.View, device.Random.Next(fixedNoise.Length), 0, 1);
        using var real = device.Persistent(new Shape(batch, 3, 64, 64));
        var host = new float[batch * 3 * 64 * 64];

        run.TrainStep(() =>
        {
            Assert.True(loader.Next(host));
            real.CopyFrom(host);
            return real;
        });
        StepStats s = run.ReadStats();
        float[] fakes = run.Sample(fixedNoise);
        string path = Path.Combine(_temp.Path, "dcgan64", "step_00001.png");
        ImageGrid.SavePng(path, fakes, grid, 3, 64, 64);

        Assert.Equal(1, s.Step);
        Assert.True(float.IsFinite(s["Loss_D"]) && float.IsFinite(s["Loss_G"]), s.Text());
        Assert.True(s["Loss_D"] > 0 && s["Loss_G"] > 0);
        Assert.InRange(s["D(x)"], 0f, 1f);
        Assert.InRange(s["D(G(z))"], 0f, 1f);
        Assert.Equal(grid * 3 * 64 * 64, fakes.Length);
        Assert.All(fakes, v => Assert.InRange(v, -1f, 1f));   // tanh
        ImageResult png = ImageResult.FromMemory(File.ReadAllBytes(path), ColorComponents.RedGreenBlue);
        Assert.Equal(4 * 66 + 2, png.Width);                  // 4 images in a row, 2 px padding
        Assert.Equal(66 + 2, png.Height);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"one batch-4 W-DCGAN64 step took {clock.Elapsed}");
    }
}
