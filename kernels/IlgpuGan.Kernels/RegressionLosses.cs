using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>The elementwise regression losses (reduction = mean).</summary>
public enum RegressionLoss
{
    /// <summary>|x - t| (F.l1_loss); its gradient sign(x - t), 0 where x == t (as PyTorch).</summary>
    L1,
    /// <summary>(x - t)^2 (F.mse_loss); its gradient 2 (x - t).</summary>
    Mse,
}

/// <summary>A regression pass's parameters: the loss, a factor on the gradient and the beta.</summary>
public readonly record struct RegressionArgs(RegressionLoss Loss, float Scale, float Beta);

// The L1 and MSE losses, mean over all elements: the terms |x - t| or (x - t)^2 land in a buffer
// that the caller sums (Kernels.Sum, scaled by 1/n, deterministic on every variant); the backward
// reads the loss's gradient from a device scalar: gx = beta*gx + scale * gloss[0] * f'(x - t), with
// scale 1/n for x and -1/n for the target. Host loops and barrier-free grid-stride ILGPU kernels.
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, RegressionArgs>? regressionTerms;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RegressionArgs>? regressionBackward;

    /// <summary>terms[i] = |x[i] - t[i]| (L1) or (x[i] - t[i])^2 (MSE).</summary>
    public void RegressionTerms(RegressionLoss loss, ArrayView<float> x, ArrayView<float> target, ArrayView<float> terms)
    {
        Check.SameLength(x, target, nameof(RegressionTerms));
        Check.SameLength(x, terms, nameof(RegressionTerms));
        var a = new RegressionArgs(loss, 1f, 0f);
        if (IsHost) { HostRegressionTerms(x, target, terms, a); return; }
        (regressionTerms ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, RegressionArgs>(RegressionTermsKernel))(
            Stride(x.Length), x, target, terms, a);
    }

    /// <summary>gx[i] = beta*gx[i] + scale * gloss[0] * f'(x[i] - t[i]) (f' = sign, or 2 (x - t)).</summary>
    public void RegressionBackward(RegressionLoss loss, ArrayView<float> x, ArrayView<float> target, ArrayView<float> gloss,
        ArrayView<float> gx, float scale, float beta = 0f)
    {
        Check.SameLength(x, target, nameof(RegressionBackward));
        Check.SameLength(x, gx, nameof(RegressionBackward));
        Check.Length(gloss, 1, nameof(RegressionBackward), "gloss");
        var a = new RegressionArgs(loss, scale, beta);
        if (IsHost) { HostRegressionBackward(x, target, gloss, gx, a); return; }
        (regressionBackward ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RegressionArgs>(RegressionBackwardKernel))(
            Stride(x.Length), x, target, gloss, gx, a);
    }

    private static float RegressionTerm(RegressionLoss loss, float d) => loss == RegressionLoss.L1 ? XMath.Abs(d) : d * d;

    private static float RegressionSlope(RegressionLoss loss, float d) =>
        loss == RegressionLoss.L1 ? (d > 0f ? 1f : d < 0f ? -1f : 0f) : 2f * d;

    private unsafe void HostRegressionTerms(ArrayView<float> x, ArrayView<float> target, ArrayView<float> terms, RegressionArgs a)
    {
        float* px = HostMemory.Ptr(x), pt = HostMemory.Ptr(target), po = HostMemory.Ptr(terms);
        HostFor(x.Length, (from, to) => { for (long i = from; i < to; i++) po[i] = RegressionTerm(a.Loss, px[i] - pt[i]); });
    }

    private unsafe void HostRegressionBackward(ArrayView<float> x, ArrayView<float> target, ArrayView<float> gloss, ArrayView<float> gx, RegressionArgs a)
    {
        float* px = HostMemory.Ptr(x), pt = HostMemory.Ptr(target), po = HostMemory.Ptr(gx);
        float k = a.Scale * HostMemory.Span(gloss)[0];
        HostFor(x.Length, (from, to) =>
        {
            for (long i = from; i < to; i++)
            {
                float v = k * RegressionSlope(a.Loss, px[i] - pt[i]);
                po[i] = a.Beta == 0f ? v : a.Beta * po[i] + v;
            }
        });
    }

    private static void RegressionTermsKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> terms, RegressionArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < x.Length; i += GridStride) terms[i] = RegressionTerm(a.Loss, x[i] - target[i]);
    }

    private static void RegressionBackwardKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> gloss, ArrayView<float> gx, RegressionArgs a)
    {
        float k = a.Scale * gloss[0];
        for (int i = Grid.GlobalIndex.X; i < x.Length; i += GridStride)
        {
            float v = k * RegressionSlope(a.Loss, x[i] - target[i]);
            gx[i] = a.Beta == 0f ? v : a.Beta * gx[i] + v;
        }
    }
}
