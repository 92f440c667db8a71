using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ILGPU;

namespace IlgpuGan.Kernels;

// -------------------------------------------------------------------------------------------------
// Host variant of the convolutions, one chunk of samples per core at a time. With AVX-512: direct
// convolutions on one micro-kernel (Direct8x32) that broadcasts the images from a zero-padded copy
// (on small outputs, tiles of one pixel of 8 samples from a sample-interleaved copy, which skip the
// taps that read the padding).
// Otherwise: implicit GEMMs on the packed SIMD GEMM (HostGemm.RunPacked), whose B slivers are
// gathered straight from the images through a table of input offsets per kernel tap. Neither
// builds an im2col matrix.
// -------------------------------------------------------------------------------------------------

public sealed partial class Kernels
{
    private HostConv? hostConv;

    /// <summary>
    /// The host convolutions. Worker t of T owns the t-th of T equal ranges of the batch, cut into
    /// chunks of at most nb samples (about 256 GEMM columns) (a fixed assignment, so results never depend on
    /// timing). With AVX-512 (where enough channels fill its vectors, see <see cref="Run"/>) each pass is
    /// a direct convolution: <see cref="ForwardDirect"/>, <see cref="BackwardDataDirect"/> (one
    /// stride-1 convolution per phase, <see cref="Phases"/>) and <see cref="BackwardWeightDirect"/>; on small
    /// outputs by sample (<see cref="bySample"/>: <see cref="TapProduct"/>, <see cref="BackwardWeightBySample"/>).
    /// Otherwise each runs single-threaded implicit GEMMs, P = Ho Wo, Q = Hi Wi:
    ///   forward:         Y (Co, nb P)  = W (Co, Ci Kh Kw) im2col(x)
    ///   backward data:   gcol (Ci Kh Kw, nb P) = W^T gY, then col2im adds it onto gx
    ///   backward weight: gW (Co, Ci Kh Kw) += gY im2col(x)^T (per worker, summed in worker order)
    /// The weights are packed once per call and shared by the workers.
    /// </summary>
    private sealed unsafe class HostConv
    {
        private const int TargetColumns = 256;

        private readonly Kernels owner;
        private readonly WorkerState[] workers;
        private readonly Action<int> body;
        private readonly PinnedBuffer packedWeights = new();
        private readonly Dictionary<(int, int, int, int, int, int, int, int), Window> windows = new();

        private sealed class WorkerState(int simd)
        {
            public readonly HostGemm Gemm = new(simd);
            public readonly PinnedBuffer A = new(), Out = new(), Col = new(), Partial = new(), Runs = new(), Copy = new();
        }

        // The current job (valid during Run, read by the workers).
        private ConvPass pass;
        private ConvShape s;
        private float* pa, pb, pc, pbias;
        private float beta;
        private Window win = null!;
        private int nb, activeWorkers;
        /// <summary>This pass runs as a direct convolution (AVX-512 only; see <see cref="Run"/>).</summary>
        private bool direct;
        /// <summary>Each reduction row's offset in the padded copy: (ci, kh, kw) order (tapOffsets), and the
        /// by-sample passes' tap-major order in the sample-interleaved copy (sampleOffsets).</summary>
        private readonly PinnedBuffer tapOffsets = new(), sampleOffsets = new();
        private Phases? phases;
        /// <summary>This direct pass tiles one output pixel of 8 samples and skips the taps that read the
        /// padding (small outputs, where the border pixels are many; see <see cref="ForwardDirect"/>,
        /// <see cref="BackwardDataDirect"/>, <see cref="BackwardWeightBySample"/>).</summary>
        private bool bySample;

        public HostConv(Kernels owner)
        {
            this.owner = owner;
            int simd = owner.HostGemmSimd;
            workers = new WorkerState[owner.Pool.Threads];
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
            if (!windows.TryGetValue(key, out win!))
                windows[key] = win = new Window(s);
            // The direct forms' vectors run over the output channels (the data gradient's over the input
            // channels): fewer than 32 would leave lanes empty. A forward pass with a short reduction
            // (Ci Kh Kw < 64) spends more on storing its tiles than on its products.
            direct = (pass == ConvPass.BackwardWeight && s.Co >= 32 || pass == ConvPass.Forward && s.Patch >= 64 && s.Co >= 32
                    || pass == ConvPass.BackwardData && s.Ci >= 32 && s.Co >= 16)
                && workers[0].Gemm.Simd == 512 && Avx512F.IsSupported;
            int P = s.OutPixels, T = workers.Length;
            bySample = direct && (pass == ConvPass.Forward && P <= SmallOutput
                || pass == ConvPass.BackwardData && PhasePixels(s) <= SmallOutput
                || pass == ConvPass.BackwardWeight && P <= SmallOutput && s.Ci % 8 == 0);
            PackWeights();
            // the direct weight gradient reads its gW^T tiles once per chunk: larger chunks
            int target = direct && pass == ConvPass.BackwardWeight ? 4 * TargetColumns : TargetColumns;
            nb = Math.Clamp((target + P - 1) / P, 1, s.N);
            if (bySample)       // whole tiles of 8 samples
                nb = Math.Min(s.N, (Math.Max(8, nb) + 7) & ~7);
            activeWorkers = Math.Min(T, s.N);
            if (activeWorkers == 1)
                Worker(0);
            else
                owner.Pool.Run(activeWorkers, body);
            if (pass == ConvPass.BackwardWeight && direct && bySample)
                TransposeTapMajorGradient();
            else if (pass == ConvPass.BackwardWeight && direct)
                TransposeWeightGradient();
            else if (pass == ConvPass.BackwardWeight && activeWorkers > 1)
                SumPartials();
            pa = pb = pc = pbias = null;
        }

        /// <summary>Packs the weights once for all chunks: W for forward, W^T for backward data.</summary>
        private void PackWeights()
        {
            var gemm = workers[0].Gemm;
            if (direct && pass == ConvPass.BackwardData)
            {
                phases = Phases.For(s, phases);
                phases.PackWeights(s, pb, gemm, owner.Pool, bySample);
                return;
            }
            if (direct)
            {
                // each (ci, kh, kw)'s offset in the padded copy, repeated up to a multiple of 8 rows
                int T = s.Kh * s.Kw, k8 = (s.Patch + 7) & ~7;
                int* koff = (int*)tapOffsets.Get(k8);
                for (int c = 0, k = 0; c < s.Ci; c++)
                    for (int t = 0; t < T; t++, k++)
                        koff[k] = CopyOffset(c, t);
                for (int k = s.Patch; k < k8; k++)
                    koff[k] = koff[s.Patch - 1];
            }
            if (direct && pass == ConvPass.BackwardWeight && bySample)
            {
                // gW^T's rows by 8 channels, then tap, then channel (row (cb T + t) 8 + c is (8 cb + c, kh, kw)):
                // a group of 8 rows is one tap of 8 channels, which the same pixels miss, and a block of
                // GroupRows rows reads a few channels' planes only; offsets into the sample-interleaved copy
                int T = s.Kh * s.Kw;
                int* koff = (int*)sampleOffsets.Get(s.Patch);
                for (int cb = 0, k = 0; cb < s.Ci / 8; cb++)
                    for (int t = 0; t < T; t++)
                        for (int c = 8 * cb; c < 8 * cb + 8; c++, k++)
                            koff[k] = CopyOffset(c, t) * 8;
            }
            else if (direct && pass == ConvPass.Forward && bySample)
            {
                // Tiles of 8 samples reduce tap by tap (row t Ci + ci of their W^T is (ci, kh, kw), t = kh Kw + kw),
                // so the taps a tile misses are whole ranges of rows it skips; offsets into the sample-interleaved copy.
                int T = s.Kh * s.Kw, k8 = (s.Patch + 7) & ~7;
                int* koff = (int*)sampleOffsets.Get(k8);
                for (int t = 0, k = 0; t < T; t++)
                    for (int c = 0; c < s.Ci; c++, k++)
                        koff[k] = CopyOffset(c, t) * 8;
                for (int k = s.Patch; k < k8; k++)
                    koff[k] = koff[s.Patch - 1];
                float* dst = packedWeights.Get(gemm.PackedBLength(s.Patch, s.Co));
                int slivers = (s.Co + 31) / 32, parts = (long)s.Co * s.Patch < 1 << 16 ? 1 : Math.Min(slivers, owner.Pool.Threads);
                if (parts == 1)
                    PackTapMajor(dst, 0, slivers, workers[0].Col);
                else
                    owner.Pool.Run(parts, part => PackTapMajor(dst, slivers * part / parts, slivers * (part + 1) / parts, workers[part].Col));
            }
            else if (direct && pass == ConvPass.Forward)     // W^T (Ci Kh Kw, Co) in 32-channel slivers
            {
                var w = new MatrixPanel(pb, s.Patch, lanesAreColumns: false);
                float* dst = packedWeights.Get(gemm.PackedBLength(s.Patch, s.Co));
                int parts = (long)s.Co * s.Patch < 1 << 16 ? 1 : owner.Pool.Threads;
                if (parts == 1)
                    gemm.PackB(s.Patch, s.Co, ref w, dst);
                else
                    owner.Pool.Run(parts, part => { var panel = w; gemm.PackB(s.Patch, s.Co, ref panel, dst, part, parts); });
            }
            else if (pass == ConvPass.Forward)
            {
                var w = new MatrixPanel(pb, s.Patch, lanesAreColumns: false);
                float* dst = packedWeights.Get(gemm.PackedALength(s.Co, s.Patch));
                ParallelPack(s.Co, s.Patch, w, dst);
            }
            else if (pass == ConvPass.BackwardData)    // W^T (Ci Kh Kw, Co): W's columns as rows
            {
                var wt = new MatrixPanel(pb, s.Patch, lanesAreColumns: true);
                ParallelPack(s.Patch, s.Co, wt, packedWeights.Get(gemm.PackedALength(s.Patch, s.Co)));
            }
        }

        /// <summary>Where input channel c's tap t = kh Kw + kw (of output pixel (0, 0)) lies in a plane-by-plane
        /// copy of x padded by Pad on every side.</summary>
        private int CopyOffset(int c, int t) => (c * (s.Hi + 2 * s.Pad) + t / s.Kw) * (s.Wi + 2 * s.Pad) + t % s.Kw;

