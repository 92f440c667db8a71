using IlgpuGan.Kernels;

namespace IlgpuGan;

/// <summary>
/// The differentiable ops. Each runs its forward kernel on the inputs' device and, when an input
/// needs a gradient and the tape is recording, records its backward right beside it. Gradients
/// are written into the inputs' grad slots with beta 0 (first write) or 1 (accumulate), so no
/// pass ever zero-fills a gradient.
/// </summary>
public static partial class Ops
{
    /// <summary>y (N, out) = x (N, in) w^T + b; x may be (N, ...) with in = the product of the rest.</summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? b)
    {
        var d = x.Device;
        var (n, inF) = x.Shape.AsMatrix();
        int outF = w.Shape[0];
        if (w.Shape.Rank != 2 || w.Shape[1] != inF)
            throw new ArgumentException($"Linear: input {x.Shape} has {inF} features per sample but the weight is {w.Shape} (out, in).");
        if (b != null && b.Length != outF)
            throw new ArgumentException($"Linear: bias {b.Shape} does not match {outF} outputs.");
        var y = d.Empty(new Shape(n, outF));
        d.Kernels.Gemm(GemmShape.Dense(n, outF, inF, transB: true), x.View, w.View, y.View, 1f, 0f, b?.View ?? default);
        if (d.Tape.NeedsGrad(x, w, b))
            d.Tape.Record(y, () =>
            {
                var gy = y.Grad!.View;
                if (x.RequiresGrad)     // gx (N, in) = gy (N, out) w (out, in)
                {
                    var (gx, beta) = x.GradSlot();
                    d.Kernels.Gemm(GemmShape.Dense(n, inF, outF), gy, w.View, gx, 1f, beta);
                }
                if (w.RequiresGrad)     // gw (out, in) = gy^T (out, N) x (N, in)
                {
                    var (gw, beta) = w.GradSlot();
                    d.Kernels.Gemm(GemmShape.Dense(outF, inF, n, transA: true), gy, x.View, gw, 1f, beta);
                }
                if (b?.RequiresGrad == true)
                {
                    var (gb, beta) = b.GradSlot();
                    d.Kernels.ChannelSum(new ChannelShape(n, outF, 1), gy, gb, beta);
                }
            });
        return y;
    }

