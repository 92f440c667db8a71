using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>Max or average pooling.</summary>
public enum PoolKind { Max, Average }

/// <summary>
/// A 2-D pooling over NCHW: a square window of <see cref="K"/> at stride <see cref="S"/> with
/// <see cref="P"/> pixels of padding on every side; output size (H + 2P - K) / S + 1 (floor, as
/// PyTorch's ceil_mode=False). Max pooling never takes a padded pixel; average pooling counts them
/// as zeros and always divides by K^2 (PyTorch's count_include_pad=True).
/// </summary>
public readonly record struct PoolShape(int N, int C, int H, int W, int K, int S, int P)
{
    public int Ho => (H + 2 * P - K) / S + 1;
    public int Wo => (W + 2 * P - K) / S + 1;
    public long InLength => (long)N * C * H * W;
    public long OutLength => (long)N * C * Ho * Wo;

    public static PoolShape Create(int n, int c, int h, int w, int kernel, int stride, int padding)
    {
        if (kernel < 1 || stride < 1 || padding < 0)
            throw new ArgumentException($"Pooling: kernel {kernel} and stride {stride} must be at least 1 and padding {padding} at least 0.");
        if (2 * padding > kernel)
            throw new ArgumentException($"Pooling: padding {padding} must be at most half the kernel {kernel} (as PyTorch requires).");
        if (h + 2 * padding < kernel || w + 2 * padding < kernel)
            throw new ArgumentException($"Pooling: a {kernel}x{kernel} window does not fit a {h}x{w} input with padding {padding}.");
        return new PoolShape(n, c, h, w, kernel, stride, padding);
    }
}

