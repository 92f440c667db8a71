using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

// ClCpu variant of the GEMM: for OpenCL CPU devices (PoCL). PoCL runs a work-group as a loop over
// its work-items on one core; a barrier splits the kernel into regions and spills every live
// register of every work-item to memory between them, so shared-memory kernels are slow there
// (2-11 GFLOP/s measured) while barrier-free, register-blocked ones reach 70-200 (README: OpenCL on this CPU).
// So: no shared memory and no barriers. Each work-item owns an 8 x 16 block of C held in 128
// registers (8 rows of 16 contiguous columns: LLVM packs a row into one 512-bit or two 256-bit
// vectors), and per k broadcasts 8 values of op(A) against one 16-wide row of B: the micro-kernel
// shape of a CPU BLAS, written as scalar code. Work-items walk the blocks grid-stride, column panel
// by column panel (consecutive work-items of a group share the panel of B in cache).
// B must be row-major along N for the 16-wide loads: a transposed B (the Linear forward) is first
// transposed into scratch memory by a barrier-free kernel, with its leading dimension padded off
// multiples of 4 KB (rows 4 KB apart share cache sets); a dense B with such a row length is
// copied the same way when the product is large enough to pay for the copy.
public sealed partial class Kernels
{
    private const int ClRows = 8, ClCols = 16;

    /// <summary>Work-items per group of the ClCpu kernels (PoCL runs a group on one core).</summary>
    private int ClGroup => Math.Min(16, Accelerator.MaxNumThreadsPerGroup);

    /// <summary>A grid-stride launch over <paramref name="items"/> work items for the ClCpu kernels:
    /// enough groups to keep every core busy, never more than needed.</summary>
    private KernelConfig ClStride(long items)
    {
        int group = ClGroup;
        long groups = Math.Clamp((items + group - 1) / group, 1, Math.Max(1, Accelerator.NumMultiprocessors) * 64L);
        return new KernelConfig((int)groups, group);
    }

    internal struct ClGemmArgs
    {
        public int M, N, K, Lda, Ldb, Ldc, TilesM, Tiles, HasBias;
        public float Alpha, Beta;
    }

    /// <summary>Where element (row, k) of op(A) is stored.</summary>
    internal interface IClLayout { long At(int row, int k, int ld); }
    internal readonly struct ClRowMajor : IClLayout { public long At(int row, int k, int ld) => (long)row * ld + k; }
    internal readonly struct ClTransposed : IClLayout { public long At(int row, int k, int ld) => (long)k * ld + row; }

    private Action<KernelConfig, ClGemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? clGemmN, clGemmT;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ClRepackArgs>? clRepack;

    internal struct ClRepackArgs { public int K, N, Ldb, Ldd, Transposed; }
    private MemoryBuffer1D<float, Stride1D.Dense>? clScratch;

    /// <summary>The copy of B pays for itself when a product reuses each element of B this often.</summary>
    private const int ClCopyMinRows = 64;