        /// <summary>The taps [kh0, kh1) x [kw0, kw1) that reach the image (not the padding) from output pixel p.</summary>
        private (int Kh0, int Kh1, int Kw0, int Kw1) TapRange(int p)
        {
            int oh = p / s.Wo * s.Stride - s.Pad, ow = p % s.Wo * s.Stride - s.Pad;
            return (Math.Max(0, -oh), Math.Min(s.Kh, s.Hi - oh), Math.Max(0, -ow), Math.Min(s.Kw, s.Wi - ow));
        }

        /// <summary>
        /// The jb by-sample tiles g .. g + jb of one output pixel: tile b's 8 lanes read the interleaved copy
        /// at at + b blockStride + i (in floats, i &lt; 8), and it reduces over the taps [r0, r1) x [c0, c1).
        /// </summary>
        private static void SetTiles(int* pix, int* taps, int g, int jb, int blockStride, int at, (int, int, int, int) range)
        {
            for (int b = 0; b < jb; b++, g++)
            {
                for (int i = 0; i < 8; i++)
                    pix[8 * g + i] = at + b * blockStride + i;
                (taps[4 * g], taps[4 * g + 1], taps[4 * g + 2], taps[4 * g + 3]) = range;
            }
        }

        /// <summary>
        /// W^T with its rows in tap-major order (row t Ci + ci holds W[:, ci, kh, kw], t = kh Kw + kw),
        /// in <see cref="HostGemm.PackB"/>'s layout (per KC block of rows, 32-channel slivers of kc x 32),
        /// slivers [q0, q1) of it: each sliver's 32 rows of W turned tap-major in temp (8 x 8 transposes
        /// where the taps and channels allow), then packed like any matrix.
        /// </summary>
        private void PackTapMajor(float* dst, int q0, int q1, PinnedBuffer temp)
        {
            int K = s.Patch, T = s.Kh * s.Kw, ci = s.Ci, coPad = (s.Co + 31) & ~31;
            float* rows = temp.Get(32 * K);
            for (int q = q0; q < q1; q++)
            {
                int co0 = q * 32, lanes = Math.Min(32, s.Co - co0);
                for (int x = 0; x < lanes; x++)
                {
                    float* src = pb + (long)(co0 + x) * K, d = rows + (long)x * K;   // src (Ci, T) -> d (T, Ci)
                    int c = 0;
                    if (T % 8 == 0 && Avx.IsSupported)
                        for (; c + 8 <= ci; c += 8)
                            for (int t = 0; t < T; t += 8)
                            {
                                float* b = src + c * T + t;
                                Transpose8x8(Vector256.Load(b), Vector256.Load(b + T), Vector256.Load(b + 2 * T), Vector256.Load(b + 3 * T),
                                    Vector256.Load(b + 4 * T), Vector256.Load(b + 5 * T), Vector256.Load(b + 6 * T), Vector256.Load(b + 7 * T),
                                    d + t * ci + c, ci);
                            }
                    for (; c < ci; c++)
                        for (int t = 0; t < T; t++)
                            d[t * ci + c] = src[c * T + t];
                }
                for (int p0 = 0; p0 < K; p0 += KC)
                {
                    int kc = Math.Min(KC, K - p0);
                    HostGemm.PackStrided(rows + p0, K, lanes, kc, 32, dst + (long)p0 * coPad + (long)co0 * kc);
                }
            }
        }

        /// <summary>Packs weights (M x K) on all the workers: a layer's weights are megabytes.</summary>
        private void ParallelPack<TA>(int m, int k, TA src, float* dst) where TA : struct, IPanelSource
        {
            var gemm = workers[0].Gemm;
            int parts = (long)m * k < 1 << 16 ? 1 : owner.Pool.Threads;
            if (parts == 1)
                gemm.PackA(m, k, ref src, dst, 0, 1);
            else
                owner.Pool.Run(parts, part => { var panel = src; gemm.PackA(m, k, ref panel, dst, part, parts); });
        }

        /// <summary>
        /// The kernel covers the whole unpadded input (a DCGAN's first and last layers): each image
        /// is one row of length K = Ci Kh Kw and the convolution is a fully connected layer, so
        /// each pass is one GEMM over the whole batch, on all cores.
        /// </summary>
        private void FullyConnected()
        {
            var gemm = owner.hostGemm ??= new HostGemm(HostGemm.BestSimd, owner.Pool);
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
            bool first = true;
            // Worker t owns samples [lo, hi) (the batch split evenly over the workers), cut into
            // nearly equal chunks of at most nb samples.
            int lo = (int)((long)s.N * t / activeWorkers), hi = (int)((long)s.N * (t + 1) / activeWorkers);
            int chunks = (hi - lo + nb - 1) / nb;
            for (int chunk = 0; chunk < chunks; chunk++)
            {
                int n0 = lo + (int)((long)(hi - lo) * chunk / chunks), count = lo + (int)((long)(hi - lo) * (chunk + 1) / chunks) - n0;
                switch (pass)
                {
                    case ConvPass.Forward when direct: ForwardDirect(ws, n0, count); break;
                    case ConvPass.Forward: Forward(ws, n0, count); break;
                    case ConvPass.BackwardData when direct: BackwardDataDirect(ws, n0, count); break;
                    case ConvPass.BackwardData: BackwardData(ws, n0, count); break;
                    case ConvPass.BackwardWeight when direct && bySample: BackwardWeightBySample(ws, n0, count, first); break;
                    case ConvPass.BackwardWeight when direct: BackwardWeightDirect(ws, n0, count, first); break;
                    default: BackwardWeight(ws, t, n0, count, first); break;
                }
                first = false;
            }
        }

        /// <summary>Outputs (the data gradient: phases) of at most this many pixels tile by sample (<see cref="bySample"/>).</summary>
        private const int SmallOutput = 64;

        /// <summary>The most pixels of one phase of the input (<see cref="Phases"/>): about Hi Wi / S^2.</summary>
        private static int PhasePixels(in ConvShape s) => ((s.Hi + s.Stride - 1) / s.Stride) * ((s.Wi + s.Stride - 1) / s.Stride);

        /// <summary>
        /// y[n0 .. n0 + count) = conv(x, W) + bias + beta y as a direct convolution: the micro-kernel
        /// (<see cref="Direct8x32"/>) holds 8 output pixels x 32 output channels, takes the weights as
        /// vectors (32 channels of one (kh, kw, ci)) and broadcasts each pixel's input value straight
        /// from a zero-padded copy of x, so nothing of the size of im2col is ever written. A tile skips
        /// the taps that all its pixels miss (they would read the padding): with small outputs
        /// (<see cref="bySample"/>) a tile is one pixel of 8 samples, which miss the same taps (a 4 x 4
        /// output of a 4 x 4, stride 2, pad 1 kernel misses 23 % of them); otherwise it is 8
        /// consecutive pixels of a sample. The result, (pixel, channel), is transposed into y's
        /// (channel, pixel) at the end.
        /// </summary>
        private void ForwardDirect(WorkerState ws, int n0, int count)
        {
            int P = s.OutPixels, K = s.Patch, coPad = (s.Co + 31) & ~31;
            float* y = pc + (long)n0 * s.Co * P;
            if (!bySample)
            {
                int groups = (count * P + 7) / 8;
                float* xp = PaddedCopy(ws, n0, count);
                int* offsets = PixelOffsets(ws, count, groups * 8);
                float* outT = ws.Out.Get(checked(groups * 8 * coPad));
                DirectProduct(K, s.Co, packedWeights.Get(0), xp, (int*)tapOffsets.Get(0), offsets, groups, outT);
                WriteByPixel(outT, y, count, P, coPad);
                return;
            }
            // Tiles (p, b): output pixel p of samples 8 b .. 8 b + 8, their inputs side by side in the copy.
            int hp = s.Hi + 2 * s.Pad, wp = s.Wi + 2 * s.Pad, jb = (count + 7) / 8, tiles = P * jb;
            float* xs = InterleavedCopy(ws, n0, count, jb);
            int* pix = (int*)ws.Runs.Get(tiles * 8);
            int* taps = (int*)ws.A.Get(tiles * 4);      // per tile: kh0, kh1, kw0, kw1 (the taps its pixel hits)
            for (int p = 0; p < P; p++)
                SetTiles(pix, taps, p * jb, jb, s.Ci * hp * wp * 8, (p / s.Wo * wp + p % s.Wo) * s.Stride * 8, TapRange(p));
            float* outTs = ws.Out.Get(checked(tiles * 8 * coPad));
            TapProduct(K, s.Co, s.Ci, s.Kw, packedWeights.Get(0), xs, (int*)sampleOffsets.Get(0), pix, taps, tiles, outTs);
            WriteBySample(outTs, y, count, P, jb, coPad);
        }

        /// <summary>
        /// x[n0 .. n0 + count) zero-padded by Pad on every side with each 8 samples interleaved:
        /// (count / 8 rounded up, Ci, Hi + 2 Pad, Wi + 2 Pad, 8), the samples past count zero. A tile's 8
        /// broadcasts (one input of 8 samples) then read one 32-byte run.
        /// </summary>
        private float* InterleavedCopy(WorkerState ws, int n0, int count, int jb) =>
            Interleave(pa + (long)n0 * s.Ci * s.InPixels, count, jb, s.Ci, s.Hi, s.Wi, s.Pad, s.Pad, s.Hi + 2 * s.Pad, s.Wi + 2 * s.Pad, ws.Copy);

