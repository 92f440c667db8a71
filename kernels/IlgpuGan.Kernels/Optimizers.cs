using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>One Adam step's constants, computed on the host in double precision as PyTorch does
/// (1 - beta, the step size lr / (1 - beta1^t) and sqrt(1 - beta2^t)) and only then rounded.</summary>
public readonly record struct AdamArgs(float StepSize, float Beta1, float OneMinusBeta1, float Beta2, float OneMinusBeta2,
    float SqrtCorrection2, float Eps, float WeightDecay)
{
    public static AdamArgs ForStep(double lr, double beta1, double beta2, double eps, double weightDecay, long step) => new(
        (float)(lr / (1 - Math.Pow(beta1, step))), (float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2),
        (float)Math.Sqrt(1 - Math.Pow(beta2, step)), (float)eps, (float)weightDecay);
}

/// <summary>One SGD step's constants. FirstStep: the momentum buffer starts as the gradient. The
/// flags are stored as ints: ILGPU passes only blittable structs to kernels (a bool field made the
/// GPU-style and OpenCL kernels fail to load).</summary>
public readonly record struct SgdArgs(float Lr, float Momentum, float OneMinusDampening, float WeightDecay, int NesterovFlag, int FirstStepFlag)
{
    public SgdArgs(float lr, float momentum, float oneMinusDampening, float weightDecay, bool nesterov, bool firstStep)
        : this(lr, momentum, oneMinusDampening, weightDecay, nesterov ? 1 : 0, firstStep ? 1 : 0) { }
    public bool Nesterov => NesterovFlag != 0;
    public bool FirstStep => FirstStepFlag != 0;
}

/// <summary>One RMSProp step's constants; OneMinusAlpha computed in double on the host. Centered
/// is stored as an int (a bool field is not blittable: ILGPU refused to load the kernel).</summary>
public readonly record struct RmsPropArgs(float Lr, float Alpha, float OneMinusAlpha, float Eps, float WeightDecay, float Momentum, int CenteredFlag)
{
    public RmsPropArgs(float lr, float alpha, float oneMinusAlpha, float eps, float weightDecay, float momentum, bool centered)
        : this(lr, alpha, oneMinusAlpha, eps, weightDecay, momentum, centered ? 1 : 0) { }
    public bool Centered => CenteredFlag != 0;
}

