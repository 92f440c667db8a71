using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>Reflection padding of <see cref="Planes"/> planes (N*C) of H x W by P on all four sides
/// (PyTorch's nn.ReflectionPad2d(P); P &lt; H and P &lt; W).</summary>
public readonly record struct PadShape(int Planes, int H, int W, int P)
{
    public int Ho => H + 2 * P;
    public int Wo => W + 2 * P;
    public long InLength => (long)Planes * H * W;
    public long OutLength => (long)Planes * Ho * Wo;
}

// Reflection padding, forward and backward. Forward: y[p, i, j] = x[p, refl(i - P), refl(j - P)]
// with refl(k) = -k below 0 and 2(n-1) - k past n-1 (the edge is not repeated). Backward as a
// gather, so no atomics and a fixed order: the gradient of x[p, h, w] sums gy over the at most
// 3 x 3 output positions that read it (row h + P always; row P - h when 1 <= h <= P; row
// P + 2(H-1) - h when H-1-P <= h <= H-2; likewise for columns). The backward is the adjoint of
// the forward, and the forward the adjoint of the backward, so each is the other's gradient.
// Host loops and barrier-free grid-stride ILGPU kernels (GPU-style and OpenCL-CPU variants).
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, PadShape, float>? reflectionPad, reflectionPadBackward;

    /// <summary>y (Planes, Ho, Wo) = beta*y + pad(x (Planes, H, W)).</summary>
    public void ReflectionPad(PadShape s, ArrayView<float> x, ArrayView<float> y, float beta = 0f)
    {
        CheckPad(s, x, y, nameof(ReflectionPad));
        if (IsHost) { HostReflectionPad(s, x, y, beta); return; }
        (reflectionPad ??= Load<ArrayView<float>, ArrayView<float>, PadShape, float>(ReflectionPadKernel))(Stride(s.OutLength), x, y, s, beta);
    }

    /// <summary>gx (Planes, H, W) = beta*gx + the adjoint of the padding applied to gy (Planes, Ho, Wo).</summary>
    public void ReflectionPadBackward(PadShape s, ArrayView<float> gy, ArrayView<float> gx, float beta = 0f)
    {
        CheckPad(s, gx, gy, nameof(ReflectionPadBackward));
        if (IsHost) { HostReflectionPadBackward(s, gy, gx, beta); return; }
        (reflectionPadBackward ??= Load<ArrayView<float>, ArrayView<float>, PadShape, float>(ReflectionPadBackwardKernel))(Stride(s.InLength), gy, gx, s, beta);
    }

    private static void CheckPad(PadShape s, ArrayView<float> small, ArrayView<float> big, string op)
    {
        if (s.P < 0 || s.P >= s.H || s.P >= s.W)
            throw new ArgumentException($"{op}: padding {s.P} must be at least 0 and less than the input's height and width ({s.H} x {s.W}).");
        Check.Length(small, s.InLength, op, "the input");
        Check.Length(big, s.OutLength, op, "the padded output");
    }

    private static int Reflect(int k, int n) => k < 0 ? -k : k >= n ? 2 * (n - 1) - k : k;

    /// <summary>The k-th (0..2) output index along an axis of length n padded by p that reads input
    /// index h, or -1.</summary>
    private static int Reader(int k, int h, int n, int p) => k switch
    {
        0 => h + p,
        1 => h >= 1 && h <= p ? p - h : -1,
        _ => h <= n - 2 && h >= n - 1 - p ? p + 2 * (n - 1) - h : -1,
    };

    private static float PadGather(ArrayView<float> gy, long plane, int h, int w, PadShape s)
    {
        float sum = 0f;
        for (int a = 0; a < 3; a++)
        {
            int r = Reader(a, h, s.H, s.P);
            if (r < 0) continue;
            for (int b = 0; b < 3; b++)
            {
                int c = Reader(b, w, s.W, s.P);
                if (c >= 0) sum += gy[plane + (long)r * s.Wo + c];
            }
        }
        return sum;
    }

    // ---- host ----------------------------------------------------------------------------------

    private unsafe void HostReflectionPad(PadShape s, ArrayView<float> x, ArrayView<float> y, float beta)
    {
        float* px = HostMemory.Ptr(x), py = HostMemory.Ptr(y);
        HostForItems(s.Planes, (long)s.Ho * s.Wo, (from, to) =>
        {
            for (int p = from; p < to; p++)
            {
                float* xp = px + (long)p * s.H * s.W, yp = py + (long)p * s.Ho * s.Wo;
                for (int i = 0; i < s.Ho; i++)
                {
                    float* xr = xp + (long)Reflect(i - s.P, s.H) * s.W, yr = yp + (long)i * s.Wo;
                    for (int j = 0; j < s.Wo; j++)
                    {
                        float v = xr[Reflect(j - s.P, s.W)];
                        yr[j] = beta == 0f ? v : beta * yr[j] + v;
                    }
                }
            }
        });
    }

    private unsafe void HostReflectionPadBackward(PadShape s, ArrayView<float> gy, ArrayView<float> gx, float beta)
    {
        float* pgy = HostMemory.Ptr(gy), pgx = HostMemory.Ptr(gx);
        HostForItems(s.Planes, 4L * s.H * s.W, (from, to) =>
        {
            for (int p = from; p < to; p++)
            {
                float* gp = pgy + (long)p * s.Ho * s.Wo, xp = pgx + (long)p * s.H * s.W;
                for (int h = 0; h < s.H; h++)
                    for (int w = 0; w < s.W; w++)
                    {
                        float v = 0f;
                        for (int a = 0; a < 3; a++)
                        {
                            int r = Reader(a, h, s.H, s.P);
                            if (r < 0) continue;
                            for (int b = 0; b < 3; b++)
                            {
                                int c = Reader(b, w, s.W, s.P);
                                if (c >= 0) v += gp[(long)r * s.Wo + c];
                            }
                        }
                        long at = (long)h * s.W + w;
                        xp[at] = beta == 0f ? v : beta * xp[at] + v;
                    }
            }
        });
    }

    // ---- ILGPU kernels (grid-stride, no barriers) ---------------------------------------------

    private static void ReflectionPadKernel(ArrayView<float> x, ArrayView<float> y, PadShape s, float beta)
    {
        int plane = s.Ho * s.Wo;
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride)
        {
            int p = i / plane, r = i % plane, oy = r / s.Wo, ox = r % s.Wo;
            float v = x[(long)p * s.H * s.W + (long)Reflect(oy - s.P, s.H) * s.W + Reflect(ox - s.P, s.W)];
            y[i] = beta == 0f ? v : beta * y[i] + v;
        }
    }

    private static void ReflectionPadBackwardKernel(ArrayView<float> gy, ArrayView<float> gx, PadShape s, float beta)
    {
        int plane = s.H * s.W;
        for (int i = Grid.GlobalIndex.X; i < gx.Length; i += GridStride)
        {
            int p = i / plane, r = i % plane;
            float v = PadGather(gy, (long)p * s.Ho * s.Wo, r / s.W, r % s.W, s);
            gx[i] = beta == 0f ? v : beta * gx[i] + v;
        }
    }
}
