using System.Runtime.Intrinsics;
using System.Numerics.Tensors;
using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>Batch-norm hyper-parameters (PyTorch's defaults).</summary>
public readonly record struct BatchNormArgs(float Eps = 1e-5f, float Momentum = 0.1f);

// Batch norm over (N, C, S) — BatchNorm1d is S = 1, BatchNorm2d is S = H*W.
// Training: per-channel batch mean and biased variance normalise x; saveMean / saveInvStd keep
// them for the backward pass; running_mean/var move by momentum (running_var takes the unbiased
// variance, as in PyTorch). Eval: the running statistics normalise x.
// Backward (M = N*S, xh = (x - mean) * invstd):
//   gbeta = sum gy, ggamma = sum gy*xh, gx = gamma*invstd/M * (M*gy - gbeta - xh*ggamma).
public sealed partial class Kernels
{
    private Action<KernelConfig, BatchNormViews, ChannelShape, BatchNormArgs>? bnTrain;
    private Action<KernelConfig, BatchNormViews, ChannelShape, BatchNormArgs>? bnEval;
    private Action<KernelConfig, BatchNormGrads, ChannelShape, float, float>? bnBackward;

    public void BatchNormForwardTraining(ChannelShape sh, in BatchNormViews v, BatchNormArgs args)
    {
        v.Validate(sh);
        if (IsHost && sh.S == 1) { HostBatchNormRowsTraining(sh, v, args); return; }
        if (IsHost) { HostBatchNormTraining(sh, v, args); return; }
        if (Variant == KernelVariant.ClCpu) { BatchNormForwardTrainingClCpu(sh, v, args); return; }
        (bnTrain ??= Load<BatchNormViews, ChannelShape, BatchNormArgs>(BatchNormTrainingKernel))(GroupPer(sh.C), v, sh, args);
    }

    public unsafe void BatchNormForwardEval(ChannelShape sh, in BatchNormViews v, BatchNormArgs args)
    {
        v.Validate(sh);
        if (IsHost)
        {
            float* x = HostMemory.Ptr(v.X), y = HostMemory.Ptr(v.Y);
            for (int c = 0; c < sh.C; c++)
            {
                float invStd = 1f / MathF.Sqrt(v.RunningVar.At(c) + args.Eps);
                float scale = v.Gamma.At(c) * invStd, shift = v.Beta.At(c) - v.RunningMean.At(c) * scale;
                for (int n = 0; n < sh.N; n++)
                {
                    long o = ((long)n * sh.C + c) * sh.S;
                    Affine(y + o, x + o, sh.S, scale, shift);
                }
            }
            return;
        }
        (bnEval ??= Load<BatchNormViews, ChannelShape, BatchNormArgs>(BatchNormEvalKernel))(Stride(sh.Length), v, sh, args);
    }

    /// <summary>gx = betaX*gx + dx; ggamma = betaParams*ggamma + dgamma; gbeta likewise.</summary>
    public void BatchNormBackward(ChannelShape sh, in BatchNormGrads g, float betaX, float betaParams)
    {
        g.Validate(sh);
        if (IsHost && sh.S == 1) { HostBatchNormRowsBackward(sh, g, betaX, betaParams); return; }
        if (IsHost) { HostBatchNormBackward(sh, g, betaX, betaParams); return; }
        if (Variant == KernelVariant.ClCpu) { BatchNormBackwardClCpu(sh, g, betaX, betaParams); return; }
        (bnBackward ??= Load<BatchNormGrads, ChannelShape, float, float>(BatchNormBackwardKernel))(GroupPer(sh.C), g, sh, betaX, betaParams);
    }

    // ---- host -----------------------------------------------------------------------------------

    // (N, C, H, W) data (BatchNorm2d): each channel is N runs of S contiguous values. Channels are
    // independent, so they are split over the cores; runs are reduced with SIMD into float partial
    // sums, accumulated per channel in double.

    private unsafe void HostBatchNormTraining(ChannelShape sh, BatchNormViews v, BatchNormArgs a)
    {
        float* x = HostMemory.Ptr(v.X), y = HostMemory.Ptr(v.Y);
        float* mean = HostMemory.Ptr(v.SaveMean), inv = HostMemory.Ptr(v.SaveInvStd);
        float* gamma = HostMemory.Ptr(v.Gamma), beta = HostMemory.Ptr(v.Beta);
        float* rm = HostMemory.Ptr(v.RunningMean), rv = HostMemory.Ptr(v.RunningVar);
        HostForItems(sh.C, (long)sh.N * sh.S, (c0, c1) =>
        {
            int m = sh.Count;
            for (int c = c0; c < c1; c++)
            {
                double sum = 0, sq = 0;
                for (int n = 0; n < sh.N; n++) sum += TensorPrimitives.Sum(new ReadOnlySpan<float>(x + ((long)n * sh.C + c) * sh.S, sh.S));
                double mu = sum / m;
                for (int n = 0; n < sh.N; n++) sq += SumSquaredDiff(x + ((long)n * sh.C + c) * sh.S, sh.S, (float)mu);
                double var = sq / m;
                float invStd = (float)(1.0 / Math.Sqrt(var + a.Eps));
                mean[c] = (float)mu;
                inv[c] = invStd;
                rm[c] = (1 - a.Momentum) * rm[c] + a.Momentum * (float)mu;
                float unbiased = m > 1 ? (float)(sq / (m - 1)) : (float)var;
                rv[c] = (1 - a.Momentum) * rv[c] + a.Momentum * unbiased;
                float scale = gamma[c] * invStd, shift = beta[c] - (float)mu * scale;
                for (int n = 0; n < sh.N; n++)
                {
                    long o = ((long)n * sh.C + c) * sh.S;
                    Affine(y + o, x + o, sh.S, scale, shift);
                }
            }
        });
    }

    private unsafe void HostBatchNormBackward(ChannelShape sh, BatchNormGrads g, float betaX, float betaParams)
    {
        float* x = HostMemory.Ptr(g.X), gy = HostMemory.Ptr(g.GY), gx = HostMemory.Ptr(g.GX);
        float* mean = HostMemory.Ptr(g.SaveMean), inv = HostMemory.Ptr(g.SaveInvStd), gamma = HostMemory.Ptr(g.Gamma);
        float* ggamma = HostMemory.Ptr(g.GGamma), gbeta = HostMemory.Ptr(g.GBeta);
        HostForItems(sh.C, (long)sh.N * sh.S, (c0, c1) =>
        {
            int m = sh.Count;
            for (int c = c0; c < c1; c++)
            {
                float mu = mean[c], iv = inv[c];
                double sg = 0, sgd = 0;
                for (int n = 0; n < sh.N; n++)
                {
                    long o = ((long)n * sh.C + c) * sh.S;
                    var (a, b) = SumAndDot(gy + o, x + o, sh.S, mu);
                    sg += a; sgd += b;
                }
                float gb = (float)sg, gg = (float)(sgd * iv);
                gbeta[c] = (betaParams == 0f ? 0f : betaParams * gbeta[c]) + gb;
                ggamma[c] = (betaParams == 0f ? 0f : betaParams * ggamma[c]) + gg;
                // gx = k (m gy - gb - xhat gg) with xhat = (x - mu) inv: an affine map of (gy, x).
                float k = gamma[c] * iv / m;
                float cg = k * m, cx = -k * gg * iv, c0x = -k * gb + k * gg * iv * mu;
                for (int n = 0; n < sh.N; n++)
                {
                    long o = ((long)n * sh.C + c) * sh.S;
                    Combine(gx + o, gy + o, x + o, sh.S, cg, cx, c0x, betaX);
                }
            }
        });
    }

    /// <summary>The sum of (p[i] - mu)^2.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double SumSquaredDiff(float* p, int n, float mu)
    {
        var acc = Vector512<float>.Zero; var vm = Vector512.Create(mu);
        int i = 0;
        for (; i + 16 <= n; i += 16) { var d = Vector512.Load(p + i) - vm; acc = Vector512.FusedMultiplyAdd(d, d, acc); }
        double s = Vector512.Sum(acc);
        for (; i < n; i++) { double d = p[i] - mu; s += d * d; }
        return s;
    }

    /// <summary>(sum of g[i], sum of g[i] (x[i] - mu)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe (double, double) SumAndDot(float* g, float* x, int n, float mu)
    {
        var a = Vector512<float>.Zero; var b = Vector512<float>.Zero; var vm = Vector512.Create(mu);
        int i = 0;
        for (; i + 16 <= n; i += 16) { var gv = Vector512.Load(g + i); a += gv; b = Vector512.FusedMultiplyAdd(gv, Vector512.Load(x + i) - vm, b); }
        double sa = Vector512.Sum(a), sb = Vector512.Sum(b);
        for (; i < n; i++) { sa += g[i]; sb += g[i] * (x[i] - mu); }
        return (sa, sb);
    }

    /// <summary>y = x scale + shift.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Affine(float* y, float* x, int n, float scale, float shift)
    {
        var vs = Vector512.Create(scale); var vt = Vector512.Create(shift);
        int i = 0;
        for (; i + 16 <= n; i += 16) Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(x + i), vs, vt), y + i);
        for (; i < n; i++) y[i] = x[i] * scale + shift;
    }

    /// <summary>gx = beta gx + cg gy + cx x + c0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Combine(float* gx, float* gy, float* x, int n, float cg, float cx, float c0, float beta)
    {
        var vg = Vector512.Create(cg); var vx = Vector512.Create(cx); var v0 = Vector512.Create(c0); var vb = Vector512.Create(beta);
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var d = Vector512.FusedMultiplyAdd(Vector512.Load(gy + i), vg, Vector512.FusedMultiplyAdd(Vector512.Load(x + i), vx, v0));
            if (beta != 0f) d = Vector512.FusedMultiplyAdd(Vector512.Load(gx + i), vb, d);
            Vector512.Store(d, gx + i);
        }
        for (; i < n; i++) { float d = cg * gy[i] + cx * x[i] + c0; gx[i] = beta == 0f ? d : beta * gx[i] + d; }
    }

    // (N, C) data (BatchNorm1d): rows are contiguous in c, so every pass runs along rows with SIMD
    // over channels; per-channel sums accumulate in float across the N rows.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HostBatchNormRowsTraining(ChannelShape sh, BatchNormViews v, BatchNormArgs a)
    {
        int n = sh.N, c = sh.C;
        float* x = HostMemory.Ptr(v.X), y = HostMemory.Ptr(v.Y);
        float* mean = HostMemory.Ptr(v.SaveMean), inv = HostMemory.Ptr(v.SaveInvStd);
        float* gamma = HostMemory.Ptr(v.Gamma), beta = HostMemory.Ptr(v.Beta);
        float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(3 * c);
        fixed (float* tmp = scratch)
        {
            float* sq = tmp, scale = tmp + c, shift = tmp + 2 * c;
            new Span<float>(mean, c).Clear();
            new Span<float>(sq, c).Clear();
            for (int r = 0; r < n; r++) RowAdd(mean, x + r * c, c);
            for (int j = 0; j < c; j++) mean[j] /= n;
            for (int r = 0; r < n; r++) RowAddSquaredDiff(sq, x + r * c, mean, c);
            for (int j = 0; j < c; j++)
            {
                float var = sq[j] / n;
                inv[j] = 1f / MathF.Sqrt(var + a.Eps);
                scale[j] = gamma[j] * inv[j];
                shift[j] = beta[j] - mean[j] * scale[j];
                v.RunningMean.Put(j, (1 - a.Momentum) * v.RunningMean.At(j) + a.Momentum * mean[j]);
                v.RunningVar.Put(j, (1 - a.Momentum) * v.RunningVar.At(j) + a.Momentum * (n > 1 ? sq[j] / (n - 1) : var));
            }
            for (int r = 0; r < n; r++) RowAffine(y + r * c, x + r * c, scale, shift, c);
        }
        System.Buffers.ArrayPool<float>.Shared.Return(scratch);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HostBatchNormRowsBackward(ChannelShape sh, BatchNormGrads g, float betaX, float betaParams)
    {
        int n = sh.N, c = sh.C;
        float* x = HostMemory.Ptr(g.X), gy = HostMemory.Ptr(g.GY), gx = HostMemory.Ptr(g.GX);
        float* mean = HostMemory.Ptr(g.SaveMean), inv = HostMemory.Ptr(g.SaveInvStd), gamma = HostMemory.Ptr(g.Gamma);
        float[] scratch = System.Buffers.ArrayPool<float>.Shared.Rent(2 * c);
        fixed (float* tmp = scratch)
        {
            float* sg = tmp, sgx = tmp + c;     // sum gy, sum gy * (x - mean)
            new Span<float>(tmp, 2 * c).Clear();
            for (int r = 0; r < n; r++) { RowAdd(sg, gy + r * c, c); RowAddProductDiff(sgx, gy + r * c, x + r * c, mean, c); }
            for (int j = 0; j < c; j++)
            {
                sgx[j] *= inv[j];                // sum gy * xh
                g.GBeta.Put(j, (betaParams == 0f ? 0f : betaParams * g.GBeta.At(j)) + sg[j]);
                g.GGamma.Put(j, (betaParams == 0f ? 0f : betaParams * g.GGamma.At(j)) + sgx[j]);
            }
            for (int r = 0; r < n; r++)
                for (int j = 0; j < c; j++)
                {
                    int i = r * c + j;
                    float xh = (x[i] - mean[j]) * inv[j];
                    float d = gamma[j] * inv[j] / n * (n * gy[i] - sg[j] - xh * sgx[j]);
                    gx[i] = betaX == 0f ? d : betaX * gx[i] + d;
                }
        }
        System.Buffers.ArrayPool<float>.Shared.Return(scratch);
    }

    private static unsafe void RowAdd(float* acc, float* row, int c)
    {
        int j = 0, w = System.Numerics.Vector<float>.Count;
        for (; j <= c - w; j += w) (System.Numerics.Vector.Load(acc + j) + System.Numerics.Vector.Load(row + j)).Store(acc + j);
        for (; j < c; j++) acc[j] += row[j];
    }

    private static unsafe void RowAddSquaredDiff(float* acc, float* row, float* mean, int c)
    {
        int j = 0, w = System.Numerics.Vector<float>.Count;
        for (; j <= c - w; j += w)
        {
            var d = System.Numerics.Vector.Load(row + j) - System.Numerics.Vector.Load(mean + j);
            (System.Numerics.Vector.Load(acc + j) + d * d).Store(acc + j);
        }
        for (; j < c; j++) { float d = row[j] - mean[j]; acc[j] += d * d; }
    }

    private static unsafe void RowAddProductDiff(float* acc, float* gy, float* row, float* mean, int c)
    {
        int j = 0, w = System.Numerics.Vector<float>.Count;
        for (; j <= c - w; j += w)
        {
            var d = System.Numerics.Vector.Load(row + j) - System.Numerics.Vector.Load(mean + j);
            (System.Numerics.Vector.Load(acc + j) + System.Numerics.Vector.Load(gy + j) * d).Store(acc + j);
        }
        for (; j < c; j++) acc[j] += gy[j] * (row[j] - mean[j]);
    }

    private static unsafe void RowAffine(float* y, float* x, float* scale, float* shift, int c)
    {
        int j = 0, w = System.Numerics.Vector<float>.Count;
        for (; j <= c - w; j += w)
            (System.Numerics.Vector.Load(x + j) * System.Numerics.Vector.Load(scale + j) + System.Numerics.Vector.Load(shift + j)).Store(y + j);
        for (; j < c; j++) y[j] = x[j] * scale[j] + shift[j];
    }

    // ---- device ---------------------------------------------------------------------------------

    private static void BatchNormTrainingKernel(BatchNormViews v, ChannelShape sh, BatchNormArgs a)
    {
        int c = Grid.IdxX, m = sh.Count;
        float s = 0f;
        for (int e = Group.IdxX; e < m; e += Group.DimX) s += v.X[At(sh, c, e)];
        float mean = GroupSum(s) / m;
        float q = 0f;
        for (int e = Group.IdxX; e < m; e += Group.DimX) { float d = v.X[At(sh, c, e)] - mean; q += d * d; }
        float sq = GroupSum(q);
        float invStd = XMath.Rsqrt(sq / m + a.Eps);
        float scale = v.Gamma[c] * invStd, shift = v.Beta[c] - mean * scale;
        for (int e = Group.IdxX; e < m; e += Group.DimX) { int i = At(sh, c, e); v.Y[i] = v.X[i] * scale + shift; }
        if (Group.IdxX == 0)
        {
            v.SaveMean[c] = mean;
            v.SaveInvStd[c] = invStd;
            v.RunningMean[c] = (1 - a.Momentum) * v.RunningMean[c] + a.Momentum * mean;
            v.RunningVar[c] = (1 - a.Momentum) * v.RunningVar[c] + a.Momentum * (m > 1 ? sq / (m - 1) : sq / m);
        }
    }

    private static void BatchNormEvalKernel(BatchNormViews v, ChannelShape sh, BatchNormArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < sh.Length; i += GridStride)
        {
            int c = sh.Channel(i);
            v.Y[i] = (v.X[i] - v.RunningMean[c]) * XMath.Rsqrt(v.RunningVar[c] + a.Eps) * v.Gamma[c] + v.Beta[c];
        }
    }

    private static void BatchNormBackwardKernel(BatchNormGrads g, ChannelShape sh, float betaX, float betaParams)
    {
        int c = Grid.IdxX, m = sh.Count;
        float mu = g.SaveMean[c], inv = g.SaveInvStd[c];
        float sg = 0f, sgx = 0f;
        for (int e = Group.IdxX; e < m; e += Group.DimX)
        {
            int i = At(sh, c, e);
            sg += g.GY[i];
            sgx += g.GY[i] * (g.X[i] - mu) * inv;
        }
        float gb = GroupSum(sg), gg = GroupSum(sgx);
        if (Group.IdxX == 0)
        {
            g.GBeta[c] = (betaParams == 0f ? 0f : betaParams * g.GBeta[c]) + gb;
            g.GGamma[c] = (betaParams == 0f ? 0f : betaParams * g.GGamma[c]) + gg;
        }
        float k = g.Gamma[c] * inv / m;
        for (int e = Group.IdxX; e < m; e += Group.DimX)
        {
            int i = At(sh, c, e);
            float d = k * (m * g.GY[i] - gb - (g.X[i] - mu) * inv * gg);
            g.GX[i] = (betaX == 0f ? 0f : betaX * g.GX[i]) + d;
        }
    }
}

