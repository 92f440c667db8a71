using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>
/// Geometry of one 2-D convolution y = conv(x, w), NCHW, dilation 1, the same stride and padding on
/// both axes: x (N, Ci, Hi, Wi), w (Co, Ci, Kh, Kw), y (N, Co, Ho, Wo). A transposed convolution is
/// the adjoint of a convolution, so it is described by the convolution it transposes (see
/// <see cref="Transposed"/>): its input is that convolution's output and its output the input.
/// </summary>
public readonly record struct ConvShape(int N, int Ci, int Hi, int Wi, int Co, int Ho, int Wo, int Kh, int Kw, int Stride, int Pad)
{
    /// <summary>A convolution of x (n, ci, h, w) with w (co, ci, kh, kw); Ho = (h + 2 pad - kh) / stride + 1.</summary>
    public static ConvShape Conv(int n, int ci, int h, int w, int co, int kh, int kw, int stride, int pad)
    {
        Require(n, ci, h, w, co, kh, kw, stride, pad);
        int ho = (h + 2 * pad - kh) / stride + 1, wo = (w + 2 * pad - kw) / stride + 1;
        if (h + 2 * pad < kh || w + 2 * pad < kw)
            throw new ArgumentException($"Conv2d: the {kh}x{kw} kernel does not fit the {h}x{w} input padded by {pad}.");
        return new(n, ci, h, w, co, ho, wo, kh, kw, stride, pad);
    }

    /// <summary>
    /// A transposed convolution of x (n, cin, h, w) with w (cin, cout, kh, kw) into
    /// (n, cout, (h - 1) stride - 2 pad + kh + outputPadding, ...): the convolution with input
    /// channels cout and output channels cin whose data gradient it computes.
    /// </summary>
    public static ConvShape Transposed(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pad, int outputPadding)
    {
        Require(n, cin, h, w, cout, kh, kw, stride, pad);
        if (outputPadding < 0 || outputPadding >= stride)
            throw new ArgumentException($"ConvTranspose2d: output_padding ({outputPadding}) must be in [0, stride = {stride}).");
        int ho = (h - 1) * stride - 2 * pad + kh + outputPadding, wo = (w - 1) * stride - 2 * pad + kw + outputPadding;
        if (ho < 1 || wo < 1)
            throw new ArgumentException($"ConvTranspose2d: input {h}x{w} with kernel {kh}x{kw}, stride {stride}, padding {pad} gives an empty {ho}x{wo} output.");
        return new(n, cout, ho, wo, cin, h, w, kh, kw, stride, pad);
    }

    private static void Require(int n, int ci, int h, int w, int co, int kh, int kw, int stride, int pad)
    {
        if (n < 1 || ci < 1 || h < 1 || w < 1 || co < 1 || kh < 1 || kw < 1)
            throw new ArgumentException($"Convolution sizes must be positive (N={n}, C={ci}, H={h}, W={w}, out channels={co}, kernel={kh}x{kw}).");
        if (stride < 1 || pad < 0)
            throw new ArgumentException($"Convolution stride must be >= 1 and padding >= 0 (stride={stride}, padding={pad}).");
    }

    /// <summary>Output pixels per channel.</summary>
    public int OutPixels => Ho * Wo;
    /// <summary>Input pixels per channel.</summary>
    public int InPixels => Hi * Wi;
    /// <summary>The GEMM reduction length of the forward pass: Ci Kh Kw.</summary>
    public int Patch => Ci * Kh * Kw;
    public long InputLength => (long)N * Ci * Hi * Wi;
    public long OutputLength => (long)N * Co * Ho * Wo;
    public long WeightLength => (long)Co * Ci * Kh * Kw;
    /// <summary>Flops of the direct convolution (2 per multiply-add); every pass counts the same.</summary>
    public double Flops => 2.0 * N * Co * Ho * Wo * Ci * Kh * Kw;
}

