using IlgpuGan.Kernels;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Autograd;

/// <summary>
/// First- and second-order finite-difference checks in double precision for the ops the WGAN-GP
/// penalty and its critics use. Second order: with gx = d&lt;op(v), r&gt;/dx taken by
/// <c>Tape.Grad(..., createGraph: true)</c> and L = &lt;gx, q&gt;, back-propagating L must give
/// dL/dv_k for every input (numerically: central differences of a central-difference gradient of
/// the double reference) and dL/dr (numerically: the derivative of the reference along q).
/// </summary>
public sealed partial class GradCheckTests
{
    private const double OuterH = 1e-4, InnerH = 1e-5, SecondOrderTolerance = 5e-3;

    /// <summary>Runs the first-order check, then the second-order one (x is input 0).</summary>
    private static void CheckBothOrders(string backend, Input[] inputs, Func<double[][], double[]> reference, Func<Tensor[], Tensor> op)
    {
        Check(backend, inputs, reference, op);
        CheckSecondOrder(backend, inputs, reference, op);
    }

    private static void CheckSecondOrder(string backend, Input[] inputs, Func<double[][], double[]> reference, Func<Tensor[], Tensor> op, int seed = 17)
    {
        var d = Backends.Get(backend);
        var values = inputs.Select(i => i.Values.ToArray()).ToArray();
        int yLength = reference(values).Length;
        double[] r = Random(yLength, seed), q = Random(values[0].Length, seed + 1);

        // Numeric: L2(v) = <d<f(v), r>/dx, q>; its gradient in each input; and d L2 / d r = J_x q.
        double L2(double[][] v) => Dot(InnerGradient(v, reference, r), q);
        var numeric = new double[inputs.Length][];
        for (int k = 0; k < inputs.Length; k++)
        {
            if (!inputs[k].Grad) continue;
            numeric[k] = new double[values[k].Length];
            for (int i = 0; i < numeric[k].Length; i++)
            {
                double keep = values[k][i];
                values[k][i] = keep + OuterH; double plus = L2(values);
                values[k][i] = keep - OuterH; double minus = L2(values);
                values[k][i] = keep;
                numeric[k][i] = (plus - minus) / (2 * OuterH);
            }
        }
        double[] ggy = Along(values, reference, q);

        var tensors = inputs.Select(i =>
        {
            var t = d.Persistent(new Shape(i.Shape), i.Values.Select(v => (float)v).ToArray());
            t.RequiresGrad = i.Grad;
            return t;
        }).ToArray();
        Tensor? rt = null, qt = null;
        try
        {
            var y = op(tensors);
            rt = d.Persistent(y.Shape, r.Select(v => (float)v).ToArray());
            rt.RequiresGrad = true;
            qt = d.Persistent(tensors[0].Shape, q.Select(v => (float)v).ToArray());
            var gx = d.Tape.Grad([y], [tensors[0]], [rt], createGraph: true)[0];
            var loss = Ops.Sum(Ops.Mul(gx, qt));
            if (loss.RequiresGrad) d.Tape.Backward(loss);     // else L2 is constant: every expected value is 0
            for (int k = 0; k < inputs.Length; k++)
            {
                if (!inputs[k].Grad) continue;
                float[] analytic = tensors[k].HasGrad ? tensors[k].Grad!.ToArray() : new float[tensors[k].Length];
                CloseOrZero(analytic, numeric[k], $"{backend} second order d/d{inputs[k].Name}");
            }
            CloseOrZero(rt.HasGrad ? rt.Grad!.ToArray() : new float[rt.Length], ggy, $"{backend} second order d/dgy");
        }
        finally
        {
            d.Tape.EndStep();
            foreach (var t in tensors) t.Dispose();
            rt?.Dispose(); qt?.Dispose();
        }
    }

    /// <summary>Relative error against a nonzero expectation; an absolute bound against zero (the
    /// nested differences leave noise of about 1e-6 where the true value is 0).</summary>
    private static void CloseOrZero(float[] analytic, double[] numeric, string what)
    {
        double norm = Math.Sqrt(numeric.Sum(v => v * v));
        if (norm < 1e-4)
        {
            double worst = analytic.Max(v => Math.Abs((double)v));
            Assert.True(worst < 1e-3, $"{what}: expected 0, got values up to {worst:E3}");
            return;
        }
        Compare.Close(analytic, numeric.Select(v => (float)v).ToArray(), SecondOrderTolerance, what);
    }

    private static double[] InnerGradient(double[][] v, Func<double[][], double[]> f, double[] r)
    {
        var g = new double[v[0].Length];
        for (int i = 0; i < g.Length; i++)
        {
            double keep = v[0][i];
            v[0][i] = keep + InnerH; double plus = Dot(f(v), r);
            v[0][i] = keep - InnerH; double minus = Dot(f(v), r);
            v[0][i] = keep;
            g[i] = (plus - minus) / (2 * InnerH);
        }
        return g;
    }

