using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using IlgpuGan.Kernels;

namespace IlgpuGan.Tests.Kernels;

public sealed class GemmTests
{
    /// <summary>Naive double-precision reference: C = alpha op(A) op(B) + beta C + bias.</summary>
    private static float[] Reference(GemmShape s, float[] a, float[] b, float[] c, float alpha, float beta, float[]? bias)
    {
        var r = (float[])c.Clone();
        for (int i = 0; i < s.M; i++)
            for (int j = 0; j < s.N; j++)
            {
                double sum = 0;
                for (int k = 0; k < s.K; k++)
                {
                    double x = s.TransA ? a[k * s.Lda + i] : a[i * s.Lda + k];
                    double y = s.TransB ? b[j * s.Ldb + k] : b[k * s.Ldb + j];
                    sum += x * y;
                }
                double v = alpha * sum;
                if (beta != 0)
                    v += beta * (double)c[i * s.Ldc + j];
                if (bias != null)
                    v += bias[j];
                r[i * s.Ldc + j] = (float)v;
            }
        return r;
    }

    private static float[] Random(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    private static int Stored(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;

    /// <summary>Runs one GEMM through <paramref name="kernels"/> and checks it against the reference:
    /// relative L2 error at most <paramref name="tolerance"/>. With <paramref name="roundInputs"/>
    /// the reference multiplies A and B rounded by it (e.g. to TF32), and <paramref name="exactError"/>
    /// receives the error against the unrounded reference. Returns the error.</summary>
    internal static double Check(global::IlgpuGan.Kernels.Kernels kernels, GemmShape s, float alpha, float beta, bool withBias, int seed,
        Func<float, float>? roundInputs = null, double tolerance = 1e-5, Action<double>? exactError = null)
    {
        var rng = new Random(seed);
        var a = Random(rng, Math.Max(1, Stored(s.TransA ? s.K : s.M, s.TransA ? s.M : s.K, s.Lda)));
        var b = Random(rng, Math.Max(1, Stored(s.TransB ? s.N : s.K, s.TransB ? s.K : s.N, s.Ldb)));
        var c = Random(rng, Math.Max(1, Stored(s.M, s.N, s.Ldc)));
        if (beta == 0)
        {
            // C must not be read: fill the output positions with NaN (the gaps of a strided C keep
            // their values, which the reference copies).
            for (int i = 0; i < s.M; i++)
                for (int j = 0; j < s.N; j++)
                    c[i * s.Ldc + j] = float.NaN;
        }
        var bias = withBias ? Random(rng, s.N) : null;
        var expected = roundInputs is null ? Reference(s, a, b, c, alpha, beta, bias)
            : Reference(s, a.Select(roundInputs).ToArray(), b.Select(roundInputs).ToArray(), c, alpha, beta, bias);

        var acc = kernels.Accelerator;
        using var da = acc.Allocate1D(a);
        using var db = acc.Allocate1D(b);
        using var dc = acc.Allocate1D(c);
        using var dbias = acc.Allocate1D<float>(bias?.Length ?? 0);
        if (bias != null)
            dbias.CopyFromCPU(bias);
        kernels.Gemm(s, da.View, db.View, dc.View, alpha, beta, bias != null ? dbias.View : default);
        acc.Synchronize();
        var got = dc.GetAsArray1D();

        double rel = Support.Compare.RelativeError(got, expected.Select(v => (float)v).ToArray());
        Assert.True(rel <= tolerance, $"relative L2 error {rel:E2} > {tolerance:E1} for {s}, alpha={alpha}, beta={beta}, bias={withBias}");
        if (roundInputs is not null && exactError is not null)
            exactError(Support.Compare.RelativeError(got, Reference(s, a, b, c, alpha, beta, bias)));
        return rel;
    }

    internal static GemmShape Strided(int m, int n, int k, bool ta, bool tb, int pad) =>
        new(m, n, k, ta, tb, (ta ? m : k) + pad, (tb ? k : n) + pad + 1, n + pad + 2);

    public static TheoryData<bool, bool> Transposes => new() { { false, false }, { false, true }, { true, false }, { true, true } };

    private static (int M, int N, int K)[] SmallShapes => [(1, 1, 1), (7, 13, 5), (65, 33, 17), (3, 70, 40), (40, 2, 33), (1, 37, 20), (9, 1, 33)];

    /// <summary>Every small shape, dense and strided, with and without alpha/beta/bias.</summary>
    private static void CheckAll(global::IlgpuGan.Kernels.Kernels kernels, bool ta, bool tb)
    {
        int seed = 1;
        foreach (var (m, n, k) in SmallShapes)
        {
            Check(kernels, GemmShape.Dense(m, n, k, ta, tb), 1f, 0f, false, seed++);
            Check(kernels, Strided(m, n, k, ta, tb, 3), 0.5f, 0f, true, seed++);
            Check(kernels, Strided(m, n, k, ta, tb, 1), -1.5f, 0.75f, true, seed++);
            Check(kernels, GemmShape.Dense(m, n, k, ta, tb), 2f, 1f, false, seed++);
        }
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void HostMatchesReference(bool ta, bool tb)
    {
        using var context = Context.Create(b => b.CPU(CPUDevice.Default).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, KernelVariant.Host);
        CheckAll(kernels, ta, tb);
        // Larger than one KC and MC block, odd everywhere, parallel path.
        Check(kernels, GemmShape.Dense(257, 300, 190, ta, tb), 1f, 0f, true, 100);
        Check(kernels, Strided(257, 300, 531, ta, tb, 5), 0.5f, -2f, true, 101);
        Check(kernels, GemmShape.Dense(64, 784, 1024, ta, tb), 1f, 0f, true, 102);
        // Few rows split by columns with op(A) packed once for all items; strided, alpha, beta and bias.
        Check(kernels, Strided(100, 700, 300, ta, tb, 3), 0.5f, -2f, true, 104);
        Check(kernels, GemmShape.Dense(130, 1, 256, ta, tb), 1f, 0f, true, 103);
    }

    [Theory]
    [InlineData(256)]
    [InlineData(0)]
    public void HostFallbacksMatchReference(int simd)
    {
        using var context = Context.Create(b => b.CPU(CPUDevice.Default).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, KernelVariant.Host);
        if (simd == 256 && !System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
            return;
        kernels.HostGemmSimd = simd;
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            CheckAll(kernels, ta, tb);
            Check(kernels, Strided(100, 90, 300, ta, tb, 2), 0.5f, 0.25f, true, 7);
        }
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void GpuKernelMatchesReference(bool ta, bool tb)
    {
        using var context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, KernelVariant.Gpu);
        CheckAll(kernels, ta, tb);
        Check(kernels, Strided(70, 130, 40, ta, tb, 2), 1f, 0.5f, true, 9);
    }

    /// <summary>The ClCpu (barrier-free, register-blocked) kernel on a CPU accelerator, and the
    /// kernels of OpenCL and CUDA when present: every transpose, dense and strided, edge blocks,
    /// and leading dimensions that are multiples of 4 KB (B is copied to a padded scratch).</summary>
    [Theory]
    [MemberData(nameof(DeviceBackends))]
    [Trait("Category", Support.Backends.Category)]
    public void DeviceKernelsMatchReference(string backend)
    {
        var kernels = Support.Backends.Get(backend).Kernels;
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            CheckAll(kernels, ta, tb);
            Check(kernels, Strided(70, 130, 40, ta, tb, 2), 1f, 0.5f, true, 9);
            Check(kernels, GemmShape.Dense(64, 1024, 33, ta, tb), 1f, 0.25f, true, 10);
            Check(kernels, GemmShape.Dense(72, 17, 1024, ta, tb), 1f, 0f, false, 11);
            Check(kernels, GemmShape.Dense(5, 6, 0, ta, tb), 1f, 0.5f, true, 12);
        }
    }

    /// <summary>Every backend but the two CPU ones that the tests above cover.</summary>
    public static TheoryData<string> DeviceBackends()
    {
        var data = new TheoryData<string>();
        foreach (var b in Support.Backends.Names)
            if (b is not ("cpu" or "cpu-gpu-kernels")) data.Add(b);
        return data;
    }

    /// <summary>The 128 x 128 FP32 kernel (forced; the host picks it only for large products) on the
    /// simulated GPU: every small shape, dense and strided, alpha/beta/bias, odd shapes over one and
    /// two tiles and K tails in every transpose form.</summary>
    [Theory]
    [MemberData(nameof(Transposes))]
    public void Gpu128KernelMatchesReference(bool ta, bool tb)
    {
        using var context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, KernelVariant.Gpu) { GpuGemmOverride = GpuGemmKernel.Tile128 };
        CheckAll(kernels, ta, tb);
        Check(kernels, Strided(129, 130, 19, ta, tb, 2), 1f, 0.5f, true, 20);
        Check(kernels, GemmShape.Dense(127, 65, 8, ta, tb), -0.5f, 0f, true, 21);
        Check(kernels, GemmShape.Dense(5, 6, 0, ta, tb), 1f, 0.5f, true, 22);
    }

    /// <summary>The host picks the 64 x 64 tile for small products and the 128 x 128 one when a
    /// product has a 128 x 128 tile for every multiprocessor (both sides over 64).</summary>
    [Fact]
    public void HostPicksTheGpuTileByShape()
    {
        using var context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, KernelVariant.Gpu);
        int sms = accelerator.NumMultiprocessors;
        Assert.Equal(GpuGemmKernel.Tile64, kernels.GpuGemmKernelFor(GemmShape.Dense(64, 4096, 64)));
        Assert.Equal(GpuGemmKernel.Tile64, kernels.GpuGemmKernelFor(GemmShape.Dense(4096, 64, 64)));
        Assert.Equal(GpuGemmKernel.Tile128, kernels.GpuGemmKernelFor(GemmShape.Dense(128, 128 * sms, 64)));
        if (sms > 1)
            Assert.Equal(GpuGemmKernel.Tile64, kernels.GpuGemmKernelFor(GemmShape.Dense(128, 128 * (sms - 1), 64)));
        Assert.Equal(GpuGemmKernel.Tile128, kernels.GpuGemmKernelFor(GemmShape.Dense(4096, 4096, 4096)));
    }

