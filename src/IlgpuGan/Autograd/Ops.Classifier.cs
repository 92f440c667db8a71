using IlgpuGan.Kernels;

namespace IlgpuGan;

// The ops a classifier needs (issue 13): max and average pooling and the cross-entropy loss.
// First-order only: no graph form is recorded, so a second derivative through them is not available.
public static partial class Ops
{
    /// <summary>Max pooling of x (N, C, H, W) with a square window: y (N, C, (H + 2p - k) / s + 1, ...);
    /// <paramref name="stride"/> defaults to the kernel size, as PyTorch's.</summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int? stride = null, int padding = 0) =>
        Pool2d(PoolKind.Max, x, kernel, stride ?? kernel, padding, nameof(MaxPool2d));

    /// <summary>Average pooling (padded pixels count as zeros, divisor k^2, as PyTorch's defaults).</summary>
    public static Tensor AvgPool2d(Tensor x, int kernel, int? stride = null, int padding = 0) =>
        Pool2d(PoolKind.Average, x, kernel, stride ?? kernel, padding, nameof(AvgPool2d));

    private static Tensor Pool2d(PoolKind kind, Tensor x, int kernel, int stride, int padding, string op)
    {
        var d = x.Device;
        if (x.Shape.Rank != 4) throw new ArgumentException($"{op}: expected x (N, C, H, W); got {x.Shape}.");
        PoolShape s;
        try { s = PoolShape.Create(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], kernel, stride, padding); }
        catch (ArgumentException e) { throw new ArgumentException($"{op} on {x.Shape}: {e.Message}"); }
        var y = d.Empty(new Shape(s.N, s.C, s.Ho, s.Wo));
        d.Kernels.Pool2d(kind, s, x.View, y.View);
        if (d.Tape.NeedsGrad(x))
            d.Tape.Record(kind == PoolKind.Max ? "max_pool2d" : "avg_pool2d", y, [x], g =>
            {
                var (gx, beta) = g.Slot(x);
                d.Kernels.Pool2dBackward(kind, s, x.View, g.GradOf(y), gx, beta);
            });
        return y;
    }

    /// <summary>
    /// Cross-entropy of logits (N, C) against class indices (N values 0 .. C-1 held as floats), mean
    /// over the batch: a scalar (shape (1)). Stable for logits of any size.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor target)
    {
        var d = logits.Device;
        if (logits.Shape.Rank != 2)
            throw new ArgumentException($"CrossEntropy: expected logits (N, C); got {logits.Shape}.");
        var (n, classes) = (logits.Shape[0], logits.Shape[1]);
        if (target.Length != n)
            throw new ArgumentException($"CrossEntropy: logits {logits.Shape} need {n} class indices; the target is {target.Shape}.");
        var rows = d.Empty(new Shape(n));
        d.Kernels.CrossEntropyRows(logits.View, target.View, rows.View, classes);
        var loss = d.Empty(new Shape(1));
        d.Kernels.Sum(rows.View, loss.View, 1f / n);
        if (d.Tape.NeedsGrad(logits))
            d.Tape.Record("cross_entropy", loss, [logits], g =>
            {
                var (gx, beta) = g.Slot(logits);
                d.Kernels.CrossEntropyBackward(logits.View, target.View, g.GradOf(loss), gx, classes, beta);
            });
        return loss;
    }
}
