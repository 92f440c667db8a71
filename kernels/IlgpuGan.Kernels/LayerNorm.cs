using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>A tensor seen as N rows (samples) of L features, each row normalised on its own.</summary>
public readonly record struct RowShape(int N, int L)
{
    public long Length => (long)N * L;
}

/// <summary>The views of a layer-norm pass. Mean and Rstd (N) are written by the forward pass and
/// read by the backward; Gx, GGamma, GBeta may be left default to skip that gradient.</summary>
public readonly record struct LayerNormViews(
    ArrayView<float> X, ArrayView<float> Gamma, ArrayView<float> Beta, ArrayView<float> Mean, ArrayView<float> Rstd,
    ArrayView<float> Y, ArrayView<float> Gy, ArrayView<float> Gx, ArrayView<float> GGamma, ArrayView<float> GBeta);

// Layer norm over every dim but N (PyTorch's nn.LayerNorm(x.shape[1:]) with elementwise affine),
// forward and backward. Per row: mean, rstd = 1 / sqrt(biased variance + eps), x^ = (x - mean) rstd,
// y = x^ gamma + beta. Backward: g^ = gy gamma; gx = rstd (g^ - mean(g^) - x^ mean(g^ x^));
// ggamma = sum_n gy x^, gbeta = sum_n gy. Statistics are summed in double on the host; the ILGPU
// kernels use one thread per row (statistics, gx) or per feature (ggamma, gbeta), without barriers,
// so the GPU-style and the OpenCL-CPU variants share them.
public sealed partial class Kernels
{
    private Action<KernelConfig, LayerNormViews, RowShape, float>? layerNormStats, layerNormApply, layerNormGx;
    private Action<KernelConfig, LayerNormViews, RowShape, float, float>? layerNormParams;

    public void LayerNormForward(RowShape s, in LayerNormViews v, float eps)
    {
        Check.Length(v.X, s.Length, nameof(LayerNormForward), "x");
        Check.Length(v.Y, s.Length, nameof(LayerNormForward), "y");
        Check.Length(v.Gamma, s.L, nameof(LayerNormForward), "gamma");
        Check.Length(v.Beta, s.L, nameof(LayerNormForward), "beta");
        Check.Length(v.Mean, s.N, nameof(LayerNormForward), "mean");
        Check.Length(v.Rstd, s.N, nameof(LayerNormForward), "rstd");
        if (IsHost) { HostLayerNormForward(s, v, eps); return; }
        (layerNormStats ??= Load<LayerNormViews, RowShape, float>(LayerNormStatsKernel))(Stride(s.N), v, s, eps);
        (layerNormApply ??= Load<LayerNormViews, RowShape, float>(LayerNormApplyKernel))(Stride(s.Length), v, s, eps);
    }

    /// <summary>gx = betaX*gx + ..., ggamma = betaGamma*ggamma + ..., gbeta = betaBeta*gbeta + ...;
    /// a default view skips that gradient.</summary>
    public void LayerNormBackward(RowShape s, in LayerNormViews v, float betaX, float betaGamma, float betaBeta)
    {
        Check.Length(v.Gy, s.Length, nameof(LayerNormBackward), "gy");
        if (IsHost) { HostLayerNormBackward(s, v, betaX, betaGamma, betaBeta); return; }
        if (v.Gx.Length > 0)
            (layerNormGx ??= Load<LayerNormViews, RowShape, float>(LayerNormGxKernel))(Stride(s.N), v, s, betaX);
        if (v.GGamma.Length > 0 || v.GBeta.Length > 0)
            (layerNormParams ??= Load<LayerNormViews, RowShape, float, float>(LayerNormParamsKernel))(Stride(s.L), v, s, betaGamma, betaBeta);
    }

    // ---- host ----------------------------------------------------------------------------------