        /// <summary>
        /// count samples of src (channels planes of h x w each), each plane placed at row top, column
        /// left of an hp x wp plane of zeros, with each 8 samples interleaved: (jb, channels, hp, wp, 8),
        /// the samples past count zero.
        /// </summary>
        private static float* Interleave(float* src, int count, int jb, int channels, int h, int w, int top, int left, int hp, int wp,
            PinnedBuffer buffer)
        {
            int plane = hp * wp * 8, right = wp - left - w;
            float* dst = buffer.Get(checked(jb * channels * plane + 16));
            float* rest = stackalloc float[128];
            long sample = (long)channels * h * w;
            for (int b = 0; b < jb; b++)
            {
                int n = Math.Min(8, count - 8 * b);
                for (int c = 0; c < channels; c++)
                {
                    float* d = dst + ((long)b * channels + c) * plane;
                    float* from = src + 8 * b * sample + (long)c * h * w;
                    // the border: top rows above, the rows below, left and right columns beside each row
                    new Span<float>(d, top * wp * 8).Clear();
                    new Span<float>(d + (top + h) * wp * 8, (hp - top - h) * wp * 8).Clear();
                    for (int r = 0; r < h; r++)
                    {
                        float* row = d + (r + top) * wp * 8;
                        new Span<float>(row, left * 8).Clear();
                        new Span<float>(row + (left + w) * 8, right * 8).Clear();
                        float* o = row + left * 8, sr = from + r * w;
                        int v = 0;
                        if (Avx.IsSupported)
                        {
                            if (n == 8)
                                for (; v + 8 <= w; v += 8)
                                    Transpose8x8(Vector256.Load(sr + v), Vector256.Load(sr + sample + v), Vector256.Load(sr + 2 * sample + v),
                                        Vector256.Load(sr + 3 * sample + v), Vector256.Load(sr + 4 * sample + v), Vector256.Load(sr + 5 * sample + v),
                                        Vector256.Load(sr + 6 * sample + v), Vector256.Load(sr + 7 * sample + v), o + v * 8, 8);
                            for (; v < w; v += 8)   // the rest of the row (and the rows of samples past count): masked loads, zeros past it
                            {
                                int m = Math.Min(8, w - v);
                                var mask = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(m)).AsSingle();
                                float* sv = sr + v;
                                for (int i = 0; i < 8; i++)
                                    (i < n ? Avx.MaskLoad(sv + i * sample, mask) : Vector256<float>.Zero).Store(rest + 8 * i);
                                Transpose8x8(Vector256.Load(rest), Vector256.Load(rest + 8), Vector256.Load(rest + 16), Vector256.Load(rest + 24),
                                    Vector256.Load(rest + 32), Vector256.Load(rest + 40), Vector256.Load(rest + 48), Vector256.Load(rest + 56), rest + 64, 8);
                                new Span<float>(rest + 64, 8 * m).CopyTo(new Span<float>(o + v * 8, 8 * m));
                            }
                        }
                        for (; v < w; v++)
                            for (int i = 0; i < 8; i++)
                                o[v * 8 + i] = i < n ? sr[i * sample + v] : 0f;
                    }
                }
            }
            return dst;
        }

        /// <summary>
        /// outT (tiles of 8 pixels, channels rounded up to 32) = the sum, over the rows k &lt; K in tap-major
        /// order (row t ci + c: tap t = kh kw + kw of reduction channel c, ci of them, kw taps a kernel row)
        /// of the taps [kh0, kh1) x [kw0, kw1) a tile hits, of x[koff[k] + pix[i]] times w's k-th row
        /// (w packed in KC blocks of 32-channel slivers). The reduction runs in spans of 4 KC blocks,
        /// innermost within a tile, as in <see cref="DirectProduct"/>.
        /// </summary>
        private static void TapProduct(int K, int channels, int ci, int kw, float* w, float* x, int* koff, int* pix, int* taps, int tiles, float* outT)
        {
            int ld = (channels + 31) & ~31;
            for (int pb = 0; pb < K; pb += 4 * KC)
            {
                int pe = Math.Min(K, pb + 4 * KC);
                for (int c0 = 0; c0 < channels; c0 += 32)
                    for (int g = 0; g < tiles; g++)
                    {
                        int kh0 = taps[4 * g], kh1 = taps[4 * g + 1], kw0 = taps[4 * g + 2], kw1 = taps[4 * g + 3];
                        if (kh0 >= kh1 || kw0 >= kw1)       // every pixel in the padding (a pad as wide as the kernel)
                        {
                            if (pb == 0)
                                for (int i = 0; i < 8; i++)
                                    new Span<float>(outT + ((long)g * 8 + i) * ld + c0, 32).Clear();
                            continue;
                        }
                        bool wholeRows = kw0 == 0 && kw1 == kw;     // then the rows kh0 .. kh1 are one range
                        int first = (kh0 * kw + kw0) * ci;
                        for (int kh = kh0; kh < (wholeRows ? kh0 + 1 : kh1); kh++)
                        {
                            int from = Math.Max(pb, (kh * kw + kw0) * ci), to = Math.Min(pe, wholeRows ? kh1 * kw * ci : (kh * kw + kw1) * ci);
                            while (from < to)
                            {
                                int p0 = from / KC * KC, kcBlock = Math.Min(KC, K - p0), end = Math.Min(to, p0 + KC);
                                Direct8x32(end - from, w + (long)p0 * ld + (long)c0 * kcBlock + (long)(from - p0) * 32, x, koff + from,
                                    pix + 8 * g, outT + (long)g * 8 * ld + c0, ld, from > first);
                                from = end;
                            }
                        }
                    }
            }
        }

        /// <summary>y (count, Co, P) = outT (count P, Co) transposed, + bias + beta y: 8 pixels x 8 channels
        /// at a time (an 8 x 8 transpose, then 8 contiguous pixels a channel), the edges one by one.</summary>
        private void WriteByPixel(float* outT, float* y, int count, int P, int coPad)
        {
            float* block = stackalloc float[64];
            int p8 = P & ~7, co8 = s.Co & ~7;
            for (int j = 0; j < count; j++)
            {
                float* yj = y + (long)j * s.Co * P, oj = outT + (long)j * P * coPad;
                for (int p = 0; p < p8; p += 8)
                    for (int co = 0; co < co8; co += 8)
                    {
                        float* q = oj + (long)p * coPad + co;
                        Transpose8x8(Vector256.Load(q), Vector256.Load(q + coPad), Vector256.Load(q + 2 * coPad),
                            Vector256.Load(q + 3 * coPad), Vector256.Load(q + 4 * coPad), Vector256.Load(q + 5 * coPad),
                            Vector256.Load(q + 6 * coPad), Vector256.Load(q + 7 * coPad), block, 8);
                        for (int i = 0; i < 8; i++)
                        {
                            float* d = yj + (long)(co + i) * P + p;
                            var v = Vector256.Load(block + 8 * i) + Vector256.Create(pbias == null ? 0f : pbias[co + i]);
                            if (beta != 0f) v += Vector256.Create(beta) * Vector256.Load(d);
                            Vector256.Store(v, d);
                        }
                    }
                for (int co = 0; co < s.Co; co++)
                {
                    float* d = yj + (long)co * P;
                    float* q = oj + co;
                    float add = pbias == null ? 0f : pbias[co];
                    for (int i = co < co8 ? p8 : 0; i < P; i++)
                        d[i] = q[(long)i * coPad] + add + (beta == 0f ? 0f : beta * d[i]);
                }
            }
        }

        /// <summary>y (count, Co, P) = outT (P, samples rounded up to 8, Co) transposed, + bias + beta y:
        /// 8 samples x 8 channels at a time through an 8 x 8 transpose, the edge channels one by one.</summary>
        private void WriteBySample(float* outT, float* y, int count, int P, int jb, int coPad)
        {
            float* block = stackalloc float[64];
            int co8 = s.Co & ~7;
            long sample = (long)s.Co * P;
            // 8 channels of 8 samples at a time, pixel by pixel: the 64 rows of y that take them stay in
            // L1 from one pixel to the next (pixel by pixel over all channels, every write went to L2)
            for (int b = 0; b < jb; b++)
            {
                int n = Math.Min(8, count - 8 * b);
                for (int co = 0; co < co8; co += 8)
                    for (int p = 0; p < P; p++)
                    {
                        float* qc = outT + (long)(p * jb + b) * 8 * coPad + co;
                        float* yb = y + 8 * b * sample + p;
                        Transpose8x8(Vector256.Load(qc), Vector256.Load(qc + coPad), Vector256.Load(qc + 2 * coPad),
                            Vector256.Load(qc + 3 * coPad), Vector256.Load(qc + 4 * coPad), Vector256.Load(qc + 5 * coPad),
                            Vector256.Load(qc + 6 * coPad), Vector256.Load(qc + 7 * coPad), block, 8);
                        for (int c = 0; c < 8; c++)
                        {
                            float add = pbias == null ? 0f : pbias[co + c];
                            float* d = yb + (long)(co + c) * P;
                            for (int i = 0; i < n; i++)
                                d[i * sample] = block[8 * c + i] + add + (beta == 0f ? 0f : beta * d[i * sample]);
                        }
                    }
                for (int p = 0; p < P; p++)
                {
                    float* q = outT + (long)(p * jb + b) * 8 * coPad;
                    float* yb = y + 8 * b * sample + p;
                    for (int co = co8; co < s.Co; co++)
                    {
                        float add = pbias == null ? 0f : pbias[co];
                        float* d = yb + (long)co * P;
                        for (int i = 0; i < n; i++)
                            d[i * sample] = q[(long)i * coPad + co] + add + (beta == 0f ? 0f : beta * d[i * sample]);
                    }
                }
            }
        }

        private const int KC = HostGemm.KC;

        /// <summary>
        /// The data gradient as S^2 direct convolutions, one per phase (ph, pw) of the input: the
        /// input pixels (ih, iw) with (ih + pad) mod S = ph and (iw + pad) mod S = pw, written
        /// ih = S u + ph - pad, are reached only by the taps kh = ph + S mh (and kw likewise), from
        /// output pixel oh = u - mh. So a phase is a stride-1 convolution of a zero-padded copy of gY
        /// with those taps, every gx value is written once (no col2im), and the micro-kernel
        /// (<see cref="Direct8x32"/>) takes 32 input channels of W as vectors and broadcasts gY.
        /// </summary>
        private sealed class Phases
        {
            public ConvShape Shape;
            /// <summary>gY's padded copy: Top rows and Left columns of zeros before it, Hg x Wg a channel.</summary>
            public int Top, Left, Hg, Wg;
            public Phase[] Items = [];
            public readonly PinnedBuffer Weights = new(), Offsets = new();

            public sealed class Phase
            {
                public int Ph, Pw, Mh, Mw, U0, Nu, V0, Nv, K;
                /// <summary>Where its packed weights and its reduction offsets start.</summary>
                public long WeightsAt, OffsetsAt;
            }

            private static int CeilDiv(int a, int b) => -Window.FloorDiv(-a, b);

