using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>Pointwise activations. LeakyRelu takes a slope >= 0 (Relu is slope 0).</summary>
public enum Activation { Identity, Relu, LeakyRelu, Tanh, Sigmoid }

// Activations, forward and backward. The backward pass reads only the forward OUTPUT y
// (relu/leaky: y > 0 iff x > 0 for slope >= 0; tanh' = 1 - y^2; sigmoid' = y (1 - y)), so an
// activation may run in place and its input need not be kept.
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, Activation, float>? activate;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Activation, float, float>? activateBackward;

    /// <summary>y = f(x); x and y may be the same view.</summary>
    public void Activate(Activation f, float slope, ArrayView<float> x, ArrayView<float> y)
    {
        Check.SameLength(x, y, nameof(Activate));
        if (slope < 0) throw new ArgumentOutOfRangeException(nameof(slope), "slopes below 0 are not supported.");
        if (IsHost) { HostActivate(f, slope, HostMemory.Span(x), HostMemory.Span(y)); return; }
        (activate ??= Load<ArrayView<float>, ArrayView<float>, Activation, float>(ActivateKernel))(Stride(y.Length), x, y, f, slope);
    }

    /// <summary>gx = beta*gx + f'(x) * gy, with f' computed from the forward output y.</summary>
    public void ActivateBackward(Activation f, float slope, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gx, float beta = 0f)
    {
        Check.SameLength(y, gy, nameof(ActivateBackward));
        Check.SameLength(y, gx, nameof(ActivateBackward));
        if (IsHost) { HostActivateBackward(f, slope, HostMemory.Span(y), HostMemory.Span(gy), HostMemory.Span(gx), beta); return; }
        (activateBackward ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, Activation, float, float>(ActivateBackwardKernel))(
            Stride(y.Length), y, gy, gx, f, slope, beta);
    }

    // The scalar definitions, shared by the host loop and the ILGPU kernel.
    private static float Forward(Activation f, float slope, float x) => f switch
    {
        Activation.Relu => x > 0f ? x : 0f,
        Activation.LeakyRelu => x > 0f ? x : slope * x,
        Activation.Tanh => XMath.Tanh(x),
        Activation.Sigmoid => StableSigmoid(x),
        _ => x,
    };

    private static float Derivative(Activation f, float slope, float y) => f switch
    {
        Activation.Relu => y > 0f ? 1f : 0f,
        Activation.LeakyRelu => y > 0f ? 1f : slope,
        Activation.Tanh => 1f - y * y,
        Activation.Sigmoid => y * (1f - y),
        _ => 1f,
    };

    /// <summary>1 / (1 + e^-x) without overflow for large |x|.</summary>
    internal static float StableSigmoid(float x)
    {
        float e = XMath.Exp(-XMath.Abs(x));
        return x >= 0f ? 1f / (1f + e) : e / (1f + e);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void HostActivate(Activation f, float slope, ReadOnlySpan<float> x, Span<float> y)
    {
        switch (f)
        {
            case Activation.LeakyRelu:
            case Activation.Relu:
                float s = f == Activation.Relu ? 0f : slope;
                for (int i = 0; i < y.Length; i++) { float v = x[i]; y[i] = v > 0f ? v : s * v; }
                break;
            case Activation.Tanh:
                for (int i = 0; i < y.Length; i++) y[i] = MathF.Tanh(x[i]);
                break;
            default:
                for (int i = 0; i < y.Length; i++) y[i] = Forward(f, slope, x[i]);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void HostActivateBackward(Activation f, float slope, ReadOnlySpan<float> y, ReadOnlySpan<float> gy, Span<float> gx, float beta)
    {
        if (beta == 0f) for (int i = 0; i < gx.Length; i++) gx[i] = Derivative(f, slope, y[i]) * gy[i];
        else for (int i = 0; i < gx.Length; i++) gx[i] = beta * gx[i] + Derivative(f, slope, y[i]) * gy[i];
    }

    private static void ActivateKernel(ArrayView<float> x, ArrayView<float> y, Activation f, float slope)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride) y[i] = Forward(f, slope, x[i]);
    }

    private static void ActivateBackwardKernel(ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gx, Activation f, float slope, float beta)
    {
        for (int i = Grid.GlobalIndex.X; i < gx.Length; i += GridStride)
            gx[i] = (beta == 0f ? 0f : beta * gx[i]) + Derivative(f, slope, y[i]) * gy[i];
    }
}