/// <summary>The buffers of a batch-norm forward pass. X and Y may be the same view in eval.</summary>
public readonly record struct BatchNormViews(
    ArrayView<float> X, ArrayView<float> Y, ArrayView<float> Gamma, ArrayView<float> Beta,
    ArrayView<float> RunningMean, ArrayView<float> RunningVar, ArrayView<float> SaveMean, ArrayView<float> SaveInvStd)
{
    internal void Validate(ChannelShape sh)
    {
        Check.Length(X, sh.Length, "BatchNorm", "x");
        Check.Length(Y, sh.Length, "BatchNorm", "y");
        foreach (var (view, name) in new[] { (Gamma, "gamma"), (Beta, "beta"), (RunningMean, "running_mean"), (RunningVar, "running_var") })
            Check.Length(view, sh.C, "BatchNorm", name);
    }
}

/// <summary>The buffers of a batch-norm backward pass.</summary>
public readonly record struct BatchNormGrads(
    ArrayView<float> X, ArrayView<float> GY, ArrayView<float> GX, ArrayView<float> Gamma,
    ArrayView<float> SaveMean, ArrayView<float> SaveInvStd, ArrayView<float> GGamma, ArrayView<float> GBeta)
{
    internal void Validate(ChannelShape sh)
    {
        Check.Length(X, sh.Length, "BatchNormBackward", "x");
        Check.Length(GY, sh.Length, "BatchNormBackward", "gy");
        Check.Length(GX, sh.Length, "BatchNormBackward", "gx");
        foreach (var (view, name) in new[] { (Gamma, "gamma"), (SaveMean, "save_mean"), (SaveInvStd, "save_invstd"), (GGamma, "ggamma"), (GBeta, "gbeta") })
            Check.Length(view, sh.C, "BatchNormBackward", name);
    }
}

/// <summary>Element access to small host-visible views (host variant only).</summary>
internal static class ViewAccess
{
    public static unsafe float At(this ArrayView<float> v, int i) => HostMemory.Ptr(v)[i];
    public static unsafe void Put(this ArrayView<float> v, int i, float value) => HostMemory.Ptr(v)[i] = value;
}