// Max and average pooling, forward and backward. Max pooling takes the first largest value of each
// window in row-major order (PyTorch's choice; NaN wins), and its backward sends each output's
// gradient to that one input. The host variant runs one (n, c) plane per task: forward window by
// window, backward as a scatter into the plane. The device kernels have no barriers (so ClCpu
// shares them): forward one work-item per output, backward one work-item per INPUT that gathers
// from every window holding it (recomputing the window's maximum), so overlapping windows never
// race and nothing needs zeroing.
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, PoolShape, PoolKind>? poolForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, PoolShape, PoolKind, float>? poolBackward;

    /// <summary>y (N, C, Ho, Wo) = the pooling of x (N, C, H, W).</summary>
    public void Pool2d(PoolKind kind, in PoolShape s, ArrayView<float> x, ArrayView<float> y)
    {
        Check.Length(x, s.InLength, nameof(Pool2d), "x");
        Check.Length(y, s.OutLength, nameof(Pool2d), "y");
        if (IsHost) { HostPoolForward(kind, s, x, y); return; }
        (poolForward ??= Load<ArrayView<float>, ArrayView<float>, PoolShape, PoolKind>(PoolForwardKernel))(Stride(s.OutLength), x, y, s, kind);
    }

    /// <summary>gx = beta*gx + the pooling's backward of gy (x is the forward's input, needed by max pooling).</summary>
    public void Pool2dBackward(PoolKind kind, in PoolShape s, ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, float beta = 0f)
    {
        Check.Length(x, s.InLength, nameof(Pool2dBackward), "x");
        Check.Length(gy, s.OutLength, nameof(Pool2dBackward), "gy");
        Check.Length(gx, s.InLength, nameof(Pool2dBackward), "gx");
        if (IsHost) { HostPoolBackward(kind, s, x, gy, gx, beta); return; }
        (poolBackward ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, PoolShape, PoolKind, float>(PoolBackwardKernel))(
            Stride(s.InLength), x, gy, gx, s, kind, beta);
    }

    public void MaxPool2d(in PoolShape s, ArrayView<float> x, ArrayView<float> y) => Pool2d(PoolKind.Max, s, x, y);
    public void MaxPool2dBackward(in PoolShape s, ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, float beta = 0f) =>
        Pool2dBackward(PoolKind.Max, s, x, gy, gx, beta);
    public void AvgPool2d(in PoolShape s, ArrayView<float> x, ArrayView<float> y) => Pool2d(PoolKind.Average, s, x, y);
    public void AvgPool2dBackward(in PoolShape s, ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, float beta = 0f) =>
        Pool2dBackward(PoolKind.Average, s, x, gy, gx, beta);

    /// <summary>The offset (within its plane) of the first largest input of window (oh, ow); -1 when the
    /// window lies wholly in the padding (impossible when 2P &lt;= K).</summary>
    private static int WindowArgMax(ArrayView<float> x, long plane, PoolShape s, int oh, int ow)
    {
        int best = -1;
        float bestValue = 0f;
        int h0 = oh * s.S - s.P, w0 = ow * s.S - s.P;
        for (int i = 0; i < s.K; i++)
        {
            int h = h0 + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.K; j++)
            {
                int w = w0 + j;
                if (w < 0 || w >= s.W) continue;
                float v = x[plane + h * s.W + w];
                if (best < 0 || v > bestValue || float.IsNaN(v) && !float.IsNaN(bestValue)) { best = h * s.W + w; bestValue = v; }
            }
        }
        return best;
    }

    private static float WindowSum(ArrayView<float> x, long plane, PoolShape s, int oh, int ow)
    {
        float sum = 0f;
        int h0 = oh * s.S - s.P, w0 = ow * s.S - s.P;
        for (int i = 0; i < s.K; i++)
        {
            int h = h0 + i;
            if (h < 0 || h >= s.H) continue;
            for (int j = 0; j < s.K; j++)
            {
                int w = w0 + j;
                if (w >= 0 && w < s.W) sum += x[plane + h * s.W + w];
            }
        }
        return sum;
    }

    private static void PoolForwardKernel(ArrayView<float> x, ArrayView<float> y, PoolShape s, PoolKind kind)
    {
        int ho = s.Ho, wo = s.Wo;
        for (long o = Grid.GlobalIndex.X; o < y.Length; o += GridStride)
        {
            int ow = (int)(o % wo), oh = (int)(o / wo % ho);
            long plane = o / ((long)ho * wo) * s.H * s.W;
            if (kind == PoolKind.Max) { int at = WindowArgMax(x, plane, s, oh, ow); y[o] = x[plane + at]; }
            else y[o] = WindowSum(x, plane, s, oh, ow) / (s.K * s.K);
        }
    }

    private static void PoolBackwardKernel(ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, PoolShape s, PoolKind kind, float beta)
    {
        int ho = s.Ho, wo = s.Wo;
        for (long i = Grid.GlobalIndex.X; i < gx.Length; i += GridStride)
        {
            int w = (int)(i % s.W), h = (int)(i / s.W % s.H);
            long planeIndex = i / ((long)s.H * s.W);
            long plane = planeIndex * s.H * s.W, outPlane = planeIndex * ho * wo;
            // Windows holding (h, w): oh*S - P <= h <= oh*S - P + K - 1.
            int ohLo = XMath.Max(0, (h + s.P - s.K + s.S) / s.S), ohHi = XMath.Min(ho - 1, (h + s.P) / s.S);
            int owLo = XMath.Max(0, (w + s.P - s.K + s.S) / s.S), owHi = XMath.Min(wo - 1, (w + s.P) / s.S);
            if (h + s.P - s.K + 1 < 0) ohLo = 0;
            if (w + s.P - s.K + 1 < 0) owLo = 0;
            float g = 0f;
            for (int oh = ohLo; oh <= ohHi; oh++)
                for (int ow = owLo; ow <= owHi; ow++)
                {
                    if (kind == PoolKind.Max)
                    {
                        if (WindowArgMax(x, plane, s, oh, ow) == h * s.W + w) g += gy[outPlane + oh * wo + ow];
                    }
                    else g += gy[outPlane + oh * wo + ow];
                }
            if (kind == PoolKind.Average) g /= s.K * s.K;
            gx[i] = (beta == 0f ? 0f : beta * gx[i]) + g;
        }
    }

    // ---- host variant ------------------------------------------------------------------------

    private unsafe void HostPoolForward(PoolKind kind, PoolShape s, ArrayView<float> x, ArrayView<float> y)
    {
        float* px = HostMemory.Ptr(x), py = HostMemory.Ptr(y);
        int ho = s.Ho, wo = s.Wo, planes = s.N * s.C;
        float inv = 1f / (s.K * s.K);
        HostForItems(planes, (long)ho * wo * s.K * s.K, (from, to) =>
        {
            for (int p = from; p < to; p++)
            {
                float* xp = px + (long)p * s.H * s.W, yp = py + (long)p * ho * wo;
                for (int oh = 0; oh < ho; oh++)
                {
                    int h0 = oh * s.S - s.P, hLo = Math.Max(h0, 0), hHi = Math.Min(h0 + s.K, s.H);
                    for (int ow = 0; ow < wo; ow++)
                    {
                        int w0 = ow * s.S - s.P, wLo = Math.Max(w0, 0), wHi = Math.Min(w0 + s.K, s.W);
                        if (kind == PoolKind.Max)
                        {
                            float best = xp[hLo * s.W + wLo];
                            for (int h = hLo; h < hHi; h++)
                                for (int w = wLo; w < wHi; w++)
                                {
                                    float v = xp[h * s.W + w];
                                    if (v > best || float.IsNaN(v) && !float.IsNaN(best)) best = v;
                                }
                            yp[oh * wo + ow] = best;
                        }
                        else
                        {
                            float sum = 0f;
                            for (int h = hLo; h < hHi; h++)
                                for (int w = wLo; w < wHi; w++) sum += xp[h * s.W + w];
                            yp[oh * wo + ow] = sum * inv;
                        }
                    }
                }
            }
        });
    }

    private unsafe void HostPoolBackward(PoolKind kind, PoolShape s, ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gx, float beta)
    {
        float* px = HostMemory.Ptr(x), pgy = HostMemory.Ptr(gy), pgx = HostMemory.Ptr(gx);
        int ho = s.Ho, wo = s.Wo, planes = s.N * s.C, hw = s.H * s.W;
        float inv = 1f / (s.K * s.K);
        HostForItems(planes, (long)ho * wo * s.K * s.K, (from, to) =>
        {
            for (int p = from; p < to; p++)
            {
                float* xp = px + (long)p * hw, gxp = pgx + (long)p * hw, gyp = pgy + (long)p * ho * wo;
                var plane = new Span<float>(gxp, hw);
                if (beta == 0f) plane.Clear();
                else if (beta != 1f) for (int i = 0; i < hw; i++) plane[i] *= beta;
                for (int oh = 0; oh < ho; oh++)
                {
                    int h0 = oh * s.S - s.P, hLo = Math.Max(h0, 0), hHi = Math.Min(h0 + s.K, s.H);
                    for (int ow = 0; ow < wo; ow++)
                    {
                        int w0 = ow * s.S - s.P, wLo = Math.Max(w0, 0), wHi = Math.Min(w0 + s.K, s.W);
                        float g = gyp[oh * wo + ow];
                        if (kind == PoolKind.Max)
                        {
                            int at = hLo * s.W + wLo;
                            float best = xp[at];
                            for (int h = hLo; h < hHi; h++)
                                for (int w = wLo; w < wHi; w++)
                                {
                                    float v = xp[h * s.W + w];
                                    if (v > best || float.IsNaN(v) && !float.IsNaN(best)) { best = v; at = h * s.W + w; }
                                }
                            gxp[at] += g;
                        }
                        else
                        {
                            float share = g * inv;
                            for (int h = hLo; h < hHi; h++)
                                for (int w = wLo; w < wHi; w++) gxp[h * s.W + w] += share;
                        }
                    }
                }
            }
        });
    }
}
