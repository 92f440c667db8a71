using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

// ClCpu variants of the reductions: no shared memory, no barriers (see Gemm.ClCpu.cs for why).
// - Per-channel reductions (channel sums, batch-norm statistics and backward): one work-item per
//   channel walks its N*S elements in order. For (N, C) data adjacent work-items read adjacent
//   addresses, which PoCL vectorises across work-items.
// - Whole-tensor sums (Sum, the BCE loss): two launches. Work-item t sums its contiguous chunk into
//   a partial; then one work-item adds the partials in order. Both are deterministic.
public sealed partial class Kernels
{
    /// <summary>Partial sums of a whole-tensor reduction (at most this many).</summary>
    private const int ClPartials = 256;
    /// <summary>Elements per partial, at least (so small tensors use few partials).</summary>
    private const int ClChunk = 4096;

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int>? clPartialSum;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? clPartialBce;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, float, float>? clFinishSum;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ChannelShape, float>? clChannelSum;
    private Action<KernelConfig, BatchNormViews, ChannelShape, BatchNormArgs>? clBnTrain;
    private Action<KernelConfig, BatchNormGrads, ChannelShape, float, float>? clBnBackward;
    private MemoryBuffer1D<float, Stride1D.Dense>? clPartials;

    /// <summary>The partials buffer and how many partials (and elements per partial) n elements use.</summary>
    private (ArrayView<float> Partials, int Count, int Chunk) ClSplit(long n)
    {
        clPartials ??= Accelerator.Allocate1D<float>(ClPartials);
        int count = (int)Math.Clamp((n + ClChunk - 1) / ClChunk, 1, ClPartials);
        int chunk = (int)((n + count - 1) / count);
        return (clPartials.View, count, Math.Max(chunk, 1));
    }

    /// <summary>result[0] = beta*result[0] + scale * sum(x).</summary>
    private void SumClCpu(ArrayView<float> x, ArrayView<float> result, float scale, float beta)
    {
        var (partials, count, chunk) = ClSplit(x.Length);
        (clPartialSum ??= Load<ArrayView<float>, ArrayView<float>, int, int>(ClPartialSumKernel))(
            ClStride(count), x, partials, count, chunk);
        (clFinishSum ??= Load<ArrayView<float>, ArrayView<float>, int, float, float>(ClFinishSumKernel))(
            new KernelConfig(1, 1), partials, result, count, scale, beta);
    }

