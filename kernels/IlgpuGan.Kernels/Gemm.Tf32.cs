using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace IlgpuGan.Kernels;

/// <summary>Four floats: one thread's part of a 16 x 8 accumulator tile of <c>mma.sync</c> m16n8k8
/// (c0..c3: rows g, g, g + 8, g + 8, columns 2t, 2t + 1, 2t, 2t + 1, with g = lane / 4, t = lane % 4).</summary>
internal readonly struct Frag4(float x0, float x1, float x2, float x3)
{
    public readonly float X0 = x0, X1 = x1, X2 = x2, X3 = x3;
}

/// <summary>One thread's accumulators of a 64 x 32 warp tile: D{mi}{ni} is the 16 x 8 tile at rows
/// 16 mi, columns 8 ni.</summary>
internal struct Tf32Acc
{
    public Frag4 D00, D01, D02, D03, D10, D11, D12, D13, D20, D21, D22, D23, D30, D31, D32, D33;
}

/// <summary>One thread's TF32 operand fragments of a k8 slice (bit patterns): A{mi}{0..3} of the
/// 16 x 8 A tile at rows 16 mi, B{ni}{0..1} of the 8 x 8 B tile at columns 8 ni.</summary>
internal struct Tf32Frags
{
    public uint A00, A01, A02, A03, A10, A11, A12, A13, A20, A21, A22, A23, A30, A31, A32, A33;
    public uint B00, B01, B10, B11, B20, B21, B30, B31;
}

/// <summary>How <c>GemmTf32Kernel</c> rounds to TF32 and runs its <c>mma.sync</c>s: inline PTX on CUDA
/// (<see cref="PtxTf32Mma"/>), or the same arithmetic in plain code (<see cref="EmulatedTf32Mma"/>,
/// the tests' CPU accelerator). A type parameter rather than a run-time test, so that the CUDA
/// kernel's inline PTX has no branch around it (see <see cref="PtxTf32Mma.Init"/>).</summary>
internal interface ITf32Mma
{
    /// <summary>Zeroed accumulators; called as the kernel's first statement.</summary>
    Tf32Acc Init();
    /// <summary>x rounded to TF32 (to nearest, ties away from zero), as an FP32 bit pattern with
    /// the low 13 mantissa bits zero.</summary>
    float Round(float x);
    /// <summary>acc += A B for one k8 slice of the warp tile (16 <c>mma.sync</c> m16n8k8).</summary>
    Tf32Acc Step(Tf32Acc acc, Tf32Frags f);
    /// <summary>The accumulators, readable by ordinary code.</summary>
    Tf32Acc Finish(Tf32Acc acc);
}

