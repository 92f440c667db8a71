using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using IlgpuGan.Autograd;
using IlgpuGan.Kernels;

namespace IlgpuGan;

/// <summary>Which accelerator a <see cref="Device"/> runs on.</summary>
public enum AcceleratorKind { Auto, Cpu, OpenCL, Cuda }

/// <summary>
/// The one object everything hangs off: an ILGPU accelerator, its kernels (loaded once), the
/// caching memory pool, the autograd tape and the random-number generator. Either owns its
/// ILGPU context and accelerator (<see cref="Create"/>) or borrows the host application's
/// (<see cref="FromAccelerator"/>). Disposal order: tape, pool, then accelerator and context.
/// </summary>
public sealed class Device : IDisposable
{
    /// <summary>The environment variable that forces an accelerator: cpu, opencl or cuda.</summary>
    public const string AcceleratorVariable = "ILGPUGAN_ACCELERATOR";

    static Device() => NativeLibraries.Register();

    /// <summary>
    /// Lets ILGPU find libOpenCL.so.1 and libcuda.so.1 where no unversioned library name is
    /// installed (see <see cref="NativeLibraries"/>). Every <see cref="Device"/> factory calls it; an
    /// application that builds its own ILGPU context with OpenCL or CUDA calls it first.
    /// </summary>
    public static void PrepareNativeLibraries() => NativeLibraries.Register();

    private readonly Context? ownedContext;
    private readonly bool ownsAccelerator;
    private bool disposed;

    public Accelerator Accelerator { get; }
    public Kernels.Kernels Kernels { get; }
    public TensorPool Pool { get; }
    public Tape Tape { get; }
    public Generator Random { get; }
    public AcceleratorKind Kind { get; }

    private Device(Context? context, Accelerator accelerator, bool ownsAccelerator, KernelVariant? variant, ulong seed)
    {
        ownedContext = context;
        this.ownsAccelerator = ownsAccelerator;
        Accelerator = accelerator;
        Kind = accelerator.AcceleratorType switch
        {
            AcceleratorType.Cuda => AcceleratorKind.Cuda,
            AcceleratorType.OpenCL => AcceleratorKind.OpenCL,
            _ => AcceleratorKind.Cpu,
        };
        Kernels = new Kernels.Kernels(accelerator, variant);
        Pool = new TensorPool(accelerator);
        Tape = new Tape(this);
        Random = new Generator(seed);
    }

    /// <summary>A one-line description: backend, device name, kernel variant, and whether GEMMs run
    /// on TF32 tensor cores (<see cref="IlgpuGan.Kernels.Kernels.AllowTf32"/>).</summary>
    public override string ToString() =>
        $"{Kind.ToString().ToLowerInvariant()} ({Accelerator.Name}, {Kernels.Variant} kernels{(Kernels.UsesTf32 ? ", TF32 GEMM" : "")})";

