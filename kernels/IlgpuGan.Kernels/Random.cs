using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>Where a random stream stands: a seed and the counter of the first number.</summary>
public readonly record struct RandomState(ulong Seed, ulong Offset);

// Random numbers, counter-based: number i of a stream is a hash of (seed, offset + i), so every
// thread computes its own values with no state to share (ILGPU's RNGView shares one state per
// "warp", and PoCL's warps are 4096 wide), any grid shape gives the same numbers, and the host
// and device variants give the same bits (up to the last ulp of log/cos for normals).
// Normals use Box-Muller on the pair (2j, 2j+1): element 2j takes the cosine, 2j+1 the sine.
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, RandomState, float, float>? uniform;
    private Action<KernelConfig, ArrayView<float>, RandomState, float, float>? normal;

    /// <summary>What one host draw costs, in elementwise passes' elements (a hash, and for a normal a
    /// logarithm, a square root and a cosine): a batch's noise (64 x 100) is split over the cores. The
    /// counter-based draws give the same numbers however the range is split.</summary>
    private const long DrawCost = 8;

    /// <summary>y ~ U[low, high); uses counters offset .. offset + n - 1.</summary>
    public unsafe void Uniform(ArrayView<float> y, RandomState state, float low, float high)
    {
        if (IsHost)
        {
            float* p = HostMemory.Ptr(y);
            HostForItems(checked((int)y.Length), DrawCost, (from, to) => { for (int i = from; i < to; i++) p[i] = low + (high - low) * UniformAt(state, i); });
            return;
        }
        (uniform ??= Load<ArrayView<float>, RandomState, float, float>(UniformKernel))(Stride(y.Length), y, state, low, high);
    }

    /// <summary>y ~ N(mean, std^2); uses counters offset .. offset + 2*ceil(n/2) - 1.</summary>
    public unsafe void Normal(ArrayView<float> y, RandomState state, float mean, float std)
    {
        if (IsHost)
        {
            float* p = HostMemory.Ptr(y);
            HostForItems(checked((int)y.Length), DrawCost, (from, to) => { for (int i = from; i < to; i++) p[i] = mean + std * NormalAt(state, i); });
            return;
        }
        (normal ??= Load<ArrayView<float>, RandomState, float, float>(NormalKernel))(Stride(y.Length), y, state, mean, std);
    }

    /// <summary>Counters consumed by a draw of n numbers (uniform or normal).</summary>
    public static ulong CountersFor(long n) => (ulong)(n + (n & 1));

    /// <summary>SplitMix64's finaliser over the seed-keyed counter.</summary>
    private static ulong Hash(RandomState s, long i)
    {
        ulong z = s.Seed * 0x9E3779B97F4A7C15UL + (s.Offset + (ulong)i) * 0xD1B54A32D192ED03UL + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A float in [0, 1) with 24 random bits.</summary>
    private static float UniformAt(RandomState s, long i) => (Hash(s, i) >> 40) * (1f / 16777216f);

    private static float NormalAt(RandomState s, long i)
    {
        long pair = i & ~1L;
        float u1 = 1f - UniformAt(s, pair);         // (0, 1]: the log is finite
        float u2 = UniformAt(s, pair + 1);
        float r = XMath.Sqrt(-2f * XMath.Log(u1));
        float angle = 2f * XMath.PI * u2;
        return (i & 1) == 0 ? r * XMath.Cos(angle) : r * XMath.Sin(angle);
    }

    private static void UniformKernel(ArrayView<float> y, RandomState state, float low, float high)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride) y[i] = low + (high - low) * UniformAt(state, i);
    }

    private static void NormalKernel(ArrayView<float> y, RandomState state, float mean, float std)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride) y[i] = mean + std * NormalAt(state, i);
    }
}