/// <summary>
/// The CUDA implementation: <c>cvt.rna.tf32.f32</c> and <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>
/// through <see cref="CudaAsm.Emit(string)"/>. The 64 accumulators live in PTX registers
/// <c>%tfacc0..63</c> that <see cref="Init"/> declares and every <c>mma.sync</c> names directly, so
/// they never pass through ILGPU values: <c>CudaAsm.EmitRef</c> would load and store each operand
/// through a local-memory slot around every instruction, and <c>Emit</c> returns one output. ILGPU
/// lays out PTX blocks in its own order, so the declaration must sit in the entry block, before any
/// branch: hence no <see cref="CudaAsm.IsSupported"/> test here (this type is only used on CUDA) and
/// <see cref="Init"/> as the kernel's first statement; PtxTests checks the declaration comes first.
/// Only valid on CUDA devices of compute capability 8.0 or later (PTX ISA 7.0, sm_80).
/// </summary>
internal readonly struct PtxTf32Mma : ITf32Mma
{
    public Tf32Acc Init()
    {
        CudaAsm.Emit(".reg .f32 %%tfacc<64>;\n\t" +
            "mov.f32 %%tfacc0, 0f00000000; mov.f32 %%tfacc1, 0f00000000; mov.f32 %%tfacc2, 0f00000000; mov.f32 %%tfacc3, 0f00000000; mov.f32 %%tfacc4, 0f00000000; mov.f32 %%tfacc5, 0f00000000; mov.f32 %%tfacc6, 0f00000000; mov.f32 %%tfacc7, 0f00000000;\n\t" +
            "mov.f32 %%tfacc8, 0f00000000; mov.f32 %%tfacc9, 0f00000000; mov.f32 %%tfacc10, 0f00000000; mov.f32 %%tfacc11, 0f00000000; mov.f32 %%tfacc12, 0f00000000; mov.f32 %%tfacc13, 0f00000000; mov.f32 %%tfacc14, 0f00000000; mov.f32 %%tfacc15, 0f00000000;\n\t" +
            "mov.f32 %%tfacc16, 0f00000000; mov.f32 %%tfacc17, 0f00000000; mov.f32 %%tfacc18, 0f00000000; mov.f32 %%tfacc19, 0f00000000; mov.f32 %%tfacc20, 0f00000000; mov.f32 %%tfacc21, 0f00000000; mov.f32 %%tfacc22, 0f00000000; mov.f32 %%tfacc23, 0f00000000;\n\t" +
            "mov.f32 %%tfacc24, 0f00000000; mov.f32 %%tfacc25, 0f00000000; mov.f32 %%tfacc26, 0f00000000; mov.f32 %%tfacc27, 0f00000000; mov.f32 %%tfacc28, 0f00000000; mov.f32 %%tfacc29, 0f00000000; mov.f32 %%tfacc30, 0f00000000; mov.f32 %%tfacc31, 0f00000000;\n\t" +
            "mov.f32 %%tfacc32, 0f00000000; mov.f32 %%tfacc33, 0f00000000; mov.f32 %%tfacc34, 0f00000000; mov.f32 %%tfacc35, 0f00000000; mov.f32 %%tfacc36, 0f00000000; mov.f32 %%tfacc37, 0f00000000; mov.f32 %%tfacc38, 0f00000000; mov.f32 %%tfacc39, 0f00000000;\n\t" +
            "mov.f32 %%tfacc40, 0f00000000; mov.f32 %%tfacc41, 0f00000000; mov.f32 %%tfacc42, 0f00000000; mov.f32 %%tfacc43, 0f00000000; mov.f32 %%tfacc44, 0f00000000; mov.f32 %%tfacc45, 0f00000000; mov.f32 %%tfacc46, 0f00000000; mov.f32 %%tfacc47, 0f00000000;\n\t" +
            "mov.f32 %%tfacc48, 0f00000000; mov.f32 %%tfacc49, 0f00000000; mov.f32 %%tfacc50, 0f00000000; mov.f32 %%tfacc51, 0f00000000; mov.f32 %%tfacc52, 0f00000000; mov.f32 %%tfacc53, 0f00000000; mov.f32 %%tfacc54, 0f00000000; mov.f32 %%tfacc55, 0f00000000;\n\t" +
            "mov.f32 %%tfacc56, 0f00000000; mov.f32 %%tfacc57, 0f00000000; mov.f32 %%tfacc58, 0f00000000; mov.f32 %%tfacc59, 0f00000000; mov.f32 %%tfacc60, 0f00000000; mov.f32 %%tfacc61, 0f00000000; mov.f32 %%tfacc62, 0f00000000; mov.f32 %%tfacc63, 0f00000000;");
        return default;
    }

    public float Round(float x)
    {
        CudaAsm.Emit("cvt.rna.tf32.f32 %0, %1;", out uint r, x);
        return Interop.IntAsFloat(r);
    }

    public Tf32Acc Step(Tf32Acc acc, Tf32Frags f)
    {
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc0, %%tfacc1, %%tfacc2, %%tfacc3}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc0, %%tfacc1, %%tfacc2, %%tfacc3};", f.A00, f.A01, f.A02, f.A03, f.B00, f.B01);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc4, %%tfacc5, %%tfacc6, %%tfacc7}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc4, %%tfacc5, %%tfacc6, %%tfacc7};", f.A00, f.A01, f.A02, f.A03, f.B10, f.B11);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc8, %%tfacc9, %%tfacc10, %%tfacc11}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc8, %%tfacc9, %%tfacc10, %%tfacc11};", f.A00, f.A01, f.A02, f.A03, f.B20, f.B21);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc12, %%tfacc13, %%tfacc14, %%tfacc15}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc12, %%tfacc13, %%tfacc14, %%tfacc15};", f.A00, f.A01, f.A02, f.A03, f.B30, f.B31);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc16, %%tfacc17, %%tfacc18, %%tfacc19}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc16, %%tfacc17, %%tfacc18, %%tfacc19};", f.A10, f.A11, f.A12, f.A13, f.B00, f.B01);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc20, %%tfacc21, %%tfacc22, %%tfacc23}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc20, %%tfacc21, %%tfacc22, %%tfacc23};", f.A10, f.A11, f.A12, f.A13, f.B10, f.B11);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc24, %%tfacc25, %%tfacc26, %%tfacc27}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc24, %%tfacc25, %%tfacc26, %%tfacc27};", f.A10, f.A11, f.A12, f.A13, f.B20, f.B21);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc28, %%tfacc29, %%tfacc30, %%tfacc31}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc28, %%tfacc29, %%tfacc30, %%tfacc31};", f.A10, f.A11, f.A12, f.A13, f.B30, f.B31);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc32, %%tfacc33, %%tfacc34, %%tfacc35}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc32, %%tfacc33, %%tfacc34, %%tfacc35};", f.A20, f.A21, f.A22, f.A23, f.B00, f.B01);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc36, %%tfacc37, %%tfacc38, %%tfacc39}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc36, %%tfacc37, %%tfacc38, %%tfacc39};", f.A20, f.A21, f.A22, f.A23, f.B10, f.B11);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc40, %%tfacc41, %%tfacc42, %%tfacc43}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc40, %%tfacc41, %%tfacc42, %%tfacc43};", f.A20, f.A21, f.A22, f.A23, f.B20, f.B21);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc44, %%tfacc45, %%tfacc46, %%tfacc47}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc44, %%tfacc45, %%tfacc46, %%tfacc47};", f.A20, f.A21, f.A22, f.A23, f.B30, f.B31);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc48, %%tfacc49, %%tfacc50, %%tfacc51}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc48, %%tfacc49, %%tfacc50, %%tfacc51};", f.A30, f.A31, f.A32, f.A33, f.B00, f.B01);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc52, %%tfacc53, %%tfacc54, %%tfacc55}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc52, %%tfacc53, %%tfacc54, %%tfacc55};", f.A30, f.A31, f.A32, f.A33, f.B10, f.B11);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc56, %%tfacc57, %%tfacc58, %%tfacc59}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc56, %%tfacc57, %%tfacc58, %%tfacc59};", f.A30, f.A31, f.A32, f.A33, f.B20, f.B21);
        CudaAsm.Emit("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%%tfacc60, %%tfacc61, %%tfacc62, %%tfacc63}, {%0, %1, %2, %3}, {%4, %5}, {%%tfacc60, %%tfacc61, %%tfacc62, %%tfacc63};", f.A30, f.A31, f.A32, f.A33, f.B30, f.B31);
        return acc;
    }

    public Tf32Acc Finish(Tf32Acc acc)
    {
        CudaAsm.Emit("mov.f32 %0, %%tfacc0;", out float e000); CudaAsm.Emit("mov.f32 %0, %%tfacc1;", out float e001); CudaAsm.Emit("mov.f32 %0, %%tfacc2;", out float e002); CudaAsm.Emit("mov.f32 %0, %%tfacc3;", out float e003);
        acc.D00 = new Frag4(e000, e001, e002, e003);
        CudaAsm.Emit("mov.f32 %0, %%tfacc4;", out float e010); CudaAsm.Emit("mov.f32 %0, %%tfacc5;", out float e011); CudaAsm.Emit("mov.f32 %0, %%tfacc6;", out float e012); CudaAsm.Emit("mov.f32 %0, %%tfacc7;", out float e013);
        acc.D01 = new Frag4(e010, e011, e012, e013);
        CudaAsm.Emit("mov.f32 %0, %%tfacc8;", out float e020); CudaAsm.Emit("mov.f32 %0, %%tfacc9;", out float e021); CudaAsm.Emit("mov.f32 %0, %%tfacc10;", out float e022); CudaAsm.Emit("mov.f32 %0, %%tfacc11;", out float e023);
        acc.D02 = new Frag4(e020, e021, e022, e023);
        CudaAsm.Emit("mov.f32 %0, %%tfacc12;", out float e030); CudaAsm.Emit("mov.f32 %0, %%tfacc13;", out float e031); CudaAsm.Emit("mov.f32 %0, %%tfacc14;", out float e032); CudaAsm.Emit("mov.f32 %0, %%tfacc15;", out float e033);
        acc.D03 = new Frag4(e030, e031, e032, e033);
        CudaAsm.Emit("mov.f32 %0, %%tfacc16;", out float e100); CudaAsm.Emit("mov.f32 %0, %%tfacc17;", out float e101); CudaAsm.Emit("mov.f32 %0, %%tfacc18;", out float e102); CudaAsm.Emit("mov.f32 %0, %%tfacc19;", out float e103);
        acc.D10 = new Frag4(e100, e101, e102, e103);
        CudaAsm.Emit("mov.f32 %0, %%tfacc20;", out float e110); CudaAsm.Emit("mov.f32 %0, %%tfacc21;", out float e111); CudaAsm.Emit("mov.f32 %0, %%tfacc22;", out float e112); CudaAsm.Emit("mov.f32 %0, %%tfacc23;", out float e113);
        acc.D11 = new Frag4(e110, e111, e112, e113);
        CudaAsm.Emit("mov.f32 %0, %%tfacc24;", out float e120); CudaAsm.Emit("mov.f32 %0, %%tfacc25;", out float e121); CudaAsm.Emit("mov.f32 %0, %%tfacc26;", out float e122); CudaAsm.Emit("mov.f32 %0, %%tfacc27;", out float e123);
        acc.D12 = new Frag4(e120, e121, e122, e123);
        CudaAsm.Emit("mov.f32 %0, %%tfacc28;", out float e130); CudaAsm.Emit("mov.f32 %0, %%tfacc29;", out float e131); CudaAsm.Emit("mov.f32 %0, %%tfacc30;", out float e132); CudaAsm.Emit("mov.f32 %0, %%tfacc31;", out float e133);
        acc.D13 = new Frag4(e130, e131, e132, e133);
        CudaAsm.Emit("mov.f32 %0, %%tfacc32;", out float e200); CudaAsm.Emit("mov.f32 %0, %%tfacc33;", out float e201); CudaAsm.Emit("mov.f32 %0, %%tfacc34;", out float e202); CudaAsm.Emit("mov.f32 %0, %%tfacc35;", out float e203);
        acc.D20 = new Frag4(e200, e201, e202, e203);
        CudaAsm.Emit("mov.f32 %0, %%tfacc36;", out float e210); CudaAsm.Emit("mov.f32 %0, %%tfacc37;", out float e211); CudaAsm.Emit("mov.f32 %0, %%tfacc38;", out float e212); CudaAsm.Emit("mov.f32 %0, %%tfacc39;", out float e213);
        acc.D21 = new Frag4(e210, e211, e212, e213);
        CudaAsm.Emit("mov.f32 %0, %%tfacc40;", out float e220); CudaAsm.Emit("mov.f32 %0, %%tfacc41;", out float e221); CudaAsm.Emit("mov.f32 %0, %%tfacc42;", out float e222); CudaAsm.Emit("mov.f32 %0, %%tfacc43;", out float e223);
        acc.D22 = new Frag4(e220, e221, e222, e223);
        CudaAsm.Emit("mov.f32 %0, %%tfacc44;", out float e230); CudaAsm.Emit("mov.f32 %0, %%tfacc45;", out float e231); CudaAsm.Emit("mov.f32 %0, %%tfacc46;", out float e232); CudaAsm.Emit("mov.f32 %0, %%tfacc47;", out float e233);
        acc.D23 = new Frag4(e230, e231, e232, e233);
        CudaAsm.Emit("mov.f32 %0, %%tfacc48;", out float e300); CudaAsm.Emit("mov.f32 %0, %%tfacc49;", out float e301); CudaAsm.Emit("mov.f32 %0, %%tfacc50;", out float e302); CudaAsm.Emit("mov.f32 %0, %%tfacc51;", out float e303);
        acc.D30 = new Frag4(e300, e301, e302, e303);
        CudaAsm.Emit("mov.f32 %0, %%tfacc52;", out float e310); CudaAsm.Emit("mov.f32 %0, %%tfacc53;", out float e311); CudaAsm.Emit("mov.f32 %0, %%tfacc54;", out float e312); CudaAsm.Emit("mov.f32 %0, %%tfacc55;", out float e313);
        acc.D31 = new Frag4(e310, e311, e312, e313);
        CudaAsm.Emit("mov.f32 %0, %%tfacc56;", out float e320); CudaAsm.Emit("mov.f32 %0, %%tfacc57;", out float e321); CudaAsm.Emit("mov.f32 %0, %%tfacc58;", out float e322); CudaAsm.Emit("mov.f32 %0, %%tfacc59;", out float e323);
        acc.D32 = new Frag4(e320, e321, e322, e323);
        CudaAsm.Emit("mov.f32 %0, %%tfacc60;", out float e330); CudaAsm.Emit("mov.f32 %0, %%tfacc61;", out float e331); CudaAsm.Emit("mov.f32 %0, %%tfacc62;", out float e332); CudaAsm.Emit("mov.f32 %0, %%tfacc63;", out float e333);
        acc.D33 = new Frag4(e330, e331, e332, e333);
        return acc;
    }
}