// Optimizer updates with PyTorch's semantics (torch.optim, single-tensor form), one parameter
// tensor per call:
//   Adam:    g += wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//            p -= lr/c1 * m / (sqrt(v)/sqrt(c2) + eps),  c_i = 1 - b_i^t
// Host-side constants (1 - beta, lr/c1, sqrt(c2)) are computed in double, as PyTorch computes them.
//   SGD:     g += wd*p; buf = first ? g : mu buf + (1-damp) g; g = nesterov ? g + mu buf : buf; p -= lr g
//   RMSProp: g += wd*p; sq = a sq + (1-a) g^2; avg = centered ? sqrt(sq - ga^2) + eps : sqrt(sq) + eps
//            (ga = a ga + (1-a) g); momentum ? (buf = mu buf + g/avg; p -= lr buf) : p -= lr g/avg
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamArgs>? adam;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>? sgd;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsPropArgs>? rmsProp;

    public void AdamStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, in AdamArgs a)
    {
        Check.SameLength(p, g, nameof(AdamStep)); Check.SameLength(p, m, nameof(AdamStep)); Check.SameLength(p, v, nameof(AdamStep));
        if (IsHost) { HostAdam(p, g, m, v, a); return; }
        if (Variant == KernelVariant.ClCpu) { AdamStepClCpu(p, g, m, v, a); return; }
        (adam ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamArgs>(AdamKernel))(Stride(p.Length), p, g, m, v, a);
    }

    /// <summary>buf may be empty when Momentum is 0.</summary>
    public void SgdStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, in SgdArgs a)
    {
        Check.SameLength(p, g, nameof(SgdStep));
        if (a.Momentum != 0f) Check.SameLength(p, buf, nameof(SgdStep));
        if (IsHost)
        {
            Span<float> ps = HostMemory.Span(p), gs = HostMemory.Span(g), bs = a.Momentum != 0f ? HostMemory.Span(buf) : default;
            for (int i = 0; i < ps.Length; i++) ps[i] = Sgd(ps[i], gs[i], ref a.Momentum != 0f ? ref bs[i] : ref Unsafe.NullRef<float>(), a);
            return;
        }
        (sgd ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>(SgdKernel))(Stride(p.Length), p, g, buf, a);
    }

    /// <summary>gradAvg (Centered) and buf (Momentum) may be empty when unused.</summary>
    public void RmsPropStep(ArrayView<float> p, ArrayView<float> g, ArrayView<float> square, ArrayView<float> gradAvg, ArrayView<float> buf, in RmsPropArgs a)
    {
        Check.SameLength(p, g, nameof(RmsPropStep)); Check.SameLength(p, square, nameof(RmsPropStep));
        if (a.Centered) Check.SameLength(p, gradAvg, nameof(RmsPropStep));
        if (a.Momentum != 0f) Check.SameLength(p, buf, nameof(RmsPropStep));
        if (IsHost)
        {
            Span<float> ps = HostMemory.Span(p), gs = HostMemory.Span(g), sq = HostMemory.Span(square);
            Span<float> ga = a.Centered ? HostMemory.Span(gradAvg) : default, bs = a.Momentum != 0f ? HostMemory.Span(buf) : default;
            for (int i = 0; i < ps.Length; i++)
                ps[i] = RmsProp(ps[i], gs[i], ref sq[i], ref a.Centered ? ref ga[i] : ref Unsafe.NullRef<float>(),
                    ref a.Momentum != 0f ? ref bs[i] : ref Unsafe.NullRef<float>(), a);
            return;
        }
        (rmsProp ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsPropArgs>(RmsPropKernel))(
            Stride(p.Length), p, g, square, gradAvg, buf, a);
    }

    /// <summary>Adam over the host's cores, SIMD, with the same IEEE operations as <see cref="Adam"/>
    /// (no fused multiply-adds), so results equal the scalar form bit for bit.</summary>
    private unsafe void HostAdam(ArrayView<float> pv, ArrayView<float> gv, ArrayView<float> mv, ArrayView<float> vv, AdamArgs a)
    {
        float* p = HostMemory.Ptr(pv), g = HostMemory.Ptr(gv), m = HostMemory.Ptr(mv), v = HostMemory.Ptr(vv);
        HostFor(pv.Length, (from, to) => HostAdamRange(p, g, m, v, (int)from, (int)to, a));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HostAdamRange(float* p, float* g, float* m, float* v, int from, int to, AdamArgs a)
    {
        int i = from, w = System.Numerics.Vector<float>.Count;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var b1 = new System.Numerics.Vector<float>(a.Beta1); var c1 = new System.Numerics.Vector<float>(a.OneMinusBeta1);
            var b2 = new System.Numerics.Vector<float>(a.Beta2); var c2 = new System.Numerics.Vector<float>(a.OneMinusBeta2);
            var sq2 = new System.Numerics.Vector<float>(a.SqrtCorrection2); var eps = new System.Numerics.Vector<float>(a.Eps);
            var step = new System.Numerics.Vector<float>(a.StepSize); var wd = new System.Numerics.Vector<float>(a.WeightDecay);
            for (; i <= to - w; i += w)
            {
                var pi = System.Numerics.Vector.Load(p + i);
                var gi = System.Numerics.Vector.Load(g + i);
                if (a.WeightDecay != 0f) gi += wd * pi;
                var mi = b1 * System.Numerics.Vector.Load(m + i) + c1 * gi;
                var vi = b2 * System.Numerics.Vector.Load(v + i) + c2 * gi * gi;
                var denom = System.Numerics.Vector.SquareRoot(vi) / sq2 + eps;
                (pi - step * mi / denom).Store(p + i);
                mi.Store(m + i);
                vi.Store(v + i);
            }
        }
        for (; i < to; i++) p[i] = Adam(p[i], g[i], ref m[i], ref v[i], a);
    }

    private static float Adam(float p, float g, ref float m, ref float v, in AdamArgs a)
    {
        if (a.WeightDecay != 0f) g += a.WeightDecay * p;
        m = a.Beta1 * m + a.OneMinusBeta1 * g;
        v = a.Beta2 * v + a.OneMinusBeta2 * g * g;
        float denom = XMath.Sqrt(v) / a.SqrtCorrection2 + a.Eps;
        return p - a.StepSize * m / denom;
    }

    private static float Sgd(float p, float g, ref float buf, in SgdArgs a)
    {
        if (a.WeightDecay != 0f) g += a.WeightDecay * p;
        if (a.Momentum != 0f)
        {
            buf = a.FirstStep ? g : a.Momentum * buf + a.OneMinusDampening * g;
            g = a.Nesterov ? g + a.Momentum * buf : buf;
        }
        return p - a.Lr * g;
    }

    private static float RmsProp(float p, float g, ref float sq, ref float ga, ref float buf, in RmsPropArgs a)
    {
        if (a.WeightDecay != 0f) g += a.WeightDecay * p;
        sq = a.Alpha * sq + a.OneMinusAlpha * g * g;
        float avg;
        if (a.Centered)
        {
            ga = a.Alpha * ga + a.OneMinusAlpha * g;
            avg = XMath.Sqrt(sq - ga * ga) + a.Eps;
        }
        else avg = XMath.Sqrt(sq) + a.Eps;
        if (a.Momentum != 0f)
        {
            buf = a.Momentum * buf + g / avg;
            return p - a.Lr * buf;
        }
        return p - a.Lr * g / avg;
    }

    private static void AdamKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, AdamArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < p.Length; i += GridStride)
        {
            float mi = m[i], vi = v[i];
            p[i] = Adam(p[i], g[i], ref mi, ref vi, a);
            m[i] = mi; v[i] = vi;
        }
    }

    private static void SgdKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> buf, SgdArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < p.Length; i += GridStride)
        {
            float b = a.Momentum != 0f ? buf[i] : 0f;
            p[i] = Sgd(p[i], g[i], ref b, a);
            if (a.Momentum != 0f) buf[i] = b;
        }
    }

    private static void RmsPropKernel(ArrayView<float> p, ArrayView<float> g, ArrayView<float> square, ArrayView<float> gradAvg, ArrayView<float> buf, RmsPropArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < p.Length; i += GridStride)
        {
            float sq = square[i], ga = a.Centered ? gradAvg[i] : 0f, b = a.Momentum != 0f ? buf[i] : 0f;
            p[i] = RmsProp(p[i], g[i], ref sq, ref ga, ref b, a);
            square[i] = sq;
            if (a.Centered) gradAvg[i] = ga;
            if (a.Momentum != 0f) buf[i] = b;
        }
    }
}
