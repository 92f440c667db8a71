using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using IlgpuGan.Conformance;
using IlgpuGan.IO;
using IlgpuGan.Kernels;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Kernels;

/// <summary>
/// The opt-in TF32 GEMM. Without a GPU: the kernel's staging, fragment indexing and epilogue on the
/// simulated GPU (CPU accelerator, warp 32) with the tensor-core instruction emulated from the PTX
/// ISA's fragment layouts (<see cref="global::IlgpuGan.Kernels.EmulatedTf32Mma"/>); the rounding;
/// and that no backend but CUDA (compute capability 8.0+) ever takes the path. On CUDA:
/// <see cref="Tf32CudaTests"/>.
/// </summary>
[Collection("devices")]
public sealed class Tf32GemmTests
{
    /// <summary>The tolerance of TF32 results against exact (FP32-input) references: relative L2
    /// error 1e-2, ~30x the ~3e-4 that TF32's rounding of the operands (2^-11 relative each) gives
    /// on unit-scale data, and ~1e4x FP32's own error.</summary>
    public const double Tf32Tolerance = 1e-2;

    /// <summary>Against a reference that multiplies the TF32-rounded operands exactly, only FP32
    /// accumulation differs.</summary>
    public const double RoundedReferenceTolerance = 1e-5;