/// <summary>The same arithmetic without tensor cores (see <see cref="Kernels.MmaTf32Emulated"/>), so
/// that <c>GemmTf32Kernel</c>'s staging, fragment indexing and epilogue are tested on the CPU
/// accelerator: the fragment layouts are those of the PTX ISA, so a kernel that is right here feeds
/// the tensor cores the right elements.</summary>
internal readonly struct EmulatedTf32Mma : ITf32Mma
{
    public Tf32Acc Init() => default;

    public float Round(float x) => Kernels.RoundToTf32(x);

    public Tf32Acc Step(Tf32Acc acc, Tf32Frags f)
    {
        acc.D00 = Kernels.MmaTf32Emulated(acc.D00, f.A00, f.A01, f.A02, f.A03, f.B00, f.B01);
        acc.D01 = Kernels.MmaTf32Emulated(acc.D01, f.A00, f.A01, f.A02, f.A03, f.B10, f.B11);
        acc.D02 = Kernels.MmaTf32Emulated(acc.D02, f.A00, f.A01, f.A02, f.A03, f.B20, f.B21);
        acc.D03 = Kernels.MmaTf32Emulated(acc.D03, f.A00, f.A01, f.A02, f.A03, f.B30, f.B31);
        acc.D10 = Kernels.MmaTf32Emulated(acc.D10, f.A10, f.A11, f.A12, f.A13, f.B00, f.B01);
        acc.D11 = Kernels.MmaTf32Emulated(acc.D11, f.A10, f.A11, f.A12, f.A13, f.B10, f.B11);
        acc.D12 = Kernels.MmaTf32Emulated(acc.D12, f.A10, f.A11, f.A12, f.A13, f.B20, f.B21);
        acc.D13 = Kernels.MmaTf32Emulated(acc.D13, f.A10, f.A11, f.A12, f.A13, f.B30, f.B31);
        acc.D20 = Kernels.MmaTf32Emulated(acc.D20, f.A20, f.A21, f.A22, f.A23, f.B00, f.B01);
        acc.D21 = Kernels.MmaTf32Emulated(acc.D21, f.A20, f.A21, f.A22, f.A23, f.B10, f.B11);
        acc.D22 = Kernels.MmaTf32Emulated(acc.D22, f.A20, f.A21, f.A22, f.A23, f.B20, f.B21);
        acc.D23 = Kernels.MmaTf32Emulated(acc.D23, f.A20, f.A21, f.A22, f.A23, f.B30, f.B31);
        acc.D30 = Kernels.MmaTf32Emulated(acc.D30, f.A30, f.A31, f.A32, f.A33, f.B00, f.B01);
        acc.D31 = Kernels.MmaTf32Emulated(acc.D31, f.A30, f.A31, f.A32, f.A33, f.B10, f.B11);
        acc.D32 = Kernels.MmaTf32Emulated(acc.D32, f.A30, f.A31, f.A32, f.A33, f.B20, f.B21);
        acc.D33 = Kernels.MmaTf32Emulated(acc.D33, f.A30, f.A31, f.A32, f.A33, f.B30, f.B31);
        return acc;
    }

    public Tf32Acc Finish(Tf32Acc acc) => acc;
}

