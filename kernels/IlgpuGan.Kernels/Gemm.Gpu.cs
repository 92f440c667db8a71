using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>The kernels a <see cref="KernelVariant.Gpu"/> GEMM can run (see <see cref="Kernels.GpuGemmKernelFor"/>).</summary>
public enum GpuGemmKernel
{
    /// <summary>Chosen on the host per product: <see cref="Tf32"/> where <see cref="Kernels.UsesTf32"/>,
    /// else <see cref="Tile128"/> for products large enough to fill the device with 128 x 128 tiles,
    /// else <see cref="Tile64"/>.</summary>
    Auto,
    /// <summary>64 x 64 tile of C per group, 4 x 4 outputs per thread (<c>GemmTiledKernel</c>): many
    /// groups for small products.</summary>
    Tile64,
    /// <summary>128 x 128 tile of C per group, 8 x 8 outputs per thread, double-buffered shared memory
    /// (<c>GemmTiled128Kernel</c>): twice the arithmetic per shared-memory read of <see cref="Tile64"/>.</summary>
    Tile128,
    /// <summary>TF32 tensor cores (<c>mma.sync</c> m16n8k8, CUDA compute capability 8.0 and up): see
    /// <see cref="Kernels.AllowTf32"/> for its precision.</summary>
    Tf32,
}

public sealed partial class Kernels
{
    // ---------------------------------------------------------------------------------------------
    // GPU variant, large products: 128 x 128 tile of C per group of 256 threads, K in steps of 8,
    // each thread accumulating 8 x 8 outputs in registers; two shared-memory buffers, so that the
    // next K step's global reads are in flight while the current one is computed (one barrier a step).
    // ---------------------------------------------------------------------------------------------

    private const int Gemm128 = 128, Gemm128K = 8;
    /// <summary>Row length of a staged k row: 4 floats of padding, so that the stores of a warp that
    /// reads A along k (8 k x 4 rows) fall in 32 different banks.</summary>
    private const int Gemm128Stride = Gemm128 + 4;

    private Action<KernelConfig, GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? gemmTiled128;

    /// <summary>Forces one GPU GEMM kernel for every product (tests); <see cref="GpuGemmKernel.Auto"/>
    /// (the default) lets <see cref="GpuGemmKernelFor"/> choose.</summary>
    internal GpuGemmKernel GpuGemmOverride { get; set; }

    /// <summary>
    /// The kernel a <see cref="KernelVariant.Gpu"/> GEMM of shape <paramref name="s"/> runs, chosen on
    /// the host: TF32 tensor cores only where <see cref="UsesTf32"/> (opted in, CUDA, compute
    /// capability 8.0 and up); otherwise the 128 x 128 tile when the product has at least one such
    /// tile per multiprocessor and both sides exceed 64, else the 64 x 64 tile (more groups for
    /// small products).
    /// </summary>
    public GpuGemmKernel GpuGemmKernelFor(in GemmShape s)
    {
        if (GpuGemmOverride != GpuGemmKernel.Auto)
            return GpuGemmOverride;
        if (UsesTf32)
            return GpuGemmKernel.Tf32;
        long tiles128 = (long)((s.M + Gemm128 - 1) / Gemm128) * ((s.N + Gemm128 - 1) / Gemm128);
        return s.M > GemmTile && s.N > GemmTile && tiles128 >= Accelerator.NumMultiprocessors
            ? GpuGemmKernel.Tile128 : GpuGemmKernel.Tile64;
    }

