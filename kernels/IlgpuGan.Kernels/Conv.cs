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
    // Host variant: im2col onto the packed SIMD GEMM, one chunk of samples per core at a time.
    // ---------------------------------------------------------------------------------------------

    private HostConv? hostConv;

    /// <summary>
    /// The host convolutions. The batch is cut into chunks of nb samples whose im2col matrix
    /// col (Ci Kh Kw, nb P) (P = Ho Wo) stays in cache; worker t of T takes chunks t, t + T, ...
    /// (a fixed assignment, so results do not depend on timing) and runs single-threaded GEMMs:
    ///   forward:         Y (Co, nb P) = W (Co, Ci Kh Kw) col
    ///   backward data:   gcol = W^T gY, then col2im adds gcol's entries back onto gx
    ///   backward weight: gW (Co, Ci Kh Kw) += gY col^T (per worker, summed in worker order)
    /// A chunk's images sit in NCHW, (nb, C, P); as a GEMM operand they must be (C, nb P). With
    /// nb = 1 the two agree; with P = 1 they are transposes (a GEMM flag); otherwise a copy.
    /// </summary>
    private sealed unsafe class HostConv
    {
        private const int TargetColumns = 256;
        private const long MaxColFloats = 1 << 20;

        private readonly Kernels owner;
        private readonly WorkerState[] workers;
        private readonly Action<int> body;

        private sealed class WorkerState(int simd)
        {
            public readonly HostGemm Gemm = new(simd, maxThreads: 1);
            public readonly PinnedBuffer Col = new(), Images = new(), Partial = new();
        }

        // The current job (valid during Run).
        private ConvPass pass;
        private ConvShape s;
        private float* pa, pb, pc, pbias;
        private float beta;
        private int* taps;
        private readonly Dictionary<(int, int, int, int, int, int, int, int), int[]> tapTables = new();
        private int nb, chunks, activeWorkers;

        public HostConv(Kernels owner)
        {
            this.owner = owner;
            int simd = owner.HostGemmSimd;
            workers = new WorkerState[Math.Max(1, Environment.ProcessorCount)];
            for (int t = 0; t < workers.Length; t++)
                workers[t] = new WorkerState(simd);
            body = Worker;
        }

        public void Run(ConvPass p, in ConvShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
            ArrayView<float> bias, float be)
        {
            (pass, s, beta) = (p, shape, be);
            pa = HostMemory.Ptr(a);
            pb = HostMemory.Ptr(b);
            pc = HostMemory.Ptr(c);
            pbias = bias.Length == 0 ? null : HostMemory.Ptr(bias);
            if (s.Ho == 1 && s.Wo == 1 && s.Pad == 0 && s.Kh == s.Hi && s.Kw == s.Wi)
            {
                FullyConnected();
                return;
            }
            var key = (s.Hi, s.Wi, s.Ho, s.Wo, s.Kh, s.Kw, s.Stride, s.Pad);
            if (!tapTables.TryGetValue(key, out var table))
                tapTables[key] = table = TapOffsets(s);     // pinned (see TapOffsets); one per layer geometry
            taps = (int*)Unsafe.AsPointer(ref table[0]);
            int P = s.OutPixels, T = workers.Length;
            nb = Math.Clamp((TargetColumns + P - 1) / P, 1, s.N);
            nb = (int)Math.Min(nb, Math.Max(1, MaxColFloats / ((long)s.Patch * P)));
            nb = Math.Min(nb, Math.Max(1, (s.N + T - 1) / T));           // every core gets a chunk
            chunks = (s.N + nb - 1) / nb;
            activeWorkers = Math.Min(T, chunks);
            if (activeWorkers == 1)
                Worker(0);
            else
                Parallel.For(0, activeWorkers, body);
            if (pass == ConvPass.BackwardWeight && activeWorkers > 1)
                SumPartials();
            pa = pb = pc = pbias = null;
        }

        /// <summary>
        /// The kernel covers the whole unpadded input (a DCGAN's first and last layers): each image
        /// is one row of length K = Ci Kh Kw and the convolution is a fully connected layer, so
        /// each pass is one GEMM over the whole batch with no im2col.
        /// </summary>
        private void FullyConnected()
        {
            var gemm = owner.hostGemm ??= new HostGemm(HostGemm.BestSimd);
            int K = s.Patch;
            switch (pass)
            {
                case ConvPass.Forward:          // y (N, Co) = x (N, K) W^T
                    gemm.Run(new GemmShape(s.N, s.Co, K, false, true, K, K, s.Co), pa, pb, pc, 1f, beta, pbias);
                    break;
                case ConvPass.BackwardData:     // gx (N, K) = gy (N, Co) W (Co, K)
                    gemm.Run(new GemmShape(s.N, K, s.Co, false, false, s.Co, K, K), pa, pb, pc, 1f, beta, null);
                    AddChannelBias(pc, s.N, s.Ci, s.InPixels, pbias);
                    break;
                default:                        // gW (Co, K) = gy^T (Co, N) x (N, K)
                    gemm.Run(new GemmShape(s.Co, K, s.N, true, false, s.Co, K, K), pb, pa, pc, 1f, beta, null);
                    break;
            }
            pa = pb = pc = pbias = null;
        }

        private void Worker(int t)
        {
            var ws = workers[t];
            // One chunk in all: the GEMMs may use every core.
            var gemm = chunks == 1 ? (owner.hostGemm ??= new HostGemm(HostGemm.BestSimd)) : ws.Gemm;
            bool first = true;
            for (int chunk = t; chunk < chunks; chunk += activeWorkers)
            {
                int n0 = chunk * nb, count = Math.Min(nb, s.N - n0);
                switch (pass)
                {
                    case ConvPass.Forward: Forward(ws, gemm, n0, count); break;
                    case ConvPass.BackwardData: BackwardData(ws, gemm, n0, count); break;
                    default: BackwardWeight(ws, gemm, t, n0, count, first); break;
                }
                first = false;
            }
        }

        /// <summary>y[n0 .. n0 + count) = W col + bias + beta y.</summary>
        private void Forward(WorkerState ws, HostGemm gemm, int n0, int count)
        {
            int P = s.OutPixels, K = s.Patch, cols = count * P;
            float* col = ws.Col.Get(K * cols);
            Im2Col(s, taps, pa + (long)n0 * s.Ci * s.InPixels, count, col);
            float* y = pc + (long)n0 * s.Co * P;
            if (P == 1)         // y (count, Co) = col^T (count, K) W^T (K, Co), the bias one per column
                gemm.Run(new GemmShape(count, s.Co, K, true, true, cols, K, s.Co), col, pb, y, 1f, beta, pbias);
            else if (count == 1)
            {
                gemm.Run(new GemmShape(s.Co, P, K, false, false, K, P, P), pb, col, y, 1f, beta, null);
                AddChannelBias(y, 1, s.Co, P, pbias);
            }
            else
            {
                float* tmp = ws.Images.Get(s.Co * cols);
                gemm.Run(new GemmShape(s.Co, cols, K, false, false, K, cols, cols), pb, col, tmp, 1f, 0f, null);
                Scatter(tmp, y, count, s.Co, P, beta, pbias);
            }
        }

        /// <summary>gx[n0 .. n0 + count) = col2im(W^T gY) + bias + beta gx.</summary>
        private void BackwardData(WorkerState ws, HostGemm gemm, int n0, int count)
        {
            int P = s.OutPixels, K = s.Patch, cols = count * P;
            float* gy = pa + (long)n0 * s.Co * P;
            float* col = ws.Col.Get(K * cols);
            // gY as (Co, cols): stored (count, Co) when P = 1 (op(B) is its transpose), in place
            // for one sample, else gathered.
            var g = new GemmShape(K, cols, s.Co, true, P == 1, K, P == 1 ? s.Co : cols, cols);
            float* src = gy;
            if (P != 1 && count != 1)
            {
                src = ws.Images.Get(s.Co * cols);
                Gather(gy, src, count, s.Co, P);
            }
            gemm.Run(g, pb, src, col, 1f, 0f, null);
            float* gx = pc + (long)n0 * s.Ci * s.InPixels;
            Col2Im(s, taps, col, count, gx, beta);
            AddChannelBias(gx, count, s.Ci, s.InPixels, pbias);
        }

        /// <summary>Worker t's gW (+)= gY col^T over its chunks; worker 0 writes gw itself.</summary>
        private void BackwardWeight(WorkerState ws, HostGemm gemm, int t, int n0, int count, bool first)
        {
            int P = s.OutPixels, K = s.Patch, cols = count * P;
            float* col = ws.Col.Get(K * cols);
            Im2Col(s, taps, pa + (long)n0 * s.Ci * s.InPixels, count, col);
            float* gy = pb + (long)n0 * s.Co * P;
            float* dst = t == 0 ? pc : ws.Partial.Get(s.Co * K);
            float be = !first ? 1f : t == 0 ? beta : 0f;
            var g = new GemmShape(s.Co, K, cols, P == 1, true, P == 1 ? s.Co : cols, cols, K);
            float* src = gy;
            if (P != 1 && count != 1)
            {
                src = ws.Images.Get(s.Co * cols);
                Gather(gy, src, count, s.Co, P);
            }
            gemm.Run(g, src, col, dst, 1f, be, null);
        }

        private void SumPartials()
        {
            long len = s.WeightLength;
            for (int t = 1; t < activeWorkers; t++)
            {
                float* part = workers[t].Partial.Get((int)len);
                for (long i = 0; i < len; i++)
                    pc[i] += part[i];
            }
        }
    }

    /// <summary>
    /// The input offset each output pixel reads through each kernel tap: entry t P + p is
    /// hi Wi + wi for tap t = (kh, kw) and output pixel p = (ho, wo), or -1 in the padding. The
    /// same for every channel and sample, so im2col and col2im become table-driven gathers and
    /// scatters with no per-row bookkeeping (DCGAN's rows are only 4 to 32 pixels long).
    /// </summary>
    private static int[] TapOffsets(in ConvShape s)
    {
        int P = s.OutPixels;
        var table = GC.AllocateArray<int>(s.Kh * s.Kw * P, pinned: true);
        for (int kh = 0; kh < s.Kh; kh++)
            for (int kw = 0; kw < s.Kw; kw++)
                for (int ho = 0; ho < s.Ho; ho++)
                    for (int wo = 0; wo < s.Wo; wo++)
                    {
                        int h = ho * s.Stride - s.Pad + kh, w = wo * s.Stride - s.Pad + kw;
                        table[(kh * s.Kw + kw) * P + ho * s.Wo + wo] = (uint)h < (uint)s.Hi && (uint)w < (uint)s.Wi ? h * s.Wi + w : -1;
                    }
        return table;
    }

    /// <summary>col (Ci Kh Kw, count P): row (ci, kh, kw), column j P + (ho Wo + wo) holds
    /// x[j, ci, ho stride - pad + kh, wo stride - pad + kw], or 0 in the padding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Im2Col(in ConvShape s, int* taps, float* x, int count, float* col)
    {
        int P = s.OutPixels, T = s.Kh * s.Kw;
        long ld = (long)count * P;
        for (int j = 0; j < count; j++)
            for (int ci = 0; ci < s.Ci; ci++)
            {
                float* xc = x + ((long)j * s.Ci + ci) * s.InPixels;
                for (int t = 0; t < T; t++)
                {
                    float* dst = col + (ci * T + t) * ld + (long)j * P;
                    int* o = taps + t * P;
                    for (int p = 0; p < P; p++)
                    {
                        int q = o[p];
                        dst[p] = q >= 0 ? xc[q] : 0f;
                    }
                }
            }
    }

    /// <summary>gx = beta gx + the sum of col's entries at the input positions im2col read them from.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Col2Im(in ConvShape s, int* taps, float* col, int count, float* gx, float beta)
    {
        int P = s.OutPixels, T = s.Kh * s.Kw;
        long ld = (long)count * P;
        var all = new Span<float>(gx, checked(count * s.Ci * s.InPixels));
        if (beta == 0f) all.Clear();
        else if (beta != 1f) foreach (ref float v in all) v *= beta;
        for (int j = 0; j < count; j++)
            for (int ci = 0; ci < s.Ci; ci++)
            {
                float* gc = gx + ((long)j * s.Ci + ci) * s.InPixels;
                for (int t = 0; t < T; t++)
                {
                    float* src = col + (ci * T + t) * ld + (long)j * P;
                    int* o = taps + t * P;
                    for (int p = 0; p < P; p++)
                    {
                        int q = o[p];
                        if (q >= 0) gc[q] += src[p];
                    }
                }
            }
    }

    /// <summary>(count, C, P) in NCHW to (C, count P).</summary>
    private static unsafe void Gather(float* src, float* dst, int count, int c, int p)
    {
        for (int j = 0; j < count; j++)
            for (int ch = 0; ch < c; ch++)
                new Span<float>(src + ((long)j * c + ch) * p, p).CopyTo(new Span<float>(dst + (long)ch * count * p + (long)j * p, p));
    }

    /// <summary>dst (count, C, P) = src (C, count P) rearranged, + bias[ch] + beta dst.</summary>
    private static unsafe void Scatter(float* src, float* dst, int count, int c, int p, float beta, float* bias)
    {
        for (int j = 0; j < count; j++)
            for (int ch = 0; ch < c; ch++)
            {
                float* d = dst + ((long)j * c + ch) * p;
                float* q = src + (long)ch * count * p + (long)j * p;
                float add = bias == null ? 0f : bias[ch];
                if (beta == 0f)
                    for (int i = 0; i < p; i++) d[i] = q[i] + add;
                else
                    for (int i = 0; i < p; i++) d[i] = q[i] + add + beta * d[i];
            }
    }

    private static unsafe void AddChannelBias(float* y, int count, int c, int p, float* bias)
    {
        if (bias == null)
            return;
        for (int j = 0; j < count; j++)
            for (int ch = 0; ch < c; ch++)
            {
                float* d = y + ((long)j * c + ch) * p;
                float add = bias[ch];
                for (int i = 0; i < p; i++) d[i] += add;
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