            public static Phases For(in ConvShape s, Phases? cached)
            {
                if (cached != null && cached.Shape == s)
                    return cached;
                var p = cached ?? new Phases();
                p.Shape = s;
                int S = s.Stride;
                var items = new List<Phase>();
                int top = 0, left = 0, bottom = s.Ho, right = s.Wo;
                for (int ph = 0; ph < S; ph++)
                    for (int pw = 0; pw < S; pw++)
                    {
                        var f = new Phase { Ph = ph, Pw = pw };
                        f.Mh = ph < s.Kh ? CeilDiv(s.Kh - ph, S) : 0;
                        f.Mw = pw < s.Kw ? CeilDiv(s.Kw - pw, S) : 0;
                        f.U0 = CeilDiv(s.Pad - ph, S);
                        f.Nu = Window.FloorDiv(s.Hi - 1 + s.Pad - ph, S) - f.U0 + 1;
                        f.V0 = CeilDiv(s.Pad - pw, S);
                        f.Nv = Window.FloorDiv(s.Wi - 1 + s.Pad - pw, S) - f.V0 + 1;
                        f.K = s.Co * f.Mh * f.Mw;
                        if (f.Nu <= 0 || f.Nv <= 0)
                            continue;
                        if (f.K > 0)    // rows oh = u - mh and columns ow = v - mw that the copy must hold
                        {
                            top = Math.Max(top, f.Mh - 1 - f.U0);
                            left = Math.Max(left, f.Mw - 1 - f.V0);
                            bottom = Math.Max(bottom, f.U0 + f.Nu);
                            right = Math.Max(right, f.V0 + f.Nv);
                        }
                        items.Add(f);
                    }
                (p.Top, p.Left, p.Hg, p.Wg) = (top, left, top + bottom, left + right);
                p.Items = [.. items];
                return p;
            }

            /// <summary>Each phase's W as vectors: k = (co, mh, mw), 32-channel slivers of ci
            /// (<see cref="HostGemm.PackB"/>'s layout); and each k's offset in the copy of gY. Tap-major
            /// (k = (mh, mw, co)) with offsets into the sample-interleaved copy when the tiles are by sample.</summary>
            public void PackWeights(in ConvShape s, float* w, HostGemm gemm, HostPool pool, bool bySample)
            {
                long weights = 0, offsets = 0;
                foreach (var f in Items)
                {
                    (f.WeightsAt, f.OffsetsAt) = (weights, offsets);
                    if (f.K == 0) continue;
                    weights += gemm.PackedBLength(f.K, s.Ci);
                    offsets += f.K;
                }
                float* dst = Weights.Get(checked((int)weights));
                int* off = (int*)Offsets.Get(checked((int)offsets));
                int plane = Hg * Wg;
                var shape = s;
                var items = Items;
                pool.Run(Math.Min(pool.Threads, items.Length), part =>
                {
                    for (int i = part; i < items.Length; i += pool.Threads)
                    {
                        var f = items[i];
                        if (f.K == 0) continue;
                        var panel = new PhaseWeightPanel(w, shape, f.Ph, f.Pw, f.Mh, f.Mw, bySample);
                        gemm.PackB(f.K, shape.Ci, ref panel, dst + f.WeightsAt);
                        int* o = off + f.OffsetsAt;
                        if (bySample)
                            for (int mh = 0, k = 0; mh < f.Mh; mh++)
                                for (int mw = 0; mw < f.Mw; mw++)
                                    for (int co = 0; co < shape.Co; co++, k++)
                                        o[k] = (co * plane - mh * Wg - mw) * 8;
                        else
                            for (int co = 0, k = 0; co < shape.Co; co++)
                                for (int mh = 0; mh < f.Mh; mh++)
                                    for (int mw = 0; mw < f.Mw; mw++, k++)
                                        o[k] = co * plane - mh * Wg - mw;
                    }
                });
            }
        }

        /// <summary>W (Co, Ci, Kh, Kw) seen by a phase: lane ci, k = (co, mh, mw) at tap (ph + S mh, pw + S mw)
        /// (tap-major: k = (mh, mw, co)).</summary>
        private readonly struct PhaseWeightPanel(float* w, ConvShape s, int ph, int pw, int mh, int mw, bool tapMajor) : IPanelSource
        {
            [MethodImpl(MethodImplOptions.AggressiveOptimization)]
            public void Pack(int k0, int kc, int lane0, int lanes, int width, float* dst)
            {
                int taps = s.Kh * s.Kw;
                for (int k = 0; k < kc; k++, dst += width)
                {
                    int kk = k0 + k, co, a, b;
                    if (tapMajor)
                    {
                        int t = kk / s.Co;
                        (co, a, b) = (kk - t * s.Co, t / mw, t % mw);
                    }
                    else
                    {
                        co = kk / (mh * mw);
                        int r = kk - co * mh * mw;
                        (a, b) = (r / mw, r % mw);
                    }
                    float* src = w + ((long)co * s.Ci + lane0) * taps + (ph + s.Stride * a) * s.Kw + pw + s.Stride * b;
                    int x = 0;
                    for (; x < lanes; x++)
                        dst[x] = src[(long)x * taps];
                    for (; x < width; x++)
                        dst[x] = 0f;
                }
            }
        }

        /// <summary>gx[n0 .. n0 + count) (+ bias + beta gx) phase by phase (<see cref="Phases"/>).</summary>
        private void BackwardDataDirect(WorkerState ws, int n0, int count)
        {
            var ph = phases!;
            int P = s.OutPixels, plane = ph.Hg * ph.Wg, ciPad = (s.Ci + 31) & ~31, jb = (count + 7) / 8;
            // gY's zero-padded copy (count, Co, Hg, Wg); by sample: (jb, Co, Hg, Wg, 8)
            float* gyp = bySample ? Interleave(pa + (long)n0 * s.Co * P, count, jb, s.Co, s.Ho, s.Wo, ph.Top, ph.Left, ph.Hg, ph.Wg, ws.Copy)
                : Pad(pa + (long)n0 * s.Co * P, count * s.Co, s.Ho, s.Wo, ph.Top, ph.Left, ph.Hg, ph.Wg, ws.Copy);
            float* gx = pc + (long)n0 * s.Ci * s.InPixels;
            float* w = ph.Weights.Get(0);
            int* offsets = (int*)ph.Offsets.Get(0);
            float* adds = stackalloc float[16];
            foreach (var f in ph.Items)
            {
                int pp = f.Nu * f.Nv, cols = count * pp, groups = bySample ? pp * jb : (cols + 7) / 8;
                float* outT = ws.Out.Get(checked(groups * 8 * ciPad));
                if (f.K > 0 && bySample)
                {
                    // tiles (p, b): phase pixel p = (u, v) of samples 8 b .. 8 b + 8, which all miss the
                    // taps (mh, mw) whose gY row U0 + u - mh or column V0 + v - mw is outside gY
                    int* pix = (int*)ws.Runs.Get(groups * 8);
                    int* taps = (int*)ws.A.Get(groups * 4);
                    for (int p = 0; p < pp; p++)
                    {
                        int oh = f.U0 + p / f.Nv, ow = f.V0 + p % f.Nv;
                        SetTiles(pix, taps, p * jb, jb, s.Co * plane * 8, ((oh + ph.Top) * ph.Wg + ow + ph.Left) * 8,
                            (Math.Max(0, oh - s.Ho + 1), Math.Min(f.Mh, oh + 1), Math.Max(0, ow - s.Wo + 1), Math.Min(f.Mw, ow + 1)));
                    }
                    TapProduct(f.K, s.Ci, s.Co, f.Mw, w + f.WeightsAt, gyp, offsets + f.OffsetsAt, pix, taps, groups, outT);
                }
                else if (f.K > 0)
                {
                    int* pix = GridOffsets(ws, count, f.Nu, f.Nv, s.Co * plane, ph.Wg, 1,
                        (f.U0 + ph.Top) * ph.Wg + f.V0 + ph.Left, groups * 8);
                    float* wf = w + f.WeightsAt;
                    int* koff = offsets + f.OffsetsAt;
                    DirectProduct(f.K, s.Ci, wf, gyp, koff, pix, groups, outT);
                }
                // gx at the phase's pixels = outT (pixel, ci) (0 where no tap reaches) + bias + beta gx;
                // outT's rows: sample j's pixels in turn, or by sample pixel p's tiles (p jb + j / 8) 8 + j % 8.
                // By sample, 16 channels at a time (one line of an outT row), pixel by pixel: there a
                // sample's pixels lie next = jb 8 ciPad floats apart (a multiple of 4 KB at 128 channels),
                // so reading one channel down all its pixels lost each line from L1 before the next
                // channel's turn. Otherwise a sample's rows are consecutive, and one channel at a time
                // keeps the gx plane it writes in L1 (16 planes at a time was 14 % slower on K-CONV).
                long next = bySample ? (long)jb * 8 * ciPad : ciPad;
                int stride = s.Stride, inPlane = s.InPixels, block = bySample ? 16 : 1;
                for (int j = 0; j < count; j++)
                    for (int ci0 = 0; ci0 < s.Ci; ci0 += block)
                    {
                        int cw = Math.Min(block, s.Ci - ci0);
                        for (int c = 0; c < cw; c++)
                            adds[c] = pbias == null ? 0f : pbias[ci0 + c];
                        float* d = gx + ((long)j * s.Ci + ci0) * s.InPixels;
                        float* q = outT + (bySample ? j : (long)j * pp) * ciPad + ci0;
                        for (int u = 0; u < f.Nu; u++)
                        {
                            float* row = d + (s.Stride * (f.U0 + u) + f.Ph - s.Pad) * s.Wi + s.Stride * f.V0 + f.Pw - s.Pad;
                            if (f.K > 0 && beta == 0f)   // (the common case, without the tests per value)
                            {
                                for (int v = 0; v < f.Nv; v++, q += next)
                                {
                                    float* e = row + v * stride;
                                    for (int c = 0; c < cw; c++, e += inPlane)
                                        *e = q[c] + adds[c];
                                }
                                continue;
                            }
                            for (int v = 0; v < f.Nv; v++, q += next)
                            {
                                float* e = row + v * stride;
                                for (int c = 0; c < cw; c++, e += inPlane)
                                {
                                    float val = (f.K > 0 ? q[c] : 0f) + adds[c];
                                    *e = beta == 0f ? val : val + beta * *e;
                                }
                            }
                        }
                    }
            }
        }

        /// <summary>x[n0 .. n0 + count) zero-padded by Pad on every side: (count, Ci, Hi + 2 Pad, Wi + 2 Pad).</summary>
        private float* PaddedCopy(WorkerState ws, int n0, int count) =>
            Pad(pa + (long)n0 * s.Ci * s.InPixels, count * s.Ci, s.Hi, s.Wi, s.Pad, s.Pad, s.Hi + 2 * s.Pad, s.Wi + 2 * s.Pad, ws.Copy);

