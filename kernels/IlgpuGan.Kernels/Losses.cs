using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

// Binary cross-entropy on logits, mean over the batch, in the stable form
//   l(x, t) = max(x, 0) - x*t + log(1 + e^-|x|)        (finite for any |x|, e.g. 60)
//   dl/dx   = sigmoid(x) - t
// The loss lands in a device scalar; the backward reads the upstream gradient from a device
// scalar too, so a step never waits for the host. (The WGAN losses are scaled means: Sum.)
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>>? bce;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>? bceBackward;

    /// <summary>loss[0] = mean over i of l(x[i], target[i]).</summary>
    public void BceWithLogits(ArrayView<float> x, ArrayView<float> target, ArrayView<float> loss)
    {
        Check.SameLength(x, target, nameof(BceWithLogits));
        Check.Length(loss, 1, nameof(BceWithLogits), "loss");
        if (IsHost)
        {
            ReadOnlySpan<float> xs = HostMemory.Span(x), ts = HostMemory.Span(target);
            double s = 0;
            for (int i = 0; i < xs.Length; i++) s += BceTerm(xs[i], ts[i]);
            HostMemory.Span(loss)[0] = (float)(s / xs.Length);
            return;
        }
        if (Variant == KernelVariant.ClCpu) { BceWithLogitsClCpu(x, target, loss); return; }
        (bce ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>>(BceKernel))(GroupPer(1), x, target, loss);
    }

    /// <summary>gx[i] = beta*gx[i] + gloss[0] * (sigmoid(x[i]) - target[i]) / n.</summary>
    public void BceWithLogitsBackward(ArrayView<float> x, ArrayView<float> target, ArrayView<float> gloss, ArrayView<float> gx, float beta = 0f)
    {
        Check.SameLength(x, target, nameof(BceWithLogitsBackward));
        Check.SameLength(x, gx, nameof(BceWithLogitsBackward));
        Check.Length(gloss, 1, nameof(BceWithLogitsBackward), "gloss");
        if (IsHost)
        {
            ReadOnlySpan<float> xs = HostMemory.Span(x), ts = HostMemory.Span(target);
            Span<float> g = HostMemory.Span(gx);
            float k = HostMemory.Span(gloss)[0] / xs.Length;
            for (int i = 0; i < g.Length; i++)
                g[i] = (beta == 0f ? 0f : beta * g[i]) + k * (StableSigmoid(xs[i]) - ts[i]);
            return;
        }
        (bceBackward ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(BceBackwardKernel))(
            Stride(x.Length), x, target, gloss, gx, beta);
    }

    private static float BceTerm(float x, float t) =>
        XMath.Max(x, 0f) - x * t + XMath.Log(1f + XMath.Exp(-XMath.Abs(x)));

    private static void BceKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> loss)
    {
        float s = 0f;
        for (int i = Group.IdxX; i < x.Length; i += Group.DimX) s += BceTerm(x[i], target[i]);
        s = GroupSum(s);
        if (Group.IdxX == 0) loss[0] = s / x.Length;
    }

    private static void BceBackwardKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> gloss, ArrayView<float> gx, float beta)
    {
        float k = gloss[0] / x.Length;
        for (int i = Grid.GlobalIndex.X; i < x.Length; i += GridStride)
            gx[i] = (beta == 0f ? 0f : beta * gx[i]) + k * (StableSigmoid(x[i]) - target[i]);
    }
}
