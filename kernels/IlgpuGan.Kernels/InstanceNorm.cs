using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>The views of an instance-norm pass. Mean and Rstd (N*C) are written by the forward
/// pass and read by the backward. Gamma and Beta (C) are default (length 0) without an affine
/// transform; Gx, GGamma, GBeta may be left default to skip that gradient.</summary>
public readonly record struct InstanceNormViews(
    ArrayView<float> X, ArrayView<float> Gamma, ArrayView<float> Beta, ArrayView<float> Mean, ArrayView<float> Rstd,
    ArrayView<float> Y, ArrayView<float> Gy, ArrayView<float> Gx, ArrayView<float> GGamma, ArrayView<float> GBeta);

// Instance norm (PyTorch's F.instance_norm without running statistics: nn.InstanceNorm2d with
// track_running_stats=False, in training and eval alike), forward and backward, on x seen as
// (N, C, S = H*W). Per plane (n, c): mean, rstd = 1 / sqrt(biased variance + eps),
// x^ = (x - mean) rstd, y = x^ gamma[c] + beta[c] (gamma 1, beta 0 without affine).
// Backward: g^ = gy gamma[c]; gx = rstd (g^ - mean_s(g^) - x^ mean_s(g^ x^));
// ggamma[c] = sum over n, s of gy x^; gbeta[c] = sum of gy. The host sums in double; the ILGPU
// kernels use one thread per plane (statistics, gx) or per channel (ggamma, gbeta), with no
// barriers, so the GPU-style and the OpenCL-CPU variants share them.
public sealed partial class Kernels
{
    private Action<KernelConfig, InstanceNormViews, ChannelShape, float>? instanceNormStats, instanceNormApply, instanceNormGx, instanceNormParams;

    public void InstanceNormForward(ChannelShape s, in InstanceNormViews v, float eps)
    {
        Check.Length(v.X, s.Length, nameof(InstanceNormForward), "x");
        Check.Length(v.Y, s.Length, nameof(InstanceNormForward), "y");
        if (v.Gamma.Length > 0) Check.Length(v.Gamma, s.C, nameof(InstanceNormForward), "gamma");
        if (v.Beta.Length > 0) Check.Length(v.Beta, s.C, nameof(InstanceNormForward), "beta");
        Check.Length(v.Mean, (long)s.N * s.C, nameof(InstanceNormForward), "mean");
        Check.Length(v.Rstd, (long)s.N * s.C, nameof(InstanceNormForward), "rstd");
        if (IsHost) { HostInstanceNormForward(s, v, eps); return; }
        (instanceNormStats ??= Load<InstanceNormViews, ChannelShape, float>(InstanceNormStatsKernel))(Stride((long)s.N * s.C), v, s, eps);
        (instanceNormApply ??= Load<InstanceNormViews, ChannelShape, float>(InstanceNormApplyKernel))(Stride(s.Length), v, s, eps);
    }

    /// <summary>gx = betaX*gx + ..., ggamma/gbeta = betaParams*... + ...; a default view skips that gradient.</summary>
    public void InstanceNormBackward(ChannelShape s, in InstanceNormViews v, float betaX, float betaParams)
    {
        Check.Length(v.Gy, s.Length, nameof(InstanceNormBackward), "gy");
        if (v.Gx.Length > 0) Check.Length(v.Gx, s.Length, nameof(InstanceNormBackward), "gx");
        if (IsHost) { HostInstanceNormBackward(s, v, betaX, betaParams); return; }
        if (v.Gx.Length > 0)
            (instanceNormGx ??= Load<InstanceNormViews, ChannelShape, float>(InstanceNormGxKernel))(Stride((long)s.N * s.C), v, s, betaX);
        if (v.GGamma.Length > 0 || v.GBeta.Length > 0)
            (instanceNormParams ??= Load<InstanceNormViews, ChannelShape, float>(InstanceNormParamsKernel))(Stride(s.C), v, s, betaParams);
    }

    // ---- host ----------------------------------------------------------------------------------