    private void GemmClCpu(in GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        float alpha, float beta, ArrayView<float> bias)
    {
        int ldb = s.Ldb;
        var ub = b.Length != 0 ? b : c;
        bool aliased = s.Ldb % 1024 == 0 && s.K > 1;
        if (s.K > 0 && (s.TransB || (aliased && s.M >= ClCopyMinRows)))
        {
            // op(B) (K x N) into scratch, row-major along N with a padded leading dimension.
            ldb = PaddedLd(s.N);
            var scratch = ClScratch((long)s.K * ldb);
            clRepack ??= Load<ArrayView<float>, ArrayView<float>, ClRepackArgs>(ClRepackKernel);
            long blocks = (long)((s.K + ClCols - 1) / ClCols) * ((s.N + ClCols - 1) / ClCols);
            clRepack(ClStride(blocks), b, scratch, new ClRepackArgs { K = s.K, N = s.N, Ldb = s.Ldb, Ldd = ldb, Transposed = s.TransB ? 1 : 0 });
            ub = scratch;
        }
        int tilesM = (s.M + ClRows - 1) / ClRows, tilesN = (s.N + ClCols - 1) / ClCols;
        var args = new ClGemmArgs
        {
            M = s.M, N = s.N, K = s.K, Lda = s.Lda, Ldb = ldb, Ldc = s.Ldc,
            TilesM = tilesM, Tiles = checked(tilesM * tilesN), HasBias = bias.Length != 0 ? 1 : 0,
            Alpha = alpha, Beta = beta,
        };
        var ua = a.Length != 0 ? a : c;
        var ubias = bias.Length != 0 ? bias : c;
        var kernel = s.TransA
            ? clGemmT ??= Load<ClGemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ClGemmKernel<ClTransposed>)
            : clGemmN ??= Load<ClGemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ClGemmKernel<ClRowMajor>);
        kernel(ClStride(args.Tiles), args, ua, ub, c, ubias);
    }

    /// <summary>A row length of at least n floats, a multiple of 16 (64 bytes), and not a multiple of
    /// 1024 floats (4 KB) unless tiny.</summary>
    internal static int PaddedLd(int n)
    {
        int ld = (n + 15) & ~15;
        return ld >= 1024 && ld % 1024 == 0 ? ld + 16 : ld;
    }

    /// <summary>Scratch memory of at least <paramref name="length"/> floats (grows; enqueued work that
    /// still uses the old buffer is waited for before it is freed).</summary>
    private ArrayView<float> ClScratch(long length)
    {
        if (clScratch is null || clScratch.Length < length)
        {
            if (clScratch is not null)
            {
                Accelerator.Synchronize();
                clScratch.Dispose();
            }
            clScratch = Accelerator.Allocate1D<float>(Math.Max(length, 1));
        }
        return clScratch.View.SubView(0, length);
    }

    /// <summary>
    /// dst[k * ldd + j] = op(B)[k, j] for k &lt; K, j &lt; N; B is N x K (transposed, ldb) or K x N.
    /// Each work-item copies a 16 x 16 block, reading along the stored rows.
    /// </summary>
    private static void ClRepackKernel(ArrayView<float> src, ArrayView<float> dst, ClRepackArgs p)
    {
        int k = p.K, n = p.N, ldb = p.Ldb, ldd = p.Ldd, transposed = p.Transposed;
        int blocksN = (n + ClCols - 1) / ClCols;
        long blocks = (long)((k + ClCols - 1) / ClCols) * blocksN;
        for (long t = Grid.GlobalIndex.X; t < blocks; t += GridStride)
        {
            int k0 = (int)(t / blocksN) * ClCols, j0 = (int)(t % blocksN) * ClCols;
            int k1 = XMin(k0 + ClCols, k), j1 = XMin(j0 + ClCols, n);
            if (transposed != 0)
            {
                for (int j = j0; j < j1; j++)
                    for (int kk = k0; kk < k1; kk++)
                        dst[(long)kk * ldd + j] = src[(long)j * ldb + kk];
            }
            else
            {
                for (int kk = k0; kk < k1; kk++)
                    for (int j = j0; j < j1; j++)
                        dst[(long)kk * ldd + j] = src[(long)kk * ldb + j];
            }
        }
    }

    private static int XMin(int a, int b) => a < b ? a : b;

    /// <summary>
    /// Each work-item computes 8 x 16 blocks of C (grid-stride): 8 rows of op(A) broadcast against
    /// 16 contiguous columns of B per k. Loads of an edge block are clamped into the matrix (no
    /// branch in the k loop), and only its valid outputs are stored.
    /// </summary>
    private static void ClGemmKernel<TA>(ClGemmArgs p, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias) where TA : struct, IClLayout
    {
        TA layout = default;
        for (int t = Grid.GlobalIndex.X; t < p.Tiles; t += GridStride)
        {
            int i0 = t % p.TilesM * ClRows, j0 = t / p.TilesM * ClCols;
            int last = p.M - 1;
            int r0 = XMin(i0, last), r1 = XMin(i0 + 1, last), r2 = XMin(i0 + 2, last), r3 = XMin(i0 + 3, last);
            int r4 = XMin(i0 + 4, last), r5 = XMin(i0 + 5, last), r6 = XMin(i0 + 6, last), r7 = XMin(i0 + 7, last);
            Row16 c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
            if (j0 + ClCols <= p.N)
            {
                // A full-width block: unguarded 16-wide loads and stores. The stores of each row
                // are consecutive and unconditional, which is what lets LLVM's SLP vectorizer turn
                // every row (loads, multiplies, adds, accumulators) into vector instructions.
                for (int k = 0; k < p.K; k++)
                {
                    Row16 row = Row16.Load(b, (long)k * p.Ldb + j0);
                    c0 = Row16.Fma(c0, a[layout.At(r0, k, p.Lda)], row);
                    c1 = Row16.Fma(c1, a[layout.At(r1, k, p.Lda)], row);
                    c2 = Row16.Fma(c2, a[layout.At(r2, k, p.Lda)], row);
                    c3 = Row16.Fma(c3, a[layout.At(r3, k, p.Lda)], row);
                    c4 = Row16.Fma(c4, a[layout.At(r4, k, p.Lda)], row);
                    c5 = Row16.Fma(c5, a[layout.At(r5, k, p.Lda)], row);
                    c6 = Row16.Fma(c6, a[layout.At(r6, k, p.Lda)], row);
                    c7 = Row16.Fma(c7, a[layout.At(r7, k, p.Lda)], row);
                }
                Row16 add = p.HasBias != 0 ? Row16.Load(bias, j0) : default;
                ClStoreFull(p, c, i0, j0, c0, add); ClStoreFull(p, c, i0 + 1, j0, c1, add);
                ClStoreFull(p, c, i0 + 2, j0, c2, add); ClStoreFull(p, c, i0 + 3, j0, c3, add);
                ClStoreFull(p, c, i0 + 4, j0, c4, add); ClStoreFull(p, c, i0 + 5, j0, c5, add);
                ClStoreFull(p, c, i0 + 6, j0, c6, add); ClStoreFull(p, c, i0 + 7, j0, c7, add);
            }
            else
            {
                int lastCol = p.N - 1;
                for (int k = 0; k < p.K; k++)
                {
                    Row16 row = Row16.LoadClamped(b, (long)k * p.Ldb, j0, lastCol);
                    c0 = Row16.Fma(c0, a[layout.At(r0, k, p.Lda)], row);
                    c1 = Row16.Fma(c1, a[layout.At(r1, k, p.Lda)], row);
                    c2 = Row16.Fma(c2, a[layout.At(r2, k, p.Lda)], row);
                    c3 = Row16.Fma(c3, a[layout.At(r3, k, p.Lda)], row);
                    c4 = Row16.Fma(c4, a[layout.At(r4, k, p.Lda)], row);
                    c5 = Row16.Fma(c5, a[layout.At(r5, k, p.Lda)], row);
                    c6 = Row16.Fma(c6, a[layout.At(r6, k, p.Lda)], row);
                    c7 = Row16.Fma(c7, a[layout.At(r7, k, p.Lda)], row);
                }
                ClStoreRow(p, c, bias, i0, j0, c0); ClStoreRow(p, c, bias, i0 + 1, j0, c1);
                ClStoreRow(p, c, bias, i0 + 2, j0, c2); ClStoreRow(p, c, bias, i0 + 3, j0, c3);
                ClStoreRow(p, c, bias, i0 + 4, j0, c4); ClStoreRow(p, c, bias, i0 + 5, j0, c5);
                ClStoreRow(p, c, bias, i0 + 6, j0, c6); ClStoreRow(p, c, bias, i0 + 7, j0, c7);
            }
        }
    }

    /// <summary>Stores one full row of a block: C = alpha*acc + add (+ beta*C unless beta is 0).</summary>
    private static void ClStoreFull(ClGemmArgs p, ArrayView<float> c, int row, int j0, Row16 acc, Row16 add)
    {
        if (row >= p.M) return;
        long o = (long)row * p.Ldc + j0;
        Row16 v = Row16.Fma(add, p.Alpha, acc);
        if (p.Beta != 0f) v = Row16.Fma(v, p.Beta, Row16.Load(c, o));
        Row16.Store(c, o, v);
    }

    /// <summary>Stores the valid columns of one row of a block (C = alpha*acc + beta*C + bias).</summary>
    private static void ClStoreRow(ClGemmArgs p, ArrayView<float> c, ArrayView<float> bias, int row, int j0, Row16 v)
    {
        if (row >= p.M) return;
        long o = (long)row * p.Ldc + j0;
        ClStore(p, c, bias, o, j0, v.X0); ClStore(p, c, bias, o + 1, j0 + 1, v.X1);
        ClStore(p, c, bias, o + 2, j0 + 2, v.X2); ClStore(p, c, bias, o + 3, j0 + 3, v.X3);
        ClStore(p, c, bias, o + 4, j0 + 4, v.X4); ClStore(p, c, bias, o + 5, j0 + 5, v.X5);
        ClStore(p, c, bias, o + 6, j0 + 6, v.X6); ClStore(p, c, bias, o + 7, j0 + 7, v.X7);
        ClStore(p, c, bias, o + 8, j0 + 8, v.X8); ClStore(p, c, bias, o + 9, j0 + 9, v.X9);
        ClStore(p, c, bias, o + 10, j0 + 10, v.X10); ClStore(p, c, bias, o + 11, j0 + 11, v.X11);
        ClStore(p, c, bias, o + 12, j0 + 12, v.X12); ClStore(p, c, bias, o + 13, j0 + 13, v.X13);
        ClStore(p, c, bias, o + 14, j0 + 14, v.X14); ClStore(p, c, bias, o + 15, j0 + 15, v.X15);
    }

    private static void ClStore(ClGemmArgs p, ArrayView<float> c, ArrayView<float> bias, long o, int col, float acc)
    {
        if (col >= p.N) return;
        float v = p.Alpha * acc;
        if (p.Beta != 0f) v += p.Beta * c[o];
        if (p.HasBias != 0) v += bias[col];
        c[o] = v;
    }

    /// <summary>16 contiguous floats of a row: one block row of C, or a row of B, in registers.</summary>
    internal struct Row16
    {
        public float X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14, X15;

        public static Row16 Load(ArrayView<float> v, long o) => new()
        {
            X0 = v[o], X1 = v[o + 1], X2 = v[o + 2], X3 = v[o + 3], X4 = v[o + 4], X5 = v[o + 5], X6 = v[o + 6], X7 = v[o + 7],
            X8 = v[o + 8], X9 = v[o + 9], X10 = v[o + 10], X11 = v[o + 11], X12 = v[o + 12], X13 = v[o + 13], X14 = v[o + 14], X15 = v[o + 15],
        };

        /// <summary>Columns j0 .. j0+15 of the row at <paramref name="o"/>, each clamped to lastCol.</summary>
        public static Row16 LoadClamped(ArrayView<float> v, long o, int j0, int lastCol) => new()
        {
            X0 = v[o + XMin(j0, lastCol)], X1 = v[o + XMin(j0 + 1, lastCol)], X2 = v[o + XMin(j0 + 2, lastCol)],
            X3 = v[o + XMin(j0 + 3, lastCol)], X4 = v[o + XMin(j0 + 4, lastCol)], X5 = v[o + XMin(j0 + 5, lastCol)],
            X6 = v[o + XMin(j0 + 6, lastCol)], X7 = v[o + XMin(j0 + 7, lastCol)], X8 = v[o + XMin(j0 + 8, lastCol)],
            X9 = v[o + XMin(j0 + 9, lastCol)], X10 = v[o + XMin(j0 + 10, lastCol)], X11 = v[o + XMin(j0 + 11, lastCol)],
            X12 = v[o + XMin(j0 + 12, lastCol)], X13 = v[o + XMin(j0 + 13, lastCol)], X14 = v[o + XMin(j0 + 14, lastCol)],
            X15 = v[o + XMin(j0 + 15, lastCol)],
        };

        public static void Store(ArrayView<float> v, long o, Row16 x)
        {
            v[o] = x.X0; v[o + 1] = x.X1; v[o + 2] = x.X2; v[o + 3] = x.X3; v[o + 4] = x.X4; v[o + 5] = x.X5; v[o + 6] = x.X6; v[o + 7] = x.X7;
            v[o + 8] = x.X8; v[o + 9] = x.X9; v[o + 10] = x.X10; v[o + 11] = x.X11; v[o + 12] = x.X12; v[o + 13] = x.X13; v[o + 14] = x.X14; v[o + 15] = x.X15;
        }

        /// <summary>acc + a * b, lane by lane.</summary>
        public static Row16 Fma(Row16 acc, float a, Row16 b) => new()
        {
            X0 = acc.X0 + a * b.X0, X1 = acc.X1 + a * b.X1, X2 = acc.X2 + a * b.X2, X3 = acc.X3 + a * b.X3,
            X4 = acc.X4 + a * b.X4, X5 = acc.X5 + a * b.X5, X6 = acc.X6 + a * b.X6, X7 = acc.X7 + a * b.X7,
            X8 = acc.X8 + a * b.X8, X9 = acc.X9 + a * b.X9, X10 = acc.X10 + a * b.X10, X11 = acc.X11 + a * b.X11,
            X12 = acc.X12 + a * b.X12, X13 = acc.X13 + a * b.X13, X14 = acc.X14 + a * b.X14, X15 = acc.X15 + a * b.X15,
        };
    }
}
