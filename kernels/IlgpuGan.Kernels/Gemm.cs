using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

// TEMPORARY stand-in (naive host loop) with the agreed API; replaced by the gemm branch.
public readonly record struct GemmShape(int M, int N, int K, bool TransA, bool TransB, int Lda, int Ldb, int Ldc)
{
    public static GemmShape Dense(int m, int n, int k, bool transA = false, bool transB = false) =>
        new(m, n, k, transA, transB, transA ? m : k, transB ? k : n, n);
}

public sealed partial class Kernels
{
    public unsafe void Gemm(in GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, float alpha = 1f, float beta = 0f, ArrayView<float> bias = default)
    {
        Accelerator.Synchronize();
        float[] A = a.GetAsArray(), B = b.GetAsArray(), C = c.GetAsArray(), bi = bias.Length > 0 ? bias.GetAsArray() : [];
        for (int i = 0; i < s.M; i++)
            for (int j = 0; j < s.N; j++)
            {
                double acc = 0;
                for (int k = 0; k < s.K; k++)
                    acc += (double)A[s.TransA ? k * s.Lda + i : i * s.Lda + k] * B[s.TransB ? j * s.Ldb + k : k * s.Ldb + j];
                float v = alpha * (float)acc + (bi.Length > 0 ? bi[j] : 0f);
                C[i * s.Ldc + j] = beta == 0f ? v : v + beta * C[i * s.Ldc + j];
            }
        c.CopyFromCPU(C);
    }
}
