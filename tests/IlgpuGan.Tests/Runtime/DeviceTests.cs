using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Runtime;

[Collection("devices")]
public sealed class DeviceTests
{
    [Fact]
    public void AMissingForcedAcceleratorNamesWhatWasFound()
    {
        if (Backends.Names.Contains("cuda")) return;     // this check needs a machine without CUDA
        var e = Assert.Throws<InvalidOperationException>(() => Device.Create(AcceleratorKind.Cuda));
        Assert.Contains("cuda accelerator was asked for", e.Message);
        Assert.Contains("cpu (", e.Message);
    }

    [Theory]
    [InlineData("CPU", AcceleratorKind.Cpu)]
    [InlineData("opencl", AcceleratorKind.OpenCL)]
    [InlineData(" cuda ", AcceleratorKind.Cuda)]
    [InlineData("", AcceleratorKind.Auto)]
    public void AcceleratorNamesParse(string text, AcceleratorKind kind) => Assert.Equal(kind, Device.ParseKind(text));

    [Fact]
    public void AnUnknownAcceleratorNameIsAnError() =>
        Assert.Contains("use cpu, opencl, cuda or auto", Assert.Throws<ArgumentException>(() => Device.ParseKind("tpu")).Message);

    [Fact]
    public void TheHostsOwnAcceleratorAndMemoryCanBeUsed()
    {
        using var context = Context.Create(b => b.CPU().EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        using var hostBuffer = accelerator.Allocate1D(new float[] { -2, -1, 0, 1, 2, 3 });
        using (var device = Device.FromAccelerator(accelerator))
        {
            var x = device.Wrap(hostBuffer.View, new Shape(2, 3));
            var y = Ops.Relu(x);
            device.Kernels.Copy(y.View, hostBuffer.View);       // write back into the host's buffer
            Assert.Throws<ArgumentException>(() => device.Wrap(hostBuffer.View, new Shape(4, 2)));
        }
        // The device is gone; the host's accelerator and buffer are not.
        Assert.Equal([0f, 0f, 0f, 1f, 2f, 3f], hostBuffer.GetAsArray1D());
    }

    [Theory, MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    [Trait("Category", Backends.Category)]
    public void RandomNumbersAreSeededAndTheSameOnEveryBackend(string backend)
    {
        var d = Backends.Get(backend);
        using var a = d.Persistent(new Shape(4097));
        d.Kernels.Normal(a.View, new IlgpuGan.Kernels.RandomState(42, 0), 0, 1);
        using var host = Device.Create(AcceleratorKind.Cpu);
        using var b = host.Persistent(new Shape(4097));
        host.Kernels.Normal(b.View, new IlgpuGan.Kernels.RandomState(42, 0), 0, 1);
        Compare.Close(a.ToArray(), b.ToArray(), 1e-6, "normal across backends");

        float[] n = a.ToArray();
        double mean = n.Average(), std = Math.Sqrt(n.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(mean, -0.05, 0.05);
        Assert.InRange(std, 0.95, 1.05);
        d.Kernels.Uniform(a.View, new IlgpuGan.Kernels.RandomState(7, 100), -1, 3);
        float[] u = a.ToArray();
        Assert.All(u, v => Assert.InRange(v, -1f, 3f));
        Assert.InRange(u.Average(), 0.9, 1.1);
    }
}