    /// <summary>
    /// Picks an accelerator: the one forced by <paramref name="kind"/> (or, when that is Auto, by
    /// ILGPUGAN_ACCELERATOR), else CUDA if present, else an OpenCL device ILGPU supports, else the
    /// CPU. A forced accelerator that is missing is an error naming what was found.
    /// </summary>
    public static Device Create(AcceleratorKind kind = AcceleratorKind.Auto, ulong seed = 0, KernelVariant? variant = null)
    {
        if (kind == AcceleratorKind.Auto) kind = KindFromEnvironment();
        var context = Context.Create(b => b
            .CPU(HostSizedCpu())
            .Cuda()
            .OpenCL(IsUsableOpenCL)
            .EnableAlgorithms()
            .Optimize(OptimizationLevel.O2));
        try
        {
            var found = context.Devices.ToList();
            ILGPU.Runtime.Device? chosen = kind switch
            {
                AcceleratorKind.Cuda => found.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda),
                AcceleratorKind.OpenCL => found.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.OpenCL),
                AcceleratorKind.Cpu => found.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.CPU),
                _ => found.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.Cuda)
                     ?? found.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.OpenCL)
                     ?? found.FirstOrDefault(d => d.AcceleratorType == AcceleratorType.CPU),
            };
            if (chosen is null)
                throw new InvalidOperationException(
                    $"The {kind.ToString().ToLowerInvariant()} accelerator was asked for, but none is usable here. Found: " +
                    string.Join(", ", found.Select(d => $"{d.AcceleratorType.ToString().ToLowerInvariant()} ({d.Name})")) + ".");
            return new Device(context, chosen.CreateAccelerator(context), ownsAccelerator: true, variant, seed);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A device on the host application's own accelerator (and context), which it keeps owning:
    /// disposing this device frees only IlgpuGan's memory. The host must call
    /// <c>EnableAlgorithms()</c> on its context builder.
    /// </summary>
    public static Device FromAccelerator(Accelerator accelerator, ulong seed = 0, KernelVariant? variant = null) =>
        new(null, accelerator, ownsAccelerator: false, variant, seed);

    /// <summary>A CPU accelerator for GPU-style kernel tests: warp 32 and 1024-thread groups, as on a GPU.</summary>
    public static Device CreateGpuStyleCpu(ulong seed = 0)
    {
        var context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms().Optimize(OptimizationLevel.O1));
        return new Device(context, context.CreateCPUAccelerator(0), ownsAccelerator: true, KernelVariant.Gpu, seed);
    }

    /// <summary>A CPU accelerator running the barrier-free OpenCL-CPU kernels, for tests: the same
    /// kernels that run on PoCL, checked without an OpenCL runtime.</summary>
    public static Device CreateClCpuStyleCpu(ulong seed = 0)
    {
        // 256-thread groups for the elementwise kernels the variants share; the ClCpu kernels use 16.
        var cpu = new CPUDevice(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 64, numMultiprocessors: 1);
        var context = Context.Create(b => b.CPU(cpu).EnableAlgorithms().Optimize(OptimizationLevel.O1));
        return new Device(context, context.CreateCPUAccelerator(0), ownsAccelerator: true, KernelVariant.ClCpu, seed);
    }

    /// <summary>Parses cpu / opencl / cuda / auto (case-insensitive).</summary>
    public static AcceleratorKind ParseKind(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => AcceleratorKind.Auto,
        "cpu" => AcceleratorKind.Cpu,
        "opencl" or "cl" => AcceleratorKind.OpenCL,
        "cuda" => AcceleratorKind.Cuda,
        _ => throw new ArgumentException($"Unknown accelerator '{text}': use cpu, opencl, cuda or auto."),
    };

    private static AcceleratorKind KindFromEnvironment()
    {
        string? value = Environment.GetEnvironmentVariable(AcceleratorVariable);
        try { return ParseKind(value); }
        catch (ArgumentException e) { throw new ArgumentException($"{AcceleratorVariable}: {e.Message}"); }
    }

    /// <summary>One simulated multiprocessor per core: the host variant barely launches kernels.</summary>
    private static CPUDevice HostSizedCpu() =>
        new(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 4, numMultiprocessors: Math.Max(1, Environment.ProcessorCount));

    /// <summary>ILGPU's OpenCL backend needs OpenCL 2.0 C and generic address space.</summary>
    public static bool IsUsableOpenCL(CLDevice d) => d.CLStdVersion >= CLBackend.MinimumVersion && d.Capabilities.GenericAddressSpace;

    /// <summary>Waits for all work enqueued so far.</summary>
    public void Synchronize() => Accelerator.Synchronize();

    // ---- tensors ------------------------------------------------------------------------------

    /// <summary>A tensor that lives for the current step (returned to the pool when the step ends).</summary>
    public Tensor Empty(Shape shape) => Tape.Track(new Tensor(this, shape, Pool.Rent(shape.Length), persistent: false));

    /// <summary>A tensor that lives until disposed (parameters, optimizer state, fixed inputs).</summary>
    public Tensor Persistent(Shape shape, float fill = 0f)
    {
        var t = new Tensor(this, shape, Pool.Rent(shape.Length), persistent: true);
        Kernels.Fill(t.View, fill);
        return t;
    }

    public Tensor Persistent(Shape shape, ReadOnlySpan<float> values)
    {
        var t = new Tensor(this, shape, Pool.Rent(shape.Length), persistent: true);
        t.CopyFrom(values);
        return t;
    }

    /// <summary>A tensor over the host application's own memory; never freed by IlgpuGan.</summary>
    public Tensor Wrap(ArrayView<float> view, Shape shape)
    {
        if (view.Length != shape.Length)
            throw new ArgumentException($"The view has {view.Length} elements; shape {shape} needs {shape.Length}.");
        return new Tensor(this, shape, view);
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Tape.Dispose();
        Pool.Dispose();
        Kernels.Dispose();
        if (ownsAccelerator) Accelerator.Dispose();
        ownedContext?.Dispose();
    }
}
