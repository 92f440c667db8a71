using IlgpuGan.Kernels;
using IlgpuGan.Conformance;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Autograd;

/// <summary>
/// Finite-difference gradient checks in double precision: for each op, a plain double reference
/// forward (written here, independent of the kernels) is differentiated numerically with
/// central differences of L = sum(y * r), and the float32 backward that the tape runs must
/// agree; the float32 forward must agree with the reference too. Small odd shapes, every backend.
/// </summary>
[Collection("devices")]
[Trait("Category", Backends.Category)]
public sealed partial class GradCheckTests
{
    private const double H = 1e-6, GradTolerance = 2e-3, ForwardTolerance = 2e-5;

    private sealed record Input(string Name, int[] Shape, double[] Values, bool Grad = true);

    private static double[] Random(int n, int seed, double scale = 1, double awayFromZero = 0)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
        {
            double v = (r.NextDouble() * 2 - 1) * scale;
            return Math.Abs(v) < awayFromZero ? Math.Sign(v + 1e-12) * (awayFromZero + Math.Abs(v)) : v;
        }).ToArray();
    }

    /// <summary>Runs the op on the backend through the tape and compares with the double reference.</summary>
    private static void Check(string backend, Input[] inputs, Func<double[][], double[]> reference,
        Func<Tensor[], Tensor> op, int seed = 7)
    {
        var d = Backends.Get(backend);
        double[] y0 = reference(inputs.Select(i => i.Values).ToArray());
        double[] r = Random(y0.Length, seed);
        var tensors = inputs.Select(i =>
        {
            var t = d.Persistent(new Shape(i.Shape), i.Values.Select(v => (float)v).ToArray());
            t.RequiresGrad = i.Grad;
            return t;
        }).ToArray();
        try
        {
            var y = op(tensors);
            Compare.Close(y.ToArray(), y0.Select(v => (float)v).ToArray(), ForwardTolerance, "forward");
            var rt = d.Persistent(y.Shape, r.Select(v => (float)v).ToArray());
            ReferenceCases.BackwardWith(d, y, rt);
            for (int k = 0; k < inputs.Length; k++)
            {
                if (!inputs[k].Grad) continue;
                double[] numeric = NumericGradient(inputs.Select(i => i.Values).ToArray(), k, reference, r);
                float[] analytic = tensors[k].Grad!.ToArray();
                Compare.Close(analytic, numeric.Select(v => (float)v).ToArray(), GradTolerance, $"{backend} d/d{inputs[k].Name}");
            }
            rt.Dispose();
        }
        finally
        {
            d.Tape.EndStep();
            foreach (var t in tensors) t.Dispose();
        }
    }

    private static double[] NumericGradient(double[][] values, int k, Func<double[][], double[]> f, double[] r)
    {
        var g = new double[values[k].Length];
        for (int i = 0; i < g.Length; i++)
        {
            double keep = values[k][i];
            values[k][i] = keep + H; double plus = Dot(f(values), r);
            values[k][i] = keep - H; double minus = Dot(f(values), r);
            values[k][i] = keep;
            g[i] = (plus - minus) / (2 * H);
        }
        return g;
    }

    private static double Dot(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += a[i] * b[i]; return s; }

    public static TheoryData<string> All() => Backends.All();

    // ---- double-precision references ---------------------------------------------------------

    private static double[] LinearRef(double[] x, double[] w, double[]? b, int n, int inF, int outF)
    {
        var y = new double[n * outF];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < outF; o++)
            {
                double s = b?[o] ?? 0;
                for (int k = 0; k < inF; k++) s += x[i * inF + k] * w[o * inF + k];
                y[i * outF + o] = s;
            }
        return y;
    }

    private static double ActRef(Activation f, double slope, double x) => f switch
    {
        Activation.Relu => Math.Max(x, 0),
        Activation.LeakyRelu => x > 0 ? x : slope * x,
        Activation.Tanh => Math.Tanh(x),
        _ => 1 / (1 + Math.Exp(-x)),
    };

    private static double[] BatchNormRef(double[] x, double[] gamma, double[] beta, int n, int c, int s, double eps)
    {
        var y = new double[x.Length];
        for (int ch = 0; ch < c; ch++)
        {
            double mean = 0, var = 0; int m = n * s;
            for (int i = 0; i < n; i++) for (int j = 0; j < s; j++) mean += x[(i * c + ch) * s + j];
            mean /= m;
            for (int i = 0; i < n; i++) for (int j = 0; j < s; j++) { double dd = x[(i * c + ch) * s + j] - mean; var += dd * dd; }
            var /= m;
            for (int i = 0; i < n; i++) for (int j = 0; j < s; j++)
            {
                int at = (i * c + ch) * s + j;
                y[at] = (x[at] - mean) / Math.Sqrt(var + eps) * gamma[ch] + beta[ch];
            }
        }
        return y;
    }

    // ---- the checks ----------------------------------------------------------------------------

    [Theory, MemberData(nameof(All))]
    public void Linear(string backend)
    {
        int n = 3, inF = 5, outF = 7;
        Check(backend,
            [new("x", [n, inF], Random(n * inF, 1)), new("w", [outF, inF], Random(outF * inF, 2)), new("b", [outF], Random(outF, 3))],
            v => LinearRef(v[0], v[1], v[2], n, inF, outF),
            t => Ops.Linear(t[0], t[1], t[2]));
    }

    [Theory, MemberData(nameof(All))]
    public void LinearWithoutBiasOn4dInput(string backend)
    {
        int n = 2, outF = 3;
        Check(backend,
            [new("x", [n, 1, 3, 3], Random(n * 9, 4)), new("w", [outF, 9], Random(outF * 9, 5))],
            v => LinearRef(v[0], v[1], null, n, 9, outF),
            t => Ops.Linear(t[0], t[1], null));
    }

    [Theory]
    [MemberData(nameof(ActivationCases))]
    public void Activations(string backend, Activation f)
    {
        double slope = f == Activation.LeakyRelu ? 0.2 : 0;
        Check(backend, [new("x", [4, 9], Random(36, 6, 3, awayFromZero: 0.05))],
            v => v[0].Select(x => ActRef(f, slope, x)).ToArray(),
            t => Ops.Activate(t[0], f, (float)slope));
    }

    public static TheoryData<string, Activation> ActivationCases()
    {
        var data = new TheoryData<string, Activation>();
        foreach (var b in Backends.Names)
            foreach (var f in new[] { Activation.Relu, Activation.LeakyRelu, Activation.Tanh, Activation.Sigmoid })
                data.Add(b, f);
        return data;
    }

    [Theory]
    [MemberData(nameof(BatchNormShapes))]
    public void BatchNormTraining(string backend, int[] shape)
    {
        int n = shape[0], c = shape[1], s = shape.Length == 4 ? shape[2] * shape[3] : 1;
        int len = shape.Aggregate(1, (a, b) => a * b);
        var bn = new BatchNormArgs(1e-5f, 0.1f);
        Check(backend,
            [new("x", shape, Random(len, 8, 2)), new("gamma", [c], Random(c, 9).Select(v => 1 + 0.5 * v).ToArray()), new("beta", [c], Random(c, 10))],
            v => BatchNormRef(v[0], v[1], v[2], n, c, s, 1e-5),
            t =>
            {
                var d = t[0].Device;
                var rm = d.Persistent(new Shape(c), 0f);
                var rv = d.Persistent(new Shape(c), 1f);
                var y = Ops.BatchNorm(t[0], t[1], t[2], rm, rv, training: true, bn);
                rm.Dispose(); rv.Dispose();   // the kernels have run: their values are not needed
                return y;
            });
    }

    public static TheoryData<string, int[]> BatchNormShapes()
    {
        var data = new TheoryData<string, int[]>();
        foreach (var b in Backends.Names) { data.Add(b, [5, 3]); data.Add(b, [3, 2, 3, 2]); }
        return data;
    }

    [Theory, MemberData(nameof(All))]
    public void BceWithLogits(string backend)
    {
        double[] target = [1, 0, 1, 1, 0, 0, 1];
        Check(backend,
            [new("x", [7, 1], Random(7, 11, 4)), new("t", [7, 1], target, Grad: false)],
            v => [v[0].Select((x, i) => Math.Max(x, 0) - x * v[1][i] + Math.Log(1 + Math.Exp(-Math.Abs(x)))).Average()],
            t => Ops.BceWithLogits(t[0], t[1]));
    }

    [Theory, MemberData(nameof(All))]
    public void SumMeanAndArithmetic(string backend)
    {
        // L = mean(a * b) * 3 + sum(2a - b) - sum(0.5 b): one graph through Mul, Scale, Combine, Sum, Mean.
        Check(backend,
            [new("a", [2, 5], Random(10, 12)), new("b", [2, 5], Random(10, 13))],
            v =>
            {
                double[] a = v[0], b = v[1];
                return [a.Zip(b, (p, q) => p * q).Average() * 3 + a.Zip(b, (p, q) => 2 * p - q).Sum() - b.Sum() * 0.5];
            },
            t => Ops.Sub(Ops.Add(Ops.Scale(Ops.Mean(Ops.Mul(t[0], t[1])), 3), Ops.Sum(Ops.Combine(t[0], 2, t[1], -1))), Ops.Sum(t[1], 0.5f)));
    }

    [Theory, MemberData(nameof(All))]
    public void ReshapeAndReuse(string backend)
    {
        // x is used twice (the gradient accumulates) and through a reshape.
        Check(backend,
            [new("x", [2, 6], Random(12, 14))],
            v => v[0].Select(x => Math.Tanh(x) + x).ToArray(),
            t => Ops.Add(Ops.Reshape(Ops.Tanh(Ops.Reshape(t[0], new Shape(3, 4))), new Shape(2, 6)), t[0]));
    }
}
