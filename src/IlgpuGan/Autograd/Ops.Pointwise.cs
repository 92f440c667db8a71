using IlgpuGan.Kernels;

namespace IlgpuGan;

// Pointwise maps, per-sample and per-channel ops, and layer norm: what the WGAN-GP penalty
// (x^ = real + alpha (fake - real); ||grad||_2 per sample; (norm - 1)^2), the hinge and
// least-squares losses and the WGAN-GP critic's layer norm are made of. Each has its raw backward
// and its graph form beside it.
public static partial class Ops
{
    /// <summary>x + c.</summary>
    public static Tensor AddScalar(Tensor x, float c) => Map(UnaryOp.Affine, "add_scalar", x, 1f, c);

    /// <summary>x^2.</summary>
    public static Tensor Square(Tensor x) => Map(UnaryOp.Square, "square", x, 0f, 0f);

    /// <summary>sqrt(x + eps): eps (tiny, e.g. 1e-12) keeps the derivative finite where x is 0.</summary>
    public static Tensor Sqrt(Tensor x, float eps = 0f) => Map(UnaryOp.Sqrt, "sqrt", x, eps, 0f);

    /// <summary>exp(scale * x).</summary>
    public static Tensor Exp(Tensor x, float scale = 1f) => Map(UnaryOp.Exp, "exp", x, scale, 0f);

    /// <summary>min(max(x, min), max); the gradient is 1 inside [min, max] and 0 outside (as PyTorch's clamp).</summary>
    public static Tensor Clamp(Tensor x, float min, float max)
    {
        if (!(min <= max)) throw new ArgumentException($"Clamp: min ({min}) must not exceed max ({max}).");
        return Map(UnaryOp.Clamp, "clamp", x, min, max);
    }

    private static Tensor Map(UnaryOp op, string name, Tensor x, float p, float q)
    {
        var d = x.Device;
        var y = d.Empty(x.Shape);
        d.Kernels.Unary(op, p, q, x.View, y.View);
        if (!d.Tape.NeedsGrad(x)) return y;
        d.Tape.Record(name, y, [x], g =>
        {
            var gy = g.GradOf(y);
            var (gx, beta) = g.Slot(x);
            switch (op)
            {
                case UnaryOp.Affine: d.Kernels.Axpby(gy, gx, p, beta); break;
                case UnaryOp.Clamp: d.Kernels.ClampBackward(p, q, x.View, gy, gx, beta); break;
                case UnaryOp.Square:                        // gx = 2 x gy
                {
                    var t = d.Empty(x.Shape);
                    d.Kernels.Binary(BinaryOp.Mul, x.View, gy, t.View);
                    d.Kernels.Axpby(t.View, gx, 2f, beta);
                    break;
                }
                case UnaryOp.Exp:                           // gx = p y gy
                {
                    var t = d.Empty(x.Shape);
                    d.Kernels.Binary(BinaryOp.Mul, y.View, gy, t.View);
                    d.Kernels.Axpby(t.View, gx, p, beta);
                    break;
                }
                default:                                    // sqrt: gx = gy / (2 y)
                {
                    var t = d.Empty(x.Shape);
                    d.Kernels.Binary(BinaryOp.Div, gy, y.View, t.View);
                    d.Kernels.Axpby(t.View, gx, 0.5f, beta);
                    break;
                }
            }
        }, g =>
        {
            var gy = g.GradTensor(y);
            g.Accumulate(x, op switch
            {
                UnaryOp.Affine => p == 1f ? gy : Scale(gy, p),
                UnaryOp.Clamp => ClampGrad(x, gy, p, q),
                UnaryOp.Square => Scale(Mul(gy, x), 2f),
                UnaryOp.Exp => Scale(Mul(gy, y), p),
                _ => Scale(Div(gy, y), 0.5f),
            });
        });
        return y;
    }

    /// <summary>gy masked to where min &lt;= x &lt;= max: the clamp's backward as an op (linear in gy;
    /// zero derivative in x almost everywhere).</summary>
    private static Tensor ClampGrad(Tensor x, Tensor gy, float min, float max)
    {
        var d = x.Device;
        var gx = d.Empty(x.Shape);
        d.Kernels.ClampBackward(min, max, x.View, gy.View, gx.View);
        if (d.Tape.NeedsGrad(gy))
            d.Tape.Record("clamp_backward", gx, [gy],
                g => { var (o, beta) = g.Slot(gy); d.Kernels.ClampBackward(min, max, x.View, g.GradOf(gx), o, beta); },
                g => g.Accumulate(gy, ClampGrad(x, g.GradTensor(gx), min, max)));
        return gx;
    }

