using EmbeddedPipeline;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.OpenCL;
using IlgpuGan.Embedding;
using IlgpuGan.Recipes;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Embedding;

/// <summary>
/// The embedding sample (samples/EmbeddedPipeline) run briefly in its own ILGPU context: on the CPU
/// accelerator in the main lane, on OpenCL (PoCL) in the OpenCL lane. The host's buffers keep their
/// addresses, IlgpuGan trains on them in place and generates into them, G reads the host's latents
/// where they are, later Generate calls allocate nothing, and after IlgpuGan is disposed the host's
/// accelerator and buffers still work.
/// </summary>
[Collection("devices")]
[Trait("Category", Backends.Category)]
public sealed class EmbeddedPipelineTests
{
    public static TheoryData<string> HostBackends()
    {
        var data = new TheoryData<string>();
        foreach (var n in Backends.Names) if (n is "cpu" or "opencl") data.Add(n);
        return data;
    }

    [Theory, MemberData(nameof(HostBackends))]
    public void TheSamplePipelineUsesTheHostsBuffersInPlace(string backend)
    {
        Device.PrepareNativeLibraries();
        using var context = Context.Create(b =>
        {
            b.EnableAlgorithms();
            if (backend == "opencl") b.OpenCL(Device.IsUsableOpenCL); else b.CPU();
        });
        ILGPU.Runtime.Device hostDevice = backend == "opencl"
            ? context.Devices.OfType<CLDevice>().First(d => Device.IsUsableOpenCL(d))
            : context.GetCPUDevice(0);
        using var accelerator = hostDevice.CreateAccelerator(context);
        var report = Pipeline.Run(accelerator, new PipelineOptions { Steps = 3, Images = 256, PerClass = 2, Batch = 32 });

        Assert.Equal(report.BufferAddressesBefore, report.BufferAddressesAfter);        // never reallocated
        Assert.True(report.BatchesWereHostMemory, "a real batch was not a view of the host's buffers");
        Assert.True(report.ReadLatentsInPlace, "G did not read the latents where the host changed them");
        Assert.Equal(0, report.AllocationsPerLaterCall);
        Assert.True(report.HostUsableAfterDispose, "the host's kernel gave other figures after IlgpuGan was disposed");
        Assert.Equal(20, report.SampleMeans.Length);
        Assert.All(report.SampleMeans, m => Assert.True(float.IsFinite(m) && m is >= -1f and <= 1f, $"mean {m}"));
        Assert.All(report.FirstLosses.Concat(report.LastLosses), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void TrainedGeneratorChecksItsInputsInOneLine()
    {
        using var device = Device.Create(AcceleratorKind.Cpu, seed: 3);
        using var tmp = new TempFolder();
        string path = Path.Combine(tmp.Path, "g.safetensors");
        using (var recipe = GanRecipe.Create(device, ModelRegistry.CganMlp, ModelRegistry.CganMlp.DefaultsFor(Objective.Bce).Options, 4))
            CheckpointFile.Save(path, recipe, new Dictionary<string, string> { ["model"] = "cgan-mlp" });
        using var g = TrainedGenerator.Load(path, device);
        Assert.True(g.IsConditional);
        Assert.Equal(10, g.Classes);
        using var z = device.Persistent(new Shape(2, g.LatentSize), 0.5f);
        using var output = device.Persistent(new Shape(2, g.SampleSize));
        var e = Assert.Throws<ArgumentException>(() => g.Generate(z.View, [3, 10], output.View));
        Assert.Contains("label 10 (at 1) is outside [0, 10)", e.Message);
        Assert.Throws<ArgumentException>(() => g.Generate(z.View, [-1, 2], output.View));
        Assert.Throws<ArgumentException>(() => g.Generate(z.View, output.View));              // no labels for a conditional G
        g.Generate(z.View, [3, 7], output.View);
        Assert.All(output.ToArray(), v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(7, g.LabelOf("7"));
        Assert.Throws<ArgumentException>(() => g.LabelOf("cat"));
    }
}