public sealed partial class Kernels
{
    // ---------------------------------------------------------------------------------------------
    // Opt-in TF32 tensor-core GEMM for CUDA (compute capability 8.0 and up): mma.sync m16n8k8 with
    // TF32 operands and FP32 accumulation, issued as inline PTX through ILGPU's CudaAsm.
    // ---------------------------------------------------------------------------------------------

    /// <summary>The environment variable that opts a new <see cref="Kernels"/> into TF32 GEMMs
    /// (<c>ILGPUGAN_TF32=1</c>; also true/on/yes, and 0/false/off/no or unset for off).</summary>
    public const string Tf32Variable = "ILGPUGAN_TF32";

    /// <summary>
    /// The relative error to expect from a TF32 GEMM on unit-scale data, about 3e-4: TF32 keeps 10
    /// of FP32's 23 mantissa bits, so rounding each operand (to nearest, ties away from zero) costs
    /// up to 2^-11 (4.9e-4) relative, and a product about 2^-11 * sqrt(2) in the worst case and
    /// less on average; products are exact and accumulate in FP32, so the error of a sum of K
    /// random-signed products grows like its magnitude (sqrt K), leaving the relative error of the
    /// result near 3e-4 (FP32's own is about 1e-7 to 1e-6).
    /// </summary>
    public const double Tf32TypicalRelativeError = 3e-4;

