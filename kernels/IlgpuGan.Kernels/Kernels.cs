using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.OpenCL;

namespace IlgpuGan.Kernels;

/// <summary>Which implementation of each op runs; chosen on the host once per accelerator.</summary>
public enum KernelVariant
{
    /// <summary>Managed SIMD code on the host, over CPU-accelerator memory (the fast CPU path).</summary>
    Host,
    /// <summary>GPU-style ILGPU kernels (shared memory, barriers): CUDA and OpenCL GPUs; also run on
    /// the CPU accelerator in the tests.</summary>
    Gpu,
    /// <summary>Barrier-free ILGPU kernels for OpenCL CPU devices (PoCL): a register-blocked GEMM and
    /// reductions without shared memory, a chunked Adam (Gemm.ClCpu.cs, Reductions.ClCpu.cs,
    /// Optimizers.ClCpu.cs). Ops whose <see cref="Gpu"/> kernels have no barrier (the elementwise
    /// ones) share those, launched with one work-item per element.</summary>
    ClCpu,
}

/// <summary>
/// Every op of IlgpuGan, bound to one accelerator. Each kernel family lives in its own file
/// (forward and backward side by side) as a part of this class: a host reference/fast path, the
/// ILGPU kernels, and the dispatching method with the op's one signature. ILGPU kernels are
/// loaded (compiled) once, on first use. Ops enqueue work on the accelerator's default stream and
/// never synchronise; host-variant ops run synchronously on the calling thread.
/// </summary>
public sealed partial class Kernels
{
    /// <summary>Threads per group of the GPU-style kernels.</summary>
    public const int GroupSize = 256;

    public Accelerator Accelerator { get; }
    public KernelVariant Variant { get; }

    /// <summary>Groups to launch for a grid-stride loop over n elements.</summary>
    private readonly int maxGroups;

    public Kernels(Accelerator accelerator, KernelVariant? variant = null)
    {
        Accelerator = accelerator;
        Variant = variant ?? DefaultVariant(accelerator);
        if (Variant == KernelVariant.Host && accelerator.AcceleratorType != AcceleratorType.CPU)
            throw new ArgumentException("The host variant needs CPU-accelerator memory.", nameof(variant));
        // Enough groups to fill the device a few times over; grid-stride loops cover the rest.
        maxGroups = Math.Max(1, accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / GroupSize) * 4);
        AllowTf32 = Tf32FromEnvironment();
    }

    /// <summary>The variant measured to be fastest on each backend (README: Performance, OpenCL on this CPU).</summary>
    public static KernelVariant DefaultVariant(Accelerator accelerator) => accelerator switch
    {
        CPUAccelerator => KernelVariant.Host,
        CLAccelerator cl when cl.DeviceType.HasFlag(CLDeviceType.CL_DEVICE_TYPE_CPU) => KernelVariant.ClCpu,
        _ => KernelVariant.Gpu,
    };

    private bool IsHost => Variant == KernelVariant.Host;

    /// <summary>A launch configuration for a grid-stride loop over <paramref name="n"/> elements. On
    /// OpenCL CPU devices (ClCpu) one work-item per element, so that each loop runs once: PoCL runs
    /// a group's work-items one after another on a core, and a work-item striding through memory
    /// made these kernels ~50x slower (4M-element fill: 175 ms with 128 groups, 2.5 ms this way).</summary>
    private KernelConfig Stride(long n) => Variant == KernelVariant.ClCpu
        ? new((int)Math.Max(1, (n + GroupSize - 1) / GroupSize), GroupSize)
        : new((int)Math.Clamp((n + GroupSize - 1) / GroupSize, 1, maxGroups), GroupSize);

    /// <summary>One group per output item (per channel, per column, per scalar).</summary>
    private static KernelConfig GroupPer(int items) => new(Math.Max(items, 1), GroupSize);

    private Action<KernelConfig, T1, T2> Load<T1, T2>(Action<T1, T2> k)
        where T1 : struct where T2 : struct => Accelerator.LoadStreamKernel(k);
    private Action<KernelConfig, T1, T2, T3> Load<T1, T2, T3>(Action<T1, T2, T3> k)
        where T1 : struct where T2 : struct where T3 : struct => Accelerator.LoadStreamKernel(k);
    private Action<KernelConfig, T1, T2, T3, T4> Load<T1, T2, T3, T4>(Action<T1, T2, T3, T4> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct => Accelerator.LoadStreamKernel(k);
    private Action<KernelConfig, T1, T2, T3, T4, T5> Load<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct => Accelerator.LoadStreamKernel(k);
    private Action<KernelConfig, T1, T2, T3, T4, T5, T6> Load<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct => Accelerator.LoadStreamKernel(k);
}

/// <summary>Host access to CPU-accelerator memory for the host variant.</summary>
public static unsafe class HostMemory
{
    public static float* Ptr(ArrayView<float> v) => (float*)v.LoadEffectiveAddressAsPtr();
    public static Span<float> Span(ArrayView<float> v) => new(Ptr(v), checked((int)v.Length));
}
