using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>The parameters of a pointwise kernel, in one struct (ILGPU kernels take few arguments).</summary>
public readonly record struct UnaryArgs(UnaryOp Op, Activation F, float P, float Q, float Beta);

/// <summary>Pointwise maps y = f(x) with up to two parameters p, q.</summary>
public enum UnaryOp
{
    /// <summary>p*x + q.</summary>
    Affine,
    /// <summary>x*x.</summary>
    Square,
    /// <summary>sqrt(x + p): p is a tiny epsilon that keeps the derivative finite at 0.</summary>
    Sqrt,
    /// <summary>min(max(x, p), q).</summary>
    Clamp,
    /// <summary>exp(p*x) (the VAE's standard deviation exp(logvar / 2) and its KL term).</summary>
    Exp,
}

// Pointwise maps and the per-channel broadcasts that the gradient penalty, layer norm and the
// double-backward forms of the activations are made of: y = f(x); the clamp's gradient mask; an
// activation's second derivative (read from its output y, as ActivateBackward reads f'); and
// y[n, c, s] = x[n, c, s] * v[c] or = v[c] (a per-channel vector spread over N and S, the adjoint
// of ChannelSum). Every map has a host loop and a barrier-free grid-stride ILGPU kernel, shared by
// the GPU-style and the OpenCL-CPU variants; beta == 0 never reads the output.
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, UnaryArgs>? unary;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, UnaryArgs>? clampBackward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, UnaryArgs>? activateSecond;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelShape, UnaryArgs>? scaleChannels;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ChannelShape, UnaryArgs>? broadcastChannels;


    /// <summary>y = beta*y + f(x); x and y may be the same view (with beta 0: in-place clamp of weights).</summary>
    public void Unary(UnaryOp op, float p, float q, ArrayView<float> x, ArrayView<float> y, float beta = 0f)
    {
        Check.SameLength(x, y, nameof(Unary));
        var a = new UnaryArgs(op, Activation.Identity, p, q, beta);
        if (IsHost) { HostUnary(x, y, a); return; }
        (unary ??= Load<ArrayView<float>, ArrayView<float>, UnaryArgs>(UnaryKernel))(Stride(y.Length), x, y, a);
    }

    /// <summary>Clamps x into [min, max] (y may be x: WGAN's weight clipping).</summary>
    public void Clamp(ArrayView<float> x, ArrayView<float> y, float min, float max) => Unary(UnaryOp.Clamp, min, max, x, y);

    /// <summary>gx = beta*gx + gy where min &lt;= x &lt;= max, else beta*gx (PyTorch's clamp gradient).</summary>
    public void ClampBackward(float min, float max, ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, float beta = 0f)
    {
        Check.SameLength(x, gy, nameof(ClampBackward));
        Check.SameLength(x, gx, nameof(ClampBackward));
        var a = new UnaryArgs(UnaryOp.Clamp, Activation.Identity, min, max, beta);
        if (IsHost) { HostClampBackward(x, gy, gx, a); return; }
        (clampBackward ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, UnaryArgs>(ClampBackwardKernel))(Stride(gx.Length), x, gy, gx, a);
    }

    /// <summary>
    /// The derivative of ActivateBackward (gx = f'(y) gy) with respect to the forward output y:
    /// gyOut = beta*gyOut + gz * gy * d f'(y)/dy, that is 0 (relu, leaky relu), -2y (tanh),
    /// 1 - 2y (sigmoid).
    /// </summary>
    public void ActivateSecond(Activation f, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gz, ArrayView<float> gyOut, float beta = 0f)
    {
        Check.SameLength(y, gy, nameof(ActivateSecond));
        Check.SameLength(y, gz, nameof(ActivateSecond));
        Check.SameLength(y, gyOut, nameof(ActivateSecond));
        var a = new UnaryArgs(UnaryOp.Affine, f, 0f, 0f, beta);
        if (IsHost) { HostActivateSecond(y, gy, gz, gyOut, a); return; }
        (activateSecond ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, UnaryArgs>(ActivateSecondKernel))(
            Stride(y.Length), y, gy, gz, gyOut, a);
    }

    /// <summary>y[n, c, s] = beta*y + x[n, c, s] * v[c]: with (1, N, L) a per-sample factor, with
    /// (N, L, 1) a per-feature one (layer norm's gamma).</summary>
    public void ScaleChannels(ChannelShape sh, ArrayView<float> x, ArrayView<float> v, ArrayView<float> y, float beta = 0f)
    {
        Check.Length(x, sh.Length, nameof(ScaleChannels), "x");
        Check.Length(y, sh.Length, nameof(ScaleChannels), "y");
        Check.Length(v, sh.C, nameof(ScaleChannels), "v");
        var a = new UnaryArgs(UnaryOp.Affine, Activation.Identity, 1f, 0f, beta);
        if (IsHost) { HostScaleChannels(sh, x, v, y, a); return; }
        (scaleChannels ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelShape, UnaryArgs>(ScaleChannelsKernel))(
            Stride(y.Length), x, v, y, sh, a);
    }

    /// <summary>y[n, c, s] = beta*y + scale * v[c]: the adjoint of <see cref="ChannelSum"/>.</summary>
    public void BroadcastChannels(ChannelShape sh, ArrayView<float> v, ArrayView<float> y, float scale = 1f, float beta = 0f)
    {
        Check.Length(y, sh.Length, nameof(BroadcastChannels), "y");
        Check.Length(v, sh.C, nameof(BroadcastChannels), "v");
        var a = new UnaryArgs(UnaryOp.Affine, Activation.Identity, scale, 0f, beta);
        if (IsHost) { HostBroadcastChannels(sh, v, y, a); return; }
        (broadcastChannels ??= Load<ArrayView<float>, ArrayView<float>, ChannelShape, UnaryArgs>(BroadcastChannelsKernel))(
            Stride(y.Length), v, y, sh, a);
    }

    // ---- the scalar definitions, shared by the host loops and the kernels ----------------------

    private static float Map(in UnaryArgs a, float x) => a.Op switch
    {
        UnaryOp.Affine => a.P * x + a.Q,
        UnaryOp.Square => x * x,
        UnaryOp.Sqrt => XMath.Sqrt(x + a.P),
        UnaryOp.Exp => XMath.Exp(a.P * x),
        _ => XMath.Min(XMath.Max(x, a.P), a.Q),
    };

    private static float SecondDerivative(Activation f, float y) => f switch
    {
        Activation.Tanh => -2f * y,
        Activation.Sigmoid => 1f - 2f * y,
        _ => 0f,
    };

    private static float Blend(float beta, float old, float v) => beta == 0f ? v : beta * old + v;

    // ---- host ----------------------------------------------------------------------------------

    private unsafe void HostUnary(ArrayView<float> x, ArrayView<float> y, UnaryArgs a)
    {
        float* px = HostMemory.Ptr(x), py = HostMemory.Ptr(y);
        HostFor(y.Length, (from, to) => { for (long i = from; i < to; i++) py[i] = Blend(a.Beta, py[i], Map(a, px[i])); });
    }

    private unsafe void HostClampBackward(ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, UnaryArgs a)
    {
        float* px = HostMemory.Ptr(x), pg = HostMemory.Ptr(gy), po = HostMemory.Ptr(gx);
        HostFor(gx.Length, (from, to) =>
        {
            for (long i = from; i < to; i++) po[i] = Blend(a.Beta, po[i], px[i] >= a.P && px[i] <= a.Q ? pg[i] : 0f);
        });
    }

    private unsafe void HostActivateSecond(ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gz, ArrayView<float> gyOut, UnaryArgs a)
    {
        float* py = HostMemory.Ptr(y), pg = HostMemory.Ptr(gy), pz = HostMemory.Ptr(gz), po = HostMemory.Ptr(gyOut);
        HostFor(gyOut.Length, (from, to) =>
        {
            for (long i = from; i < to; i++) po[i] = Blend(a.Beta, po[i], pz[i] * pg[i] * SecondDerivative(a.F, py[i]));
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void HostScaleChannels(ChannelShape sh, ArrayView<float> x, ArrayView<float> v, ArrayView<float> y, UnaryArgs a)
    {
        float* px = HostMemory.Ptr(x), pv = HostMemory.Ptr(v), py = HostMemory.Ptr(y);
        HostForItems(sh.N * sh.C, sh.S, (from, to) =>
        {
            for (int row = from; row < to; row++)
            {
                float f = pv[row % sh.C];
                long o = (long)row * sh.S;
                for (int s = 0; s < sh.S; s++) py[o + s] = Blend(a.Beta, py[o + s], px[o + s] * f);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void HostBroadcastChannels(ChannelShape sh, ArrayView<float> v, ArrayView<float> y, UnaryArgs a)
    {
        float* pv = HostMemory.Ptr(v), py = HostMemory.Ptr(y);
        HostForItems(sh.N * sh.C, sh.S, (from, to) =>
        {
            for (int row = from; row < to; row++)
            {
                float f = a.P * pv[row % sh.C];
                long o = (long)row * sh.S;
                for (int s = 0; s < sh.S; s++) py[o + s] = Blend(a.Beta, py[o + s], f);
            }
        });
    }

    // ---- ILGPU kernels (grid-stride, no barriers) ---------------------------------------------

    private static void UnaryKernel(ArrayView<float> x, ArrayView<float> y, UnaryArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride) y[i] = Blend(a.Beta, a.Beta == 0f ? 0f : y[i], Map(a, x[i]));
    }

    private static void ClampBackwardKernel(ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, UnaryArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < gx.Length; i += GridStride)
        {
            float v = x[i] >= a.P && x[i] <= a.Q ? gy[i] : 0f;
            gx[i] = Blend(a.Beta, a.Beta == 0f ? 0f : gx[i], v);
        }
    }

    private static void ActivateSecondKernel(ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gz, ArrayView<float> gyOut, UnaryArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < gyOut.Length; i += GridStride)
            gyOut[i] = Blend(a.Beta, a.Beta == 0f ? 0f : gyOut[i], gz[i] * gy[i] * SecondDerivative(a.F, y[i]));
    }

    private static void ScaleChannelsKernel(ArrayView<float> x, ArrayView<float> v, ArrayView<float> y, ChannelShape sh, UnaryArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride)
            y[i] = Blend(a.Beta, a.Beta == 0f ? 0f : y[i], x[i] * v[sh.Channel(i)]);
    }

    private static void BroadcastChannelsKernel(ArrayView<float> v, ArrayView<float> y, ChannelShape sh, UnaryArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride)
            y[i] = Blend(a.Beta, a.Beta == 0f ? 0f : y[i], a.P * v[sh.Channel(i)]);
    }
}