    [Fact]
    public void RoundingIsToNearestTiesAwayFromZeroOnTenMantissaBits()
    {
        Assert.Equal(1f, global::IlgpuGan.Kernels.Kernels.RoundToTf32(1f + MathF.Pow(2, -12)));          // below half an ulp (2^-11)
        Assert.Equal(1f + MathF.Pow(2, -10), global::IlgpuGan.Kernels.Kernels.RoundToTf32(1f + MathF.Pow(2, -11))); // a tie: away from zero
        Assert.Equal(-1f - MathF.Pow(2, -10), global::IlgpuGan.Kernels.Kernels.RoundToTf32(-1f - MathF.Pow(2, -11)));
        Assert.Equal(1f + MathF.Pow(2, -10), global::IlgpuGan.Kernels.Kernels.RoundToTf32(1f + MathF.Pow(2, -10)));   // representable
        Assert.Equal(float.PositiveInfinity, global::IlgpuGan.Kernels.Kernels.RoundToTf32(float.PositiveInfinity));
        Assert.True(float.IsNaN(global::IlgpuGan.Kernels.Kernels.RoundToTf32(float.NaN)));
        var rng = new Random(5);
        for (int i = 0; i < 10000; i++)
        {
            float x = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 20)));
            float r = global::IlgpuGan.Kernels.Kernels.RoundToTf32(x);
            Assert.Equal(0u, BitConverter.SingleToUInt32Bits(r) & 0x1FFFu);
            Assert.True(Math.Abs(r - (double)x) <= Math.Abs(x) * Math.Pow(2, -11), $"{x} -> {r}");
        }
    }

    /// <summary>The TF32 kernel with emulated <c>mma.sync</c> on the simulated GPU, a tiny odd shape
    /// (each emulated instruction costs 32 simulated warp shuffles): equal to the reference on
    /// TF32-rounded operands, within the TF32 tolerance of the exact one, and measurably rounded.</summary>
    [Theory]
    [MemberData(nameof(GemmTests.Transposes), MemberType = typeof(GemmTests))]
    public void EmulatedKernelMatchesTf32Reference(bool ta, bool tb)
    {
        using var context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, KernelVariant.Gpu) { GpuGemmOverride = GpuGemmKernel.Tf32 };
        // One block, two k8 slices (K = 11: a tail of zeros), rows and columns past the edge, strided,
        // alpha, beta and bias: about 6 s per transpose on the simulator.
        double exact = 0;
        GemmTests.Check(kernels, GemmTests.Strided(19, 13, 11, ta, tb, 1), -1.5f, 0.75f, true, 31,
            global::IlgpuGan.Kernels.Kernels.RoundToTf32, RoundedReferenceTolerance, e => exact = e);
        Assert.True(exact <= Tf32Tolerance, $"error {exact:E2} against the exact reference");
        Assert.True(exact > 1e-5, $"error {exact:E2} against the exact reference: the operands were not rounded to TF32");
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("0", false)]
    [InlineData("off", false)]
    [InlineData("1", true)]
    [InlineData(" TRUE ", true)]
    [InlineData("yes", true)]
    public void Tf32SettingParses(string? value, bool expected) =>
        Assert.Equal(expected, global::IlgpuGan.Kernels.Kernels.ParseTf32Setting(value));

    [Fact]
    public void ABadTf32SettingNamesTheVariable()
    {
        var e = Assert.Throws<ArgumentException>(() => global::IlgpuGan.Kernels.Kernels.ParseTf32Setting("maybe"));
        Assert.Contains(global::IlgpuGan.Kernels.Kernels.Tf32Variable, e.Message);
    }

    /// <summary>
    /// With TF32 allowed, every backend but CUDA of compute capability 8.0+ stays FP32: the setting
    /// is ignored, no GEMM picks the TF32 kernel, and a product that TF32 would round
    /// ((1 + 2^-12) x 1: TF32 gives exactly 1) comes out exact. On such a CUDA device the same
    /// product shows the rounding, so the path is really taken there.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    [Trait("Category", Backends.Category)]
    public void Tf32IsOnlyTakenOnCuda(string backend)
    {
        var kernels = Backends.Get(backend).Kernels;
        bool before = kernels.AllowTf32;
        kernels.AllowTf32 = true;
        try
        {
            bool cuda = kernels.Accelerator.AcceleratorType == AcceleratorType.Cuda;
            Assert.Equal(cuda && kernels.Tf32Supported, kernels.UsesTf32);
            if (!cuda)
                Assert.False(kernels.Tf32Supported);
            foreach (var s in new[] { GemmShape.Dense(1, 1, 1), GemmShape.Dense(4096, 4096, 4096), GemmShape.Dense(64, 1024, 784, false, true) })
                if (kernels.Variant == KernelVariant.Gpu)
                    Assert.Equal(kernels.UsesTf32, kernels.GpuGemmKernelFor(s) == GpuGemmKernel.Tf32);

            float x = 1f + MathF.Pow(2, -12);
            var acc = kernels.Accelerator;
            using var a = acc.Allocate1D([x]);
            using var b = acc.Allocate1D([1f]);
            using var c = acc.Allocate1D<float>(1);
            kernels.Gemm(GemmShape.Dense(1, 1, 1), a.View, b.View, c.View);
            acc.Synchronize();
            Assert.Equal(kernels.UsesTf32 ? 1f : x, c.GetAsArray1D()[0]);
        }
        finally
        {
            kernels.AllowTf32 = before;
        }
    }

    /// <summary>A new <see cref="global::IlgpuGan.Kernels.Kernels"/> on the CPU is FP32 whatever
    /// ILGPUGAN_TF32 says, and the device's description says whether GEMMs use TF32.</summary>
    [Fact]
    public void CpuDevicesNeverUseTf32()
    {
        using var device = Device.CreateGpuStyleCpu();
        device.Kernels.AllowTf32 = true;
        Assert.False(device.Kernels.UsesTf32);
        Assert.DoesNotContain("TF32", device.ToString());
    }
}

/// <summary>Runs only where a CUDA device is present (and ILGPUGAN_BACKENDS, when set, names "cuda").</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!Backends.Names.Contains("cuda")) Skip = "no CUDA device here (or ILGPUGAN_BACKENDS leaves out cuda)";
    }
}

/// <summary>
/// The TF32 path on a real CUDA device (skipped where there is none). A device older than compute
/// capability 8.0 checks that it falls back to FP32 instead.
/// </summary>
[Collection("devices")]
public sealed class Tf32CudaTests
{
    /// <summary>A CUDA device with TF32 allowed, or null (after checking the FP32 fallback) where
    /// its compute capability is below 8.0.</summary>
    private static Device? Tf32Device()
    {
        var device = Backends.Create("cuda", seed: 0);
        device.Kernels.AllowTf32 = true;
        if (device.Kernels.UsesTf32)
        {
            Assert.Contains("TF32", device.ToString());
            return device;
        }
        Assert.False(device.Kernels.Tf32Supported);
        device.Dispose();
        return null;
    }