        /// <summary>
        /// The planes (h x w each) of src, each placed at row top, column left of an hp x wp plane of
        /// zeros, in buffer: every float of the copy is written once (the borders cleared, the rows copied).
        /// </summary>
        private static float* Pad(float* src, int planes, int h, int w, int top, int left, int hp, int wp, PinnedBuffer buffer)
        {
            int plane = hp * wp, right = wp - left - w;
            float* dst = buffer.Get(checked(planes * plane + 16));
            for (int m = 0; m < planes; m++, src += h * w)
            {
                float* d = dst + (long)m * plane;
                new Span<float>(d, top * wp + left).Clear();
                for (int r = 0; r < h; r++)
                {
                    float* row = d + (r + top) * wp + left;
                    new Span<float>(src + r * w, w).CopyTo(new Span<float>(row, w));
                    new Span<float>(row + w, r + 1 < h ? right + left : plane - (r + top) * wp - left - w).Clear();
                }
            }
            return dst;
        }

        /// <summary>Each output pixel's (sample, oh, ow) offset in the padded copy of count samples, for
        /// length entries (those past the last pixel repeat it).</summary>
        private int* PixelOffsets(WorkerState ws, int count, int length)
        {
            int wp = s.Wi + 2 * s.Pad;
            return GridOffsets(ws, count, s.Ho, s.Wo, s.Ci * (s.Hi + 2 * s.Pad) * wp, s.Stride * wp, s.Stride, 0, length);
        }

        /// <summary>
        /// Offsets of the points (j, u, v) of count samples' rows x cols grids, sample by sample and
        /// row by row: origin + j sampleStride + u rowStride + v colStride, for length entries (those
        /// past the last point repeat it, so a last group of 8 is whole).
        /// </summary>
        private static int* GridOffsets(WorkerState ws, int count, int rows, int cols, int sampleStride, int rowStride,
            int colStride, int origin, int length)
        {
            int perSample = rows * cols, points = count * perSample;
            int* offsets = (int*)ws.Runs.Get(length);
            for (int q = 0; q < length; q++)
            {
                int qq = Math.Min(q, points - 1), j = qq / perSample, r = qq - j * perSample, u = r / cols, v = r - u * cols;
                offsets[q] = origin + j * sampleStride + u * rowStride + v * colStride;
            }
            return offsets;
        }

        /// <summary>
        /// Worker's gW^T (Ci Kh Kw, Co) (+)= im2col(x) gY^T over the chunk's pixels, as a direct
        /// convolution: <see cref="Direct8x32"/> with the roles turned, gY^T's rows (32 output
        /// channels of one pixel) as the vectors and the input value of 8 (ci, kh, kw) rows at that
        /// pixel broadcast from the padded copy. <see cref="TransposeWeightGradient"/> then sums the
        /// workers' gW^T into gW.
        /// </summary>
        private void BackwardWeightDirect(WorkerState ws, int n0, int count, bool first)
        {
            int P = s.OutPixels, cols = count * P, coPad = (s.Co + 31) & ~31, k8 = (s.Patch + 7) & ~7;
            var gemm = ws.Gemm;
            float* xp = PaddedCopy(ws, n0, count);
            int* pix = PixelOffsets(ws, count, cols);
            var gy = new ImagePanel(pb + (long)n0 * s.Co * P, s.Co, P, lanesAreChannels: true);
            float* gyT = ws.A.Get(gemm.PackedBLength(cols, s.Co));
            gemm.PackB(cols, s.Co, ref gy, gyT);
            float* gwT = ws.Partial.Get(checked(k8 * coPad));
            int* koff = (int*)tapOffsets.Get(0);
            // The pixels' blocks innermost: a tile of gW^T stays in L1 over the whole chunk. Blocks of
            // GroupRows rows outermost: the inputs they read (a few channels) stay in L2 while every
            // 32-channel band of gY^T passes by.
            for (int rb = 0; rb < k8; rb += GroupRows)
                for (int c0 = 0; c0 < s.Co; c0 += 32)
                    for (int r = rb; r < Math.Min(k8, rb + GroupRows); r += 8)
                        for (int p0 = 0; p0 < cols; p0 += KC)
                        {
                            int kc = Math.Min(KC, cols - p0);
                            Direct8x32(kc, gyT + (long)p0 * coPad + (long)c0 * kc, xp, pix + p0, koff + r,
                                gwT + (long)r * coPad + c0, coPad, !first || p0 > 0);
                        }
        }

        /// <summary>
        /// <see cref="BackwardWeightDirect"/> on small outputs: the chunk's pixels ordered (p, sample) with
        /// 8 samples side by side in the interleaved copy, and gW^T's rows by 8 channels and tap, so that a
        /// group of 8 rows (one tap, 8 channels) skips the pixels p whose tap reads the padding: whole
        /// runs of the reduction (a 4 x 4 output of a 4 x 4, stride 2, pad 1 kernel misses 23 % of them).
        /// </summary>
        private void BackwardWeightBySample(WorkerState ws, int n0, int count, bool first)
        {
            int P = s.OutPixels, jb = (count + 7) / 8, run = 8 * jb, cols = P * run, coPad = (s.Co + 31) & ~31;
            int hp = s.Hi + 2 * s.Pad, wp = s.Wi + 2 * s.Pad;
            var gemm = ws.Gemm;
            float* xs = InterleavedCopy(ws, n0, count, jb);
            int* pix = (int*)ws.Runs.Get(cols);        // pixel (p, j)'s offset in the copy: column q = p run + j
            for (int p = 0; p < P; p++)
                for (int j = 0; j < run; j++)
                    pix[p * run + j] = ((j / 8 * s.Ci * hp + p / s.Wo * s.Stride) * wp + p % s.Wo * s.Stride) * 8 + j % 8;
            // gY's samples turned (pixel, channel) (8 x 8 transposes), then packed row by row in (p, sample) order
            float* gyPc = ws.Col.Get(checked(count * P * s.Co));
            for (int j = 0; j < count; j++)
                HostGemm.PackStrided(pb + (long)(n0 + j) * s.Co * P, P, s.Co, P, s.Co, gyPc + (long)j * P * s.Co);
            var gy = new SampleTilePanel(gyPc, count, s.Co, P, run);
            float* gyT = ws.A.Get(gemm.PackedBLength(cols, s.Co));
            gemm.PackB(cols, s.Co, ref gy, gyT);
            float* gwT = ws.Partial.Get(checked(s.Patch * coPad));
            int* koff = (int*)sampleOffsets.Get(0);
            int T = s.Kh * s.Kw;
            bool* reach = stackalloc bool[T * P];       // tap t reaches the image from output pixel p
            for (int p = 0; p < P; p++)
            {
                var (kh0, kh1, kw0, kw1) = TapRange(p);
                for (int t = 0; t < T; t++)
                    reach[t * P + p] = t / s.Kw >= kh0 && t / s.Kw < kh1 && t % s.Kw >= kw0 && t % s.Kw < kw1;
            }
            for (int rb = 0; rb < s.Patch; rb += GroupRows)
                for (int c0 = 0; c0 < s.Co; c0 += 32)
                    for (int r = rb; r < Math.Min(s.Patch, rb + GroupRows); r += 8)
                    {
                        bool* hits = reach + r / 8 % T * P;
                        float* tile = gwT + (long)r * coPad + c0;
                        bool written = !first;
                        for (int p = 0; p < P;)
                        {
                            if (!hits[p]) { p++; continue; }
                            int p1 = p;
                            while (p1 < P && hits[p1]) p1++;
                            // columns [p run, p1 run): KC blocks of the packed gY^T
                            for (int from = p * run, to = p1 * run; from < to;)
                            {
                                int q0 = from / KC * KC, kcBlock = Math.Min(KC, cols - q0), end = Math.Min(to, q0 + KC);
                                Direct8x32(end - from, gyT + (long)q0 * coPad + (long)c0 * kcBlock + (long)(from - q0) * 32, xs, pix + from,
                                    koff + r, tile, coPad, written);
                                written = true;
                                from = end;
                            }
                            p = p1;
                        }
                        if (!written)       // no pixel reaches this tap (a padding as wide as the kernel)
                            for (int i = 0; i < 8; i++)
                                new Span<float>(tile + (long)i * coPad, 32).Clear();
                    }
        }

        /// <summary>gW (Co, Ci Kh Kw) = beta gW + the workers' gW^T (row (cb T + t) 8 + c, see
        /// <see cref="BackwardWeightBySample"/>) summed in worker order, split over the cores by blocks of 8
        /// output channels: per 8 input channels, the Kh Kw taps' 8 x 8 blocks transposed into a small
        /// tile, then written as 8 contiguous runs.</summary>
        private void TransposeTapMajorGradient()
        {
            float* gw = pc;
            int K = s.Patch, T = s.Kh * s.Kw, ci = s.Ci, coPad = (s.Co + 31) & ~31, active = activeWorkers;
            float be = beta;
            owner.HostForItems((s.Co + 7) / 8, 8L * K, (from, to) =>
            {
                float* sum = stackalloc float[64];
                float* tile = stackalloc float[64 * T];     // [channel i][input channel j][tap t]
                for (int cb = from; cb < to; cb++)
                {
                    int co0 = cb * 8, cn = Math.Min(8, s.Co - co0);
                    for (int c0 = 0; c0 < ci; c0 += 8)       // Ci % 8 == 0
                    {
                        for (int t = 0; t < T; t++)
                        {
                            int k0 = (c0 / 8 * T + t) * 8;
                            if (cn == 8 && Avx.IsSupported)
                                Transpose8x8Sum(active, k0, co0, coPad, sum);
                            else
                                for (int i = 0; i < cn; i++)
                                    for (int j = 0; j < 8; j++)
                                    {
                                        float v = 0f;
                                        for (int w = 0; w < active; w++)
                                            v += workers[w].Partial.Get(0)[(long)(k0 + j) * coPad + co0 + i];
                                        sum[8 * i + j] = v;
                                    }
                            for (int i = 0; i < cn; i++)
                                for (int j = 0; j < 8; j++)
                                    tile[(i * 8 + j) * T + t] = sum[8 * i + j];
                        }
                        for (int i = 0; i < cn; i++)
                        {
                            float* d = gw + (long)(co0 + i) * K + (long)c0 * T, q = tile + i * 8 * T;
                            for (int x = 0; x < 8 * T; x += 8)
                            {
                                var v = Vector256.Load(q + x);
                                if (be != 0f) v += Vector256.Create(be) * Vector256.Load(d + x);
                                Vector256.Store(v, d + x);
                            }
                        }
                    }
                }
            });
        }