    private unsafe void HostInstanceNormForward(ChannelShape s, InstanceNormViews v, float eps)
    {
        float* x = HostMemory.Ptr(v.X), y = HostMemory.Ptr(v.Y);
        float* g = v.Gamma.Length > 0 ? HostMemory.Ptr(v.Gamma) : null, b = v.Beta.Length > 0 ? HostMemory.Ptr(v.Beta) : null;
        float* mean = HostMemory.Ptr(v.Mean), rstd = HostMemory.Ptr(v.Rstd);
        HostForItems(s.N * s.C, 3L * s.S, (from, to) =>
        {
            for (int r = from; r < to; r++)
            {
                int c = r % s.C;
                HostInstanceNormPlane(x + (long)r * s.S, y + (long)r * s.S, g == null ? 1f : g[c], b == null ? 0f : b[c], s.S, eps, out mean[r], out rstd[r]);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HostInstanceNormPlane(float* x, float* y, float gamma, float beta, int l, float eps, out float mean, out float rstd)
    {
        double sum = 0;
        for (int i = 0; i < l; i++) sum += x[i];
        double m = sum / l, sq = 0;
        for (int i = 0; i < l; i++) { double d = x[i] - m; sq += d * d; }
        mean = (float)m;
        rstd = (float)(1 / Math.Sqrt(sq / l + eps));
        float mf = mean, k = rstd * gamma;
        for (int i = 0; i < l; i++) y[i] = (x[i] - mf) * k + beta;
    }

    private unsafe void HostInstanceNormBackward(ChannelShape s, InstanceNormViews v, float betaX, float betaParams)
    {
        float* x = HostMemory.Ptr(v.X), gy = HostMemory.Ptr(v.Gy);
        float* g = v.Gamma.Length > 0 ? HostMemory.Ptr(v.Gamma) : null;
        float* mean = HostMemory.Ptr(v.Mean), rstd = HostMemory.Ptr(v.Rstd);
        if (v.Gx.Length > 0)
        {
            float* gx = HostMemory.Ptr(v.Gx);
            HostForItems(s.N * s.C, 3L * s.S, (from, to) =>
            {
                for (int r = from; r < to; r++)
                {
                    long o = (long)r * s.S;
                    float m = mean[r], rs = rstd[r], gamma = g == null ? 1f : g[r % s.C];
                    double a = 0, c = 0;
                    for (int i = 0; i < s.S; i++)
                    {
                        float gh = gy[o + i] * gamma;
                        a += gh;
                        c += gh * (x[o + i] - m) * rs;
                    }
                    float ma = (float)(a / s.S), mc = (float)(c / s.S);
                    for (int i = 0; i < s.S; i++)
                    {
                        float xh = (x[o + i] - m) * rs;
                        float val = rs * (gy[o + i] * gamma - ma - xh * mc);
                        gx[o + i] = betaX == 0f ? val : betaX * gx[o + i] + val;
                    }
                }
            });
        }
        if (v.GGamma.Length == 0 && v.GBeta.Length == 0) return;
        float* gg = v.GGamma.Length > 0 ? HostMemory.Ptr(v.GGamma) : null, gb = v.GBeta.Length > 0 ? HostMemory.Ptr(v.GBeta) : null;
        HostForItems(s.C, 2L * s.N * s.S, (from, to) =>
        {
            for (int c = from; c < to; c++)
            {
                double sg = 0, sb = 0;
                for (int n = 0; n < s.N; n++)
                {
                    int r = n * s.C + c;
                    long o = (long)r * s.S;
                    float m = mean[r], rs = rstd[r];
                    for (int i = 0; i < s.S; i++)
                    {
                        sg += gy[o + i] * ((x[o + i] - m) * rs);
                        sb += gy[o + i];
                    }
                }
                if (gg != null) gg[c] = (betaParams == 0f ? 0f : betaParams * gg[c]) + (float)sg;
                if (gb != null) gb[c] = (betaParams == 0f ? 0f : betaParams * gb[c]) + (float)sb;
            }
        });
    }

    // ---- ILGPU kernels --------------------------------------------------------------------------

    private static void InstanceNormStatsKernel(InstanceNormViews v, ChannelShape s, float eps)
    {
        for (int r = Grid.GlobalIndex.X; r < s.N * s.C; r += GridStride)
        {
            var (m, rstd) = RowStatistics(v.X, (long)r * s.S, s.S, eps);
            v.Mean[r] = m;
            v.Rstd[r] = rstd;
        }
    }

    private static void InstanceNormApplyKernel(InstanceNormViews v, ChannelShape s, float eps)
    {
        for (int i = Grid.GlobalIndex.X; i < s.Length; i += GridStride)
        {
            int r = i / s.S, c = r % s.C;
            float gamma = v.Gamma.Length > 0 ? v.Gamma[c] : 1f, beta = v.Beta.Length > 0 ? v.Beta[c] : 0f;
            v.Y[i] = (v.X[i] - v.Mean[r]) * v.Rstd[r] * gamma + beta;
        }
    }

    private static void InstanceNormGxKernel(InstanceNormViews v, ChannelShape s, float beta)
    {
        for (int r = Grid.GlobalIndex.X; r < s.N * s.C; r += GridStride)
        {
            long o = (long)r * s.S;
            float gamma = v.Gamma.Length > 0 ? v.Gamma[r % s.C] : 1f;
            float m = v.Mean[r], rs = v.Rstd[r], a = 0f, c = 0f;
            for (int i = 0; i < s.S; i++)
            {
                float gh = v.Gy[o + i] * gamma;
                a += gh;
                c += gh * (v.X[o + i] - m) * rs;
            }
            a /= s.S; c /= s.S;
            for (int i = 0; i < s.S; i++)
            {
                float val = rs * (v.Gy[o + i] * gamma - a - (v.X[o + i] - m) * rs * c);
                v.Gx[o + i] = beta == 0f ? val : beta * v.Gx[o + i] + val;
            }
        }
    }

    private static void InstanceNormParamsKernel(InstanceNormViews v, ChannelShape s, float beta)
    {
        for (int c = Grid.GlobalIndex.X; c < s.C; c += GridStride)
        {
            float sg = 0f, sb = 0f;
            for (int n = 0; n < s.N; n++)
            {
                int r = n * s.C + c;
                long o = (long)r * s.S;
                float m = v.Mean[r], rs = v.Rstd[r];
                for (int i = 0; i < s.S; i++)
                {
                    sg += v.Gy[o + i] * ((v.X[o + i] - m) * rs);
                    sb += v.Gy[o + i];
                }
            }
            if (v.GGamma.Length > 0) v.GGamma[c] = beta == 0f ? sg : beta * v.GGamma[c] + sg;
            if (v.GBeta.Length > 0) v.GBeta[c] = beta == 0f ? sb : beta * v.GBeta[c] + sb;
        }
    }
}
