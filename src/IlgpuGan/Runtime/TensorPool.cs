using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan;

/// <summary>
/// A caching allocator: buffers freed at the end of a step go back on a free list keyed by
/// their rounded size and are handed out again, so a training loop stops allocating device
/// memory after its first steps (<see cref="Allocations"/> stops growing).
/// </summary>
public sealed class TensorPool : IDisposable
{
    private const long Granule = 64;     // floats: 256-byte buckets keep alignment for SIMD and coalescing
    private readonly Accelerator accelerator;
    private readonly Dictionary<long, Stack<MemoryBuffer1D<float, Stride1D.Dense>>> free = new();
    private readonly List<MemoryBuffer1D<float, Stride1D.Dense>> all = new();

    internal TensorPool(Accelerator accelerator) => this.accelerator = accelerator;

    /// <summary>Device allocations made so far (a rent served from the cache makes none).</summary>
    public long Allocations { get; private set; }
    /// <summary>Bytes held by the pool: in use plus cached.</summary>
    public long ReservedBytes { get; private set; }
    public long InUseBytes { get; private set; }
    public long PeakInUseBytes { get; private set; }

    internal MemoryBuffer1D<float, Stride1D.Dense> Rent(long length)
    {
        long size = Round(length);
        if (!free.TryGetValue(size, out var stack) || !stack.TryPop(out var buffer))
        {
            buffer = accelerator.Allocate1D<float>(size);
            all.Add(buffer);
            Allocations++;
            ReservedBytes += size * sizeof(float);
        }
        InUseBytes += size * sizeof(float);
        PeakInUseBytes = Math.Max(PeakInUseBytes, InUseBytes);
        return buffer;
    }

    internal void Return(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        if (!free.TryGetValue(buffer.Length, out var stack)) free[buffer.Length] = stack = new();
        stack.Push(buffer);
        InUseBytes -= buffer.Length * sizeof(float);
    }

    private static long Round(long length) => Math.Max(Granule, (length + Granule - 1) / Granule * Granule);

    public void Dispose()
    {
        foreach (var b in all) b.Dispose();
        all.Clear();
        free.Clear();
    }
}
