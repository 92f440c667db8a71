using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Runtime;

[Collection("devices")]
[Trait("Category", Backends.Category)]
public sealed class BackendTests
{
    /// <summary>A backend that ILGPUGAN_BACKENDS asks for must be usable: CI's OpenCL lane must
    /// not pass by running no OpenCL test at all.</summary>
    [Fact]
    public void RequestedBackendsArePresent()
    {
        var requested = Backends.Requested;
        if (requested is null) return;
        var missing = requested.Where(r => !Backends.Present.Contains(r)).ToList();
        Assert.True(missing.Count == 0,
            $"{Backends.Variable} asks for {string.Join(", ", missing)}, not usable here; present: {string.Join(", ", Backends.Present)}");
    }

    /// <summary>Inside .ci/with-pocl the root has libOpenCL.so.1 and no libOpenCL.so: finding
    /// PoCL there proves the runtime's resolver for the versioned name.</summary>
    [Fact]
    public void PoclIsFoundInsideThePoclRoot()
    {
        if (Environment.GetEnvironmentVariable("ILGPUGAN_IN_POCL") != "1") return;
        Assert.False(File.Exists("/usr/lib/x86_64-linux-gnu/libOpenCL.so"), "the root should have no unversioned libOpenCL.so");
        Assert.Contains("opencl", Backends.Present);
        using var d = Device.Create(AcceleratorKind.OpenCL);
        Assert.Equal(IlgpuGan.Kernels.KernelVariant.ClCpu, d.Kernels.Variant);
    }
}