    [Fact]
    public void ZeroKScalesAndAddsBias()
    {
        using var context = Context.Create(b => b.CPU(CPUDevice.Nvidia).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        foreach (var variant in new[] { KernelVariant.Host, KernelVariant.Gpu })
        {
            var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, variant);
            Check(kernels, GemmShape.Dense(5, 6, 0), 1f, 0.5f, true, 3);
            Check(kernels, GemmShape.Dense(5, 6, 0), 1f, 0f, false, 4);
        }
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var context = Context.Create(b => b.CPU(CPUDevice.Default).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, KernelVariant.Host);
        using var buf = accelerator.Allocate1D<float>(12);
        var v = buf.View;
        Assert.Throws<ArgumentException>(() => kernels.Gemm(GemmShape.Dense(4, 4, 4), v, v, v));            // too short
        Assert.Throws<ArgumentException>(() => kernels.Gemm(new GemmShape(2, 2, 3, false, false, 2, 2, 2), v, v, v)); // lda < K
        Assert.Throws<ArgumentException>(() => kernels.Gemm(new GemmShape(2, 2, 2, false, false, 2, 2, 1), v, v, v)); // ldc < N
        Assert.Throws<ArgumentException>(() => kernels.Gemm(GemmShape.Dense(-1, 2, 2), v, v, v));
        Assert.Throws<ArgumentException>(() => kernels.Gemm(GemmShape.Dense(2, 3, 2), v, v, v, bias: v.SubView(0, 2)));
    }
}
