using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
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
        if (IsHost) { HostActivate(f, slope, x, y); return; }
        (activate ??= Load<ArrayView<float>, ArrayView<float>, Activation, float>(ActivateKernel))(Stride(y.Length), x, y, f, slope);
    }

    /// <summary>gx = beta*gx + f'(x) * gy, with f' computed from the forward output y.</summary>
    public void ActivateBackward(Activation f, float slope, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gx, float beta = 0f)
    {
        Check.SameLength(y, gy, nameof(ActivateBackward));
        Check.SameLength(y, gx, nameof(ActivateBackward));
        if (IsHost) { HostActivateBackward(f, slope, y, gy, gx, beta); return; }
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

    // Host variant: vectorised (Vector512 / TensorPrimitives) and split over the cores for large
    // tensors; memory-bound, so one pass over each operand.

    private unsafe void HostActivate(Activation f, float slope, ArrayView<float> x, ArrayView<float> y)
    {
        float* px = HostMemory.Ptr(x), py = HostMemory.Ptr(y);
        HostFor(y.Length, (from, to) => HostActivateRange(f, slope, px + from, py + from, (int)(to - from)));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HostActivateRange(Activation f, float slope, float* x, float* y, int n)
    {
        var xs = new ReadOnlySpan<float>(x, n);
        var ys = new Span<float>(y, n);
        switch (f)
        {
            case Activation.Relu:
            case Activation.LeakyRelu:
            {
                float s = f == Activation.Relu ? 0f : slope;
                var vs = Vector512.Create(s);
                int i = 0;
                for (; i + 16 <= n; i += 16)
                {
                    var v = Vector512.Load(x + i);
                    Vector512.Store(Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, v * vs), y + i);
                }
                for (; i < n; i++) { float v = x[i]; y[i] = v > 0f ? v : s * v; }
                break;
            }
            case Activation.Tanh: TensorPrimitives.Tanh(xs, ys); break;
            case Activation.Sigmoid: TensorPrimitives.Sigmoid(xs, ys); break;
            default: xs.CopyTo(ys); break;
        }
    }

    private unsafe void HostActivateBackward(Activation f, float slope, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> gx, float beta)
    {
        float* py = HostMemory.Ptr(y), pgy = HostMemory.Ptr(gy), pgx = HostMemory.Ptr(gx);
        HostFor(gx.Length, (from, to) => HostActivateBackwardRange(f, slope, py + from, pgy + from, pgx + from, (int)(to - from), beta));
    }

    /// <summary>gx = beta gx + f'(y) gy over one range, 16 lanes at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HostActivateBackwardRange(Activation f, float slope, float* y, float* gy, float* gx, int n, float beta)
    {
        var one = Vector512<float>.One;
        var vs = Vector512.Create(f == Activation.Relu ? 0f : slope);
        var vb = Vector512.Create(beta);
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var v = Vector512.Load(y + i);
            var d = f switch
            {
                Activation.Relu or Activation.LeakyRelu => Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), one, vs),
                Activation.Tanh => one - v * v,
                Activation.Sigmoid => v * (one - v),
                _ => one,
            };
            var g = d * Vector512.Load(gy + i);
            if (beta != 0f) g += vb * Vector512.Load(gx + i);
            Vector512.Store(g, gx + i);
        }
        for (; i < n; i++)
            gx[i] = (beta == 0f ? 0f : beta * gx[i]) + Derivative(f == Activation.Relu ? Activation.LeakyRelu : f, f == Activation.Relu ? 0f : slope, y[i]) * gy[i];
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