    /// <summary>loss[0] = mean over i of the BCE term of (x[i], target[i]).</summary>
    private void BceWithLogitsClCpu(ArrayView<float> x, ArrayView<float> target, ArrayView<float> loss)
    {
        var (partials, count, chunk) = ClSplit(x.Length);
        (clPartialBce ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ClPartialBceKernel))(
            ClStride(count), x, target, partials, count, chunk);
        (clFinishSum ??= Load<ArrayView<float>, ArrayView<float>, int, float, float>(ClFinishSumKernel))(
            new KernelConfig(1, 1), partials, loss, count, x.Length == 0 ? 0f : 1f / x.Length, 0f);
    }

    private void ChannelSumClCpu(ChannelShape shape, ArrayView<float> x, ArrayView<float> result, float beta) =>
        (clChannelSum ??= Load<ArrayView<float>, ArrayView<float>, ChannelShape, float>(ClChannelSumKernel))(
            ClStride(shape.C), x, result, shape, beta);

    private void BatchNormForwardTrainingClCpu(ChannelShape sh, in BatchNormViews v, BatchNormArgs args) =>
        (clBnTrain ??= Load<BatchNormViews, ChannelShape, BatchNormArgs>(ClBatchNormTrainingKernel))(ClStride(sh.C), v, sh, args);

    private void BatchNormBackwardClCpu(ChannelShape sh, in BatchNormGrads g, float betaX, float betaParams) =>
        (clBnBackward ??= Load<BatchNormGrads, ChannelShape, float, float>(ClBatchNormBackwardKernel))(ClStride(sh.C), g, sh, betaX, betaParams);

    // ---- kernels --------------------------------------------------------------------------------

    private static void ClPartialSumKernel(ArrayView<float> x, ArrayView<float> partials, int count, int chunk)
    {
        for (int t = Grid.GlobalIndex.X; t < count; t += GridStride)
        {
            long start = (long)t * chunk, end = start + chunk < x.Length ? start + chunk : x.Length;
            float s = 0f;
            for (long i = start; i < end; i++) s += x[i];
            partials[t] = s;
        }
    }

    private static void ClPartialBceKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> partials, int count, int chunk)
    {
        for (int t = Grid.GlobalIndex.X; t < count; t += GridStride)
        {
            long start = (long)t * chunk, end = start + chunk < x.Length ? start + chunk : x.Length;
            float s = 0f;
            for (long i = start; i < end; i++) s += BceTerm(x[i], target[i]);
            partials[t] = s;
        }
    }

    private static void ClFinishSumKernel(ArrayView<float> partials, ArrayView<float> result, int count, float scale, float beta)
    {
        if (Grid.GlobalIndex.X != 0) return;
        float s = 0f;
        for (int t = 0; t < count; t++) s += partials[t];
        result[0] = (beta == 0f ? 0f : beta * result[0]) + scale * s;
    }

    private static void ClChannelSumKernel(ArrayView<float> x, ArrayView<float> result, ChannelShape sh, float beta)
    {
        for (int c = Grid.GlobalIndex.X; c < sh.C; c += GridStride)
        {
            float s = 0f;
            for (int n = 0; n < sh.N; n++)
            {
                long o = ((long)n * sh.C + c) * sh.S;
                for (int i = 0; i < sh.S; i++) s += x[o + i];
            }
            result[c] = (beta == 0f ? 0f : beta * result[c]) + s;
        }
    }

    /// <summary>Per channel: mean, then the centred sum of squares (two passes, as the other
    /// variants), the saved and running statistics, then y.</summary>
    private static void ClBatchNormTrainingKernel(BatchNormViews v, ChannelShape sh, BatchNormArgs a)
    {
        int m = sh.Count;
        for (int c = Grid.GlobalIndex.X; c < sh.C; c += GridStride)
        {
            float s = 0f;
            for (int n = 0; n < sh.N; n++)
            {
                long o = ((long)n * sh.C + c) * sh.S;
                for (int i = 0; i < sh.S; i++) s += v.X[o + i];
            }
            float mean = s / m;
            float q = 0f;
            for (int n = 0; n < sh.N; n++)
            {
                long o = ((long)n * sh.C + c) * sh.S;
                for (int i = 0; i < sh.S; i++) { float d = v.X[o + i] - mean; q += d * d; }
            }
            float invStd = XMath.Rsqrt(q / m + a.Eps);
            float scale = v.Gamma[c] * invStd, shift = v.Beta[c] - mean * scale;
            for (int n = 0; n < sh.N; n++)
            {
                long o = ((long)n * sh.C + c) * sh.S;
                for (int i = 0; i < sh.S; i++) v.Y[o + i] = v.X[o + i] * scale + shift;
            }
            v.SaveMean[c] = mean;
            v.SaveInvStd[c] = invStd;
            v.RunningMean[c] = (1 - a.Momentum) * v.RunningMean[c] + a.Momentum * mean;
            v.RunningVar[c] = (1 - a.Momentum) * v.RunningVar[c] + a.Momentum * (m > 1 ? q / (m - 1) : q / m);
        }
    }

    private static void ClBatchNormBackwardKernel(BatchNormGrads g, ChannelShape sh, float betaX, float betaParams)
    {
        int m = sh.Count;
        for (int c = Grid.GlobalIndex.X; c < sh.C; c += GridStride)
        {
            float mu = g.SaveMean[c], inv = g.SaveInvStd[c];
            float sg = 0f, sgx = 0f;
            for (int n = 0; n < sh.N; n++)
            {
                long o = ((long)n * sh.C + c) * sh.S;
                for (int i = 0; i < sh.S; i++)
                {
                    float gy = g.GY[o + i];
                    sg += gy;
                    sgx += gy * (g.X[o + i] - mu) * inv;
                }
            }
            g.GBeta[c] = (betaParams == 0f ? 0f : betaParams * g.GBeta[c]) + sg;
            g.GGamma[c] = (betaParams == 0f ? 0f : betaParams * g.GGamma[c]) + sgx;
            float k = g.Gamma[c] * inv / m;
            for (int n = 0; n < sh.N; n++)
            {
                long o = ((long)n * sh.C + c) * sh.S;
                for (int i = 0; i < sh.S; i++)
                {
                    float d = k * (m * g.GY[o + i] - sg - (g.X[o + i] - mu) * inv * sgx);
                    g.GX[o + i] = (betaX == 0f ? 0f : betaX * g.GX[o + i]) + d;
                }
            }
        }
    }
}