    /// <summary>Elementwise x / y.</summary>
    public static Tensor Div(Tensor x, Tensor y)
    {
        var d = x.Device;
        RequireSameShape(x, y, nameof(Div));
        var z = d.Empty(x.Shape);
        d.Kernels.Binary(BinaryOp.Div, x.View, y.View, z.View);
        if (d.Tape.NeedsGrad(x, y))
            d.Tape.Record("div", z, [x, y], g =>
            {
                var gz = g.GradOf(z);
                if (g.Wants(x)) { var (gx, beta) = g.Slot(x); d.Kernels.Binary(BinaryOp.Div, gz, y.View, gx, beta); }
                if (g.Wants(y))                             // gy = -gz z / y
                {
                    var t = d.Empty(x.Shape);
                    d.Kernels.Binary(BinaryOp.Div, gz, y.View, t.View);
                    d.Kernels.Binary(BinaryOp.Mul, t.View, z.View, t.View);
                    var (gy, beta) = g.Slot(y);
                    d.Kernels.Axpby(t.View, gy, -1f, beta);
                }
            }, g =>
            {
                var gz = g.GradTensor(z);
                var q = Div(gz, y);
                if (g.Wants(x)) g.Accumulate(x, q);
                if (g.Wants(y)) g.Accumulate(y, Scale(Mul(q, z), -1f));
            });
        return z;
    }

    /// <summary>The per-channel sums of x seen as <paramref name="sh"/> (N, C, S): (C). With
    /// (1, N, L) the per-sample sums; with (N, L, 1) the per-feature ones.</summary>
    public static Tensor SumChannels(Tensor x, ChannelShape sh)
    {
        var d = x.Device;
        if (x.Length != sh.Length) throw new ArgumentException($"SumChannels: {x.Shape} is not {sh}.");
        var y = d.Empty(new Shape(sh.C));
        d.Kernels.ChannelSum(sh, x.View, y.View);
        if (d.Tape.NeedsGrad(x))
            d.Tape.Record("sum_channels", y, [x],
                g => { var (gx, beta) = g.Slot(x); d.Kernels.BroadcastChannels(sh, g.GradOf(y), gx, 1f, beta); },
                g => g.Accumulate(x, BroadcastChannels(g.GradTensor(y), sh, x.Shape)));
        return y;
    }

    /// <summary>y[n, c, s] = scale * v[c]: v (C) spread over <paramref name="sh"/>, under
    /// <paramref name="shape"/>; the adjoint of <see cref="SumChannels"/>.</summary>
    public static Tensor BroadcastChannels(Tensor v, ChannelShape sh, Shape shape, float scale = 1f)
    {
        var d = v.Device;
        if (v.Length != sh.C || shape.Length != sh.Length)
            throw new ArgumentException($"BroadcastChannels: {v.Shape} over {sh} as {shape}.");
        var y = d.Empty(shape);
        d.Kernels.BroadcastChannels(sh, v.View, y.View, scale);
        if (d.Tape.NeedsGrad(v))
            d.Tape.Record("broadcast_channels", y, [v], g =>
            {
                var (gv, beta) = g.Slot(v);
                if (scale == 1f) { d.Kernels.ChannelSum(sh, g.GradOf(y), gv, beta); return; }
                var t = d.Empty(v.Shape);
                d.Kernels.ChannelSum(sh, g.GradOf(y), t.View);
                d.Kernels.Axpby(t.View, gv, scale, beta);
            }, g =>
            {
                var s = SumChannels(g.GradTensor(y), sh);
                g.Accumulate(v, scale == 1f ? s : Scale(s, scale));
            });
        return y;
    }

    /// <summary>y[n, c, s] = x[n, c, s] * v[c] for x seen as <paramref name="sh"/>.</summary>
    public static Tensor ScaleChannels(Tensor x, Tensor v, ChannelShape sh)
    {
        var d = x.Device;
        if (x.Length != sh.Length || v.Length != sh.C)
            throw new ArgumentException($"ScaleChannels: x {x.Shape} and factors {v.Shape} do not fit {sh}.");
        var y = d.Empty(x.Shape);
        d.Kernels.ScaleChannels(sh, x.View, v.View, y.View);
        if (d.Tape.NeedsGrad(x, v))
            d.Tape.Record("scale_channels", y, [x, v], g =>
            {
                var gy = g.GradOf(y);
                if (g.Wants(x)) { var (gx, beta) = g.Slot(x); d.Kernels.ScaleChannels(sh, gy, v.View, gx, beta); }
                if (g.Wants(v))                             // gv[c] = sum over n, s of gy x
                {
                    var t = d.Empty(x.Shape);
                    d.Kernels.Binary(BinaryOp.Mul, gy, x.View, t.View);
                    var (gv, beta) = g.Slot(v);
                    d.Kernels.ChannelSum(sh, t.View, gv, beta);
                }
            }, g =>
            {
                var gy = g.GradTensor(y);
                if (g.Wants(x)) g.Accumulate(x, ScaleChannels(gy, v, sh));
                if (g.Wants(v)) g.Accumulate(v, SumChannels(Mul(gy, x), sh));
            });
        return y;
    }

