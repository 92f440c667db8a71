using IlgpuGan.Kernels;

namespace IlgpuGan;

// The ops conditional GANs add (issue 12): the embedding lookup of class labels (and its adjoint,
// the scatter-add of rows), dropout, and the per-sample helpers the conditional layers are made
// of (a per-(sample, channel) scale and shift for conditional batch norm, the per-sample inner
// product of the projection discriminator, sum pooling).
public static partial class Ops
{
    /// <summary>
    /// y (N, dim) = the rows idx[n] of the table w (num, dim): PyTorch's F.embedding. The indices
    /// (N values; any shape of N elements) are floats holding whole numbers, on the device, and
    /// never receive a gradient; w's gradient adds up the rows of gy whose indices repeat. An index
    /// outside [0, num) gives a row of zeros on the device: check labels before (see
    /// <see cref="CheckLabels"/>). Embedding and <see cref="EmbeddingScatter"/> are each other's
    /// adjoint, so the op differentiates to any order.
    /// </summary>
    public static Tensor Embedding(Tensor idx, Tensor w)
    {
        var d = w.Device;
        if (w.Shape.Rank != 2) throw new ArgumentException($"Embedding: the table must be (num, dim); got {w.Shape}.");
        int num = w.Shape[0], dim = w.Shape[1];
        int n = checked((int)idx.Length);
        var y = d.Empty(new Shape(n, dim));
        d.Kernels.Embedding(idx.View, w.View, y.View, num, dim);
        if (d.Tape.NeedsGrad(w))
            d.Tape.Record("embedding", y, [w], g =>
            {
                if (g.Wants(w))
                {
                    var (gw, beta) = g.Slot(w);
                    d.Kernels.EmbeddingBackward(idx.View, g.GradOf(y), gw, num, dim, beta);
                }
            }, g => g.Accumulate(w, EmbeddingScatter(idx, g.GradTensor(y), num)));
        return y;
    }

    /// <summary>The adjoint of <see cref="Embedding"/>: a (num, dim) table whose row r is the sum
    /// of the rows n of <paramref name="rows"/> (N, dim) with idx[n] = r.</summary>
    public static Tensor EmbeddingScatter(Tensor idx, Tensor rows, int num)
    {
        var d = rows.Device;
        if (rows.Shape.Rank != 2 || rows.Shape[0] != idx.Length)
            throw new ArgumentException($"EmbeddingScatter: {idx.Length} indices for rows {rows.Shape}.");
        int dim = rows.Shape[1];
        var w = d.Empty(new Shape(num, dim));
        d.Kernels.EmbeddingBackward(idx.View, rows.View, w.View, num, dim);
        if (d.Tape.NeedsGrad(rows))
            d.Tape.Record("embedding_scatter", w, [rows], g =>
            {
                var (gr, beta) = g.Slot(rows);
                d.Kernels.Embedding(idx.View, g.GradOf(w), gr, num, dim, beta);
            }, g => g.Accumulate(rows, Embedding(idx, g.GradTensor(w))));
        return w;
    }

    /// <summary>
    /// Dropout (PyTorch's F.dropout): in training, each value is zeroed with probability p and the
    /// rest scaled by 1 / (1 - p), with a mask drawn from the device's counter-based generator (so a
    /// seed and a resumed run give the same masks); outside training, or with p = 0, x itself.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, bool training)
    {
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout: p must be in [0, 1).");
        if (!training || p == 0f) return x;
        var d = x.Device;
        var mask = d.Empty(x.Shape);
        d.Kernels.Uniform(mask.View, d.Random.Next(x.Length), 0f, 1f);
        d.Kernels.DropoutMask(mask.View, mask.View, p);
        return Mul(x, mask);
    }

    /// <summary>y[n, c, ...] = x[n, c, ...] * scale[n, c] + shift[n, c]: x (N, C, ...) with a scale
    /// and a shift per sample and channel (N, C): conditional batch norm's class-dependent affine.</summary>
    public static Tensor AffinePerSampleChannel(Tensor x, Tensor scale, Tensor shift)
    {
        if (x.Shape.Rank < 2) throw new ArgumentException($"AffinePerSampleChannel: x must be (N, C, ...); got {x.Shape}.");
        int n = x.Shape[0], c = x.Shape[1];
        if (scale.Length != (long)n * c || shift.Length != (long)n * c)
            throw new ArgumentException($"AffinePerSampleChannel: x {x.Shape} needs ({n}, {c}) scales and shifts; got {scale.Shape} and {shift.Shape}.");
        var sh = new ChannelShape(1, n * c, checked((int)(x.Length / ((long)n * c))));
        return Add(ScaleChannels(x, scale, sh), BroadcastChannels(shift, sh, x.Shape));
    }

    /// <summary>h (N, C): the sum of x (N, C, H, W) over its pixels (sum pooling).</summary>
    public static Tensor SumPixels(Tensor x)
    {
        if (x.Shape.Rank < 2) throw new ArgumentException($"SumPixels: x must be (N, C, ...); got {x.Shape}.");
        int n = x.Shape[0], c = x.Shape[1];
        var h = SumChannels(x, new ChannelShape(1, n * c, checked((int)(x.Length / ((long)n * c)))));
        return Reshape(h, new Shape(n, c));
    }

    /// <summary>The per-sample inner product of a (N, F) and b (N, F): (N, 1).</summary>
    public static Tensor RowDot(Tensor a, Tensor b)
    {
        if (a.Shape != b.Shape || a.Shape.Rank != 2) throw new ArgumentException($"RowDot: expected two (N, F) tensors of one shape; got {a.Shape} and {b.Shape}.");
        var s = SumChannels(Mul(a, b), new ChannelShape(1, a.Shape[0], a.Shape[1]));
        return Reshape(s, new Shape(a.Shape[0], 1));
    }

    /// <summary>Checks class labels on the host: each a whole number in [0, classes); otherwise an
    /// <see cref="ArgumentException"/> of one line naming the value and its position.</summary>
    public static void CheckLabels(ReadOnlySpan<float> labels, int classes, string what = "label")
    {
        for (int i = 0; i < labels.Length; i++)
        {
            float v = labels[i];
            if (!(v >= 0 && v < classes) || v != MathF.Floor(v))
                throw new ArgumentException(
                    $"{what} {v.ToString(System.Globalization.CultureInfo.InvariantCulture)} (at {i}) is outside [0, {classes}): this model has {classes} classes (0 to {classes - 1}).");
        }
    }
}