    private void GemmGpu(in GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        float alpha, float beta, ArrayView<float> bias)
    {
        var kernel = GpuGemmKernelFor(s);
        int tile = kernel == GpuGemmKernel.Tile64 ? GemmTile : Gemm128;
        int tilesM = (s.M + tile - 1) / tile, tilesN = (s.N + tile - 1) / tile;
        var args = new GemmArgs
        {
            M = s.M, N = s.N, K = s.K, Lda = s.Lda, Ldb = s.Ldb, Ldc = s.Ldc,
            TransA = s.TransA ? 1 : 0, TransB = s.TransB ? 1 : 0, HasBias = bias.Length != 0 ? 1 : 0,
            TilesN = tilesN, Alpha = alpha, Beta = beta,
        };
        // Empty views are passed as a placeholder that is never read (C is non-empty here).
        var ua = a.Length != 0 ? a : c;
        var ub = b.Length != 0 ? b : c;
        var ubias = bias.Length != 0 ? bias : c;
        var launch = kernel switch
        {
            GpuGemmKernel.Tile64 => gemmTiled ??= Load<GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GemmTiledKernel),
            GpuGemmKernel.Tile128 => gemmTiled128 ??= Load<GemmArgs, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GemmTiled128Kernel),
            _ => gemmTf32 ??= LoadTf32(),
        };
        launch(new KernelConfig(checked(tilesM * tilesN), GroupSize), args, ua, ub, c, ubias);
    }

    /// <summary>Element (row, k) of op(A), 0 outside the matrix (edge tiles, the K tail).</summary>
    private static float GemmLoadA(GemmArgs p, ArrayView<float> a, int row, int k) =>
        row < p.M && k < p.K ? (p.TransA != 0 ? a[(long)k * p.Lda + row] : a[(long)row * p.Lda + k]) : 0f;

    /// <summary>Element (k, col) of op(B), 0 outside the matrix.</summary>
    private static float GemmLoadB(GemmArgs p, ArrayView<float> b, int col, int k) =>
        col < p.N && k < p.K ? (p.TransB != 0 ? b[(long)col * p.Ldb + k] : b[(long)k * p.Ldb + col]) : 0f;

    /// <summary>
    /// One group (256 threads) per 128 x 128 tile of C, the same contract as <c>GemmTiledKernel</c>
    /// (transposes, leading dimensions, alpha, beta, bias, edge tiles). Per K step of 8 the group
    /// stages op(A) and op(B) in shared memory k-major ([k][row], [k][col]), read from global memory
    /// along whichever dimension is contiguous: 4 elements of each per thread, held in registers
    /// while the current step is computed, then stored into the other buffer. Thread
    /// (tx, ty) = (tid % 16, tid / 16) accumulates rows ty + 16i and columns tx + 16j, i, j &lt; 8:
    /// a warp's shared reads are 16 consecutive floats and a broadcast (no bank conflict), and its
    /// stores of C are 16-float runs of a row.
    /// </summary>
    private static void GemmTiled128Kernel(GemmArgs p, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        ArrayView<float> bias)
    {
        const int Buffer = Gemm128K * Gemm128Stride;
        var sa = SharedMemory.Allocate<float>(2 * Buffer); // [buffer][k][row]
        var sb = SharedMemory.Allocate<float>(2 * Buffer); // [buffer][k][col]
        int tid = Group.IdxX;
        int tx = tid & 15, ty = tid >> 4;
        int m0 = Grid.IdxX / p.TilesN * Gemm128, n0 = Grid.IdxX % p.TilesN * Gemm128;

        // This thread's 4 staged elements of each tile: A along k (32 rows x 8 k per pass) or, when
        // TransA, along the rows (128 rows x 2 k per pass); likewise B.
        int aRow = p.TransA != 0 ? tid & 127 : tid >> 3, aK = p.TransA != 0 ? tid >> 7 : tid & 7;
        int aRowStep = p.TransA != 0 ? 0 : 32, aKStep = p.TransA != 0 ? 2 : 0;
        int bCol = p.TransB != 0 ? tid >> 3 : tid & 127, bK = p.TransB != 0 ? tid & 7 : tid >> 7;
        int bColStep = p.TransB != 0 ? 32 : 0, bKStep = p.TransB != 0 ? 0 : 2;
        int sa0 = aK * Gemm128Stride + aRow, saStep = aKStep * Gemm128Stride + aRowStep;
        int sb0 = bK * Gemm128Stride + bCol, sbStep = bKStep * Gemm128Stride + bColStep;
        int gi = m0 + aRow, gj = n0 + bCol;

        float ra0 = GemmLoadA(p, a, gi, aK), ra1 = GemmLoadA(p, a, gi + aRowStep, aK + aKStep);
        float ra2 = GemmLoadA(p, a, gi + 2 * aRowStep, aK + 2 * aKStep), ra3 = GemmLoadA(p, a, gi + 3 * aRowStep, aK + 3 * aKStep);
        float rb0 = GemmLoadB(p, b, gj, bK), rb1 = GemmLoadB(p, b, gj + bColStep, bK + bKStep);
        float rb2 = GemmLoadB(p, b, gj + 2 * bColStep, bK + 2 * bKStep), rb3 = GemmLoadB(p, b, gj + 3 * bColStep, bK + 3 * bKStep);
        sa[sa0] = ra0; sa[sa0 + saStep] = ra1; sa[sa0 + 2 * saStep] = ra2; sa[sa0 + 3 * saStep] = ra3;
        sb[sb0] = rb0; sb[sb0 + sbStep] = rb1; sb[sb0 + 2 * sbStep] = rb2; sb[sb0 + 3 * sbStep] = rb3;
        Group.Barrier();

        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
        float c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
        float c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
        float c40 = 0, c41 = 0, c42 = 0, c43 = 0, c44 = 0, c45 = 0, c46 = 0, c47 = 0;
        float c50 = 0, c51 = 0, c52 = 0, c53 = 0, c54 = 0, c55 = 0, c56 = 0, c57 = 0;
        float c60 = 0, c61 = 0, c62 = 0, c63 = 0, c64 = 0, c65 = 0, c66 = 0, c67 = 0;
        float c70 = 0, c71 = 0, c72 = 0, c73 = 0, c74 = 0, c75 = 0, c76 = 0, c77 = 0;

        int steps = (p.K + Gemm128K - 1) / Gemm128K;
        for (int t = 0; t < steps; t++)
        {
            int cur = (t & 1) * Buffer;
            int k1 = (t + 1) * Gemm128K;
            bool more = k1 < p.K;
            if (more)
            {
                // The next step's elements: global reads overlap the arithmetic below.
                ra0 = GemmLoadA(p, a, gi, k1 + aK); ra1 = GemmLoadA(p, a, gi + aRowStep, k1 + aK + aKStep);
                ra2 = GemmLoadA(p, a, gi + 2 * aRowStep, k1 + aK + 2 * aKStep); ra3 = GemmLoadA(p, a, gi + 3 * aRowStep, k1 + aK + 3 * aKStep);
                rb0 = GemmLoadB(p, b, gj, k1 + bK); rb1 = GemmLoadB(p, b, gj + bColStep, k1 + bK + bKStep);
                rb2 = GemmLoadB(p, b, gj + 2 * bColStep, k1 + bK + 2 * bKStep); rb3 = GemmLoadB(p, b, gj + 3 * bColStep, k1 + bK + 3 * bKStep);
            }
            for (int kk = 0; kk < Gemm128K; kk++)
            {
                int o = cur + kk * Gemm128Stride;
                int oa = o + ty, ob = o + tx;
                float a0 = sa[oa], a1 = sa[oa + 16], a2 = sa[oa + 32], a3 = sa[oa + 48];
                float a4 = sa[oa + 64], a5 = sa[oa + 80], a6 = sa[oa + 96], a7 = sa[oa + 112];
                float b0 = sb[ob], b1 = sb[ob + 16], b2 = sb[ob + 32], b3 = sb[ob + 48];
                float b4 = sb[ob + 64], b5 = sb[ob + 80], b6 = sb[ob + 96], b7 = sb[ob + 112];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3; c04 += a0 * b4; c05 += a0 * b5; c06 += a0 * b6; c07 += a0 * b7;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3; c14 += a1 * b4; c15 += a1 * b5; c16 += a1 * b6; c17 += a1 * b7;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3; c24 += a2 * b4; c25 += a2 * b5; c26 += a2 * b6; c27 += a2 * b7;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3; c34 += a3 * b4; c35 += a3 * b5; c36 += a3 * b6; c37 += a3 * b7;
                c40 += a4 * b0; c41 += a4 * b1; c42 += a4 * b2; c43 += a4 * b3; c44 += a4 * b4; c45 += a4 * b5; c46 += a4 * b6; c47 += a4 * b7;
                c50 += a5 * b0; c51 += a5 * b1; c52 += a5 * b2; c53 += a5 * b3; c54 += a5 * b4; c55 += a5 * b5; c56 += a5 * b6; c57 += a5 * b7;
                c60 += a6 * b0; c61 += a6 * b1; c62 += a6 * b2; c63 += a6 * b3; c64 += a6 * b4; c65 += a6 * b5; c66 += a6 * b6; c67 += a6 * b7;
                c70 += a7 * b0; c71 += a7 * b1; c72 += a7 * b2; c73 += a7 * b3; c74 += a7 * b4; c75 += a7 * b5; c76 += a7 * b6; c77 += a7 * b7;
            }
            if (more)
            {
                // The other buffer was last read before the previous barrier.
                int next = Buffer - cur;
                sa[next + sa0] = ra0; sa[next + sa0 + saStep] = ra1; sa[next + sa0 + 2 * saStep] = ra2; sa[next + sa0 + 3 * saStep] = ra3;
                sb[next + sb0] = rb0; sb[next + sb0 + sbStep] = rb1; sb[next + sb0 + 2 * sbStep] = rb2; sb[next + sb0 + 3 * sbStep] = rb3;
            }
            Group.Barrier();
        }

        int r, q = n0 + tx;
        r = m0 + ty + 0;
        GemmStore(p, c, bias, r, q + 0, c00); GemmStore(p, c, bias, r, q + 16, c01); GemmStore(p, c, bias, r, q + 32, c02); GemmStore(p, c, bias, r, q + 48, c03);
        GemmStore(p, c, bias, r, q + 64, c04); GemmStore(p, c, bias, r, q + 80, c05); GemmStore(p, c, bias, r, q + 96, c06); GemmStore(p, c, bias, r, q + 112, c07);
        r = m0 + ty + 16;
        GemmStore(p, c, bias, r, q + 0, c10); GemmStore(p, c, bias, r, q + 16, c11); GemmStore(p, c, bias, r, q + 32, c12); GemmStore(p, c, bias, r, q + 48, c13);
        GemmStore(p, c, bias, r, q + 64, c14); GemmStore(p, c, bias, r, q + 80, c15); GemmStore(p, c, bias, r, q + 96, c16); GemmStore(p, c, bias, r, q + 112, c17);
        r = m0 + ty + 32;
        GemmStore(p, c, bias, r, q + 0, c20); GemmStore(p, c, bias, r, q + 16, c21); GemmStore(p, c, bias, r, q + 32, c22); GemmStore(p, c, bias, r, q + 48, c23);
        GemmStore(p, c, bias, r, q + 64, c24); GemmStore(p, c, bias, r, q + 80, c25); GemmStore(p, c, bias, r, q + 96, c26); GemmStore(p, c, bias, r, q + 112, c27);
        r = m0 + ty + 48;
        GemmStore(p, c, bias, r, q + 0, c30); GemmStore(p, c, bias, r, q + 16, c31); GemmStore(p, c, bias, r, q + 32, c32); GemmStore(p, c, bias, r, q + 48, c33);
        GemmStore(p, c, bias, r, q + 64, c34); GemmStore(p, c, bias, r, q + 80, c35); GemmStore(p, c, bias, r, q + 96, c36); GemmStore(p, c, bias, r, q + 112, c37);
        r = m0 + ty + 64;
        GemmStore(p, c, bias, r, q + 0, c40); GemmStore(p, c, bias, r, q + 16, c41); GemmStore(p, c, bias, r, q + 32, c42); GemmStore(p, c, bias, r, q + 48, c43);
        GemmStore(p, c, bias, r, q + 64, c44); GemmStore(p, c, bias, r, q + 80, c45); GemmStore(p, c, bias, r, q + 96, c46); GemmStore(p, c, bias, r, q + 112, c47);
        r = m0 + ty + 80;
        GemmStore(p, c, bias, r, q + 0, c50); GemmStore(p, c, bias, r, q + 16, c51); GemmStore(p, c, bias, r, q + 32, c52); GemmStore(p, c, bias, r, q + 48, c53);
        GemmStore(p, c, bias, r, q + 64, c54); GemmStore(p, c, bias, r, q + 80, c55); GemmStore(p, c, bias, r, q + 96, c56); GemmStore(p, c, bias, r, q + 112, c57);
        r = m0 + ty + 96;
        GemmStore(p, c, bias, r, q + 0, c60); GemmStore(p, c, bias, r, q + 16, c61); GemmStore(p, c, bias, r, q + 32, c62); GemmStore(p, c, bias, r, q + 48, c63);
        GemmStore(p, c, bias, r, q + 64, c64); GemmStore(p, c, bias, r, q + 80, c65); GemmStore(p, c, bias, r, q + 96, c66); GemmStore(p, c, bias, r, q + 112, c67);
        r = m0 + ty + 112;
        GemmStore(p, c, bias, r, q + 0, c70); GemmStore(p, c, bias, r, q + 16, c71); GemmStore(p, c, bias, r, q + 32, c72); GemmStore(p, c, bias, r, q + 48, c73);
        GemmStore(p, c, bias, r, q + 64, c74); GemmStore(p, c, bias, r, q + 80, c75); GemmStore(p, c, bias, r, q + 96, c76); GemmStore(p, c, bias, r, q + 112, c77);
    }
}