        /// <summary>gW (Co, Ci Kh Kw) = beta gW + the workers' gW^T summed in worker order, transposed; split over the cores by output channel.</summary>
        private void TransposeWeightGradient()
        {
            float* gw = pc;
            int K = s.Patch, coPad = (s.Co + 31) & ~31, active = activeWorkers;
            float be = beta;
            // blocks of 8 channels x 8 rows: 8 x 8 transposes in AVX registers; the edges one by one
            owner.HostForItems((s.Co + 7) / 8, 8L * K, (from, to) =>    // (blocks of 8 channels: HostFor ran them all on one core)
            {
                float* sum = stackalloc float[64];
                for (int cb = from; cb < to; cb++)
                {
                    int co0 = cb * 8, cn = Math.Min(8, s.Co - co0);
                    for (int k0 = 0; k0 < K; k0 += 8)
                    {
                        int kn = Math.Min(8, K - k0);
                        if (cn == 8 && kn == 8 && Avx.IsSupported)
                        {
                            Transpose8x8Sum(active, k0, co0, coPad, sum);
                            for (int i = 0; i < 8; i++)
                            {
                                float* d = gw + (long)(co0 + i) * K + k0;
                                var v = Vector256.Load(sum + 8 * i);
                                if (be != 0f) v += Vector256.Create(be) * Vector256.Load(d);
                                Vector256.Store(v, d);
                            }
                            continue;
                        }
                        for (int i = 0; i < cn; i++)
                            for (int k = k0; k < k0 + kn; k++)
                            {
                                float v = 0f;
                                for (int t = 0; t < active; t++)
                                    v += workers[t].Partial.Get(0)[(long)k * coPad + co0 + i];
                                float* d = gw + (long)(co0 + i) * K + k;
                                *d = be == 0f ? v : be * *d + v;
                            }
                    }
                }
            });
        }

        /// <summary>sum[8 i + j] = the workers' gW^T summed at row k0 + j, channel co0 + i (in worker order).</summary>
        private void Transpose8x8Sum(int active, int k0, int co0, int coPad, float* sum)
        {
            float* q = workers[0].Partial.Get(0) + (long)k0 * coPad + co0;
            Vector256<float> x0 = Vector256.Load(q), x1 = Vector256.Load(q + coPad), x2 = Vector256.Load(q + 2 * coPad),
                x3 = Vector256.Load(q + 3 * coPad), x4 = Vector256.Load(q + 4 * coPad), x5 = Vector256.Load(q + 5 * coPad),
                x6 = Vector256.Load(q + 6 * coPad), x7 = Vector256.Load(q + 7 * coPad);
            for (int t = 1; t < active; t++)
            {
                q = workers[t].Partial.Get(0) + (long)k0 * coPad + co0;
                x0 += Vector256.Load(q); x1 += Vector256.Load(q + coPad); x2 += Vector256.Load(q + 2 * coPad);
                x3 += Vector256.Load(q + 3 * coPad); x4 += Vector256.Load(q + 4 * coPad); x5 += Vector256.Load(q + 5 * coPad);
                x6 += Vector256.Load(q + 6 * coPad); x7 += Vector256.Load(q + 7 * coPad);
            }
            Transpose8x8(x0, x1, x2, x3, x4, x5, x6, x7, sum, 8);
        }

        /// <summary>
        /// outT (groups 8 pixels, channels rounded up to 32) = the sum over k &lt; K of x[koff[k] + pix[q]]
        /// times w's k-th row (w packed in KC blocks of 32-channel slivers). The reduction runs in
        /// spans of 4 KC blocks, innermost within a tile: a tile's partial sums stay in L1 over a
        /// span, and a span's weights (32 channels) and inputs stay in L2 while the tiles pass.
        /// </summary>
        private static void DirectProduct(int K, int channels, float* w, float* x, int* koff, int* pix, int groups, float* outT)
        {
            int ld = (channels + 31) & ~31;
            for (int pb = 0; pb < K; pb += 4 * KC)
                for (int c0 = 0; c0 < channels; c0 += 32)
                    for (int g = 0; g < groups; g++)
                        for (int p0 = pb; p0 < Math.Min(K, pb + 4 * KC); p0 += KC)
                        {
                            int kc = Math.Min(KC, K - p0);
                            Direct8x32(kc, w + (long)p0 * ld + (long)c0 * kc, x, koff + p0, pix + 8 * g,
                                outT + (long)g * 8 * ld + c0, ld, p0 > 0);
                        }
        }

        /// <summary>
        /// c (8 pixels x 32 channels, row stride ldc) (+)= the sum over k &lt; kc of x[koff[k] + pix[i]]
        /// times w's k-th row of 32 channels: 16 zmm accumulators, two weight vectors and eight
        /// broadcasts per k.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Direct8x32(int kc, float* w, float* x, int* koff, int* pix, float* c, nint ldc, bool accumulate)
        {
            // pixel 0 folded into the base, the others relative to it: no register spills in the loop
            x += pix[0];
            nint o1 = pix[1] - pix[0], o2 = pix[2] - pix[0], o3 = pix[3] - pix[0], o4 = pix[4] - pix[0];
            nint o5 = pix[5] - pix[0], o6 = pix[6] - pix[0], o7 = pix[7] - pix[0];
            Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
            Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
            Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
            for (int* kend = koff + kc; koff < kend; koff++)
            {
                float* xk = x + *koff;
                var b0 = Vector512.Load(w);
                var b1 = Vector512.Load(w + 16);
                var a = Vector512.Create(xk[0]);
                c00 = Vector512.FusedMultiplyAdd(a, b0, c00); c01 = Vector512.FusedMultiplyAdd(a, b1, c01);
                a = Vector512.Create(xk[o1]);
                c10 = Vector512.FusedMultiplyAdd(a, b0, c10); c11 = Vector512.FusedMultiplyAdd(a, b1, c11);
                a = Vector512.Create(xk[o2]);
                c20 = Vector512.FusedMultiplyAdd(a, b0, c20); c21 = Vector512.FusedMultiplyAdd(a, b1, c21);
                a = Vector512.Create(xk[o3]);
                c30 = Vector512.FusedMultiplyAdd(a, b0, c30); c31 = Vector512.FusedMultiplyAdd(a, b1, c31);
                a = Vector512.Create(xk[o4]);
                c40 = Vector512.FusedMultiplyAdd(a, b0, c40); c41 = Vector512.FusedMultiplyAdd(a, b1, c41);
                a = Vector512.Create(xk[o5]);
                c50 = Vector512.FusedMultiplyAdd(a, b0, c50); c51 = Vector512.FusedMultiplyAdd(a, b1, c51);
                a = Vector512.Create(xk[o6]);
                c60 = Vector512.FusedMultiplyAdd(a, b0, c60); c61 = Vector512.FusedMultiplyAdd(a, b1, c61);
                a = Vector512.Create(xk[o7]);
                c70 = Vector512.FusedMultiplyAdd(a, b0, c70); c71 = Vector512.FusedMultiplyAdd(a, b1, c71);
                w += 32;
            }
            StoreRow(c, c00, c01, accumulate); c += ldc;
            StoreRow(c, c10, c11, accumulate); c += ldc;
            StoreRow(c, c20, c21, accumulate); c += ldc;
            StoreRow(c, c30, c31, accumulate); c += ldc;
            StoreRow(c, c40, c41, accumulate); c += ldc;
            StoreRow(c, c50, c51, accumulate); c += ldc;
            StoreRow(c, c60, c61, accumulate); c += ldc;
            StoreRow(c, c70, c71, accumulate);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreRow(float* c, Vector512<float> x0, Vector512<float> x1, bool accumulate)
        {
            if (accumulate)
            {
                x0 += Vector512.Load(c);
                x1 += Vector512.Load(c + 16);
            }
            Vector512.Store(x0, c);
            Vector512.Store(x1, c + 16);
        }

        /// <summary>y[n0 .. n0 + count) = W im2col(x) + bias + beta y.</summary>
        private void Forward(WorkerState ws, int n0, int count)
        {
            int P = s.OutPixels, cols = count * P;
            var gemm = ws.Gemm;
            float* copy = ws.Copy.Get(win.Length(count, s.Ci));
            win.Build(pa + (long)n0 * s.Ci * s.InPixels, count, s.Ci, copy);
            var b = new Im2ColPanel(copy, win.ChannelStride, s.Ci * win.ChannelStride, win,
                (int*)ws.Runs.Get(3 * gemm.Nr));
            float* y = pc + (long)n0 * s.Co * P;
            float* w = packedWeights.Get(0);
            if (count == 1)                 // (Co, P) is the sample's NCHW layout
            {
                gemm.RunPacked(s.Co, P, s.Patch, w, ref b, y, P, beta, null);
                AddChannelBias(y, 1, s.Co, P, pbias);
            }
            else
            {
                float* tmp = ws.Out.Get(s.Co * cols);
                gemm.RunPacked(s.Co, cols, s.Patch, w, ref b, tmp, cols, 0f, null);
                Scatter(tmp, y, count, s.Co, P, beta, pbias);
            }
        }

        /// <summary>
        /// Input channels per block of the passes that make a (Ci Kh Kw)-row matrix: about
        /// <see cref="GroupRows"/> rows, whole channels, a multiple of the micro-kernel's rows (so a
        /// block starts on a packed sliver). A block's rows stay in L2 from the GEMM that writes them
        /// to the col2im that reads them (or from the im2col to the GEMM).
        /// </summary>
        private int GroupChannels(int taps)
        {
            int mr = workers[0].Gemm.Mr, g0 = mr / (int)System.Numerics.BigInteger.GreatestCommonDivisor(mr, taps);
            return Math.Min(s.Ci, Math.Max(1, GroupRows / (taps * g0)) * g0);
        }

        private const int GroupRows = 128;

        /// <summary>
        /// gx[n0 .. n0 + count) (+ bias + beta gx): per block of input channels, gcol (block Kh Kw,
        /// count P) = (W^T's rows of the block) gY, then col2im adds it onto the block's gx. gY is
        /// packed once for all blocks.
        /// </summary>
        private void BackwardData(WorkerState ws, int n0, int count)
        {
            int P = s.OutPixels, cols = count * P, T = win.Taps, g = GroupChannels(T);
            var gemm = ws.Gemm;
            var gy = new ImagePanel(pa + (long)n0 * s.Co * P, s.Co, P, lanesAreChannels: false);
            float* b = ws.A.Get(gemm.PackedBLength(s.Co, cols));
            gemm.PackB(s.Co, cols, ref gy, b);
            float* col = ws.Col.Get(g * T * cols);
            float* gx = pc + (long)n0 * s.Ci * s.InPixels;
            float* copy = ws.Copy.Get(win.Length(count, g));
            float* w = packedWeights.Get(0);
            for (int c0 = 0; c0 < s.Ci; c0 += g)
            {
                int gc = Math.Min(g, s.Ci - c0);
                gemm.RunPacked(gc * T, cols, s.Co, w, ref gy, col, cols, 0f, null, aRows: s.Patch, aRow0: c0 * T, bPacked: b);
                Col2Im(s, win, col, count, c0, gc, copy, gx, beta);
            }
            AddChannelBias(gx, count, s.Ci, s.InPixels, pbias);
        }

        /// <summary>Worker t's gW (+)= gY im2col(x)^T over its chunks; worker 0 writes gw itself.</summary>
        private void BackwardWeight(WorkerState ws, int t, int n0, int count, bool first)
        {
            int P = s.OutPixels, Q = s.InPixels, cols = count * P;
            var gemm = ws.Gemm;
            var gy = new ImagePanel(pb + (long)n0 * s.Co * P, s.Co, P, lanesAreChannels: true);
            float* a = ws.A.Get(gemm.PackedALength(s.Co, cols));
            gemm.PackA(s.Co, cols, ref gy, a);
            float* copy = ws.Copy.Get(win.Length(count, s.Ci));
            win.Build(pa + (long)n0 * s.Ci * Q, count, s.Ci, copy);
            // Per block of input channels: its rows of im2col (block Kh Kw, cols) (vector copies from
            // the window), then packed transposed as B (B's lanes are its rows), for gW's columns of
            // the block.
            var im2col = new Im2ColPanel(copy, win.ChannelStride, s.Ci * win.ChannelStride, win,
                (int*)ws.Runs.Get(3 * cols));
            int T = win.Taps, g = GroupChannels(T);
            float* col = ws.Col.Get(g * T * cols + 16);
            float* dst = t == 0 ? pc : ws.Partial.Get(checked((int)s.WeightLength));
            float be = !first ? 1f : t == 0 ? beta : 0f;
            for (int c0 = 0; c0 < s.Ci; c0 += g)
            {
                int rows = Math.Min(g, s.Ci - c0) * T;
                im2col.Pack(c0 * T, rows, 0, cols, cols, col);
                var b = new MatrixPanel(col, cols, lanesAreColumns: false);
                gemm.RunPacked(s.Co, rows, cols, a, ref b, dst + c0 * T, s.Patch, be, null);
            }
        }

        /// <summary>gw += the other workers' partial sums, in worker order, split over the cores by range.</summary>
        private void SumPartials()
        {
            float* gw = pc;
            int len = checked((int)s.WeightLength), active = activeWorkers;
            owner.HostFor(len, (from, to) =>
            {
                var dst = new Span<float>(gw + from, (int)(to - from));
                for (int t = 1; t < active; t++)
                    System.Numerics.Tensors.TensorPrimitives.Add(dst, new ReadOnlySpan<float>(workers[t].Partial.Get(len) + from, dst.Length), dst);
            });
        }
    }

