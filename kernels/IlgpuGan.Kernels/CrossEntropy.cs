using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

// Cross-entropy of logits against class indices (PyTorch's F.cross_entropy, reduction mean), in
// the stable form l_i = logsumexp(x_i) - x_i[t_i] = log sum_c e^(x_ic - max_i) + max_i - x_i[t_i]
// (finite for logits of any size, e.g. 80), and its gradient
//   dl/dx_ic = (softmax(x_i)_c - [c == t_i]) / N.
// Targets are float32 holding whole numbers 0 .. C-1 (as the reference cases store them); a target
// outside that range is a caller's error that the kernels do not check. The forward writes each
// row's loss (one work-item per row, no barriers: the ClCpu variant shares the kernel), and the
// caller sums them (Kernels.Sum, scale 1/N) so that the mean lands in a device scalar; the
// backward reads the upstream gradient from a device scalar too.
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? crossEntropyRows;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>? crossEntropyBackward;

    /// <summary>rowLoss[i] = logsumexp(x[i, :]) - x[i, target[i]] for x (N, C).</summary>
    public void CrossEntropyRows(ArrayView<float> x, ArrayView<float> target, ArrayView<float> rowLoss, int classes)
    {
        long n = target.Length;
        Check.Length(x, n * classes, nameof(CrossEntropyRows), "x");
        Check.Length(rowLoss, n, nameof(CrossEntropyRows), "rowLoss");
        if (IsHost)
        {
            unsafe
            {
                float* px = HostMemory.Ptr(x), pt = HostMemory.Ptr(target), pl = HostMemory.Ptr(rowLoss);
                HostForItems((int)n, 4L * classes, (from, to) =>
                {
                    for (int i = from; i < to; i++) pl[i] = (float)HostRowLoss(new ReadOnlySpan<float>(px + (long)i * classes, classes), (int)pt[i]);
                });
            }
            return;
        }
        (crossEntropyRows ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(CrossEntropyRowsKernel))(
            Stride(n), x, target, rowLoss, classes);
    }

    /// <summary>gx[i, c] = beta*gx[i, c] + gloss[0] * (softmax(x[i])_c - [c == target[i]]) / N.</summary>
    public void CrossEntropyBackward(ArrayView<float> x, ArrayView<float> target, ArrayView<float> gloss, ArrayView<float> gx, int classes, float beta = 0f)
    {
        long n = target.Length;
        Check.Length(x, n * classes, nameof(CrossEntropyBackward), "x");
        Check.SameLength(x, gx, nameof(CrossEntropyBackward));
        Check.Length(gloss, 1, nameof(CrossEntropyBackward), "gloss");
        if (IsHost)
        {
            unsafe
            {
                float* px = HostMemory.Ptr(x), pt = HostMemory.Ptr(target), pg = HostMemory.Ptr(gx);
                float k = HostMemory.Span(gloss)[0] / n;
                HostForItems((int)n, 4L * classes, (from, to) =>
                {
                    for (int i = from; i < to; i++)
                    {
                        var row = new ReadOnlySpan<float>(px + (long)i * classes, classes);
                        var g = new Span<float>(pg + (long)i * classes, classes);
                        float max = float.NegativeInfinity;
                        foreach (float v in row) max = Math.Max(max, v);
                        double sum = 0;
                        foreach (float v in row) sum += Math.Exp(v - max);
                        int t = (int)pt[i];
                        for (int c = 0; c < classes; c++)
                        {
                            float d = (float)(Math.Exp(row[c] - max) / sum) - (c == t ? 1f : 0f);
                            g[c] = (beta == 0f ? 0f : beta * g[c]) + k * d;
                        }
                    }
                });
            }
            return;
        }
        (crossEntropyBackward ??= Load<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(CrossEntropyBackwardKernel))(
            Stride(n), x, target, gloss, gx, classes, beta);
    }

    private static double HostRowLoss(ReadOnlySpan<float> row, int t)
    {
        float max = float.NegativeInfinity;
        foreach (float v in row) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in row) sum += Math.Exp(v - max);
        return Math.Log(sum) + max - row[t];
    }

    private static void CrossEntropyRowsKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> rowLoss, int classes)
    {
        for (long i = Grid.GlobalIndex.X; i < rowLoss.Length; i += GridStride)
        {
            long at = i * classes;
            float max = x[at];
            for (int c = 1; c < classes; c++) max = XMath.Max(max, x[at + c]);
            float sum = 0f;
            for (int c = 0; c < classes; c++) sum += XMath.Exp(x[at + c] - max);
            rowLoss[i] = XMath.Log(sum) + max - x[at + (int)target[i]];
        }
    }

    private static void CrossEntropyBackwardKernel(ArrayView<float> x, ArrayView<float> target, ArrayView<float> gloss, ArrayView<float> gx, int classes, float beta)
    {
        long n = target.Length;
        float k = gloss[0] / n;
        for (long i = Grid.GlobalIndex.X; i < n; i += GridStride)
        {
            long at = i * classes;
            float max = x[at];
            for (int c = 1; c < classes; c++) max = XMath.Max(max, x[at + c]);
            float sum = 0f;
            for (int c = 0; c < classes; c++) sum += XMath.Exp(x[at + c] - max);
            int t = (int)target[i];
            float inv = 1f / sum;
            for (int c = 0; c < classes; c++)
            {
                float d = XMath.Exp(x[at + c] - max) * inv - (c == t ? 1f : 0f);
                gx[at + c] = (beta == 0f ? 0f : beta * gx[at + c]) + k * d;
            }
        }
    }
}