    /// <summary>x (N, ...) times s[n] per sample (s has N values): x^ = real + alpha (fake - real).</summary>
    public static Tensor MulPerSample(Tensor x, Tensor s) => ScaleChannels(x, s, PerSample(x, s.Length, nameof(MulPerSample)));

    /// <summary>The L2 norm of each sample of x (N, ...): sqrt(sum x^2 + eps), shape (N).</summary>
    public static Tensor SampleNorm(Tensor x, float eps = 1e-12f) =>
        Sqrt(SumChannels(Square(x), PerSample(x, x.Shape[0], nameof(SampleNorm))), eps);

    private static ChannelShape PerSample(Tensor x, long n, string op)
    {
        if (n != x.Shape[0]) throw new ArgumentException($"{op}: {n} per-sample values for {x.Shape}.");
        return new ChannelShape(1, x.Shape[0], checked((int)(x.Length / x.Shape[0])));
    }

    /// <summary>
    /// Layer norm over every dim but N (PyTorch's F.layer_norm(x, x.shape[1:], gamma, beta, eps)):
    /// per sample, (x - mean) / sqrt(biased variance + eps) * gamma + beta, gamma and beta shaped as
    /// one sample. Its graph form recomputes the forward from ops (mean, centre, variance, sqrt,
    /// divide, scale) and differentiates that, so layer norm has derivatives of every order.
    /// </summary>
    public static Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, float eps = 1e-5f)
    {
        var d = x.Device;
        if (x.Shape.Rank < 2) throw new ArgumentException($"LayerNorm: expected (N, ...); got {x.Shape}.");
        var rows = new RowShape(x.Shape[0], checked((int)(x.Length / x.Shape[0])));
        if (gamma.Length != rows.L || beta.Length != rows.L)
            throw new ArgumentException($"LayerNorm: input {x.Shape} has {rows.L} values per sample but gamma is {gamma.Shape} and beta {beta.Shape}.");
        var y = d.Empty(x.Shape);
        var mean = d.Empty(new Shape(rows.N));
        var rstd = d.Empty(new Shape(rows.N));
        d.Kernels.LayerNormForward(rows, new LayerNormViews(x.View, gamma.View, beta.View, mean.View, rstd.View, y.View, default, default, default, default), eps);
        if (d.Tape.NeedsGrad(x, gamma, beta))
            d.Tape.Record("layer_norm", y, [x, gamma, beta], g =>
            {
                var (gx, betaX) = g.Wants(x) ? g.Slot(x) : (default, 0f);     // a default view skips a gradient
                var (gg, betaG) = g.Wants(gamma) ? g.Slot(gamma) : (default, 0f);
                var (gb, betaB) = g.Wants(beta) ? g.Slot(beta) : (default, 0f);
                d.Kernels.LayerNormBackward(rows, new LayerNormViews(x.View, gamma.View, beta.View, mean.View, rstd.View, y.View, g.GradOf(y), gx, gg, gb), betaX, betaG, betaB);
            }, g =>
            {
                var wanted = new[] { x, gamma, beta }.Where(g.Wants).ToList();
                if (wanted.Count == 0) return;
                var again = LayerNormFromOps(x, gamma, beta, rows, eps);
                var grads = d.Tape.Grad([again], wanted, [g.GradTensor(y)], createGraph: true);
                for (int i = 0; i < wanted.Count; i++) g.Accumulate(wanted[i], grads[i]);
            });
        return y;
    }

    /// <summary>Layer norm composed of differentiable ops (its graph form's forward).</summary>
    private static Tensor LayerNormFromOps(Tensor x, Tensor gamma, Tensor beta, RowShape rows, float eps)
    {
        var d = x.Device;
        var perSample = new ChannelShape(1, rows.N, rows.L);
        var perFeature = new ChannelShape(rows.N, rows.L, 1);
        var mean = SumChannels(x, perSample);                                                   // (N), times L
        var centred = Add(x, BroadcastChannels(mean, perSample, x.Shape, -1f / rows.L));        // (N, ...)
        var variance = Scale(SumChannels(Square(centred), perSample), 1f / rows.L);              // (N)
        var ones = d.Empty(new Shape(rows.N));
        d.Kernels.Fill(ones.View, 1f);
        var rstd = Div(ones, Sqrt(variance, eps));                                               // (N)
        var normed = ScaleChannels(centred, rstd, perSample);                                    // (N, ...)
        return Add(ScaleChannels(normed, gamma, perFeature), BroadcastChannels(beta, perFeature, x.Shape));
    }
}
