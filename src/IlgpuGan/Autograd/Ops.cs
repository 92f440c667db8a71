using IlgpuGan.Autograd;
using IlgpuGan.Kernels;

namespace IlgpuGan;

/// <summary>
/// The differentiable ops. Each runs its forward kernel on the inputs' device and, when an input
/// needs a gradient and the tape is recording, records its backward right beside it in two forms
/// (<see cref="Tape"/>): raw kernels that write into the pass's gradient slots with beta 0 (first
/// write) or 1 (accumulate), so no pass ever zero-fills a gradient; and, where the op has a second
/// derivative, the same gradients built from ops (for double backward). This file holds the layers'
/// ops (linear, convolutions, activations, batch norm, the BCE loss) and the arithmetic;
/// Ops.Pointwise.cs holds the pointwise maps, the per-sample and per-channel ops and layer norm.
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
            d.Tape.Record("linear", y, [x, w, b], g =>
            {
                var gy = g.GradOf(y);
                if (g.Wants(x))     // gx (N, in) = gy (N, out) w (out, in)
                {
                    var (gx, beta) = g.Slot(x);
                    d.Kernels.Gemm(GemmShape.Dense(n, inF, outF), gy, w.View, gx, 1f, beta);
                }
                if (g.Wants(w))     // gw (out, in) = gy^T (out, N) x (N, in)
                {
                    var (gw, beta) = g.Slot(w);
                    d.Kernels.Gemm(GemmShape.Dense(outF, inF, n, transA: true), gy, x.View, gw, 1f, beta);
                }
                if (b != null && g.Wants(b))
                {
                    var (gb, beta) = g.Slot(b);
                    d.Kernels.ChannelSum(new ChannelShape(n, outF, 1), gy, gb, beta);
                }
            }, g =>
            {
                var gy = g.GradTensor(y);
                if (g.Wants(x)) g.Accumulate(x, MatMul(gy, w));
                if (g.Wants(w)) g.Accumulate(w, MatMul(gy, x.Shape.Rank == 2 ? x : Reshape(x, new Shape(n, inF)), transA: true));
                if (b != null && g.Wants(b)) g.Accumulate(b, SumChannels(gy, new ChannelShape(n, outF, 1)));
            });
        return y;
    }

    /// <summary>
    /// The matrix product op(a) op(b) of two rank-2 tensors (op: transposed or not). Linear's
    /// double backward is made of it; its own backward is made of it again, so it differentiates
    /// to any order.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        var d = a.Device;
        if (a.Shape.Rank != 2 || b.Shape.Rank != 2)
            throw new ArgumentException($"MatMul: expected two matrices; got {a.Shape} and {b.Shape}.");
        int m = transA ? a.Shape[1] : a.Shape[0], k = transA ? a.Shape[0] : a.Shape[1];
        int kb = transB ? b.Shape[1] : b.Shape[0], n = transB ? b.Shape[0] : b.Shape[1];
        if (k != kb)
            throw new ArgumentException($"MatMul: op(a) is {m}x{k} but op(b) is {kb}x{n} (a {a.Shape}, b {b.Shape}, transA {transA}, transB {transB}).");
        var c = d.Empty(new Shape(m, n));
        d.Kernels.Gemm(GemmShape.Dense(m, n, k, transA, transB), a.View, b.View, c.View);
        if (d.Tape.NeedsGrad(a, b))
            d.Tape.Record("matmul", c, [a, b], g =>
            {
                var gc = g.GradOf(c);
                if (g.Wants(a))
                {
                    var (ga, beta) = g.Slot(a);
                    if (!transA) d.Kernels.Gemm(GemmShape.Dense(m, k, n, false, !transB), gc, b.View, ga, 1f, beta);   // gc op(b)^T
                    else d.Kernels.Gemm(GemmShape.Dense(k, m, n, transB, true), b.View, gc, ga, 1f, beta);            // op(b) gc^T
                }
                if (g.Wants(b))
                {
                    var (gb, beta) = g.Slot(b);
                    if (!transB) d.Kernels.Gemm(GemmShape.Dense(k, n, m, !transA, false), a.View, gc, gb, 1f, beta);  // op(a)^T gc
                    else d.Kernels.Gemm(GemmShape.Dense(n, k, m, true, transA), gc, a.View, gb, 1f, beta);            // gc^T op(a)
                }
            }, g =>
            {
                var gc = g.GradTensor(c);
                if (g.Wants(a)) g.Accumulate(a, !transA ? MatMul(gc, b, false, !transB) : MatMul(b, gc, transB, true));
                if (g.Wants(b)) g.Accumulate(b, !transB ? MatMul(a, gc, !transA, false) : MatMul(gc, a, true, transA));
            });
        return c;
    }

    /// <summary>
    /// 2-D convolution, NCHW: x (N, Ci, H, W), w (Co, Ci, kh, kw), optional bias (Co), the same stride
    /// and padding on both axes, dilation 1 -> y (N, Co, (H + 2p - kh) / s + 1, ...).
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? b, int stride = 1, int padding = 0)
    {
        if (x.Shape.Rank != 4 || w.Shape.Rank != 4 || w.Shape[1] != x.Shape[1])
            throw new ArgumentException($"Conv2d: expected x (N, C, H, W) and weight (out, C, kh, kw) with the same C; got x {x.Shape} and weight {w.Shape}.");
        var s = ConvShape.Conv(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], w.Shape[0], w.Shape[2], w.Shape[3], stride, padding);
        RequireBias(b, s.Co, nameof(Conv2d));
        return Convolve(ConvRole.Forward, s, x, w, b);
    }

    /// <summary>
    /// Transposed 2-D convolution (the adjoint of Conv2d), NCHW: x (N, Cin, H, W), w (Cin, Cout, kh, kw),
    /// optional bias (Cout) -> y (N, Cout, (H - 1) s - 2p + kh + outputPadding, ...).
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor w, Tensor? b, int stride = 1, int padding = 0, int outputPadding = 0)
    {
        if (x.Shape.Rank != 4 || w.Shape.Rank != 4 || w.Shape[0] != x.Shape[1])
            throw new ArgumentException($"ConvTranspose2d: expected x (N, C, H, W) and weight (C, out, kh, kw) with the same C; got x {x.Shape} and weight {w.Shape}.");
        // s is the convolution this one transposes: its input is our output, its output our input.
        var s = ConvShape.Transposed(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], w.Shape[1], w.Shape[2], w.Shape[3], stride, padding, outputPadding);
        RequireBias(b, s.Ci, nameof(ConvTranspose2d));
        return Convolve(ConvRole.Data, s, x, w, b);
    }

    /// <summary>
    /// One of the three passes of the convolution <paramref name="s"/> as an op; they are bilinear
    /// and adjoint to each other, so each one's gradients are the other two:
    /// forward F(x, w) = y; backward data D(gy, w) = gx (the transposed convolution); backward
    /// weight W(x, gy) = gw. &lt;F(x, w), gy&gt; = &lt;x, D(gy, w)&gt; = &lt;w, W(x, gy)&gt;.
    /// The bias (forward: per output channel; backward data: per input channel) is added to the
    /// output. The graph forms call this again, so convolutions differentiate to any order.
    /// </summary>
    private static Tensor Convolve(ConvRole pass, ConvShape s, Tensor a, Tensor b, Tensor? bias)
    {
        var d = a.Device;
        var (shape, op) = pass switch
        {
            ConvRole.Forward => (new Shape(s.N, s.Co, s.Ho, s.Wo), "conv2d"),
            ConvRole.Data => (new Shape(s.N, s.Ci, s.Hi, s.Wi), "conv_transpose2d"),
            _ => (new Shape(s.Co, s.Ci, s.Kh, s.Kw), "conv2d_weight_grad"),
        };
        var y = d.Empty(shape);
        var k = d.Kernels;
        switch (pass)
        {
            case ConvRole.Forward: k.ConvForward(s, a.View, b.View, y.View, bias?.View ?? default); break;
            case ConvRole.Data: k.ConvBackwardData(s, a.View, b.View, y.View, bias?.View ?? default); break;
            default: k.ConvBackwardWeight(s, a.View, b.View, y.View); break;
        }
        if (!d.Tape.NeedsGrad(a, b, bias)) return y;
        var biasShape = pass == ConvRole.Forward ? new ChannelShape(s.N, s.Co, s.OutPixels) : new ChannelShape(s.N, s.Ci, s.InPixels);
        d.Tape.Record(op, y, [a, b, bias], g =>
        {
            var gy = g.GradOf(y);
            switch (pass)
            {
                case ConvRole.Forward:          // a = x, b = w
                    if (g.Wants(a)) { var (gx, beta) = g.Slot(a); k.ConvBackwardData(s, gy, b.View, gx, default, beta); }
                    if (g.Wants(b)) { var (gw, beta) = g.Slot(b); k.ConvBackwardWeight(s, a.View, gy, gw, beta); }
                    break;
                case ConvRole.Data:     // a = gy of s, b = w; gy here has s's input shape
                    if (g.Wants(a)) { var (ga, beta) = g.Slot(a); k.ConvForward(s, gy, b.View, ga, default, beta); }
                    if (g.Wants(b)) { var (gw, beta) = g.Slot(b); k.ConvBackwardWeight(s, gy, a.View, gw, beta); }
                    break;
                default:                        // a = x, b = gy of s; gy here has the weight's shape
                    if (g.Wants(a)) { var (gx, beta) = g.Slot(a); k.ConvBackwardData(s, b.View, gy, gx, default, beta); }
                    if (g.Wants(b)) { var (gb, beta) = g.Slot(b); k.ConvForward(s, a.View, gy, gb, default, beta); }
                    break;
            }
            if (bias != null && g.Wants(bias)) { var (gb, beta) = g.Slot(bias); k.ChannelSum(biasShape, gy, gb, beta); }
        }, g =>
        {
            var gy = g.GradTensor(y);
            switch (pass)
            {
                case ConvRole.Forward:
                    if (g.Wants(a)) g.Accumulate(a, Convolve(ConvRole.Data, s, gy, b, null));
                    if (g.Wants(b)) g.Accumulate(b, Convolve(ConvRole.Weight, s, a, gy, null));
                    break;
                case ConvRole.Data:
                    if (g.Wants(a)) g.Accumulate(a, Convolve(ConvRole.Forward, s, gy, b, null));
                    if (g.Wants(b)) g.Accumulate(b, Convolve(ConvRole.Weight, s, gy, a, null));
                    break;
                default:
                    if (g.Wants(a)) g.Accumulate(a, Convolve(ConvRole.Data, s, b, gy, null));
                    if (g.Wants(b)) g.Accumulate(b, Convolve(ConvRole.Forward, s, a, gy, null));
                    break;
            }
            if (bias != null && g.Wants(bias)) g.Accumulate(bias, SumChannels(gy, biasShape));
        });
        return y;
    }

    /// <summary>The three passes of a convolution, as ops.</summary>
    private enum ConvRole { Forward, Data, Weight }

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
            d.Tape.Record(ActivationName(f), y, [x], g =>
            {
                var (gx, beta) = g.Slot(x);
                d.Kernels.ActivateBackward(f, slope, y.View, g.GradOf(y), gx, beta);
            }, g => g.Accumulate(x, ActivationGrad(f, slope, y, g.GradTensor(y))));
        return y;
    }

    /// <summary>gx = f'(y) gy as an op of (y, gy): an activation's backward in graph form. Its
    /// gradient with respect to gy is f'(y) times the incoming one; with respect to y it is
    /// gz gy f''(y) (zero for relu and leaky relu, whose graph form therefore exists to any order).</summary>
    private static Tensor ActivationGrad(Activation f, float slope, Tensor y, Tensor gy)
    {
        var d = y.Device;
        var gx = d.Empty(y.Shape);
        d.Kernels.ActivateBackward(f, slope, y.View, gy.View, gx.View);
        bool curved = f is Activation.Tanh or Activation.Sigmoid;
        if (d.Tape.NeedsGrad(gy, curved ? y : null))
            d.Tape.Record(ActivationName(f) + "_backward", gx, [y, gy], g =>
            {
                var gz = g.GradOf(gx);
                if (g.Wants(gy)) { var (ggy, beta) = g.Slot(gy); d.Kernels.ActivateBackward(f, slope, y.View, gz, ggy, beta); }
                if (curved && g.Wants(y)) { var (gyy, beta) = g.Slot(y); d.Kernels.ActivateSecond(f, y.View, gy.View, gz, gyy, beta); }
            }, curved ? null : g => g.Accumulate(gy, ActivationGrad(f, slope, y, g.GradTensor(gx))));
        return gx;
    }

    private static string ActivationName(Activation f) => f switch
    {
        Activation.Relu => "relu",
        Activation.LeakyRelu => "leaky_relu",
        Activation.Tanh => "tanh",
        Activation.Sigmoid => "sigmoid",
        _ => "identity",
    };

    public static Tensor Relu(Tensor x) => Activate(x, Activation.Relu);
    public static Tensor LeakyRelu(Tensor x, float slope = 0.01f) => Activate(x, Activation.LeakyRelu, slope);
    public static Tensor Tanh(Tensor x) => Activate(x, Activation.Tanh);
    public static Tensor Sigmoid(Tensor x) => Activate(x, Activation.Sigmoid);

    /// <summary>
    /// Batch norm over (N, C) or (N, C, H, W). Training: batch statistics (biased variance), and
    /// the running statistics move by momentum. Eval: the running statistics (no backward).
    /// No second derivative: a gradient penalty through it is an error naming the layer.
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
            d.Tape.Record("batch_norm", y, [x, gamma, beta], g =>
            {
                // The kernel produces all three gradients; those nobody wants go to scratch.
                var (gx, betaX) = g.Wants(x) ? g.Slot(x) : (d.Empty(x.Shape).View, 0f);
                var (gg, betaG) = g.Wants(gamma) ? g.Slot(gamma) : (d.Empty(gamma.Shape).View, 0f);
                var (gb, betaB) = g.Wants(beta) ? g.Slot(beta) : (d.Empty(beta.Shape).View, betaG);
                if (betaG != betaB)
                    throw new InvalidOperationException("BatchNorm: gamma and beta must be zeroed together (ZeroGrad on the module).");
                d.Kernels.BatchNormBackward(sh, new BatchNormGrads(x.View, g.GradOf(y), gx, gamma.View, mean.View, invStd.View, gg, gb), betaX, betaG);
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
            d.Tape.Record("bce_with_logits", loss, [logits], g =>
            {
                var (gx, beta) = g.Slot(logits);
                d.Kernels.BceWithLogitsBackward(logits.View, target.View, g.GradOf(loss), gx, beta);
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
            d.Tape.Record("sum", s, [x], g =>
            {
                var (gx, beta) = g.Slot(x);
                d.Kernels.BroadcastScalar(g.GradOf(s), gx, scale, beta);
            }, g => g.Accumulate(x, BroadcastChannels(g.GradTensor(s), new ChannelShape(1, 1, checked((int)x.Length)), x.Shape, scale)));
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
            d.Tape.Record("add", z, [x, y], g =>
            {
                var gz = g.GradOf(z);
                if (g.Wants(x)) { var (gx, beta) = g.Slot(x); d.Kernels.Axpby(gz, gx, a, beta); }
                if (g.Wants(y)) { var (gy, beta) = g.Slot(y); d.Kernels.Axpby(gz, gy, b, beta); }
            }, g =>
            {
                var gz = g.GradTensor(z);
                if (g.Wants(x)) g.Accumulate(x, a == 1f ? gz : Scale(gz, a));
                if (g.Wants(y)) g.Accumulate(y, b == 1f ? gz : Scale(gz, b));
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
            d.Tape.Record("scale", y, [x],
                g => { var (gx, beta) = g.Slot(x); d.Kernels.Axpby(g.GradOf(y), gx, s, beta); },
                g => g.Accumulate(x, Scale(g.GradTensor(y), s)));
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
            d.Tape.Record("mul", z, [x, y], g =>
            {
                var gz = g.GradOf(z);
                if (g.Wants(x)) { var (gx, beta) = g.Slot(x); d.Kernels.Binary(BinaryOp.Mul, gz, y.View, gx, beta); }
                if (g.Wants(y)) { var (gy, beta) = g.Slot(y); d.Kernels.Binary(BinaryOp.Mul, gz, x.View, gy, beta); }
            }, g =>
            {
                var gz = g.GradTensor(z);
                if (g.Wants(x)) g.Accumulate(x, Mul(gz, y));
                if (g.Wants(y)) g.Accumulate(y, Mul(gz, x));
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
            d.Tape.Record("reshape", y, [x],
                g => { var (gx, beta) = g.Slot(x); d.Kernels.Axpby(g.GradOf(y), gx, 1f, beta); },
                g => g.Accumulate(x, Reshape(g.GradTensor(y), x.Shape)));
        return y;
    }

    private static void RequireSameShape(Tensor x, Tensor y, string op)
    {
        if (x.Shape != y.Shape) throw new ArgumentException($"{op}: shapes {x.Shape} and {y.Shape} differ.");
    }
}
