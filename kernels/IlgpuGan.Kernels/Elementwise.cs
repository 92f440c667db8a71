using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>Elementwise binary arithmetic.</summary>
public enum BinaryOp { Add, Sub, Mul, Div }

// Elementwise arithmetic: fill, y = a*x + b*y, z = x (op) y. Every op has a host loop and a
// grid-stride ILGPU kernel; b == 0 never reads y (it may hold garbage or NaN).
public sealed partial class Kernels
{
    private static int GridStride => Grid.DimX * Group.DimX;

    // ---- fill ---------------------------------------------------------------------------------
    private Action<KernelConfig, ArrayView<float>, float>? fill;

    public void Fill(ArrayView<float> y, float value)
    {
        if (IsHost) { HostMemory.Span(y).Fill(value); return; }
        (fill ??= Load<ArrayView<float>, float>(FillKernel))(Stride(y.Length), y, value);
    }

    private static void FillKernel(ArrayView<float> y, float value)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride) y[i] = value;
    }

    // ---- axpby: y = a*x + b*y ------------------------------------------------------------------
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, float, float>? axpby;

    /// <summary>y = a*x + b*y; with b == 0, y is only written. Copy is Axpby(x, y, 1, 0).</summary>
    public void Axpby(ArrayView<float> x, ArrayView<float> y, float a, float b)
    {
        Check.SameLength(x, y, nameof(Axpby));
        if (IsHost) { HostAxpby(HostMemory.Span(x), HostMemory.Span(y), a, b); return; }
        (axpby ??= Load<ArrayView<float>, ArrayView<float>, float, float>(AxpbyKernel))(Stride(y.Length), x, y, a, b);
    }

    public void Copy(ArrayView<float> source, ArrayView<float> target) => Axpby(source, target, 1f, 0f);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void HostAxpby(ReadOnlySpan<float> x, Span<float> y, float a, float b)
    {
        if (b == 0f && a == 1f) { x.CopyTo(y); return; }
        if (b == 0f) { for (int i = 0; i < y.Length; i++) y[i] = a * x[i]; return; }
        for (int i = 0; i < y.Length; i++) y[i] = a * x[i] + b * y[i];
    }

    private static void AxpbyKernel(ArrayView<float> x, ArrayView<float> y, float a, float b)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride)
            y[i] = b == 0f ? a * x[i] : a * x[i] + b * y[i];
    }

    // ---- binary: z = x (op) y, and the accumulating form z = beta*z + x (op) y ----------------
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, BinaryOp, float>? binary;

    public void Binary(BinaryOp op, ArrayView<float> x, ArrayView<float> y, ArrayView<float> z, float beta = 0f)
    {
        Check.SameLength(x, y, nameof(Binary));
        Check.SameLength(x, z, nameof(Binary));
        if (IsHost)
        {
            Span<float> zs = HostMemory.Span(z);
            ReadOnlySpan<float> xs = HostMemory.Span(x), ys = HostMemory.Span(y);
            for (int i = 0; i < zs.Length; i++)
                zs[i] = (beta == 0f ? 0f : beta * zs[i]) + Apply(op, xs[i], ys[i]);
            return;
        }
        (binary ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, BinaryOp, float>(BinaryKernel))(
            Stride(z.Length), x, y, z, op, beta);
    }

    private static float Apply(BinaryOp op, float a, float b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Sub => a - b,
        BinaryOp.Mul => a * b,
        _ => a / b,
    };

    private static void BinaryKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> z, BinaryOp op, float beta)
    {
        for (int i = Grid.GlobalIndex.X; i < z.Length; i += GridStride)
            z[i] = (beta == 0f ? 0f : beta * z[i]) + Apply(op, x[i], y[i]);
    }
}

/// <summary>Argument checks shared by the kernel families.</summary>
internal static class Check
{
    public static void SameLength(ArrayView<float> a, ArrayView<float> b, string op)
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"{op}: lengths differ ({a.Length} and {b.Length}).");
    }

    public static void Length(ArrayView<float> a, long expected, string op, string name)
    {
        if (a.Length != expected)
            throw new ArgumentException($"{op}: {name} has {a.Length} elements, expected {expected}.");
    }
}