    private unsafe void HostLayerNormForward(RowShape s, LayerNormViews v, float eps)
    {
        float* x = HostMemory.Ptr(v.X), y = HostMemory.Ptr(v.Y), g = HostMemory.Ptr(v.Gamma), b = HostMemory.Ptr(v.Beta);
        float* mean = HostMemory.Ptr(v.Mean), rstd = HostMemory.Ptr(v.Rstd);
        HostForItems(s.N, 3L * s.L, (from, to) =>
        {
            for (int n = from; n < to; n++) HostLayerNormRow(x + (long)n * s.L, y + (long)n * s.L, g, b, s.L, eps, out mean[n], out rstd[n]);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HostLayerNormRow(float* x, float* y, float* g, float* b, int l, float eps, out float mean, out float rstd)
    {
        double sum = 0;
        for (int i = 0; i < l; i++) sum += x[i];
        double m = sum / l, sq = 0;
        for (int i = 0; i < l; i++) { double d = x[i] - m; sq += d * d; }
        mean = (float)m;
        rstd = (float)(1 / Math.Sqrt(sq / l + eps));
        float mf = mean, rf = rstd;
        for (int i = 0; i < l; i++) y[i] = (x[i] - mf) * rf * g[i] + b[i];
    }

    private unsafe void HostLayerNormBackward(RowShape s, LayerNormViews v, float betaX, float betaGamma, float betaBeta)
    {
        float* x = HostMemory.Ptr(v.X), gy = HostMemory.Ptr(v.Gy), g = HostMemory.Ptr(v.Gamma);
        float* mean = HostMemory.Ptr(v.Mean), rstd = HostMemory.Ptr(v.Rstd);
        if (v.Gx.Length > 0)
        {
            float* gx = HostMemory.Ptr(v.Gx);
            HostForItems(s.N, 3L * s.L, (from, to) =>
            {
                for (int n = from; n < to; n++)
                {
                    long o = (long)n * s.L;
                    float m = mean[n], r = rstd[n];
                    double a = 0, c = 0;
                    for (int i = 0; i < s.L; i++)
                    {
                        float gh = gy[o + i] * g[i];
                        a += gh;
                        c += gh * (x[o + i] - m) * r;
                    }
                    float ma = (float)(a / s.L), mc = (float)(c / s.L);
                    for (int i = 0; i < s.L; i++)
                    {
                        float xh = (x[o + i] - m) * r;
                        float val = r * (gy[o + i] * g[i] - ma - xh * mc);
                        gx[o + i] = betaX == 0f ? val : betaX * gx[o + i] + val;
                    }
                }
            });
        }
        if (v.GGamma.Length == 0 && v.GBeta.Length == 0) return;
        float* gg = v.GGamma.Length > 0 ? HostMemory.Ptr(v.GGamma) : null, gb = v.GBeta.Length > 0 ? HostMemory.Ptr(v.GBeta) : null;
        HostForItems(s.L, 2L * s.N, (from, to) =>
        {
            for (int i = from; i < to; i++)
            {
                double sg = 0, sb = 0;
                for (int n = 0; n < s.N; n++)
                {
                    long at = (long)n * s.L + i;
                    sg += gy[at] * ((x[at] - mean[n]) * rstd[n]);
                    sb += gy[at];
                }
                if (gg != null) gg[i] = (betaGamma == 0f ? 0f : betaGamma * gg[i]) + (float)sg;
                if (gb != null) gb[i] = (betaBeta == 0f ? 0f : betaBeta * gb[i]) + (float)sb;
            }
        });
    }

    // ---- ILGPU kernels --------------------------------------------------------------------------

    private static void LayerNormStatsKernel(LayerNormViews v, RowShape s, float eps)
    {
        for (int n = Grid.GlobalIndex.X; n < s.N; n += GridStride)
        {
            var (m, r) = RowStatistics(v.X, (long)n * s.L, s.L, eps);
            v.Mean[n] = m;
            v.Rstd[n] = r;
        }
    }

    /// <summary>Mean and 1 / sqrt(biased variance + eps) of x[o .. o + length), two passes, in one
    /// thread: the statistics of a layer-norm row and of an instance-norm plane.</summary>
    internal static (float Mean, float Rstd) RowStatistics(ArrayView<float> x, long o, int length, float eps)
    {
        float sum = 0f;
        for (int i = 0; i < length; i++) sum += x[o + i];
        float m = sum / length, sq = 0f;
        for (int i = 0; i < length; i++) { float d = x[o + i] - m; sq += d * d; }
        return (m, XMath.Rsqrt(sq / length + eps));
    }

    private static void LayerNormApplyKernel(LayerNormViews v, RowShape s, float eps)
    {
        for (int i = Grid.GlobalIndex.X; i < s.Length; i += GridStride)
        {
            int n = i / s.L, f = i % s.L;
            v.Y[i] = (v.X[i] - v.Mean[n]) * v.Rstd[n] * v.Gamma[f] + v.Beta[f];
        }
    }

    private static void LayerNormGxKernel(LayerNormViews v, RowShape s, float beta)
    {
        for (int n = Grid.GlobalIndex.X; n < s.N; n += GridStride)
        {
            long o = (long)n * s.L;
            float m = v.Mean[n], r = v.Rstd[n], a = 0f, c = 0f;
            for (int i = 0; i < s.L; i++)
            {
                float gh = v.Gy[o + i] * v.Gamma[i];
                a += gh;
                c += gh * (v.X[o + i] - m) * r;
            }
            a /= s.L; c /= s.L;
            for (int i = 0; i < s.L; i++)
            {
                float val = r * (v.Gy[o + i] * v.Gamma[i] - a - (v.X[o + i] - m) * r * c);
                v.Gx[o + i] = beta == 0f ? val : beta * v.Gx[o + i] + val;
            }
        }
    }

    private static void LayerNormParamsKernel(LayerNormViews v, RowShape s, float betaGamma, float betaBeta)
    {
        for (int i = Grid.GlobalIndex.X; i < s.L; i += GridStride)
        {
            float sg = 0f, sb = 0f;
            for (int n = 0; n < s.N; n++)
            {
                long at = (long)n * s.L + i;
                sg += v.Gy[at] * ((v.X[at] - v.Mean[n]) * v.Rstd[n]);
                sb += v.Gy[at];
            }
            if (v.GGamma.Length > 0) v.GGamma[i] = betaGamma == 0f ? sg : betaGamma * v.GGamma[i] + sg;
            if (v.GBeta.Length > 0) v.GBeta[i] = betaBeta == 0f ? sb : betaBeta * v.GBeta[i] + sb;
        }
    }
}
