using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ILGPU;
using ILGPU.Runtime;

[assembly: InternalsVisibleTo("IlgpuGan.Tests")]
// ILGPU's CPU backend emits its kernel task types into this dynamic assembly; it needs the
// (internal) kernel argument structs.
[assembly: InternalsVisibleTo("ILGPURuntime")]

namespace IlgpuGan.Kernels;

/// <summary>
/// Row-major C(M,N) = alpha * op(A) op(B) + beta * C + bias (bias broadcast over rows, one per column).
/// op(A) is M x K: A is stored M x K (lda &gt;= K) or, when TransA, K x M (lda &gt;= M). Same for B
/// (K x N, or N x K when TransB).
/// </summary>
public readonly record struct GemmShape(int M, int N, int K, bool TransA, bool TransB, int Lda, int Ldb, int Ldc)
{
    /// <summary>A shape whose three matrices are densely stored (leading dimension = row length).</summary>
    public static GemmShape Dense(int m, int n, int k, bool transA = false, bool transB = false) =>
        new(m, n, k, transA, transB,
            Math.Max(1, transA ? m : k), Math.Max(1, transB ? k : n), Math.Max(1, n));
}

public sealed partial class Kernels
{
    /// <summary>
    /// C(M,N) = alpha * op(A) op(B) + beta * C + bias, row-major (see <see cref="GemmShape"/>).
    /// When <paramref name="beta"/> is 0, C is never read (it may hold NaN). An empty
    /// <paramref name="bias"/> means no bias; otherwise it holds at least N values, one per column.
    /// </summary>
    public void Gemm(in GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        float alpha = 1f, float beta = 0f, ArrayView<float> bias = default)
    {
        ValidateGemm(s, a, b, c, bias);
        if (s.M == 0 || s.N == 0)
            return;
        switch (Variant)
        {
            case KernelVariant.Host:
                GemmHost(s, a, b, c, alpha, beta, bias);
                break;
            case KernelVariant.ClCpu:
                GemmClCpu(s, a, b, c, alpha, beta, bias);
                break;
            default:
                GemmGpu(s, a, b, c, alpha, beta, bias);
                break;
        }
    }