public sealed partial class Kernels
{
    // Three passes, each the adjoint of another, cover conv2d and conv_transpose2d:
    //   conv2d:           forward = ConvForward,      gx = ConvBackwardData, gw = ConvBackwardWeight
    //   conv_transpose2d: forward = ConvBackwardData, gx = ConvForward,      gw = ConvBackwardWeight (x and gy swapped)
    // Every pass takes beta (0: overwrite, 1: accumulate into a gradient) and the two that produce
    // images take an optional bias, one per channel of what they produce.

    internal enum ConvPass { Forward = 0, BackwardData = 1, BackwardWeight = 2 }

    /// <summary>y (N, Co, Ho, Wo) = conv(x, w) + bias[co] + beta * y.</summary>
    public void ConvForward(in ConvShape s, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y,
        ArrayView<float> bias = default, float beta = 0f)
    {
        ValidateConv(s, x, w, y, bias, s.Co, "output");
        Conv(ConvPass.Forward, s, x, w, y, bias, beta);
    }

    /// <summary>gx (N, Ci, Hi, Wi) = conv^T(gy, w) + bias[ci] + beta * gx: the data gradient of a
    /// convolution, and the forward pass of a transposed one.</summary>
    public void ConvBackwardData(in ConvShape s, ArrayView<float> gy, ArrayView<float> w, ArrayView<float> gx,
        ArrayView<float> bias = default, float beta = 0f)
    {
        ValidateConv(s, gx, w, gy, bias, s.Ci, "input");
        Conv(ConvPass.BackwardData, s, gy, w, gx, bias, beta);
    }

    /// <summary>gw (Co, Ci, Kh, Kw) = sum over the batch of gy (x) x + beta * gw.</summary>
    public void ConvBackwardWeight(in ConvShape s, ArrayView<float> x, ArrayView<float> gy, ArrayView<float> gw, float beta = 0f)
    {
        ValidateConv(s, x, gw, gy, default, 0, "");
        Conv(ConvPass.BackwardWeight, s, x, gy, gw, default, beta);
    }

    private static void ValidateConv(in ConvShape s, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y,
        ArrayView<float> bias, int biasLength, string biasOf)
    {
        if (x.Length != s.InputLength)
            throw new ArgumentException($"Convolution input has {x.Length} elements; ({s.N}, {s.Ci}, {s.Hi}, {s.Wi}) needs {s.InputLength}.");
        if (w.Length != s.WeightLength)
            throw new ArgumentException($"Convolution weight has {w.Length} elements; {s.Co}x{s.Ci}x{s.Kh}x{s.Kw} needs {s.WeightLength}.");
        if (y.Length != s.OutputLength)
            throw new ArgumentException($"Convolution output has {y.Length} elements; ({s.N}, {s.Co}, {s.Ho}, {s.Wo}) needs {s.OutputLength}.");
        if (bias.Length != 0 && bias.Length != biasLength)
            throw new ArgumentException($"Convolution bias has {bias.Length} elements; it needs one per {biasOf} channel ({biasLength}).");
    }