    /// <summary>(f(x + h q) - f(x - h q)) / 2h: the Jacobian in x applied to q.</summary>
    private static double[] Along(double[][] v, Func<double[][], double[]> f, double[] q)
    {
        var keep = v[0].ToArray();
        for (int i = 0; i < q.Length; i++) v[0][i] = keep[i] + InnerH * q[i];
        var plus = f(v);
        for (int i = 0; i < q.Length; i++) v[0][i] = keep[i] - InnerH * q[i];
        var minus = f(v);
        v[0] = keep;
        return plus.Zip(minus, (a, b) => (a - b) / (2 * InnerH)).ToArray();
    }

    private static double[] LayerNormRef(double[] x, double[] g, double[] b, int n, double eps)
    {
        int l = x.Length / n;
        var y = new double[x.Length];
        for (int i = 0; i < n; i++)
        {
            double mean = 0, var = 0;
            for (int j = 0; j < l; j++) mean += x[i * l + j];
            mean /= l;
            for (int j = 0; j < l; j++) { double c = x[i * l + j] - mean; var += c * c; }
            var /= l;
            for (int j = 0; j < l; j++) y[i * l + j] = (x[i * l + j] - mean) / Math.Sqrt(var + eps) * g[j] + b[j];
        }
        return y;
    }

    // ---- the ops of the critics ---------------------------------------------------------------

    [Theory, MemberData(nameof(All))]
    public void LinearSecondOrder(string backend)
    {
        int n = 3, inF = 4, outF = 5;
        CheckSecondOrder(backend,
            [new("x", [n, inF], Random(n * inF, 1)), new("w", [outF, inF], Random(outF * inF, 2)), new("b", [outF], Random(outF, 3))],
            v => LinearRef(v[0], v[1], v[2], n, inF, outF),
            t => Ops.Linear(t[0], t[1], t[2]));
    }

    [Theory, MemberData(nameof(All))]
    public void MatMulBothOrders(string backend)
    {
        // op(a) (3 x 4) op(b) (4 x 2) with a stored transposed: a (4, 3), b (2, 4) transposed too.
        CheckBothOrders(backend,
            [new("a", [4, 3], Random(12, 21)), new("b", [2, 4], Random(8, 22))],
            v =>
            {
                var y = new double[6];
                for (int i = 0; i < 3; i++) for (int j = 0; j < 2; j++) for (int k = 0; k < 4; k++) y[i * 2 + j] += v[0][k * 3 + i] * v[1][j * 4 + k];
                return y;
            },
            t => Ops.MatMul(t[0], t[1], transA: true, transB: true));
    }

    [Theory, MemberData(nameof(All))]
    public void Conv2dSecondOrder(string backend)
    {
        int n = 2, ci = 2, h = 5, w = 4, co = 3, k = 3, s = 2, p = 1;
        CheckSecondOrder(backend,
            [new("x", [n, ci, h, w], Random(n * ci * h * w, 31)), new("w", [co, ci, k, k], Random(co * ci * k * k, 32)), new("b", [co], Random(co, 33))],
            v => ConvRef(v[0], v[1], v[2], n, ci, h, w, co, k, s, p),
            t => Ops.Conv2d(t[0], t[1], t[2], s, p));
    }

    [Theory, MemberData(nameof(All))]
    public void ConvTranspose2dSecondOrder(string backend)
    {
        int n = 2, ci = 2, h = 3, w = 2, co = 2, k = 4, s = 2, p = 1, op = 1;
        CheckSecondOrder(backend,
            [new("x", [n, ci, h, w], Random(n * ci * h * w, 34)), new("w", [ci, co, k, k], Random(ci * co * k * k, 35)), new("b", [co], Random(co, 36))],
            v => ConvTransposeRef(v[0], v[1], v[2], n, ci, h, w, co, k, s, p, op),
            t => Ops.ConvTranspose2d(t[0], t[1], t[2], s, p, op));
    }

    [Theory]
    [MemberData(nameof(ActivationCases))]
    public void ActivationsSecondOrder(string backend, Activation f)
    {
        double slope = f == Activation.LeakyRelu ? 0.2 : 0;
        CheckSecondOrder(backend, [new("x", [3, 7], Random(21, 41, 3, awayFromZero: 0.05))],
            v => v[0].Select(x => ActRef(f, slope, x)).ToArray(),
            t => Ops.Activate(t[0], f, (float)slope));
    }

    [Theory, MemberData(nameof(All))]
    public void LayerNormBothOrders(string backend)
    {
        int n = 3, c = 2, h = 2, w = 3, l = c * h * w;
        CheckBothOrders(backend,
            [new("x", [n, c, h, w], Random(n * l, 51, 2)), new("gamma", [c, h, w], Random(l, 52).Select(v => 1 + 0.5 * v).ToArray()),
                new("beta", [c, h, w], Random(l, 53))],
            v => LayerNormRef(v[0], v[1], v[2], n, 1e-5),
            t => Ops.LayerNorm(t[0], t[1], t[2], 1e-5f));
    }