    /// <summary>dst[i ldd + j] = row j's lane i (rows x0 .. x7): an 8 x 8 transpose in AVX registers
    /// (pairs of rows interleaved, then fours, then the 128-bit halves swapped).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Transpose8x8(Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3,
        Vector256<float> x4, Vector256<float> x5, Vector256<float> x6, Vector256<float> x7, float* dst, nint ldd)
    {
        var t0 = Avx.UnpackLow(x0, x1); var t1 = Avx.UnpackHigh(x0, x1);
        var t2 = Avx.UnpackLow(x2, x3); var t3 = Avx.UnpackHigh(x2, x3);
        var t4 = Avx.UnpackLow(x4, x5); var t5 = Avx.UnpackHigh(x4, x5);
        var t6 = Avx.UnpackLow(x6, x7); var t7 = Avx.UnpackHigh(x6, x7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Vector256.Store(Avx.Permute2x128(u0, u4, 0x20), dst);
        Vector256.Store(Avx.Permute2x128(u1, u5, 0x20), dst + ldd);
        Vector256.Store(Avx.Permute2x128(u2, u6, 0x20), dst + 2 * ldd);
        Vector256.Store(Avx.Permute2x128(u3, u7, 0x20), dst + 3 * ldd);
        Vector256.Store(Avx.Permute2x128(u0, u4, 0x31), dst + 4 * ldd);
        Vector256.Store(Avx.Permute2x128(u1, u5, 0x31), dst + 5 * ldd);
        Vector256.Store(Avx.Permute2x128(u2, u6, 0x31), dst + 6 * ldd);
        Vector256.Store(Avx.Permute2x128(u3, u7, 0x31), dst + 7 * ldd);
    }

    /// <summary>
    /// A zero-padded, polyphase copy of images that turns every read of a convolution's input into a
    /// contiguous one, and where each read sits in it; one per layer geometry (input and output size,
    /// kernel, stride, padding), the same for every channel and sample. Output pixel (oh, ow) reads
    /// in[oh S + eh, ow S + ew] through tap (kh, kw), eh = kh - pad; with eh = S qh + rh
    /// (0 &lt;= rh &lt; S), that is plane (rh, rw) of the copy at (oh + qh - MinH, ow + qw - MinW), where
    /// plane (rh, rw) holds in[(u + MinH) S + rh, (v + MinW) S + rw] (0 outside the image). So a run of
    /// output pixels along a row reads a run of the copy, and the copy's borders are the padding:
    /// packing a GEMM sliver is a few vector copies.
    /// </summary>
    private sealed unsafe class Window
    {
        public readonly int S, Hq, Wq, MinH, MinW, InH, InW;
        /// <summary>Floats per channel of the copy (S^2 planes of Hq x Wq).</summary>
        public int ChannelStride => S * S * Hq * Wq;
        public readonly int Taps, Pixels;
        /// <summary>Per tap kh Kw + kw, its offset in a channel of the copy; per output pixel, its
        /// offset from there (oh Wq + ow).</summary>
        public readonly int* Shift, PixelOffset;
        private readonly int[] shift, pixelOffset;

        public Window(in ConvShape s)
        {
            (S, InH, InW) = (s.Stride, s.Hi, s.Wi);
            // FloorDiv is monotonic: the extreme taps give the extreme rows and columns read.
            (MinH, MinW) = (FloorDiv(-s.Pad, S), FloorDiv(-s.Pad, S));
            Hq = s.Ho - 1 + FloorDiv(s.Kh - 1 - s.Pad, S) - MinH + 1;
            Wq = s.Wo - 1 + FloorDiv(s.Kw - 1 - s.Pad, S) - MinW + 1;
            (Taps, Pixels) = (s.Kh * s.Kw, s.OutPixels);
            shift = GC.AllocateArray<int>(Taps, pinned: true);
            pixelOffset = GC.AllocateArray<int>(Pixels, pinned: true);
            for (int kh = 0; kh < s.Kh; kh++)
                for (int kw = 0; kw < s.Kw; kw++)
                {
                    int qh = FloorDiv(kh - s.Pad, S), qw = FloorDiv(kw - s.Pad, S);
                    int rh = kh - s.Pad - S * qh, rw = kw - s.Pad - S * qw;
                    shift[kh * s.Kw + kw] = ((rh * S + rw) * Hq + qh - MinH) * Wq + qw - MinW;
                }
            for (int i = 0; i < s.Ho; i++)
                for (int j = 0; j < s.Wo; j++)
                    pixelOffset[i * s.Wo + j] = i * Wq + j;
            Shift = (int*)Unsafe.AsPointer(ref shift[0]);
            PixelOffset = (int*)Unsafe.AsPointer(ref pixelOffset[0]);
        }

        public static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);

        /// <summary>The columns v of a plane row with 0 &lt;= (v + MinW) S + rw &lt; InW: [v0, v1).</summary>
        private (int V0, int V1) Inside(int rw)
        {
            int v0 = Math.Clamp(FloorDiv(-rw + S - 1, S) - MinW, 0, Wq);
            return (v0, Math.Clamp(FloorDiv(InW - 1 - rw, S) - MinW + 1, v0, Wq));
        }

        /// <summary>Floats of the copy of count images of C channels, with slack for 16-float overreads.</summary>
        public int Length(int count, int channels) => checked(count * channels * ChannelStride + 16);

        /// <summary>
        /// dst = the copy of src (count, channels, InH, InW). Each input row feeds S plane rows (one
        /// per column phase rw): the row is first copied into a zero-bordered buffer, so every plane
        /// row, borders included, is read from the buffer without bounds checks (S = 2: one permute
        /// per 16 floats; S = 1: a vector copy).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Build(float* src, int count, int channels, float* dst)
        {
            // buf[Lead + x] = row[x] for 0 <= x < InW, 0 elsewhere; plane row rw reads
            // buf[Lead + (v + MinW) S + rw] for 0 <= v < Wq (rounded up to whole vectors).
            int lead = Math.Max(0, -MinW * S) + 16, wq16 = (Wq + 15) & ~15;
            int bufLen = Math.Max(lead + InW, lead + (wq16 + MinW) * S + S) + 48;
            float* buf = stackalloc float[bufLen];
            new Span<float>(buf, bufLen).Clear();
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            bool vector = Vector512.IsHardwareAccelerated && (S == 1 || S == 2 && Avx512F.IsSupported);
            int plane = Hq * Wq, whole = Wq & ~15;
            for (int n = 0; n < count * channels; n++, src += InH * InW, dst += ChannelStride)
                for (int rh = 0; rh < S; rh++)
                    for (int u = 0; u < Hq; u++)
                    {
                        int ih = (u + MinH) * S + rh;
                        float* d0 = dst + (rh * S * Hq + u) * Wq;    // plane (rh, 0), row u
                        if ((uint)ih >= (uint)InH)
                        {
                            for (int rw = 0; rw < S; rw++)
                                new Span<float>(d0 + rw * plane, Wq).Clear();
                            continue;
                        }
                        CopyExact(src + ih * InW, buf + lead, InW);
                        // Whole vectors past the row's end land on the plane's next rows, written
                        // later; a row whose last vector would pass the plane's end ends exactly.
                        int end = !vector ? 0 : u * Wq + ((Wq + 15) & ~15) <= plane ? Wq : whole;
                        for (int rw = 0; rw < S; rw++)
                        {
                            float* b = buf + lead + MinW * S + rw, d = d0 + rw * plane;
                            int v = 0;
                            if (S == 1)
                                for (; v < end; v += 16)
                                    Vector512.Store(Vector512.Load(b + v), d + v);
                            else if (vector)
                                for (; v < end; v += 16)
                                    Vector512.Store(Avx512F.PermuteVar16x32x2(Vector512.Load(b + 2 * v), even, Vector512.Load(b + 2 * v + 16)), d + v);
                            for (; v < Wq; v++)
                                d[v] = b[v * S];
                        }
                    }
        }

        /// <summary>dst[0 .. n) = src[0 .. n), reading and writing nothing past them.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void CopyExact(float* src, float* dst, int n)
        {
            int i = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= n; i += 16)
                    Vector512.Store(Vector512.Load(src + i), dst + i);
            for (; i + 4 <= n; i += 4)
                Vector128.Store(Vector128.Load(src + i), dst + i);
            for (; i < n; i++)
                dst[i] = src[i];
        }

        /// <summary>The adjoint of <see cref="Build"/>: dst (count, channels, InH, InW) += the copy's
        /// values at the positions Build took them from (the borders are dropped).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void AddTo(float* src, int count, int channels, float* dst)
        {
            if (S == 2 && Avx512F.IsSupported)
            {
                AddTo2(src, count, channels, dst);
                return;
            }
            var (w0, w1) = Inside(0);
            for (int n = 0; n < count * channels; n++, dst += InH * InW)
                for (int rh = 0; rh < S; rh++)
                    for (int rw = 0; rw < S; rw++)
                    {
                        var (v0, v1) = S == 1 ? (w0, w1) : Inside(rw);
                        for (int u = 0; u < Hq; u++, src += Wq)
                        {
                            int ih = (u + MinH) * S + rh;
                            if ((uint)ih >= (uint)InH)
                                continue;
                            float* row = dst + ih * InW;
                            if (S == 1)
                                AddRun(row + v0 + MinW + rw, src + v0, v1 - v0);
                            else
                                for (int v = v0; v < v1; v++)
                                    row[(v + MinW) * S + rw] += src[v];
                        }
                    }
        }

        /// <summary>
        /// <see cref="AddTo"/> for stride 2: the two column phases of an input row are interleaved
        /// (two permutes per 16 columns of each) into a zero-bordered buffer laid out as the row,
        /// then the buffer's row part is added onto the row.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void AddTo2(float* src, int count, int channels, float* dst)
        {
            int lead = Math.Max(0, -MinW * 2) + 16, wq16 = (Wq + 15) & ~15;
            int bufLen = Math.Max(lead + InW, lead + 2 * (wq16 + MinW)) + 48;
            float* buf = stackalloc float[bufLen];
            new Span<float>(buf, bufLen).Clear();
            var lo = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            var hi = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            var lane = Vector512<int>.Indices;
            int plane = Hq * Wq;
            for (int n = 0; n < count * channels; n++, dst += InH * InW, src += ChannelStride)
                for (int rh = 0; rh < 2; rh++)
                    for (int u = 0; u < Hq; u++)
                    {
                        int ih = (u + MinH) * 2 + rh;
                        if ((uint)ih >= (uint)InH)
                            continue;
                        float* p0 = src + (2 * rh * Hq + u) * Wq, p1 = p0 + plane;
                        float* b = buf + lead + 2 * MinW;
                        // b[2 v + rw] = plane rw's row u at v (0 for v >= Wq: those columns are
                        // outside the row or never read, and the buffer there must stay 0)
                        for (int v = 0; v < Wq; v += 16)
                        {
                            var m = Vector512.LessThan(lane, Vector512.Create(Wq - v)).AsSingle();
                            var a = Avx512F.MaskLoad(p0 + v, m, Vector512<float>.Zero);
                            var c = Avx512F.MaskLoad(p1 + v, m, Vector512<float>.Zero);
                            Vector512.Store(Avx512F.PermuteVar16x32x2(a, lo, c), b + 2 * v);
                            Vector512.Store(Avx512F.PermuteVar16x32x2(a, hi, c), b + 2 * v + 16);
                        }
                        AddRun(dst + ih * InW, buf + lead, InW);
                    }
        }
    }

    /// <summary>
    /// im2col as a GEMM B operand, packed straight from a <see cref="Window"/> copy: row k = (c, t)
    /// (channel, tap), column j = (sample, pixel). A sliver's columns fall into a few runs of
    /// consecutive pixels along output rows, each a contiguous run of the copy for every row k, so
    /// packing is vector copies. The copies may write up to 15 floats past a run: into lanes a later
    /// run or row overwrites, or padding lanes whose columns are discarded (the destination needs
    /// 16 floats of slack, and so does the copy).
    /// </summary>
    private readonly unsafe struct Im2ColPanel(float* copy, int channelStride, int sampleStride, Window reads, int* runs)
        : IPanelSource
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Pack(int k0, int kc, int lane0, int lanes, int w, float* dst)
        {
            int pixels = reads.Pixels, taps = reads.Taps;
            int* pix = reads.PixelOffset, shift = reads.Shift;
            int n = 0, smp = lane0 / pixels, p = lane0 - smp * pixels;
            for (int l = 0; l < lanes; n++)
            {
                runs[3 * n] = l;
                runs[3 * n + 2] = smp * sampleStride + pix[p];
                do { l++; p++; } while (l < lanes && p < pixels && pix[p] == pix[p - 1] + 1);
                runs[3 * n + 1] = l - runs[3 * n];
                if (p == pixels) { p = 0; smp++; }
            }
            int c = k0 / taps, t = k0 - c * taps;
            for (int k = 0; k < kc; k++, dst += w)
            {
                float* src = copy + (nint)c * channelStride + shift[t];
                for (int r = 0; r < n; r++)
                    CopyRun(src + runs[3 * r + 2], dst + runs[3 * r], runs[3 * r + 1]);
                if (++t == taps) { t = 0; c++; }
            }
        }
    }

    /// <summary>Copies len floats in whole vectors: may read and write up to 15 floats more.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyRun(float* src, float* dst, int len)
    {
        if (Vector512.IsHardwareAccelerated)
            for (int o = 0; o < len; o += 16)
                Vector512.Store(Vector512.Load(src + o), dst + o);
        else if (Vector256.IsHardwareAccelerated)
            for (int o = 0; o < len; o += 8)
                Vector256.Store(Vector256.Load(src + o), dst + o);
        else
            new Span<float>(src, len).CopyTo(new Span<float>(dst, len));
    }

    /// <summary>gY turned (count samples, pixels, channels) as a K x channels operand whose row q is pixel
    /// q / run of sample q % run (zero for the samples past count): the by-sample weight gradient's order.</summary>
    private readonly unsafe struct SampleTilePanel(float* gyPc, int count, int channels, int pixels, int run) : IPanelSource
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Pack(int k0, int kc, int lane0, int lanes, int w, float* dst)
        {
            for (int k = 0; k < kc; k++, dst += w)
            {
                int q = k0 + k, p = q / run, j = q - p * run, x = 0;
                if (j < count)
                {
                    new Span<float>(gyPc + ((long)j * pixels + p) * channels + lane0, lanes).CopyTo(new Span<float>(dst, lanes));
                    x = lanes;
                }
                new Span<float>(dst + x, w - x).Clear();
            }
        }
    }

    /// <summary>
    /// Images (samples, C, P) seen as the matrix (C, samples P): as A with the channels as lanes,
    /// or as B with the columns (sample, pixel) as lanes and k = channel.
    /// </summary>
    private readonly unsafe struct ImagePanel(float* images, int channels, int pixels, bool lanesAreChannels) : IPanelSource
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Pack(int k0, int kc, int lane0, int lanes, int w, float* dst)
        {
            nint sampleStride = (nint)channels * pixels;
            if (lanesAreChannels)           // the channels' rows, transposed a sample's run of pixels at a time
            {
                int smp = k0 / pixels, pix = k0 - smp * pixels;
                for (int k = 0; k < kc;)
                {
                    int run = Math.Min(pixels - pix, kc - k);
                    HostGemm.PackStrided(images + smp * sampleStride + (nint)lane0 * pixels + pix, pixels, lanes, run, w, dst + (nint)k * w);
                    k += run;
                    pix = 0;
                    smp++;
                }
                return;
            }
            int smp0 = lane0 / pixels, pix0 = lane0 - smp0 * pixels;
            for (int k = 0; k < kc; k++, dst += w)
            {
                float* chan = images + (nint)(k0 + k) * pixels;
                int l = 0, smp = smp0, pix = pix0;
                while (l < lanes)
                {
                    int run = Math.Min(pixels - pix, lanes - l);
                    new Span<float>(chan + smp * sampleStride + pix, run).CopyTo(new Span<float>(dst + l, run));
                    l += run;
                    smp++;
                    pix = 0;
                }
                for (; l < w; l++)
                    dst[l] = 0f;
            }
        }
    }

    /// <summary>
    /// gx = beta gx + the sum of col's entries at the input positions im2col read them from: added
    /// into a zeroed window copy of gx, where each tap's row of col lands as one contiguous run per
    /// output row (vector adds), then the copy is added onto gx.
    /// </summary>
    /// <remarks>For the input channels [c0, c0 + channels) of count samples; col holds their rows.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Col2Im(in ConvShape s, Window win, float* col, int count, int c0, int channels,
        float* copy, float* gx, float beta)
    {
        int P = s.OutPixels, T = win.Taps, cs = win.ChannelStride;
        long ld = (long)count * P;
        new Span<float>(copy, checked(count * channels * cs)).Clear();
        for (int j = 0; j < count; j++)
            for (int ci = 0; ci < channels; ci++)
            {
                float* cc = copy + ((long)j * channels + ci) * cs;
                for (int t = 0; t < T; t++)
                {
                    float* src = col + (ci * T + t) * ld + (long)j * P;
                    float* dst = cc + win.Shift[t];
                    for (int ho = 0; ho < s.Ho; ho++)
                        AddRun(dst + win.PixelOffset[ho * s.Wo], src + ho * s.Wo, s.Wo);
                }
            }
        for (int j = 0; j < count; j++)
        {
            float* gj = gx + ((long)j * s.Ci + c0) * s.InPixels;
            var part = new Span<float>(gj, checked(channels * s.InPixels));
            if (beta == 0f) part.Clear();
            else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(part, beta, part);
            win.AddTo(copy + (long)j * channels * cs, 1, channels, gj);
        }
    }

    /// <summary>dst[0 .. n) += src[0 .. n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddRun(float* dst, float* src, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
                Vector512.Store(Vector512.Load(dst + i) + Vector512.Load(src + i), dst + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
                Vector256.Store(Vector256.Load(dst + i) + Vector256.Load(src + i), dst + i);
        if (Vector128.IsHardwareAccelerated)
            for (; i + 4 <= n; i += 4)
                Vector128.Store(Vector128.Load(dst + i) + Vector128.Load(src + i), dst + i);
        for (; i < n; i++)
            dst[i] += src[i];
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
}