    /// <summary>Every GEMM reference case (the linear cases: y = x w^T + b, gx, gw, gb) through the
    /// TF32 path: each expected tensor within relative L2 error 1e-2 (FORMAT.md's measure) and each
    /// value within 1e-2 * max(1, max |E|) of PyTorch's.</summary>
    [CudaFact]
    public void LinearReferenceCasesPassThroughTf32WithTf32Tolerance()
    {
        using var device = Tf32Device();
        if (device is null) return;
        int cases = 0;
        foreach (var file in ReferenceCases.Files(Paths.ReferenceDirs()))
        {
            var contents = SafeTensors.Read(file);
            if (ReferenceCases.OpOf(contents, file) != "linear") continue;
            var computed = ReferenceCases.Compute(device, contents);
            device.Tape.EndStep();
            foreach (var name in contents.Tensors.Keys.Where(k => !ReferenceCases.IsInput(k)))
            {
                var e = contents.Tensors[name].Data;
                var c = computed[name];
                double rel = Compare.RelativeError(c, e);
                Assert.True(rel <= Tf32GemmTests.Tf32Tolerance, $"{Path.GetFileName(file)} {name}: relative error {rel:E2}");
                double scale = Math.Max(1.0, e.Max(v => Math.Abs((double)v)));
                double worst = c.Zip(e, (x, y) => Math.Abs((double)x - y)).Max();
                Assert.True(worst <= Tf32GemmTests.Tf32Tolerance * scale, $"{Path.GetFileName(file)} {name}: largest difference {worst:E2}");
            }
            cases++;
        }
        Assert.True(cases > 0, "no linear reference case found");
    }

    /// <summary>The real tensor-core kernel against the reference on TF32-rounded operands (only
    /// accumulation differs), every transpose, edges, several tiles, K tails.</summary>
    [CudaFact]
    public void Tf32KernelMatchesTf32ReferenceOnCuda()
    {
        using var device = Tf32Device();
        if (device is null) return;
        Func<float, float> tf32 = global::IlgpuGan.Kernels.Kernels.RoundToTf32;
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            GemmTests.Check(device.Kernels, GemmShape.Dense(1, 1, 1, ta, tb), 1f, 0f, false, 40, tf32, Tf32GemmTests.RoundedReferenceTolerance);
            GemmTests.Check(device.Kernels, GemmTests.Strided(257, 300, 190, ta, tb, 3), 0.5f, -2f, true, 41, tf32, Tf32GemmTests.RoundedReferenceTolerance);
            GemmTests.Check(device.Kernels, GemmShape.Dense(64, 1024, 784, ta, tb), 1f, 0.25f, true, 42, tf32, Tf32GemmTests.RoundedReferenceTolerance);
            GemmTests.Check(device.Kernels, GemmShape.Dense(5, 6, 0, ta, tb), 1f, 0.5f, true, 43, tf32, Tf32GemmTests.RoundedReferenceTolerance);
            double exact = GemmTests.Check(device.Kernels, GemmShape.Dense(130, 129, 1000, ta, tb), 1f, 0f, false, 44, null, Tf32GemmTests.Tf32Tolerance);
            Assert.True(exact > 1e-5, $"error {exact:E2} against the exact reference: not TF32");
        }
    }

    /// <summary>The 128 x 128 FP32 kernel, forced, on CUDA at shapes of several tiles.</summary>
    [CudaFact]
    public void Fp32Tile128MatchesReferenceOnCuda()
    {
        var kernels = Backends.Get("cuda").Kernels;
        kernels.GpuGemmOverride = GpuGemmKernel.Tile128;
        try
        {
            foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
            {
                GemmTests.Check(kernels, GemmTests.Strided(257, 300, 190, ta, tb, 3), 0.5f, -2f, true, 50);
                GemmTests.Check(kernels, GemmShape.Dense(512, 384, 1031, ta, tb), 1f, 0f, false, 51);
            }
        }
        finally
        {
            kernels.GpuGemmOverride = GpuGemmKernel.Auto;
        }
    }
}
