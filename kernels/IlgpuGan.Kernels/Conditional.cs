using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>The parameters of the embedding kernels: a table of <c>Num</c> rows of <c>Dim</c>
/// floats, <c>N</c> indices, and the beta of the gradient write (ints and floats only: ILGPU kernel
/// arguments must be blittable).</summary>
public readonly record struct EmbeddingArgs(int Num, int Dim, int N, float Beta);

// What conditional GANs add: the embedding lookup (y[n, :] = w[idx[n], :]) and its adjoint, the
// scatter-add of rows into the table's gradient (repeated indices add up), and dropout's mask.
// Indices are floats holding whole numbers (as the reference cases store them). An index outside
// [0, Num) reads a row of zeros and adds to no row: the ops never touch memory outside the table;
// the callers (Ops.Embedding's users, the data loaders, TrainedGenerator) check labels on the host
// before they reach the device. Every op has a host loop and a barrier-free grid-stride ILGPU
// kernel (one work-item per output element), shared by the GPU-style and OpenCL-CPU variants: the
// backward makes each element of the table's gradient sum its own rows in index order, so it
// needs no atomics and gives the same sums on every backend.
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, EmbeddingArgs>? embedding, embeddingBackward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, UnaryArgs>? dropoutMask, labelsFromUniform;

    /// <summary>Class labels from uniform numbers u in [0, 1): y = min(floor(u * classes), classes - 1),
    /// each class equally likely (a conditional GAN's labels for its fakes, drawn on the device).</summary>
    public void LabelsFromUniform(ArrayView<float> u, ArrayView<float> y, int classes)
    {
        Check.SameLength(u, y, nameof(LabelsFromUniform));
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "At least one class.");
        var a = new UnaryArgs(UnaryOp.Affine, Activation.Identity, classes, 0f, 0f);
        if (IsHost)
        {
            var pu = HostMemory.Span(u);
            var py = HostMemory.Span(y);
            for (int i = 0; i < py.Length; i++) py[i] = Label(pu[i], a.P);
            return;
        }
        (labelsFromUniform ??= Load<ArrayView<float>, ArrayView<float>, UnaryArgs>(LabelsFromUniformKernel))(Stride(y.Length), u, y, a);
    }

    private static float Label(float u, float classes) => XMath.Min(XMath.Floor(u * classes), classes - 1f);

    private static void LabelsFromUniformKernel(ArrayView<float> u, ArrayView<float> y, UnaryArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride) y[i] = Label(u[i], a.P);
    }

    /// <summary>y (N, Dim) = beta*y + the rows idx[n] of w (Num, Dim).</summary>
    public void Embedding(ArrayView<float> idx, ArrayView<float> w, ArrayView<float> y, int num, int dim, float beta = 0f)
    {
        var a = Args(idx, w, y, num, dim, beta, nameof(Embedding));
        if (a.N == 0 || dim == 0) return;
        if (IsHost) { HostEmbedding(idx, w, y, a); return; }
        (embedding ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, EmbeddingArgs>(EmbeddingKernel))(Stride(y.Length), idx, w, y, a);
    }

    /// <summary>gw (Num, Dim) = beta*gw + sum over n with idx[n] = r of gy[n, :], row by row: the
    /// embedding's backward (and the adjoint of <see cref="Embedding"/>).</summary>
    public void EmbeddingBackward(ArrayView<float> idx, ArrayView<float> gy, ArrayView<float> gw, int num, int dim, float beta = 0f)
    {
        var a = Args(idx, gw, gy, num, dim, beta, nameof(EmbeddingBackward));
        if (num == 0 || dim == 0) return;
        if (IsHost) { HostEmbeddingBackward(idx, gy, gw, a); return; }
        (embeddingBackward ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, EmbeddingArgs>(EmbeddingBackwardKernel))(
            Stride(gw.Length), idx, gy, gw, a);
    }

    /// <summary>Dropout's mask from uniform numbers u in [0, 1): y = scale where u &gt;= p, else 0
    /// (scale = 1 / (1 - p), so that the expected value of x * mask is x).</summary>
    public void DropoutMask(ArrayView<float> u, ArrayView<float> y, float p)
    {
        Check.SameLength(u, y, nameof(DropoutMask));
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "The dropout probability must be in [0, 1).");
        var a = new UnaryArgs(UnaryOp.Affine, Activation.Identity, p, 1f / (1f - p), 0f);
        if (IsHost)
        {
            var pu = HostMemory.Span(u);
            var py = HostMemory.Span(y);
            for (int i = 0; i < py.Length; i++) py[i] = pu[i] >= p ? a.Q : 0f;
            return;
        }
        (dropoutMask ??= Load<ArrayView<float>, ArrayView<float>, UnaryArgs>(DropoutMaskKernel))(Stride(y.Length), u, y, a);
    }

    private static EmbeddingArgs Args(ArrayView<float> idx, ArrayView<float> w, ArrayView<float> y, int num, int dim, float beta, string op)
    {
        if (num < 0 || dim < 0) throw new ArgumentException($"{op}: a table of {num} x {dim}.");
        Check.Length(w, (long)num * dim, op, "the table");
        Check.Length(y, idx.Length * dim, op, "the rows");
        return new EmbeddingArgs(num, dim, checked((int)idx.Length), beta);
    }

    /// <summary>The row an index stored as a float names, or -1 when it is outside [0, num).</summary>
    private static int Row(float v, int num)
    {
        float r = XMath.Floor(v + 0.5f);
        return r >= 0f && r < num ? (int)r : -1;
    }

    // ---- host ----------------------------------------------------------------------------------

    private unsafe void HostEmbedding(ArrayView<float> idx, ArrayView<float> w, ArrayView<float> y, EmbeddingArgs a)
    {
        float* pi = HostMemory.Ptr(idx), pw = HostMemory.Ptr(w), py = HostMemory.Ptr(y);
        HostForItems(a.N, a.Dim, (from, to) =>
        {
            for (int n = from; n < to; n++)
            {
                int r = Row(pi[n], a.Num);
                float* dst = py + (long)n * a.Dim;
                for (int c = 0; c < a.Dim; c++) dst[c] = Blend(a.Beta, dst[c], r < 0 ? 0f : pw[(long)r * a.Dim + c]);
            }
        });
    }

    private unsafe void HostEmbeddingBackward(ArrayView<float> idx, ArrayView<float> gy, ArrayView<float> gw, EmbeddingArgs a)
    {
        float* pi = HostMemory.Ptr(idx), pg = HostMemory.Ptr(gy), po = HostMemory.Ptr(gw);
        // Each part owns a range of the table's rows and scans all indices in order, summing each
        // row's gradients before blending them in: the same sums, in the same order, as the kernel.
        HostForItems(a.Num, (long)a.N * a.Dim, (from, to) =>
        {
            var sums = new float[(to - from) * a.Dim];
            for (int n = 0; n < a.N; n++)
            {
                int r = Row(pi[n], a.Num);
                if (r < from || r >= to) continue;
                float* src = pg + (long)n * a.Dim;
                int o = (r - from) * a.Dim;
                for (int c = 0; c < a.Dim; c++) sums[o + c] += src[c];
            }
            float* dst = po + (long)from * a.Dim;
            for (int i = 0; i < sums.Length; i++) dst[i] = a.Beta == 0f ? sums[i] : a.Beta * dst[i] + sums[i];
        });
    }

    // ---- ILGPU kernels (grid-stride, no barriers) ---------------------------------------------

    private static void EmbeddingKernel(ArrayView<float> idx, ArrayView<float> w, ArrayView<float> y, EmbeddingArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride)
        {
            int n = i / a.Dim, c = i - n * a.Dim;
            int r = Row(idx[n], a.Num);
            y[i] = Blend(a.Beta, a.Beta == 0f ? 0f : y[i], r < 0 ? 0f : w[r * a.Dim + c]);
        }
    }

    private static void EmbeddingBackwardKernel(ArrayView<float> idx, ArrayView<float> gy, ArrayView<float> gw, EmbeddingArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < gw.Length; i += GridStride)
        {
            int r = i / a.Dim, c = i - r * a.Dim;
            float s = 0f;
            for (int n = 0; n < a.N; n++)
                if (Row(idx[n], a.Num) == r) s += gy[n * a.Dim + c];
            gw[i] = a.Beta == 0f ? s : a.Beta * gw[i] + s;
        }
    }

    private static void DropoutMaskKernel(ArrayView<float> u, ArrayView<float> y, UnaryArgs a)
    {
        for (int i = Grid.GlobalIndex.X; i < y.Length; i += GridStride) y[i] = u[i] >= a.P ? a.Q : 0f;
    }
}
