using IlgpuGan.Kernels;

namespace IlgpuGan;

/// <summary>
/// A seeded stream of random numbers for one device: every draw takes the next block of
/// counters, so the same seed gives the same numbers on every backend. Its whole state is
/// (Seed, Offset): save it with a checkpoint and restore it to resume exactly.
/// </summary>
public sealed class Generator(ulong seed)
{
    public ulong Seed { get; private set; } = seed;
    public ulong Offset { get; private set; }

    /// <summary>The state for a draw of n numbers, advancing the stream past them.</summary>
    public RandomState Next(long n)
    {
        var s = new RandomState(Seed, Offset);
        Offset += Kernels.Kernels.CountersFor(n);
        return s;
    }

    public void Restore(ulong seed, ulong offset) { Seed = seed; Offset = offset; }
}
