using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>A tensor seen as (N, C, S): batch, channels, and the spatial size per channel
/// (S = 1 for (N, C) data, H*W for NCHW).</summary>
public readonly record struct ChannelShape(int N, int C, int S)
{
    public int Count => N * S;                 // elements per channel
    public long Length => (long)N * C * S;
    public int Channel(int i) => i / S % C;
}

// Reductions: the sum of a whole tensor to a device scalar (scaled: mean), the per-channel sum
// (bias gradients: over rows of (N, C); over N and H*W for NCHW), and the backward of a sum
// (a device scalar broadcast). Sums accumulate in double on the host; on the device each group
// reduces in shared memory in a fixed order, so results are deterministic.
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, float, float>? sumAll;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ChannelShape, float>? channelSum;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, float, float>? broadcastScalar;

    /// <summary>result[0] = beta*result[0] + scale * sum(x).</summary>
    public void Sum(ArrayView<float> x, ArrayView<float> result, float scale = 1f, float beta = 0f)
    {
        Check.Length(result, 1, nameof(Sum), "result");
        if (IsHost)
        {
            double s = 0;
            foreach (float v in HostMemory.Span(x)) s += v;
            Span<float> r = HostMemory.Span(result);
            r[0] = (beta == 0f ? 0f : beta * r[0]) + (float)(scale * s);
            return;
        }
        if (Variant == KernelVariant.ClCpu) { SumClCpu(x, result, scale, beta); return; }
        (sumAll ??= Load<ArrayView<float>, ArrayView<float>, float, float>(SumKernel))(GroupPer(1), x, result, scale, beta);
    }

    /// <summary>result[c] = beta*result[c] + sum over n and s of x[n, c, s].</summary>
    public void ChannelSum(ChannelShape shape, ArrayView<float> x, ArrayView<float> result, float beta = 0f)
    {
        Check.Length(x, shape.Length, nameof(ChannelSum), "x");
        Check.Length(result, shape.C, nameof(ChannelSum), "result");
        if (IsHost) { HostChannelSum(shape, HostMemory.Span(x), HostMemory.Span(result), beta); return; }
        if (Variant == KernelVariant.ClCpu) { ChannelSumClCpu(shape, x, result, beta); return; }
        (channelSum ??= Load<ArrayView<float>, ArrayView<float>, ChannelShape, float>(ChannelSumKernel))(GroupPer(shape.C), x, result, shape, beta);
    }

    /// <summary>The backward of a scaled sum: gx[i] = beta*gx[i] + scale * g[0], g a device scalar.</summary>
    public void BroadcastScalar(ArrayView<float> g, ArrayView<float> gx, float scale = 1f, float beta = 0f)
    {
        Check.Length(g, 1, nameof(BroadcastScalar), "g");
        if (IsHost)
        {
            float v = scale * HostMemory.Span(g)[0];
            Span<float> o = HostMemory.Span(gx);
            if (beta == 0f) o.Fill(v); else for (int i = 0; i < o.Length; i++) o[i] = beta * o[i] + v;
            return;
        }
        (broadcastScalar ??= Load<ArrayView<float>, ArrayView<float>, float, float>(BroadcastScalarKernel))(Stride(gx.Length), g, gx, scale, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void HostChannelSum(ChannelShape sh, ReadOnlySpan<float> x, Span<float> result, float beta)
    {
        for (int c = 0; c < sh.C; c++) result[c] = beta == 0f ? 0f : beta * result[c];
        if (sh.S == 1)
        {
            // (N, C): add rows, contiguous in c.
            for (int n = 0; n < sh.N; n++)
            {
                ReadOnlySpan<float> row = x.Slice(n * sh.C, sh.C);
                for (int c = 0; c < sh.C; c++) result[c] += row[c];
            }
            return;
        }
        for (int c = 0; c < sh.C; c++)
        {
            double s = 0;
            for (int n = 0; n < sh.N; n++)
                foreach (float v in x.Slice((n * sh.C + c) * sh.S, sh.S)) s += v;
            result[c] += (float)s;
        }
    }

    /// <summary>Sums v over the group (GroupSize threads) in shared memory; every thread gets the sum.</summary>
    private static float GroupSum(float v)
    {
        var shared = SharedMemory.Allocate<float>(GroupSize);
        int t = Group.IdxX;
        shared[t] = v;
        Group.Barrier();
        for (int s = GroupSize / 2; s > 0; s >>= 1)
        {
            if (t < s) shared[t] += shared[t + s];
            Group.Barrier();
        }
        float sum = shared[0];
        Group.Barrier();        // the next call may reuse the memory
        return sum;
    }

    /// <summary>Index of element e (0 <= e < N*S) of channel c.</summary>
    private static int At(ChannelShape sh, int c, int e) => (e / sh.S * sh.C + c) * sh.S + e % sh.S;

    private static void SumKernel(ArrayView<float> x, ArrayView<float> result, float scale, float beta)
    {
        float s = 0f;
        for (int i = Group.IdxX; i < x.Length; i += Group.DimX) s += x[i];
        s = GroupSum(s);
        if (Group.IdxX == 0) result[0] = (beta == 0f ? 0f : beta * result[0]) + scale * s;
    }

    private static void ChannelSumKernel(ArrayView<float> x, ArrayView<float> result, ChannelShape sh, float beta)
    {
        int c = Grid.IdxX;
        float s = 0f;
        for (int e = Group.IdxX; e < sh.Count; e += Group.DimX) s += x[At(sh, c, e)];
        s = GroupSum(s);
        if (Group.IdxX == 0) result[c] = (beta == 0f ? 0f : beta * result[c]) + s;
    }

    private static void BroadcastScalarKernel(ArrayView<float> g, ArrayView<float> gx, float scale, float beta)
    {
        float v = scale * g[0];
        for (int i = Grid.GlobalIndex.X; i < gx.Length; i += GridStride)
            gx[i] = (beta == 0f ? 0f : beta * gx[i]) + v;
    }
}