    private Action<KernelConfig, GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? gemmTf32;

    /// <summary>The TF32 kernel for this accelerator: inline PTX on CUDA, emulated elsewhere (tests).</summary>
    private Action<KernelConfig, GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>> LoadTf32() =>
        Accelerator is CudaAccelerator
            ? Load<GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GemmTf32Kernel<PtxTf32Mma>)
            : Load<GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GemmTf32Kernel<EmulatedTf32Mma>);

    /// <summary>
    /// Opts in to TF32 tensor cores for <see cref="Gemm"/> (default: off, or
    /// <see cref="Tf32Variable"/>'s value when this object was made). Taken only where
    /// <see cref="Tf32Supported"/>: a CUDA accelerator of compute capability 8.0 or later (A100,
    /// RTX 30xx, H100...) with the <see cref="KernelVariant.Gpu"/> kernels; everywhere else the
    /// setting is ignored and every GEMM stays FP32.
    /// <para><b>Precision.</b> TF32 has FP32's 8-bit exponent and a 10-bit mantissa. Each element of
    /// A and B is rounded to TF32 (<c>cvt.rna.tf32.f32</c>: to nearest, ties away from zero), a
    /// relative error of at most 2^-11 (about 4.9e-4) per operand; the products are exact and are
    /// accumulated in FP32. The result of a GEMM on unit-scale data then has a relative error of
    /// about 3e-4 (<see cref="Tf32TypicalRelativeError"/>) instead of FP32's ~1e-6: well inside
    /// the noise of GAN training, but about 100 times the tolerance of the FP32 reference cases,
    /// which are checked through this path with a tolerance of 1e-2. Use it for speed (tensor cores
    /// run TF32 several times faster than the FP32 units), not for gradient checks.</para>
    /// <para>Convolutions are not affected (their implicit-GEMM kernels stay FP32).</para>
    /// </summary>
    public bool AllowTf32 { get; set; }

    /// <summary>Whether this accelerator can run the TF32 kernel: CUDA, compute capability 8.0 or
    /// later (<c>mma.sync</c> with TF32 operands needs sm_80 and PTX ISA 7.0), the
    /// <see cref="KernelVariant.Gpu"/> variant. False on the CPU and OpenCL backends.</summary>
    public bool Tf32Supported =>
        Variant == KernelVariant.Gpu
        && Accelerator is CudaAccelerator cuda
        && cuda.Architecture.Major >= 8
        && cuda.InstructionSet >= CudaInstructionSet.ISA_70;

    /// <summary>Whether GEMMs run on TF32 tensor cores: <see cref="AllowTf32"/> and
    /// <see cref="Tf32Supported"/>.</summary>
    public bool UsesTf32 => AllowTf32 && Tf32Supported;

    /// <summary>Reads <see cref="Tf32Variable"/>: 1/true/on/yes is on; 0/false/off/no, empty or
    /// unset is off; anything else is an error naming the variable.</summary>
    public static bool Tf32FromEnvironment() => ParseTf32Setting(Environment.GetEnvironmentVariable(Tf32Variable));

    /// <summary>Parses a <see cref="Tf32Variable"/> value (see <see cref="Tf32FromEnvironment"/>).</summary>
    public static bool ParseTf32Setting(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "0" or "false" or "off" or "no" => false,
        "1" or "true" or "on" or "yes" => true,
        _ => throw new ArgumentException($"{Tf32Variable}='{value}': use 1 (TF32 tensor cores for GEMMs on CUDA) or 0."),
    };

    private const int Tf32Tile = 128, Tf32TileK = 16;
    /// <summary>Row length of a staged k row: 8 floats of padding, so that a warp's fragment reads
    /// (k = t, row or column = g: address t * 136 + g, bank 8t + g) hit 32 different banks.</summary>
    private const int Tf32Stride = Tf32Tile + 8;

    /// <summary>
    /// TF32 tensor-core GEMM, the contract of <c>GemmTiledKernel</c> (transposes, leading dimensions,
    /// alpha, beta, bias, edge tiles). One group (256 threads, 8 warps) per 128 x 128 tile of C; per
    /// K step of 16 the group stages op(A) and op(B) k-major in shared memory, rounded to TF32 as
    /// they are stored (8 elements of each per thread, double-buffered as in
    /// <c>GemmTiled128Kernel</c>). The warps form a 2 x 4 grid of 64 x 32 warp tiles; per k8 slice a
    /// warp issues 4 x 4 <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>, each lane holding
    /// (g = lane / 4, t = lane % 4, PTX ISA "Matrix Fragments for mma.m16n8k8", .tf32):
    /// A a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4); B b0 (k = t, n = g),
    /// b1 (t + 4, g); C/D c0, c1 (g, 2t + {0, 1}), c2, c3 (g + 8, 2t + {0, 1}).
    /// <typeparamref name="TMma"/> is <see cref="PtxTf32Mma"/> on CUDA and
    /// <see cref="EmulatedTf32Mma"/> elsewhere; the host launches this kernel only where
    /// <see cref="UsesTf32"/> (or a test forces it).
    /// </summary>
    private static void GemmTf32Kernel<TMma>(GemmArgs p, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias) where TMma : struct, ITf32Mma
    {
        var mma = default(TMma);
        var acc = mma.Init(); // first: on CUDA it declares the accumulator registers
        const int Buffer = Tf32TileK * Tf32Stride;
        var sa = SharedMemory.Allocate<float>(2 * Buffer); // [buffer][k][row], TF32 values
        var sb = SharedMemory.Allocate<float>(2 * Buffer); // [buffer][k][col], TF32 values
        int tid = Group.IdxX;
        int m0 = Grid.IdxX / p.TilesN * Tf32Tile, n0 = Grid.IdxX % p.TilesN * Tf32Tile;

        // This thread's 8 staged elements of each tile: A along k (16 rows x 16 k per pass) or, when
        // TransA, along the rows (128 rows x 2 k per pass); likewise B.
        int aRow = p.TransA != 0 ? tid & 127 : tid >> 4, aK = p.TransA != 0 ? tid >> 7 : tid & 15;
        int aRowStep = p.TransA != 0 ? 0 : 16, aKStep = p.TransA != 0 ? 2 : 0;
        int bCol = p.TransB != 0 ? tid >> 4 : tid & 127, bK = p.TransB != 0 ? tid & 15 : tid >> 7;
        int bColStep = p.TransB != 0 ? 16 : 0, bKStep = p.TransB != 0 ? 0 : 2;
        int sa0 = aK * Tf32Stride + aRow, saStep = aKStep * Tf32Stride + aRowStep;
        int sb0 = bK * Tf32Stride + bCol, sbStep = bKStep * Tf32Stride + bColStep;
        int gi = m0 + aRow, gj = n0 + bCol;

        float ra0 = GemmLoadA(p, a, gi, aK), ra1 = GemmLoadA(p, a, gi + aRowStep, aK + aKStep);
        float ra2 = GemmLoadA(p, a, gi + 2 * aRowStep, aK + 2 * aKStep), ra3 = GemmLoadA(p, a, gi + 3 * aRowStep, aK + 3 * aKStep);
        float ra4 = GemmLoadA(p, a, gi + 4 * aRowStep, aK + 4 * aKStep), ra5 = GemmLoadA(p, a, gi + 5 * aRowStep, aK + 5 * aKStep);
        float ra6 = GemmLoadA(p, a, gi + 6 * aRowStep, aK + 6 * aKStep), ra7 = GemmLoadA(p, a, gi + 7 * aRowStep, aK + 7 * aKStep);
        float rb0 = GemmLoadB(p, b, gj, bK), rb1 = GemmLoadB(p, b, gj + bColStep, bK + bKStep);
        float rb2 = GemmLoadB(p, b, gj + 2 * bColStep, bK + 2 * bKStep), rb3 = GemmLoadB(p, b, gj + 3 * bColStep, bK + 3 * bKStep);
        float rb4 = GemmLoadB(p, b, gj + 4 * bColStep, bK + 4 * bKStep), rb5 = GemmLoadB(p, b, gj + 5 * bColStep, bK + 5 * bKStep);
        float rb6 = GemmLoadB(p, b, gj + 6 * bColStep, bK + 6 * bKStep), rb7 = GemmLoadB(p, b, gj + 7 * bColStep, bK + 7 * bKStep);
        StoreTf32(mma, sa, sa0, saStep, ra0, ra1, ra2, ra3, ra4, ra5, ra6, ra7);
        StoreTf32(mma, sb, sb0, sbStep, rb0, rb1, rb2, rb3, rb4, rb5, rb6, rb7);
        Group.Barrier();

        int lane = tid & 31, warp = tid >> 5;
        int g = lane >> 2, t4 = lane & 3;
        int wm = warp >> 2, wn = warp & 3;
        int fa = t4 * Tf32Stride + wm * 64 + g; // A fragment element (row g, k t) of the warp's rows
        int fb = t4 * Tf32Stride + wn * 32 + g; // B fragment element (k t, column g) of the warp's columns
        Tf32Frags f = default;

        int steps = (p.K + Tf32TileK - 1) / Tf32TileK;
        for (int t = 0; t < steps; t++)
        {
            int cur = (t & 1) * Buffer;
            int k1 = (t + 1) * Tf32TileK;
            bool more = k1 < p.K;
            if (more)
            {
                ra0 = GemmLoadA(p, a, gi, k1 + aK); ra1 = GemmLoadA(p, a, gi + aRowStep, k1 + aK + aKStep);
                ra2 = GemmLoadA(p, a, gi + 2 * aRowStep, k1 + aK + 2 * aKStep); ra3 = GemmLoadA(p, a, gi + 3 * aRowStep, k1 + aK + 3 * aKStep);
                ra4 = GemmLoadA(p, a, gi + 4 * aRowStep, k1 + aK + 4 * aKStep); ra5 = GemmLoadA(p, a, gi + 5 * aRowStep, k1 + aK + 5 * aKStep);
                ra6 = GemmLoadA(p, a, gi + 6 * aRowStep, k1 + aK + 6 * aKStep); ra7 = GemmLoadA(p, a, gi + 7 * aRowStep, k1 + aK + 7 * aKStep);
                rb0 = GemmLoadB(p, b, gj, k1 + bK); rb1 = GemmLoadB(p, b, gj + bColStep, k1 + bK + bKStep);
                rb2 = GemmLoadB(p, b, gj + 2 * bColStep, k1 + bK + 2 * bKStep); rb3 = GemmLoadB(p, b, gj + 3 * bColStep, k1 + bK + 3 * bKStep);
                rb4 = GemmLoadB(p, b, gj + 4 * bColStep, k1 + bK + 4 * bKStep); rb5 = GemmLoadB(p, b, gj + 5 * bColStep, k1 + bK + 5 * bKStep);
                rb6 = GemmLoadB(p, b, gj + 6 * bColStep, k1 + bK + 6 * bKStep); rb7 = GemmLoadB(p, b, gj + 7 * bColStep, k1 + bK + 7 * bKStep);
            }
            for (int ks = 0; ks < Tf32TileK; ks += 8)
            {
                int ka = cur + ks * Tf32Stride + fa, kb = ka + 4 * Tf32Stride;
                int kc = cur + ks * Tf32Stride + fb, kd = kc + 4 * Tf32Stride;
                f.A00 = Interop.FloatAsInt(sa[ka + 0]); f.A01 = Interop.FloatAsInt(sa[ka + 8]); f.A02 = Interop.FloatAsInt(sa[kb + 0]); f.A03 = Interop.FloatAsInt(sa[kb + 8]);
                f.A10 = Interop.FloatAsInt(sa[ka + 16]); f.A11 = Interop.FloatAsInt(sa[ka + 24]); f.A12 = Interop.FloatAsInt(sa[kb + 16]); f.A13 = Interop.FloatAsInt(sa[kb + 24]);
                f.A20 = Interop.FloatAsInt(sa[ka + 32]); f.A21 = Interop.FloatAsInt(sa[ka + 40]); f.A22 = Interop.FloatAsInt(sa[kb + 32]); f.A23 = Interop.FloatAsInt(sa[kb + 40]);
                f.A30 = Interop.FloatAsInt(sa[ka + 48]); f.A31 = Interop.FloatAsInt(sa[ka + 56]); f.A32 = Interop.FloatAsInt(sa[kb + 48]); f.A33 = Interop.FloatAsInt(sa[kb + 56]);
                f.B00 = Interop.FloatAsInt(sb[kc + 0]); f.B01 = Interop.FloatAsInt(sb[kd + 0]);
                f.B10 = Interop.FloatAsInt(sb[kc + 8]); f.B11 = Interop.FloatAsInt(sb[kd + 8]);
                f.B20 = Interop.FloatAsInt(sb[kc + 16]); f.B21 = Interop.FloatAsInt(sb[kd + 16]);
                f.B30 = Interop.FloatAsInt(sb[kc + 24]); f.B31 = Interop.FloatAsInt(sb[kd + 24]);
                acc = mma.Step(acc, f);
            }
            if (more)
            {
                int next = Buffer - cur;
                StoreTf32(mma, sa, next + sa0, saStep, ra0, ra1, ra2, ra3, ra4, ra5, ra6, ra7);
                StoreTf32(mma, sb, next + sb0, sbStep, rb0, rb1, rb2, rb3, rb4, rb5, rb6, rb7);
            }
            Group.Barrier();
        }

        acc = mma.Finish(acc);
        int row = m0 + wm * 64 + g, col = n0 + wn * 32 + 2 * t4;
        GemmStore4(p, c, bias, row + 0, col + 0, acc.D00);
        GemmStore4(p, c, bias, row + 0, col + 8, acc.D01);
        GemmStore4(p, c, bias, row + 0, col + 16, acc.D02);
        GemmStore4(p, c, bias, row + 0, col + 24, acc.D03);
        GemmStore4(p, c, bias, row + 16, col + 0, acc.D10);
        GemmStore4(p, c, bias, row + 16, col + 8, acc.D11);
        GemmStore4(p, c, bias, row + 16, col + 16, acc.D12);
        GemmStore4(p, c, bias, row + 16, col + 24, acc.D13);
        GemmStore4(p, c, bias, row + 32, col + 0, acc.D20);
        GemmStore4(p, c, bias, row + 32, col + 8, acc.D21);
        GemmStore4(p, c, bias, row + 32, col + 16, acc.D22);
        GemmStore4(p, c, bias, row + 32, col + 24, acc.D23);
        GemmStore4(p, c, bias, row + 48, col + 0, acc.D30);
        GemmStore4(p, c, bias, row + 48, col + 8, acc.D31);
        GemmStore4(p, c, bias, row + 48, col + 16, acc.D32);
        GemmStore4(p, c, bias, row + 48, col + 24, acc.D33);
    }

    /// <summary>Stores 8 staged elements, rounded to TF32, at <paramref name="at"/> + i * <paramref name="step"/>.</summary>
    private static void StoreTf32<TMma>(TMma mma, ArrayView<float> s, int at, int step,
        float v0, float v1, float v2, float v3, float v4, float v5, float v6, float v7) where TMma : struct, ITf32Mma
    {
        s[at] = mma.Round(v0); s[at + step] = mma.Round(v1);
        s[at + 2 * step] = mma.Round(v2); s[at + 3 * step] = mma.Round(v3);
        s[at + 4 * step] = mma.Round(v4); s[at + 5 * step] = mma.Round(v5);
        s[at + 6 * step] = mma.Round(v6); s[at + 7 * step] = mma.Round(v7);
    }

    /// <summary>
    /// <paramref name="x"/> rounded to TF32 as <c>cvt.rna.tf32.f32</c> does (10 mantissa bits, to
    /// nearest, ties away from zero), in integer arithmetic: an FP32 value whose low 13 mantissa
    /// bits are zero. NaN and infinity pass unchanged.
    /// </summary>
    internal static float RoundToTf32(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        if ((bits & 0x7F800000u) != 0x7F800000u)
            bits = (bits + 0x1000u) & 0xFFFFE000u; // half an ulp of the 10-bit mantissa, then truncate
        return Interop.IntAsFloat(bits);
    }

    /// <summary>
    /// What one <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c> computes, for warps without
    /// tensor cores: D = A B + C for the warp's 16 x 8 x 8 tiles held in the fragment layout of
    /// <see cref="GemmTf32Kernel{TMma}"/>, each lane gathering its row of A and column pair of B from
    /// the lanes that hold them (warp shuffles; every lane of the warp must call it). Products of
    /// TF32 values are exact in FP32; the sum runs in FP32 in k order.
    /// </summary>
    internal static Frag4 MmaTf32Emulated(Frag4 d, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        float x0 = d.X0, x1 = d.X1, x2 = d.X2, x3 = d.X3;
        for (int k = 0; k < 8; k++)
        {
            int src = k & 3;
            uint aTop = k < 4 ? a0 : a2, aBottom = k < 4 ? a1 : a3, bk = k < 4 ? b0 : b1;
            float top = Interop.IntAsFloat(Warp.Shuffle(aTop, g * 4 + src));            // A(g, k): lane (g, k % 4)
            float bottom = Interop.IntAsFloat(Warp.Shuffle(aBottom, g * 4 + src));      // A(g + 8, k)
            float left = Interop.IntAsFloat(Warp.Shuffle(bk, 2 * t * 4 + src));         // B(k, 2t): lane (2t, k % 4)
            float right = Interop.IntAsFloat(Warp.Shuffle(bk, (2 * t + 1) * 4 + src));  // B(k, 2t + 1)
            x0 += top * left; x1 += top * right;
            x2 += bottom * left; x3 += bottom * right;
        }
        return new Frag4(x0, x1, x2, x3);
    }

    /// <summary>Epilogue of one accumulator fragment: rows <paramref name="row"/>, +8, columns
    /// <paramref name="col"/>, +1 (see <see cref="Frag4"/>).</summary>
    private static void GemmStore4(GemmArgs p, ArrayView<float> c, ArrayView<float> bias, int row, int col, Frag4 d)
    {
        GemmStore(p, c, bias, row, col, d.X0);
        GemmStore(p, c, bias, row, col + 1, d.X1);
        GemmStore(p, c, bias, row + 8, col, d.X2);
        GemmStore(p, c, bias, row + 8, col + 1, d.X3);
    }
}