    private static void ValidateGemm(in GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias)
    {
        if (s.M < 0 || s.N < 0 || s.K < 0)
            throw new ArgumentException($"GEMM dimensions must be non-negative (M={s.M}, N={s.N}, K={s.K}).", nameof(s));
        int aCols = s.TransA ? s.M : s.K, aRows = s.TransA ? s.K : s.M;
        int bCols = s.TransB ? s.K : s.N, bRows = s.TransB ? s.N : s.K;
        if (s.Lda < Math.Max(1, aCols))
            throw new ArgumentException($"Lda={s.Lda} is less than the {aCols} columns of the stored A.", nameof(s));
        if (s.Ldb < Math.Max(1, bCols))
            throw new ArgumentException($"Ldb={s.Ldb} is less than the {bCols} columns of the stored B.", nameof(s));
        if (s.Ldc < Math.Max(1, s.N))
            throw new ArgumentException($"Ldc={s.Ldc} is less than N={s.N}.", nameof(s));
        static long Need(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        long needA = Need(aRows, aCols, s.Lda), needB = Need(bRows, bCols, s.Ldb), needC = Need(s.M, s.N, s.Ldc);
        if (a.Length < needA)
            throw new ArgumentException($"A has {a.Length} elements; the shape needs {needA}.", nameof(a));
        if (b.Length < needB)
            throw new ArgumentException($"B has {b.Length} elements; the shape needs {needB}.", nameof(b));
        if (c.Length < needC)
            throw new ArgumentException($"C has {c.Length} elements; the shape needs {needC}.", nameof(c));
        if (bias.Length != 0 && bias.Length < s.N)
            throw new ArgumentException($"Bias has {bias.Length} elements; it needs N={s.N} (or 0 for none).", nameof(bias));
    }

    // ---------------------------------------------------------------------------------------------
    // Host variant: packed, register-blocked SIMD GEMM (BLIS-style loops), parallel over the cores.
    // ---------------------------------------------------------------------------------------------

    private HostGemm? hostGemm;

    /// <summary>SIMD width the host GEMM uses: 512, 256 or 0 (scalar reference). Defaults to the
    /// widest hardware-accelerated width; the tests lower it to cover the fallbacks.</summary>
    internal int HostGemmSimd
    {
        get => (hostGemm ??= new HostGemm(HostGemm.BestSimd, Pool)).Simd;
        set => hostGemm = new HostGemm(value, Pool);
    }

    private unsafe void GemmHost(in GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        float alpha, float beta, ArrayView<float> bias)
    {
        var g = hostGemm ??= new HostGemm(HostGemm.BestSimd, Pool);
        float* pa = a.Length == 0 ? null : HostMemory.Ptr(a);
        float* pb = b.Length == 0 ? null : HostMemory.Ptr(b);
        float* pbias = bias.Length == 0 ? null : HostMemory.Ptr(bias);
        g.Run(s, pa, pb, HostMemory.Ptr(c), alpha, beta, pbias);
    }

    /// <summary>
    /// Simple reference loop: one dot product per output (llm.c style). The host fallback when no
    /// SIMD is accelerated, and the readable specification of what the fast paths compute.
    /// </summary>
    private static unsafe void GemmReference(in GemmShape s, float* a, float* b, float* c,
        float alpha, float beta, float* bias)
    {
        for (int i = 0; i < s.M; i++)
        {
            for (int j = 0; j < s.N; j++)
            {
                float sum = 0f;
                for (int k = 0; k < s.K; k++)
                {
                    float x = s.TransA ? a[(long)k * s.Lda + i] : a[(long)i * s.Lda + k];
                    float y = s.TransB ? b[(long)j * s.Ldb + k] : b[(long)k * s.Ldb + j];
                    sum += x * y;
                }
                float* o = c + (long)i * s.Ldc + j;
                float v = alpha * sum;
                if (beta != 0f)
                    v += beta * *o;
                if (bias != null)
                    v += bias[j];
                *o = v;
            }
        }
    }

    /// <summary>
    /// The packed host GEMM with its reusable per-thread packing buffers. C is cut into a few items
    /// (blocks of rows or of columns) that the workers take from a shared counter. Per item, loops
    /// outer to inner: over K in KC steps pack the item's B columns (KC x NR slivers, kept in L2/L3);
    /// per MC rows pack A (MR x KC slivers, kept in L2); run the MR x NR micro-kernel with one B
    /// sliver resident in L1 across the A slivers. Transposes are absorbed by the packing, so all
    /// four combinations run the same micro-kernel. Calls on one <see cref="Kernels"/> are
    /// serialised by a lock (the job and the buffers are shared by its workers).
    /// </summary>
    [SkipLocalsInit]
    private sealed unsafe class HostGemm
    {
        /// <summary>The packed operands' block of K (the direct convolution reads them too).</summary>
        internal const int KC = 256;
        /// <summary>Below this many flops (2MNK) one thread does the whole product.</summary>
        private const double ParallelFlops = 1e6;
        /// <summary>Items of C per thread in a parallel product (see <see cref="Run"/>).</summary>
        private const int ItemsPerThread = 2;

        public static int BestSimd =>
            Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 0;

        public readonly int Simd;
        private readonly int mr, nr, mc;

        /// <summary>Lanes of a packed B sliver (the micro-kernel's columns).</summary>
        public int Nr => nr;
        private readonly int threads;
        private readonly HostPool? pool;
        private readonly PinnedBuffer[] packA, packB;
        private readonly Action<int> body;
        private readonly object gate = new();

        // The current job (valid during Run, read by the workers).
        private GemmShape s;
        private float* a, b, c, bias;
        private float alpha, beta;
        private int tr, tc, nextItem;
        private float* sharedA;
        private MatrixPanel sharedPanel;
        private readonly PinnedBuffer sharedPack = new();
        private readonly Action<int> sharedBody;
        private int packNext, packDone;
        /// <summary>Items per thread when op(A) is packed once for all items (see <see cref="Run"/>).</summary>
        private const int SharedItemsPerThread = 4;

        /// <param name="simd">512, 256 or 0 (see <see cref="BestSimd"/>).</param>
        /// <param name="pool">The threads a product may use; none for a GEMM that runs inside a
        /// caller's own parallel pass (the convolutions run one single-threaded GEMM per core).</param>
        public HostGemm(int simd, HostPool? pool = null)
        {
            this.pool = pool;
            Simd = simd;
            (mr, nr) = simd switch { 512 => (8, 32), 256 => (6, 16), _ => (1, 1) };
            mc = (128 / mr) * mr;
            threads = pool?.Threads ?? 1;
            packA = new PinnedBuffer[threads];
            packB = new PinnedBuffer[threads];
            for (int t = 0; t < threads; t++)
            {
                packA[t] = new PinnedBuffer();
                packB[t] = new PinnedBuffer();
            }
            body = Worker;
            sharedBody = SharedWorker;
        }

        public void Run(in GemmShape shape, float* pa, float* pb, float* pc, float al, float be, float* pbias)
        {
            if (shape.K == 0)
            {
                ScaleOnly(shape, pc, be, pbias);
                return;
            }
            if (Simd == 0)
            {
                GemmReference(shape, pa, pb, pc, al, be, pbias);
                return;
            }
            lock (gate)
            {
                if (shape.N == 1 || shape.M == 1)
                {
                    RunVector(shape, pa, pb, pc, al, be, pbias);
                    return;
                }
                s = shape; a = pa; b = pb; c = pc; alpha = al; beta = be; bias = pbias;
                int mSl = (shape.M + mr - 1) / mr, nSl = (shape.N + nr - 1) / nr;
                int nth = 2.0 * shape.M * shape.N * shape.K < ParallelFlops ? 1 : threads;
                // Split C into a few more items than threads, along the larger of M and N (so the
                // smaller operand is the one packed again per item); the workers take items from a
                // shared counter, so a worker that starts late (busy machine) costs little.
                int items = nth == 1 ? 1 : ItemsPerThread * nth;
                if (shape.M <= shape.N)
                    (tr, tc) = (1, Math.Min(items, nSl));
                else
                    (tr, tc) = (Math.Min(items, mSl), 1);
                nextItem = 0;
                // Few rows split by columns (a batch of 64 through a wide layer): pack op(A) once for
                // all items instead of once per item.
                sharedA = null;
                if (tr == 1 && tc > 1 && shape.M <= mc)
                {
                    // (more items: they share op(A) and pack disjoint columns of B, so finer items cost
                    // no packing and balance the cores better)
                    tc = Math.Min(SharedItemsPerThread * nth, nSl);
                    sharedPanel = new MatrixPanel(pa, shape.Lda, lanesAreColumns: shape.TransA);
                    sharedA = sharedPack.Get(PackedALength(shape.M, shape.K));
                    packNext = packDone = 0;
                }
                int workers = Math.Min(nth, tr * tc);
                if (workers == 1)
                {
                    if (sharedA != null)
                        PackA(shape.M, shape.K, ref sharedPanel, sharedA);
                    Worker(0);
                }
                else
                    pool!.Run(workers, sharedA != null ? sharedBody : body);
                a = b = c = bias = null;
            }
        }

        /// <summary>
        /// N == 1 or M == 1: a matrix-vector product. The vector (op(B)'s column, or op(A)'s row) is
        /// copied contiguous; the matrix is read in place, by dot products when its rows run along K,
        /// else by axpys over its rows.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void RunVector(in GemmShape sh, float* pa, float* pb, float* pc, float al, float be, float* pbias)
        {
            float* x = packB[0].Get(sh.K);
            float* mat;
            nint ld, outStride;
            int n;
            bool dotForm;
            if (sh.N == 1) // c[i] = op(A)[i, :] . op(B)[:, 0]
            {
                for (int k = 0; k < sh.K; k++)
                    x[k] = sh.TransB ? pb[k] : pb[(nint)k * sh.Ldb];
                mat = pa;
                (ld, n, outStride, dotForm) = (sh.Lda, sh.M, sh.Ldc, !sh.TransA);
            }
            else // M == 1: c[j] = op(A)[0, :] . op(B)[:, j]
            {
                for (int k = 0; k < sh.K; k++)
                    x[k] = sh.TransA ? pa[(nint)k * sh.Lda] : pa[k];
                mat = pb;
                (ld, n, outStride, dotForm) = (sh.Ldb, sh.N, 1, sh.TransB);
            }
            float* y = packA[0].Get(n);
            if (dotForm)
            {
                for (int i = 0; i < n; i++)
                    y[i] = Dot(mat + i * ld, x, sh.K);
            }
            else
            {
                new Span<float>(y, n).Clear();
                for (int k = 0; k < sh.K; k++)
                    Axpy(x[k], mat + k * ld, y, n);
            }
            for (int i = 0; i < n; i++)
            {
                float* o = pc + i * outStride;
                float v = al * y[i];
                if (be != 0f)
                    v += be * *o;
                if (pbias != null)
                    v += pbias[sh.N == 1 ? 0 : i];
                *o = v;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static float Dot(float* p, float* q, int n)
        {
            var s0 = Vector256<float>.Zero;
            var s1 = Vector256<float>.Zero;
            int i = 0;
            for (; i + 16 <= n; i += 16)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(p + i), Vector256.Load(q + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(p + i + 8), Vector256.Load(q + i + 8), s1);
            }
            float sum = Vector256.Sum(s0 + s1);
            for (; i < n; i++)
                sum += p[i] * q[i];
            return sum;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Axpy(float alpha, float* x, float* y, int n)
        {
            var va = Vector256.Create(alpha);
            int i = 0;
            for (; i + 8 <= n; i += 8)
                Vector256.Store(Vector256.FusedMultiplyAdd(va, Vector256.Load(x + i), Vector256.Load(y + i)), y + i);
            for (; i < n; i++)
                y[i] += alpha * x[i];
        }

        private static void ScaleOnly(in GemmShape s, float* c, float beta, float* bias)
        {
            for (int i = 0; i < s.M; i++)
            {
                float* row = c + (long)i * s.Ldc;
                for (int j = 0; j < s.N; j++)
                    row[j] = (beta != 0f ? beta * row[j] : 0f) + (bias != null ? bias[j] : 0f);
            }
        }

        /// <summary>Worker t of a product whose op(A) is shared: the workers pack its parts (one per
        /// thread, taken from a counter, so a pool that runs the workers one after another still
        /// packs every part), wait until all are packed, then compute items. One pass, not two.</summary>
        private void SharedWorker(int t)
        {
            for (int part; (part = Interlocked.Increment(ref packNext) - 1) < threads;)
            {
                PackA(s.M, s.K, ref sharedPanel, sharedA, part, threads);
                Interlocked.Increment(ref packDone);
            }
            var spin = new SpinWait();
            while (Volatile.Read(ref packDone) < threads)
                spin.SpinOnce(sleep1Threshold: -1);
            Worker(t);
        }

        /// <summary>Worker t (owner of packing buffers t) computes items until none is left.</summary>
        private void Worker(int t)
        {
            for (int item; (item = Interlocked.Increment(ref nextItem) - 1) < tr * tc;)
                Item(t, item);
        }

        /// <summary>Computes one block of C: rows part item / tc of tr, columns part item % tc.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Item(int t, int item)
        {
            GemmShape sh = s;
            int mSl = (sh.M + mr - 1) / mr, nSl = (sh.N + nr - 1) / nr;
            int pr = item / tc, pcol = item % tc;
            int r0 = (int)((long)mSl * pr / tr) * mr, r1 = Math.Min(sh.M, (int)((long)mSl * (pr + 1) / tr) * mr);
            int c0 = (int)((long)nSl * pcol / tc) * nr, c1 = Math.Min(sh.N, (int)((long)nSl * (pcol + 1) / tc) * nr);
            if (r0 >= r1 || c0 >= c1)
                return;
            int mPad = (sh.M + mr - 1) / mr * mr, mySl = (c1 - c0 + nr - 1) / nr;
            float* bp = packB[t].Get(KC * mySl * nr);
            float* ap = sharedA != null ? null : packA[t].Get(KC * mc);
            float* tmp = stackalloc float[32 * 32];
            nint ldc = sh.Ldc;

            for (int p0 = 0; p0 < sh.K; p0 += KC)
            {
                int kc = Math.Min(KC, sh.K - p0);
                bool first = p0 == 0;
                bool readC = !first || beta != 0f;
                float be = first ? beta : 1f;
                float* bi = first ? bias : null;

                // Pack op(B)[p0:p0+kc, c0:c1] into KC x NR slivers.
                if (sh.TransB) // stored N x K: column j of op(B) is row j of B
                {
                    for (int j = c0, q = 0; j < c1; j += nr, q++)
                        PackStrided(b + (nint)j * sh.Ldb + p0, sh.Ldb, Math.Min(nr, c1 - j), kc, nr, bp + (nint)q * kc * nr);
                }
                else
                    PackContiguous(b + (nint)p0 * sh.Ldb + c0, sh.Ldb, c1 - c0, kc, nr, bp);

                for (int i0 = r0; i0 < r1; i0 += mc)
                {
                    int mcur = Math.Min(mc, r1 - i0);
                    // Pack op(A)[i0:i0+mcur, p0:p0+kc] into MR x KC slivers (or find them in the shared pack).
                    if (sharedA != null)
                        ap = sharedA + (nint)p0 * mPad + (nint)i0 * kc;
                    else if (sh.TransA) // stored K x M
                        PackContiguous(a + (nint)p0 * sh.Lda + i0, sh.Lda, mcur, kc, mr, ap);
                    else
                    {
                        for (int i = i0, q = 0; i < i0 + mcur; i += mr, q++)
                            PackStrided(a + (nint)i * sh.Lda + p0, sh.Lda, Math.Min(mr, i0 + mcur - i), kc, mr, ap + (nint)q * kc * mr);
                    }

                    for (int j = c0, q = 0; j < c1; j += nr, q++)
                    {
                        int cols = Math.Min(nr, c1 - j);
                        float* bs = bp + (nint)q * kc * nr;
                        for (int i = i0, qa = 0; i < i0 + mcur; i += mr, qa++)
                            Tile(kc, ap + (nint)qa * kc * mr, bs, c + i * ldc + j, ldc, Math.Min(mr, i0 + mcur - i), cols,
                                alpha, be, bi == null ? null : bi + j, readC, tmp);
                    }
                }
            }
        }

        /// <summary>
        /// One MR x NR tile of C from an A sliver and a B sliver: the micro-kernel straight into C, or
        /// for an edge tile (rows &lt; MR or cols &lt; NR) the padded tile into tmp (32 x 32 floats; only
        /// its left half when that covers the valid columns), then C's valid part updated from it.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Tile(int kc, float* asl, float* bs, float* cij, nint ldc, int rows, int cols,
            float al, float be, float* bi, bool readC, float* tmp)
        {
            if (rows == mr && cols == nr && Simd != 0)
            {
                Micro(kc, asl, bs, cij, ldc, al, be, bi, readC);
                return;
            }
            if (Simd == 0)
                MicroScalar(kc, asl, bs, tmp, mr, nr);
            else if (Simd == 512 && cols <= 16)
                Kernel8x16(kc, asl, bs, tmp, nr);
            else
                Micro(kc, asl, bs, tmp, nr, 1f, 0f, null, false);
            for (int r = 0; r < rows; r++)
            {
                float* crow = cij + r * ldc;
                for (int x = 0; x < cols; x++)
                {
                    float v = al * tmp[r * nr + x];
                    if (readC)
                        v += be * crow[x];
                    if (bi != null)
                        v += bi[x];
                    crow[x] = v;
                }
            }
        }

        /// <summary>The scalar micro-kernel (no SIMD): tmp (mr x nr, row stride nr) = A sliver B sliver.</summary>
        private static void MicroScalar(int kc, float* a, float* b, float* tmp, int mr, int nr)
        {
            for (int r = 0; r < mr; r++)
                for (int x = 0; x < nr; x++)
                {
                    float sum = 0f;
                    for (int k = 0; k < kc; k++)
                        sum += a[k * mr + r] * b[k * nr + x];
                    tmp[r * nr + x] = sum;
                }
        }

        /// <summary>Lanes of a packed A sliver (the micro-kernel's rows).</summary>
        public int Mr => mr;

        /// <summary>Floats of a K x N operand prepacked by <see cref="PackB"/> (with slack for panels' overwrites).</summary>
        public int PackedBLength(int k, int n) => checked(k * ((n + nr - 1) / nr * nr) + 16);

        /// <summary>
        /// Prepacks B (K x N, from a panel source whose lanes are B's columns) in the layout
        /// <see cref="RunPacked"/> reads when given <c>bPacked</c>: per KC block of K, its NR-column
        /// slivers, each kc x NR. A B that several products share (one chunk's images against several
        /// row blocks of the weights) is packed once.
        /// </summary>
        public void PackB<TB>(int k, int n, ref TB b, float* dst) where TB : struct, IPanelSource =>
            PackB(k, n, ref b, dst, 0, 1);

        /// <summary>Part <paramref name="part"/> of <paramref name="parts"/> of <see cref="PackB{TB}(int, int, ref TB, float*)"/>
        /// (a range of its KC blocks), so that several threads can pack one operand; only for panels that
        /// write nothing past a sliver (<see cref="MatrixPanel"/>).</summary>
        public void PackB<TB>(int k, int n, ref TB b, float* dst, int part, int parts) where TB : struct, IPanelSource
        {
            int nPad = (n + nr - 1) / nr * nr, blocks = (k + KC - 1) / KC;
            int from = (int)((long)blocks * part / parts) * KC, to = (int)((long)blocks * (part + 1) / parts) * KC;
            for (int p0 = from; p0 < Math.Min(k, to); p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                for (int j = 0; j < n; j += nr)
                    b.Pack(p0, kc, j, Math.Min(nr, n - j), nr, dst + (nint)p0 * nPad + (nint)j * kc);
            }
        }

        /// <summary>Floats of an M x K operand prepacked by <see cref="PackA"/>.</summary>
        public int PackedALength(int m, int k) => checked(k * ((m + mr - 1) / mr * mr));

        /// <summary>
        /// Prepacks op(A) (M x K, from any panel source whose lanes are A's rows) in the layout
        /// <see cref="RunPacked"/> reads: per KC block of K, its MR-row slivers, each kc x MR. An
        /// operand used by many products (a convolution's weights across the chunks of a batch) is
        /// packed once.
        /// </summary>
        public void PackA<TA>(int m, int k, ref TA src, float* dst) where TA : struct, IPanelSource =>
            PackA(m, k, ref src, dst, 0, 1);

        /// <summary>Part <paramref name="part"/> of <paramref name="parts"/> of <see cref="PackA{TA}(int, int, ref TA, float*)"/>
        /// (a contiguous range of its MR-row slivers), so that several threads can pack one operand.</summary>
        public void PackA<TA>(int m, int k, ref TA src, float* dst, int part, int parts) where TA : struct, IPanelSource
        {
            int mPad = (m + mr - 1) / mr * mr, slivers = mPad / mr;
            int q0 = (int)((long)slivers * part / parts), q1 = (int)((long)slivers * (part + 1) / parts);
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                float* block = dst + (nint)p0 * mPad;
                for (int q = q0; q < q1; q++)
                    src.Pack(p0, kc, q * mr, Math.Min(mr, m - q * mr), mr, block + (nint)q * kc * mr);
            }
        }

        /// <summary>
        /// Single-threaded C (M x N, row stride ldc) = A B + beta C + bias[column], A prepacked by
        /// <see cref="PackA"/>, B (K x N) packed sliver by sliver from a panel source whose lanes are
        /// B's columns: an implicit GEMM (the convolutions gather B straight from the images, with no
        /// im2col matrix). Each B sliver is packed and then used at once by every A sliver, while it
        /// is in L1. When beta is 0, C is never read.
        /// </summary>
        /// <param name="aRows">Rows of the whole prepacked operand when this product uses only its rows
        /// [<paramref name="aRow0"/>, aRow0 + m) (aRow0 a multiple of MR); 0: all of it (m rows).</param>
        /// <param name="bPacked">B already packed by <see cref="PackB"/> (then <paramref name="b"/> is not read).</param>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void RunPacked<TB>(int m, int n, int k, float* aPacked, ref TB b, float* c, nint ldc, float beta,
            float* bias, float alpha = 1f, int worker = 0, int aRows = 0, int aRow0 = 0, float* bPacked = null)
            where TB : struct, IPanelSource
        {
            if (m == 0 || n == 0)
                return;
            if (k == 0)
            {
                ScaleOnly(new GemmShape(m, n, 0, false, false, 1, 1, (int)ldc), c, beta, bias);
                return;
            }
            int mPad = ((aRows == 0 ? m : aRows) + mr - 1) / mr * mr, nPad = (n + nr - 1) / nr * nr;
            float* bs = packB[worker].Get(KC * nr + 16);   // slack: panels may write 16 floats past a sliver
            float* tmp = stackalloc float[32 * 32];
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0);
                bool first = p0 == 0;
                bool readC = !first || beta != 0f;
                float be = first ? beta : 1f;
                float* bi = first ? bias : null;
                float* block = aPacked + (nint)p0 * mPad + (nint)aRow0 * kc;
                for (int j = 0; j < n; j += nr)
                {
                    int cols = Math.Min(nr, n - j);
                    if (bPacked == null)
                        b.Pack(p0, kc, j, cols, nr, bs);
                    else
                        bs = bPacked + (nint)p0 * nPad + (nint)j * kc;
                    for (int i = 0, qa = 0; i < m; i += mr, qa++)
                        Tile(kc, block + (nint)qa * kc * mr, bs, c + i * ldc + j, ldc, Math.Min(mr, m - i), cols,
                            alpha, be, bi == null ? null : bi + j, readC, tmp);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Micro(int kc, float* ap, float* bp, float* cp, nint ldc, float al, float be, float* bi, bool readC)
        {
            if (Simd == 512)
                Kernel8x32(kc, ap, bp, cp, ldc, al, be, bi, readC);
            else
                Kernel6x16(kc, ap, bp, cp, ldc, al, be, bi, readC);
        }

        /// <summary>8 x 32 micro-kernel: 16 zmm accumulators, one broadcast of A times two B vectors per row and k.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Kernel8x32(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta,
            float* bias, bool readC)
        {
            Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
            Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
            Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
            for (int k = 0; k < kc; k++)
            {
                var b0 = Vector512.Load(b);
                var b1 = Vector512.Load(b + 16);
                var x = Vector512.Create(a[0]);
                c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                x = Vector512.Create(a[1]);
                c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                x = Vector512.Create(a[2]);
                c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                x = Vector512.Create(a[3]);
                c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                x = Vector512.Create(a[4]);
                c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
                x = Vector512.Create(a[5]);
                c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
                x = Vector512.Create(a[6]);
                c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
                x = Vector512.Create(a[7]);
                c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
                a += 8;
                b += 32;
            }
            var va = Vector512.Create(alpha);
            var vb = Vector512.Create(beta);
            var z0 = bias != null ? Vector512.Load(bias) : default;
            var z1 = bias != null ? Vector512.Load(bias + 16) : default;
            Row512(c, c00, c01, va, vb, z0, z1, readC); c += ldc;
            Row512(c, c10, c11, va, vb, z0, z1, readC); c += ldc;
            Row512(c, c20, c21, va, vb, z0, z1, readC); c += ldc;
            Row512(c, c30, c31, va, vb, z0, z1, readC); c += ldc;
            Row512(c, c40, c41, va, vb, z0, z1, readC); c += ldc;
            Row512(c, c50, c51, va, vb, z0, z1, readC); c += ldc;
            Row512(c, c60, c61, va, vb, z0, z1, readC); c += ldc;
            Row512(c, c70, c71, va, vb, z0, z1, readC);
        }

        /// <summary>8 x 16 edge micro-kernel over the left half of 32-wide B slivers; stores acc raw.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Kernel8x16(int kc, float* a, float* b, float* c, nint ldc)
        {
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
            Vector512<float> c4 = default, c5 = default, c6 = default, c7 = default;
            for (int k = 0; k < kc; k++)
            {
                var b0 = Vector512.Load(b);
                c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
                c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
                c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2);
                c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
                c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4);
                c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
                c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6);
                c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
                a += 8;
                b += 32;
            }
            Vector512.Store(c0, c); Vector512.Store(c1, c + ldc); Vector512.Store(c2, c + 2 * ldc);
            Vector512.Store(c3, c + 3 * ldc); Vector512.Store(c4, c + 4 * ldc); Vector512.Store(c5, c + 5 * ldc);
            Vector512.Store(c6, c + 6 * ldc); Vector512.Store(c7, c + 7 * ldc);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Row512(float* c, Vector512<float> x0, Vector512<float> x1, Vector512<float> alpha,
            Vector512<float> beta, Vector512<float> bias0, Vector512<float> bias1, bool readC)
        {
            var r0 = Vector512.FusedMultiplyAdd(alpha, x0, bias0);
            var r1 = Vector512.FusedMultiplyAdd(alpha, x1, bias1);
            if (readC)
            {
                r0 = Vector512.FusedMultiplyAdd(beta, Vector512.Load(c), r0);
                r1 = Vector512.FusedMultiplyAdd(beta, Vector512.Load(c + 16), r1);
            }
            Vector512.Store(r0, c);
            Vector512.Store(r1, c + 16);
        }

        /// <summary>6 x 16 micro-kernel for AVX2 machines: 12 ymm accumulators.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private static void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta,
            float* bias, bool readC)
        {
            Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
            Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
            Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
            for (int k = 0; k < kc; k++)
            {
                var b0 = Vector256.Load(b);
                var b1 = Vector256.Load(b + 8);
                var x = Vector256.Create(a[0]);
                c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a[1]);
                c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a[2]);
                c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a[3]);
                c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a[4]);
                c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a[5]);
                c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                a += 6;
                b += 16;
            }
            var va = Vector256.Create(alpha);
            var vb = Vector256.Create(beta);
            var z0 = bias != null ? Vector256.Load(bias) : default;
            var z1 = bias != null ? Vector256.Load(bias + 8) : default;
            Row256(c, c00, c01, va, vb, z0, z1, readC); c += ldc;
            Row256(c, c10, c11, va, vb, z0, z1, readC); c += ldc;
            Row256(c, c20, c21, va, vb, z0, z1, readC); c += ldc;
            Row256(c, c30, c31, va, vb, z0, z1, readC); c += ldc;
            Row256(c, c40, c41, va, vb, z0, z1, readC); c += ldc;
            Row256(c, c50, c51, va, vb, z0, z1, readC);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Row256(float* c, Vector256<float> x0, Vector256<float> x1, Vector256<float> alpha,
            Vector256<float> beta, Vector256<float> bias0, Vector256<float> bias1, bool readC)
        {
            var r0 = Vector256.FusedMultiplyAdd(alpha, x0, bias0);
            var r1 = Vector256.FusedMultiplyAdd(alpha, x1, bias1);
            if (readC)
            {
                r0 = Vector256.FusedMultiplyAdd(beta, Vector256.Load(c), r0);
                r1 = Vector256.FusedMultiplyAdd(beta, Vector256.Load(c + 8), r1);
            }
            Vector256.Store(r0, c);
            Vector256.Store(r1, c + 8);
        }

        /// <summary>
        /// Packs a sliver whose W lanes are rows of the source, contiguous along k:
        /// dst[k * w + r] = src[r * ld + k] for r &lt; lanes, zero for the padding lanes.
        /// (A without TransA, B with TransB.) 8 x 8 blocks are transposed in AVX registers, 4 x 4 ones in SSE registers.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal static void PackStrided(float* src, nint ld, int lanes, int kc, int w, float* dst)
        {
            int r = 0;
            if (Avx.IsSupported)        // 8 x 8 blocks in AVX registers
            {
                for (; r + 8 <= lanes; r += 8)
                {
                    float* s0 = src + r * ld;
                    float* d = dst + r;
                    int k = 0;
                    for (; k + 8 <= kc; k += 8)
                    {
                        float* sk = s0 + k;
                        var x0 = Avx.LoadVector256(sk);
                        var x1 = Avx.LoadVector256(sk + ld);
                        var x2 = Avx.LoadVector256(sk + 2 * ld);
                        var x3 = Avx.LoadVector256(sk + 3 * ld);
                        var x4 = Avx.LoadVector256(sk + 4 * ld);
                        var x5 = Avx.LoadVector256(sk + 5 * ld);
                        var x6 = Avx.LoadVector256(sk + 6 * ld);
                        var x7 = Avx.LoadVector256(sk + 7 * ld);
                        Transpose8x8(x0, x1, x2, x3, x4, x5, x6, x7, d + (nint)k * w, w);
                    }
                    for (; k < kc; k++)
                    {
                        float* dk = d + (nint)k * w;
                        for (int q = 0; q < 8; q++)
                            dk[q] = s0[q * ld + k];
                    }
                }
            }
            if (Sse.IsSupported)
            {
                for (; r + 4 <= lanes; r += 4)
                {
                    float* s0 = src + r * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
                    float* d = dst + r;
                    int k = 0;
                    for (; k + 4 <= kc; k += 4)
                    {
                        var x0 = Sse.LoadVector128(s0 + k);
                        var x1 = Sse.LoadVector128(s1 + k);
                        var x2 = Sse.LoadVector128(s2 + k);
                        var x3 = Sse.LoadVector128(s3 + k);
                        var t0 = Sse.UnpackLow(x0, x1);  // a0 b0 a1 b1
                        var t1 = Sse.UnpackLow(x2, x3);  // c0 d0 c1 d1
                        var t2 = Sse.UnpackHigh(x0, x1); // a2 b2 a3 b3
                        var t3 = Sse.UnpackHigh(x2, x3); // c2 d2 c3 d3
                        float* dk = d + (nint)k * w;
                        Sse.Store(dk, Sse.MoveLowToHigh(t0, t1));
                        Sse.Store(dk + w, Sse.MoveHighToLow(t1, t0));
                        Sse.Store(dk + 2 * w, Sse.MoveLowToHigh(t2, t3));
                        Sse.Store(dk + 3 * w, Sse.MoveHighToLow(t3, t2));
                    }
                    for (; k < kc; k++)
                    {
                        float* dk = d + (nint)k * w;
                        dk[0] = s0[k]; dk[1] = s1[k]; dk[2] = s2[k]; dk[3] = s3[k];
                    }
                }
            }
            for (; r < lanes; r++)
            {
                float* sr = src + r * ld;
                for (int k = 0; k < kc; k++)
                    dst[(nint)k * w + r] = sr[k];
            }
            for (; r < w; r++)
                for (int k = 0; k < kc; k++)
                    dst[(nint)k * w + r] = 0f;
        }

        /// <summary>
        /// Packs a block whose lanes are contiguous in the source (A with TransA, B without TransB) into
        /// slivers of w lanes: sliver q holds dst[q * kc * w + k * w + x] = src[k * ld + q * w + x] for
        /// q * w + x &lt; lanes, zero for the padding lanes of the last sliver. Walks each source row once.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal static void PackContiguous(float* src, nint ld, int lanes, int kc, int w, float* dst)
        {
            int full = lanes / w, rest = lanes - full * w;
            nint sliver = (nint)kc * w;
            for (int k = 0; k < kc; k++, src += ld)
            {
                float* s = src;
                float* d = dst + (nint)k * w;
                for (int q = 0; q < full; q++, s += w, d += sliver)
                {
                    int x = 0;
                    if (Vector512.IsHardwareAccelerated)
                        for (; x + 16 <= w; x += 16)
                            Vector512.Store(Vector512.Load(s + x), d + x);
                    for (; x + 8 <= w; x += 8)
                        Vector256.Store(Vector256.Load(s + x), d + x);
                    for (; x + 4 <= w; x += 4)
                        Vector128.Store(Vector128.Load(s + x), d + x);
                    for (; x < w; x++)
                        d[x] = s[x];
                }
                if (rest > 0)
                {
                    int x = 0;
                    for (; x < rest; x++)
                        d[x] = s[x];
                    for (; x < w; x++)
                        d[x] = 0f;
                }
            }
        }
    }

    /// <summary>
    /// Where a packed GEMM operand comes from (<see cref="HostGemm.PackA"/>, <see cref="HostGemm.RunPacked"/>):
    /// an operand seen as lanes (A's rows, or B's columns) along the reduction index k. A struct
    /// implementation is specialised by the JIT, so a gather from images costs no call per element.
    /// </summary>
    internal unsafe interface IPanelSource
    {
        /// <summary>dst[k * w + x] = element (lane0 + x, k0 + k) for k &lt; kc and x &lt; lanes; 0 for lanes &lt;= x &lt; w.</summary>
        void Pack(int k0, int kc, int lane0, int lanes, int w, float* dst);
    }

    /// <summary>A stored row-major matrix as lanes: its rows (k along a row) or, when <c>LanesAreColumns</c>, its columns.</summary>
    internal readonly unsafe struct MatrixPanel(float* data, nint ld, bool lanesAreColumns) : IPanelSource
    {
        public void Pack(int k0, int kc, int lane0, int lanes, int w, float* dst)
        {
            if (lanesAreColumns)
                HostGemm.PackContiguous(data + (nint)k0 * ld + lane0, ld, lanes, kc, w, dst);
            else
                HostGemm.PackStrided(data + (nint)lane0 * ld + k0, ld, lanes, kc, w, dst);
        }
    }

    /// <summary>A growable, pinned, 64-byte-aligned float buffer (lives on the pinned object heap).</summary>
    private sealed unsafe class PinnedBuffer
    {
        private float[] array = [];
        private float* ptr;
        private int capacity;

        public float* Get(int length)
        {
            if (length > capacity)
            {
                array = GC.AllocateUninitializedArray<float>(length + 16, pinned: true);
                nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
                ptr = (float*)((p + 63) & ~(nint)63);
                capacity = length;
            }
            return ptr;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // GPU variant: shared-memory tiled ILGPU kernel, 64 x 64 tile of C per group of 256 threads,
    // K in steps of 16, each thread accumulating 4 x 4 outputs in registers. The host dispatch
    // (GemmGpu) and the larger kernels are in Gemm.Gpu.cs (128 x 128 FP32) and Gemm.Tf32.cs.
    // ---------------------------------------------------------------------------------------------

    private const int GemmTile = 64, GemmTileK = 16;

    /// <summary>Scalar arguments of the GEMM kernels.</summary>
    internal struct GemmArgs
    {
        public int M, N, K, Lda, Ldb, Ldc, TransA, TransB, HasBias, TilesN;
        public float Alpha, Beta;
    }

    private Action<KernelConfig, GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? gemmTiled;

    /// <summary>
    /// One group (256 threads) per 64 x 64 tile of C. Per K step of 16 the group stages op(A) and op(B)
    /// tiles in shared memory (k-major, coalesced global reads for either storage order), then each
    /// thread (tx, ty) = (tid % 16, tid / 16) accumulates rows ty + 16i and columns tx + 16j, i, j &lt; 4.
    /// </summary>
    private static void GemmTiledKernel(GemmArgs p, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
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
                // op(A) tile: 64 rows x 16 k, read along the stored rows.
                int row = p.TransA != 0 ? e & 63 : e >> 4;
                int kk = p.TransA != 0 ? e >> 6 : e & 15;
                int gi = m0 + row, gk = k0 + kk;
                float v = 0f;
                if (gi < p.M && gk < p.K)
                    v = p.TransA != 0 ? a[(long)gk * p.Lda + gi] : a[(long)gi * p.Lda + gk];
                sa[kk * GemmTile + row] = v;
                // op(B) tile: 16 k x 64 columns.
                int col = p.TransB != 0 ? e >> 4 : e & 63;
                kk = p.TransB != 0 ? e & 15 : e >> 6;
                int gj = n0 + col;
                gk = k0 + kk;
                v = 0f;
                if (gj < p.N && gk < p.K)
                    v = p.TransB != 0 ? b[(long)gj * p.Ldb + gk] : b[(long)gk * p.Ldb + gj];
                sb[kk * GemmTile + col] = v;
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
        GemmStore(p, c, bias, r, q, c00); GemmStore(p, c, bias, r, q + 16, c01);
        GemmStore(p, c, bias, r, q + 32, c02); GemmStore(p, c, bias, r, q + 48, c03);
        GemmStore(p, c, bias, r + 16, q, c10); GemmStore(p, c, bias, r + 16, q + 16, c11);
        GemmStore(p, c, bias, r + 16, q + 32, c12); GemmStore(p, c, bias, r + 16, q + 48, c13);
        GemmStore(p, c, bias, r + 32, q, c20); GemmStore(p, c, bias, r + 32, q + 16, c21);
        GemmStore(p, c, bias, r + 32, q + 32, c22); GemmStore(p, c, bias, r + 32, q + 48, c23);
        GemmStore(p, c, bias, r + 48, q, c30); GemmStore(p, c, bias, r + 48, q + 16, c31);
        GemmStore(p, c, bias, r + 48, q + 32, c32); GemmStore(p, c, bias, r + 48, q + 48, c33);
    }

    /// <summary>Epilogue of one output: C = alpha * acc (+ beta * C unless beta is 0) (+ bias[col]).</summary>
    private static void GemmStore(GemmArgs p, ArrayView<float> c, ArrayView<float> bias, int row, int col, float acc)
    {
        if (row >= p.M || col >= p.N)
            return;
        long idx = (long)row * p.Ldc + col;
        float v = p.Alpha * acc;
        if (p.Beta != 0f)
            v += p.Beta * c[idx];
        if (p.HasBias != 0)
            v += bias[col];
        c[idx] = v;
    }
}