    // ---- arithmetic, reductions and the penalty's pieces ----------------------------------------

    [Theory, MemberData(nameof(All))]
    public void ArithmeticSecondOrder(string backend)
    {
        // 3 a*b - 0.5 b + a (through Mul, Scale, Combine, Reshape), then tanh to make it curved in a.
        CheckSecondOrder(backend,
            [new("a", [2, 5], Random(10, 61)), new("b", [2, 5], Random(10, 62))],
            v => v[0].Select((a, i) => Math.Tanh(3 * a * v[1][i] - 0.5 * v[1][i] + a)).ToArray(),
            t => Ops.Tanh(Ops.Add(Ops.Combine(Ops.Scale(Ops.Mul(t[0], t[1]), 3), 1, t[1], -0.5f), Ops.Reshape(Ops.Reshape(t[0], new Shape(10)), new Shape(2, 5)))));
    }

    [Theory, MemberData(nameof(All))]
    public void SumAndMeanSecondOrder(string backend)
    {
        // mean(x^2) * 2 + sum(x^3 via x * x^2): a scalar with a nonzero second derivative.
        CheckBothOrders(backend,
            [new("x", [2, 3], Random(6, 63))],
            v => [v[0].Average(x => x * x) * 2 + v[0].Sum(x => x * x * x)],
            t => Ops.Add(Ops.Scale(Ops.Mean(Ops.Square(t[0])), 2), Ops.Sum(Ops.Mul(t[0], Ops.Square(t[0])))));
    }

    [Theory, MemberData(nameof(All))]
    public void PointwiseBothOrders(string backend)
    {
        // sqrt(x^2 + 0.5 + 1e-12) / (x + 3) + (x + 1): Square, AddScalar, Sqrt, Div.
        CheckBothOrders(backend,
            [new("x", [2, 4], Random(8, 64))],
            v => v[0].Select(x => Math.Sqrt(x * x + 0.5 + 1e-12) / (x + 3) + x + 1).ToArray(),
            t =>
            {
                var x = t[0];
                return Ops.Add(Ops.Div(Ops.Sqrt(Ops.AddScalar(Ops.Square(x), 0.5f), 1e-12f), Ops.AddScalar(x, 3)), Ops.AddScalar(x, 1));
            });
    }

    [Theory, MemberData(nameof(All))]
    public void ClampBothOrders(string backend)
    {
        // clamp(x, -0.4, 0.3) * x: the gradient mask times x, so the second derivative is not zero.
        CheckBothOrders(backend,
            [new("x", [12], Random(12, 65, 1, awayFromZero: 0.05).Select(v => Math.Abs(Math.Abs(v) - 0.3) < 0.02 || Math.Abs(Math.Abs(v) - 0.4) < 0.02 ? v + 0.05 : v).ToArray())],
            v => v[0].Select(x => Math.Clamp(x, -0.4, 0.3) * x).ToArray(),
            t => Ops.Mul(Ops.Clamp(t[0], -0.4f, 0.3f), t[0]));
    }

    [Theory, MemberData(nameof(All))]
    public void SampleNormAndMulPerSampleBothOrders(string backend)
    {
        // norm_n(x) * s: the per-sample norm and the per-sample product (both inputs curved).
        int n = 3, l = 4;
        CheckBothOrders(backend,
            [new("x", [n, 2, 2], Random(n * l, 66)), new("s", [n], Random(n, 67))],
            v =>
            {
                var y = new double[n * l];
                for (int i = 0; i < n; i++)
                {
                    double norm = Math.Sqrt(Enumerable.Range(0, l).Sum(j => v[0][i * l + j] * v[0][i * l + j]) + 1e-12);
                    for (int j = 0; j < l; j++) y[i * l + j] = v[0][i * l + j] * v[1][i] * norm;
                }
                return y;
            },
            t => Ops.MulPerSample(t[0], Ops.Mul(Ops.SampleNorm(t[0]), t[1])));
    }

    [Theory, MemberData(nameof(All))]
    public void ChannelsBothOrders(string backend)
    {
        // (x * v[c]) + broadcast(sum over n, s of x^2) on (N, C, S) = (2, 3, 2).
        var sh = new ChannelShape(2, 3, 2);
        CheckBothOrders(backend,
            [new("x", [2, 3, 2], Random(12, 68)), new("v", [3], Random(3, 69))],
            v =>
            {
                var sums = new double[3];
                for (int i = 0; i < 12; i++) sums[i / 2 % 3] += v[0][i] * v[0][i];
                return Enumerable.Range(0, 12).Select(i => v[0][i] * v[1][i / 2 % 3] + sums[i / 2 % 3]).ToArray();
            },
            t => Ops.Add(Ops.ScaleChannels(t[0], t[1], sh), Ops.BroadcastChannels(Ops.SumChannels(Ops.Square(t[0]), sh), sh, t[0].Shape)));
    }
}