    /// <summary>
    /// 2-D convolution, NCHW: x (N, Ci, H, W), w (Co, Ci, kh, kw), optional bias (Co), the same stride
    /// and padding on both axes, dilation 1 -> y (N, Co, (H + 2p - kh) / s + 1, ...).
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? b, int stride = 1, int padding = 0)
    {
        var d = x.Device;
        if (x.Shape.Rank != 4 || w.Shape.Rank != 4 || w.Shape[1] != x.Shape[1])
            throw new ArgumentException($"Conv2d: expected x (N, C, H, W) and weight (out, C, kh, kw) with the same C; got x {x.Shape} and weight {w.Shape}.");
        var s = ConvShape.Conv(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], w.Shape[0], w.Shape[2], w.Shape[3], stride, padding);
        RequireBias(b, s.Co, nameof(Conv2d));
        var y = d.Empty(new Shape(s.N, s.Co, s.Ho, s.Wo));
        d.Kernels.ConvForward(s, x.View, w.View, y.View, b?.View ?? default);
        if (d.Tape.NeedsGrad(x, w, b))
            d.Tape.Record(y, () =>
            {
                var gy = y.Grad!.View;
                if (x.RequiresGrad) { var (gx, beta) = x.GradSlot(); d.Kernels.ConvBackwardData(s, gy, w.View, gx, default, beta); }
                if (w.RequiresGrad) { var (gw, beta) = w.GradSlot(); d.Kernels.ConvBackwardWeight(s, x.View, gy, gw, beta); }
                if (b?.RequiresGrad == true) { var (gb, beta) = b.GradSlot(); d.Kernels.ChannelSum(new ChannelShape(s.N, s.Co, s.OutPixels), gy, gb, beta); }
            });
        return y;
    }

    /// <summary>
    /// Transposed 2-D convolution (the adjoint of Conv2d), NCHW: x (N, Cin, H, W), w (Cin, Cout, kh, kw),
    /// optional bias (Cout) -> y (N, Cout, (H - 1) s - 2p + kh + outputPadding, ...).
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor w, Tensor? b, int stride = 1, int padding = 0, int outputPadding = 0)
    {
        var d = x.Device;
        if (x.Shape.Rank != 4 || w.Shape.Rank != 4 || w.Shape[0] != x.Shape[1])
            throw new ArgumentException($"ConvTranspose2d: expected x (N, C, H, W) and weight (C, out, kh, kw) with the same C; got x {x.Shape} and weight {w.Shape}.");
        // s is the convolution this one transposes: its input is our output, its output our input.
        var s = ConvShape.Transposed(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], w.Shape[1], w.Shape[2], w.Shape[3], stride, padding, outputPadding);
        RequireBias(b, s.Ci, nameof(ConvTranspose2d));
        var y = d.Empty(new Shape(s.N, s.Ci, s.Hi, s.Wi));
        d.Kernels.ConvBackwardData(s, x.View, w.View, y.View, b?.View ?? default);
        if (d.Tape.NeedsGrad(x, w, b))
            d.Tape.Record(y, () =>
            {
                var gy = y.Grad!.View;
                if (x.RequiresGrad) { var (gx, beta) = x.GradSlot(); d.Kernels.ConvForward(s, gy, w.View, gx, default, beta); }
                if (w.RequiresGrad) { var (gw, beta) = w.GradSlot(); d.Kernels.ConvBackwardWeight(s, gy, x.View, gw, beta); }
                if (b?.RequiresGrad == true) { var (gb, beta) = b.GradSlot(); d.Kernels.ChannelSum(new ChannelShape(s.N, s.Ci, s.InPixels), gy, gb, beta); }
            });
        return y;
    }

    private static void RequireBias(Tensor? b, int channels, string op)
    {
        if (b != null && b.Length != channels)
            throw new ArgumentException($"{op}: bias {b.Shape} does not match {channels} output channels.");
    }

    /// <summary>y = f(x) elementwise; LeakyRelu uses <paramref name="slope"/>.</summary>
    public static Tensor Activate(Tensor x, Activation f, float slope = 0f)
    {
        var d = x.Device;
        var y = d.Empty(x.Shape);
        d.Kernels.Activate(f, slope, x.View, y.View);
        if (d.Tape.NeedsGrad(x))
            d.Tape.Record(y, () =>
            {
                var (gx, beta) = x.GradSlot();
                d.Kernels.ActivateBackward(f, slope, y.View, y.Grad!.View, gx, beta);
            });
        return y;
    }

    public static Tensor Relu(Tensor x) => Activate(x, Activation.Relu);
    public static Tensor LeakyRelu(Tensor x, float slope = 0.01f) => Activate(x, Activation.LeakyRelu, slope);
    public static Tensor Tanh(Tensor x) => Activate(x, Activation.Tanh);
    public static Tensor Sigmoid(Tensor x) => Activate(x, Activation.Sigmoid);

    /// <summary>
    /// Batch norm over (N, C) or (N, C, H, W). Training: batch statistics (biased variance), and
    /// the running statistics move by momentum. Eval: the running statistics (no backward).
    /// </summary>
    public static Tensor BatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, bool training, BatchNormArgs args)
    {
        var d = x.Device;
        if (x.Shape.Rank is not (2 or 4))
            throw new ArgumentException($"BatchNorm: expected (N, C) or (N, C, H, W); got {x.Shape}.");
        var sh = new ChannelShape(x.Shape[0], x.Shape[1], x.Shape.Rank == 4 ? x.Shape[2] * x.Shape[3] : 1);
        if (gamma.Length != sh.C)
            throw new ArgumentException($"BatchNorm: input {x.Shape} has {sh.C} channels but the layer has {gamma.Length}.");
        if (training && sh.Count < 2)
            throw new ArgumentException($"BatchNorm: training needs more than one value per channel; got input {x.Shape}.");
        var y = d.Empty(x.Shape);
        if (!training)
        {
            if (d.Tape.NeedsGrad(x, gamma, beta))
                throw new NotSupportedException("BatchNorm: back-propagation in eval mode is not supported; run it under NoGrad().");
            d.Kernels.BatchNormForwardEval(sh, new BatchNormViews(x.View, y.View, gamma.View, beta.View, runningMean.View, runningVar.View, default, default), args);
            return y;
        }
        var mean = d.Empty(new Shape(sh.C));
        var invStd = d.Empty(new Shape(sh.C));
        d.Kernels.BatchNormForwardTraining(sh, new BatchNormViews(x.View, y.View, gamma.View, beta.View, runningMean.View, runningVar.View, mean.View, invStd.View), args);
        if (d.Tape.NeedsGrad(x, gamma, beta))
            d.Tape.Record(y, () =>
            {
                // The kernel produces all three gradients; those nobody wants go to scratch.
                var (gx, betaX) = x.RequiresGrad ? x.GradSlot() : (d.Empty(x.Shape).View, 0f);
                var (gg, betaG) = gamma.RequiresGrad ? gamma.GradSlot() : (d.Empty(gamma.Shape).View, 0f);
                var (gb, betaB) = beta.RequiresGrad ? beta.GradSlot() : (d.Empty(beta.Shape).View, betaG);
                if (betaG != betaB)
                    throw new InvalidOperationException("BatchNorm: gamma and beta must be zeroed together (ZeroGrad on the module).");
                d.Kernels.BatchNormBackward(sh, new BatchNormGrads(x.View, y.Grad!.View, gx, gamma.View, mean.View, invStd.View, gg, gb), betaX, betaG);
            });
        return y;
    }

    /// <summary>Binary cross-entropy on logits, mean over all elements; a scalar (shape (1)).</summary>
    public static Tensor BceWithLogits(Tensor logits, Tensor target)
    {
        var d = logits.Device;
        if (logits.Length != target.Length)
            throw new ArgumentException($"BceWithLogits: logits {logits.Shape} and target {target.Shape} differ in size.");
        var loss = d.Empty(new Shape(1));
        d.Kernels.BceWithLogits(logits.View, target.View, loss.View);
        if (d.Tape.NeedsGrad(logits))
            d.Tape.Record(loss, () =>
            {
                var (gx, beta) = logits.GradSlot();
                d.Kernels.BceWithLogitsBackward(logits.View, target.View, loss.Grad!.View, gx, beta);
            });
        return loss;
    }

    /// <summary>scale * the sum of all elements; a scalar.</summary>
    public static Tensor Sum(Tensor x, float scale = 1f)
    {
        var d = x.Device;
        var s = d.Empty(new Shape(1));
        d.Kernels.Sum(x.View, s.View, scale);
        if (d.Tape.NeedsGrad(x))
            d.Tape.Record(s, () =>
            {
                var (gx, beta) = x.GradSlot();
                d.Kernels.BroadcastScalar(s.Grad!.View, gx, scale, beta);
            });
        return s;
    }

    public static Tensor Mean(Tensor x) => Sum(x, 1f / x.Length);

    /// <summary>a*x + b*y for two tensors of one shape (Add: 1, 1; Sub: 1, -1).</summary>
    public static Tensor Combine(Tensor x, float a, Tensor y, float b)
    {
        var d = x.Device;
        RequireSameShape(x, y, nameof(Combine));
        var z = d.Empty(x.Shape);
        d.Kernels.Copy(y.View, z.View);
        d.Kernels.Axpby(x.View, z.View, a, b);
        if (d.Tape.NeedsGrad(x, y))
            d.Tape.Record(z, () =>
            {
                var gz = z.Grad!.View;
                if (x.RequiresGrad) { var (gx, beta) = x.GradSlot(); d.Kernels.Axpby(gz, gx, a, beta); }
                if (y.RequiresGrad) { var (gy, beta) = y.GradSlot(); d.Kernels.Axpby(gz, gy, b, beta); }
            });
        return z;
    }

    public static Tensor Add(Tensor x, Tensor y) => Combine(x, 1f, y, 1f);
    public static Tensor Sub(Tensor x, Tensor y) => Combine(x, 1f, y, -1f);

    public static Tensor Scale(Tensor x, float s)
    {
        var d = x.Device;
        var y = d.Empty(x.Shape);
        d.Kernels.Axpby(x.View, y.View, s, 0f);
        if (d.Tape.NeedsGrad(x))
            d.Tape.Record(y, () => { var (gx, beta) = x.GradSlot(); d.Kernels.Axpby(y.Grad!.View, gx, s, beta); });
        return y;
    }

    /// <summary>Elementwise product.</summary>
    public static Tensor Mul(Tensor x, Tensor y)
    {
        var d = x.Device;
        RequireSameShape(x, y, nameof(Mul));
        var z = d.Empty(x.Shape);
        d.Kernels.Binary(BinaryOp.Mul, x.View, y.View, z.View);
        if (d.Tape.NeedsGrad(x, y))
            d.Tape.Record(z, () =>
            {
                var gz = z.Grad!.View;
                if (x.RequiresGrad) { var (gx, beta) = x.GradSlot(); d.Kernels.Binary(BinaryOp.Mul, gz, y.View, gx, beta); }
                if (y.RequiresGrad) { var (gy, beta) = y.GradSlot(); d.Kernels.Binary(BinaryOp.Mul, gz, x.View, gy, beta); }
            });
        return z;
    }

    /// <summary>The same values under another shape of the same length; gradients flow through.</summary>
    public static Tensor Reshape(Tensor x, Shape shape)
    {
        var d = x.Device;
        if (shape.Length != x.Length) throw new ArgumentException($"Reshape: cannot view {x.Shape} as {shape}.");
        var y = new Tensor(d, shape, x.View, persistent: false);   // a step-lived view: its gradient is step memory
        if (d.Tape.NeedsGrad(x))
            d.Tape.Record(y, () => { var (gx, beta) = x.GradSlot(); d.Kernels.Axpby(y.Grad!.View, gx, 1f, beta); });
        return y;
    }

    private static void RequireSameShape(Tensor x, Tensor y, string op)
    {
        if (x.Shape != y.Shape) throw new ArgumentException($"{op}: shapes {x.Shape} and {y.Shape} differ.");
    }
}