    private void Conv(ConvPass pass, in ConvShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, float beta)
    {
        switch (Variant)
        {
            case KernelVariant.Host: (hostConv ??= new HostConv(this)).Run(pass, s, a, b, c, bias, beta); break;
            case KernelVariant.ClCpu: ConvClCpu(pass, s, a, b, c, bias, beta); break;
            default: ConvGpu(pass, s, a, b, c, bias, beta); break;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Reference: the direct convolution, one output at a time (the specification of all variants).
    // ---------------------------------------------------------------------------------------------

    /// <summary>The direct loops of the three passes on host arrays; used by the tests as the checker.</summary>
    internal static void ConvReference(in ConvShape s, float[] x, float[] w, float[] y, float[] gy, float[] gx, float[] gw)
    {
        Array.Clear(y); Array.Clear(gx); Array.Clear(gw);
        for (int n = 0; n < s.N; n++)
            for (int co = 0; co < s.Co; co++)
                for (int ho = 0; ho < s.Ho; ho++)
                    for (int wo = 0; wo < s.Wo; wo++)
                    {
                        long yi = (((long)n * s.Co + co) * s.Ho + ho) * s.Wo + wo;
                        for (int ci = 0; ci < s.Ci; ci++)
                            for (int kh = 0; kh < s.Kh; kh++)
                                for (int kw = 0; kw < s.Kw; kw++)
                                {
                                    int hi = ho * s.Stride - s.Pad + kh, wi = wo * s.Stride - s.Pad + kw;
                                    if ((uint)hi >= (uint)s.Hi || (uint)wi >= (uint)s.Wi)
                                        continue;
                                    long xi = (((long)n * s.Ci + ci) * s.Hi + hi) * s.Wi + wi;
                                    long wk = (((long)co * s.Ci + ci) * s.Kh + kh) * s.Kw + kw;
                                    y[yi] += x[xi] * w[wk];
                                    gx[xi] += gy[yi] * w[wk];
                                    gw[wk] += gy[yi] * x[xi];
                                }
                    }
    }

    // ---------------------------------------------------------------------------------------------
    // GPU variant: implicit GEMM. The GEMM tiling of GemmTiledKernel (64 x 64 outputs per group of
    // 256 threads, K in steps of 16 staged in shared memory), with the operands' elements read
    // through the convolution's index maps instead of from stored matrices:
    //   forward:         C (Co, N P)        = A W (Co, Ci Kh Kw)      B im2col(x)
    //   backward data:   C (Ci, N Hi Wi)    = A W^T (Ci, Co Kh Kw)    B gy at (hi + pad - kh) / stride
    //   backward weight: C (Co, Ci Kh Kw)   = A gy (Co, N P)          B im2col(x)^T
    // ---------------------------------------------------------------------------------------------

    /// <summary>Scalar arguments of the implicit-GEMM convolution kernel.</summary>
    internal readonly struct ConvArgs
    {
        public readonly int N, Ci, Hi, Wi, Co, Ho, Wo, Kh, Kw, Stride, Pad;
        public readonly int Pass, M, Cols, K, TilesN, HasBias;
        public readonly float Beta;

        public ConvArgs(in ConvShape s, ConvPass pass, bool hasBias, float beta)
        {
            (N, Ci, Hi, Wi, Co, Ho, Wo, Kh, Kw, Stride, Pad) = (s.N, s.Ci, s.Hi, s.Wi, s.Co, s.Ho, s.Wo, s.Kh, s.Kw, s.Stride, s.Pad);
            Pass = (int)pass;
            (M, Cols, K) = pass switch
            {
                ConvPass.Forward => (s.Co, s.N * s.OutPixels, s.Patch),
                ConvPass.BackwardData => (s.Ci, s.N * s.InPixels, s.Co * s.Kh * s.Kw),
                _ => (s.Co, s.Patch, s.N * s.OutPixels),
            };
            TilesN = (Cols + GemmTile - 1) / GemmTile;
            HasBias = hasBias ? 1 : 0;
            Beta = beta;
        }
    }

    private Action<KernelConfig, ConvArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? convTiled;

    private void ConvGpu(ConvPass pass, in ConvShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, float beta)
    {
        convTiled ??= Load<ConvArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ConvTiledKernel);
        var args = new ConvArgs(s, pass, bias.Length != 0, beta);
        int tilesM = (args.M + GemmTile - 1) / GemmTile;
        convTiled(new KernelConfig(checked(tilesM * args.TilesN), GroupSize), args, a, b, c, bias.Length != 0 ? bias : c);
    }

    /// <summary>Element (row, k) of the implicit A operand. Forward and backward weight read their
    /// first view: w, gy; backward data reads w (its second view) transposed per kernel tap.</summary>
    private static float ConvA(ConvArgs p, ArrayView<float> first, ArrayView<float> second, int row, int k)
    {
        if (row >= p.M || k >= p.K)
            return 0f;
        if (p.Pass == 0)        // w (Co, Ci Kh Kw)
            return second[(long)row * p.K + k];
        int taps = p.Kh * p.Kw;
        if (p.Pass == 1)        // k = (co, kh, kw); w[co, row, kh, kw]
        {
            int co = k / taps, tap = k - co * taps;
            return second[((long)co * p.Ci + row) * taps + tap];
        }
        int P = p.Ho * p.Wo;    // k = (n, pixel); gy[n, row, pixel]
        int n = k / P, pix = k - n * P;
        return second[((long)n * p.Co + row) * P + pix];
    }

    /// <summary>Element (k, col) of the implicit B operand.</summary>
    private static float ConvB(ConvArgs p, ArrayView<float> first, int k, int col)
    {
        if (k >= p.K || col >= p.Cols)
            return 0f;
        int taps = p.Kh * p.Kw;
        if (p.Pass == 1)        // k = (co, kh, kw), col = (n, hi, wi): gy[n, co, ho, wo] where ho stride - pad + kh = hi
        {
            int co = k / taps, tap = k - co * taps, kh = tap / p.Kw, kw = tap - kh * p.Kw;
            int pixIn = p.Hi * p.Wi, n = col / pixIn, q = col - n * pixIn, hi = q / p.Wi, wi = q - hi * p.Wi;
            int th = hi + p.Pad - kh, tw = wi + p.Pad - kw;
            if (th < 0 || tw < 0 || th % p.Stride != 0 || tw % p.Stride != 0)
                return 0f;
            int ho = th / p.Stride, wo = tw / p.Stride;
            if (ho >= p.Ho || wo >= p.Wo)
                return 0f;
            return first[(((long)n * p.Co + co) * p.Ho + ho) * p.Wo + wo];
        }
        // im2col(x): patch index (ci, kh, kw) and output position (n, ho, wo); forward has the patch
        // along k, backward weight along the columns.
        int patch = p.Pass == 0 ? k : col, pos = p.Pass == 0 ? col : k;
        int ci = patch / taps, t = patch - ci * taps, kh2 = t / p.Kw, kw2 = t - kh2 * p.Kw;
        int P = p.Ho * p.Wo, n2 = pos / P, r = pos - n2 * P, ho2 = r / p.Wo, wo2 = r - ho2 * p.Wo;
        int h = ho2 * p.Stride - p.Pad + kh2, w = wo2 * p.Stride - p.Pad + kw2;
        if (h < 0 || w < 0 || h >= p.Hi || w >= p.Wi)
            return 0f;
        return first[(((long)n2 * p.Ci + ci) * p.Hi + h) * p.Wi + w];
    }

    /// <summary>
    /// One group per 64 x 64 tile of the implicit C. Views: <paramref name="first"/> is x (forward,
    /// backward weight) or gy (backward data); <paramref name="second"/> is w (forward, backward
    /// data) or gy (backward weight); <paramref name="c"/> the output.
    /// </summary>
    private static void ConvTiledKernel(ConvArgs p, ArrayView<float> first, ArrayView<float> second, ArrayView<float> c,
        ArrayView<float> bias)
    {
        var sa = SharedMemory.Allocate<float>(GemmTileK * GemmTile); // [k][row]
        var sb = SharedMemory.Allocate<float>(GemmTileK * GemmTile); // [k][col]
        int tid = Group.IdxX;
        int tx = tid & 15, ty = tid >> 4;
        int m0 = Grid.IdxX / p.TilesN * GemmTile, n0 = Grid.IdxX % p.TilesN * GemmTile;

        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;

        for (int k0 = 0; k0 < p.K; k0 += GemmTileK)
        {
            for (int l = 0; l < 4; l++)
            {
                int e = tid + 256 * l;
                int row = e >> 4, ka = e & 15;      // A along k
                sa[ka * GemmTile + row] = ConvA(p, first, second, m0 + row, k0 + ka);
                int col = e & 63, kb = e >> 6;      // B along the columns
                sb[kb * GemmTile + col] = ConvB(p, first, k0 + kb, n0 + col);
            }
            Group.Barrier();
            for (int kk = 0; kk < GemmTileK; kk++)
            {
                int o = kk * GemmTile;
                float a0 = sa[o + ty], a1 = sa[o + ty + 16], a2 = sa[o + ty + 32], a3 = sa[o + ty + 48];
                float b0 = sb[o + tx], b1 = sb[o + tx + 16], b2 = sb[o + tx + 32], b3 = sb[o + tx + 48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }

        int r = m0 + ty, q = n0 + tx;
        ConvStore(p, c, bias, r, q, c00); ConvStore(p, c, bias, r, q + 16, c01);
        ConvStore(p, c, bias, r, q + 32, c02); ConvStore(p, c, bias, r, q + 48, c03);
        ConvStore(p, c, bias, r + 16, q, c10); ConvStore(p, c, bias, r + 16, q + 16, c11);
        ConvStore(p, c, bias, r + 16, q + 32, c12); ConvStore(p, c, bias, r + 16, q + 48, c13);
        ConvStore(p, c, bias, r + 32, q, c20); ConvStore(p, c, bias, r + 32, q + 16, c21);
        ConvStore(p, c, bias, r + 32, q + 32, c22); ConvStore(p, c, bias, r + 32, q + 48, c23);
        ConvStore(p, c, bias, r + 48, q, c30); ConvStore(p, c, bias, r + 48, q + 16, c31);
        ConvStore(p, c, bias, r + 48, q + 32, c32); ConvStore(p, c, bias, r + 48, q + 48, c33);
    }

    /// <summary>Epilogue: element (row, col) of the implicit C to its NCHW (or weight) position.</summary>
    private static void ConvStore(ConvArgs p, ArrayView<float> c, ArrayView<float> bias, int row, int col, float acc)
    {
        if (row >= p.M || col >= p.Cols)
            return;
        long idx;
        if (p.Pass == 2)
            idx = (long)row * p.Cols + col;
        else
        {
            int pix = p.Pass == 0 ? p.Ho * p.Wo : p.Hi * p.Wi;   // col = (n, pixel); C's row is the channel
            int n = col / pix;
            idx = ((long)n * p.M + row) * pix + (col - n * pix);
        }
        float v = acc;
        if (p.Beta != 0f)
            v += p.Beta * c[idx];
        if (p.HasBias != 0)
            v += bias[row];
        c[idx] = v;
    }

    // ---------------------------------------------------------------------------------------------
    // ClCpu variant: the same implicit GEMM without shared memory or barriers (an OpenCL CPU device
    // runs a work-group's items one after another, so barriers are slow there): each work-item
    // computes 4 consecutive columns of one row of the implicit C, reading A once per k.
    // ---------------------------------------------------------------------------------------------

    private const int ConvClCols = 4;
    private Action<KernelConfig, ConvArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? convClCpu;

    private void ConvClCpu(ConvPass pass, in ConvShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias, float beta)
    {
        convClCpu ??= Load<ConvArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ConvClCpuKernel);
        var args = new ConvArgs(s, pass, bias.Length != 0, beta);
        long items = (long)args.M * ((args.Cols + ConvClCols - 1) / ConvClCols);
        convClCpu(Stride(items), args, a, b, c, bias.Length != 0 ? bias : c);
    }

    private static void ConvClCpuKernel(ConvArgs p, ArrayView<float> first, ArrayView<float> second, ArrayView<float> c,
        ArrayView<float> bias)
    {
        int blocks = (p.Cols + ConvClCols - 1) / ConvClCols;
        long items = (long)p.M * blocks;
        for (long item = Grid.GlobalIndex.X; item < items; item += GridStride)
        {
            int row = (int)(item / blocks), col = (int)(item - (long)row * blocks) * ConvClCols;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int k = 0; k < p.K; k++)
            {
                float av = ConvA(p, first, second, row, k);
                s0 += av * ConvB(p, first, k, col);
                s1 += av * ConvB(p, first, k, col + 1);
                s2 += av * ConvB(p, first, k, col + 2);
                s3 += av * ConvB(p, first, k, col + 3);
            }
            ConvStore(p, c, bias, row, col, s0);
            ConvStore(p, c, bias, row, col + 1, s1);
            ConvStore(p, c, bias, row, col + 2, s2);
            ConvStore(p, c, bias, row, col + 3, s3);
        }
    }
}
