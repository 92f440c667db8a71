using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace IlgpuGan.Tests.Kernels;

/// <summary>
/// The CUDA kernels compiled to PTX without a GPU: ILGPU's PTX backend is constructed from a plain
/// context for sm_80 / PTX ISA 7.0 (what <c>mma.sync</c> with TF32 operands needs) and compiles a
/// kernel the way <c>LoadStreamKernel</c> does on a CUDA accelerator. This checks what ILGPU emits
/// (the inline PTX, no local memory); whether the PTX assembles and runs needs a CUDA device
/// (ptxas is part of the driver), which <see cref="Tf32CudaTests"/> covers where one is present.
/// </summary>
public sealed class PtxTests
{
    /// <summary>PTX for one of <see cref="global::IlgpuGan.Kernels.Kernels"/>' private static kernels.</summary>
    internal static string Ptx(string kernel, params Type[] typeArguments)
    {
        var method = typeof(global::IlgpuGan.Kernels.Kernels).GetMethod(kernel, BindingFlags.NonPublic | BindingFlags.Static)
            ?? throw new MissingMethodException(kernel);
        if (method.IsGenericMethodDefinition)
            method = method.MakeGenericMethod(typeArguments);
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O2));
        using var backend = new PTXBackend(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_70, null!);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(method);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, default(KernelSpecialization));
        return compiled.PTXAssembly;
    }

    private const string Mma = "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32";

    /// <summary>The TF32 kernel compiles to PTX with its 16 <c>mma.sync</c>s per k8 slice, the
    /// <c>cvt.rna.tf32.f32</c> rounding, and the accumulator registers declared once, before any
    /// use (ILGPU lays blocks out in its own order: the declaration must be in the entry block).</summary>
    [Fact]
    public void Tf32KernelCompilesToPtxWithMmaSync()
    {
        string ptx = Ptx("GemmTf32Kernel", typeof(global::IlgpuGan.Kernels.PtxTf32Mma));
        Assert.Contains(".target sm_80", ptx);
        var lines = ptx.Split('\n');
        Assert.Equal(16, lines.Count(l => l.Contains(Mma)));
        Assert.Contains(lines, l => l.Contains("cvt.rna.tf32.f32"));
        int declaration = Array.FindIndex(lines, l => l.Contains(".reg .f32 %tfacc<64>;"));
        Assert.True(declaration >= 0, "no accumulator declaration");
        Assert.Single(lines, l => l.Contains("%tfacc<64>"));
        Assert.Equal(declaration, Array.FindIndex(lines, l => l.Contains("%tfacc")));
        // Each mma.sync names 4 accumulators twice (D and C) and takes A and B from ILGPU registers.
        var mma = lines.First(l => l.Contains(Mma));
        Assert.Matches(@"\{%tfacc0, %tfacc1, %tfacc2, %tfacc3\}, \{\s*%r\d+, %r\d+, %r\d+, %r\d+\}, \{%r\d+, %r\d+\}, \{%tfacc0, %tfacc1, %tfacc2, %tfacc3\};", mma);
    }

    /// <summary>The emulated variant (what other backends would compile) has no inline PTX.</summary>
    [Fact]
    public void EmulatedTf32KernelHasNoInlinePtx()
    {
        string ptx = Ptx("GemmTf32Kernel", typeof(global::IlgpuGan.Kernels.EmulatedTf32Mma));
        Assert.DoesNotContain("mma.sync", ptx);
        Assert.DoesNotContain("tfacc", ptx);
        Assert.Contains("shfl.sync", ptx);
    }

    /// <summary>The 128 x 128 FP32 kernel keeps its 64 accumulators in registers: no local memory
    /// in its PTX, two shared tiles of 2 x 8 x 132 floats.</summary>
    [Fact]
    public void Fp32Tile128KernelUsesNoLocalMemory()
    {
        string ptx = Ptx("GemmTiled128Kernel");
        Assert.DoesNotContain(".local", ptx);
        Assert.Contains("bar.sync", ptx);
        Assert.Contains(".shared", ptx);
    }
}
