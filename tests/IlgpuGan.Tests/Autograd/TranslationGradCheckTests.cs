using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Autograd;

/// <summary>
/// Finite-difference checks (double reference, every backend) of the translation ops: instance
/// norm (affine or not; first and second order), reflection padding (both orders), cat along dim 1
/// (both orders, 2-D and 4-D, three parts), the L1 loss (first order; away from its kinks) and the
/// MSE loss (both orders), with gradients into the target too.
/// </summary>
public sealed partial class GradCheckTests
{
    private static double[] InstanceNormRef(double[] x, double[]? gamma, double[]? beta, int n, int c, int s, double eps)
    {
        var y = new double[x.Length];
        for (int p = 0; p < n * c; p++)
        {
            double mean = 0, var = 0;
            for (int i = 0; i < s; i++) mean += x[p * s + i];
            mean /= s;
            for (int i = 0; i < s; i++) { double dd = x[p * s + i] - mean; var += dd * dd; }
            var /= s;
            int ch = p % c;
            for (int i = 0; i < s; i++)
                y[p * s + i] = (x[p * s + i] - mean) / Math.Sqrt(var + eps) * (gamma?[ch] ?? 1) + (beta?[ch] ?? 0);
        }
        return y;
    }

    [Theory, MemberData(nameof(All))]
    public void InstanceNormAffineBothOrders(string backend)
    {
        int n = 2, c = 3, h = 3, w = 4;
        CheckBothOrders(backend,
            [new("x", [n, c, h, w], Random(n * c * h * w, 41, 2)), new("gamma", [c], Random(c, 42, 1, 0.3)), new("beta", [c], Random(c, 43))],
            v => InstanceNormRef(v[0], v[1], v[2], n, c, h * w, 1e-5),
            t => Ops.InstanceNorm(t[0], t[1], t[2], 1e-5f));
    }

    [Theory, MemberData(nameof(All))]
    public void InstanceNormPlainBothOrders(string backend)
    {
        int n = 3, c = 2, h = 2, w = 5;
        CheckBothOrders(backend,
            [new("x", [n, c, h, w], Random(n * c * h * w, 44, 1.5))],
            v => InstanceNormRef(v[0], null, null, n, c, h * w, 1e-5),
            t => Ops.InstanceNorm(t[0], null, null, 1e-5f));
    }

    private static double[] ReflectionPadRef(double[] x, int planes, int h, int w, int p)
    {
        static int R(int k, int m) => k < 0 ? -k : k >= m ? 2 * (m - 1) - k : k;
        int ho = h + 2 * p, wo = w + 2 * p;
        var y = new double[planes * ho * wo];
        for (int q = 0; q < planes; q++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                    y[(q * ho + i) * wo + j] = x[(q * h + R(i - p, h)) * w + R(j - p, w)];
        return y;
    }

    [Theory, MemberData(nameof(All))]
    public void ReflectionPadBothOrders(string backend)
    {
        foreach (var (h, w, p) in new[] { (4, 5, 1), (4, 5, 3), (5, 3, 2), (2, 2, 1) })
            CheckBothOrders(backend,
                [new("x", [2, 2, h, w], Random(4 * h * w, 50 + p))],
                v => ReflectionPadRef(v[0], 4, h, w, p),
                t => Ops.ReflectionPad2d(t[0], p));
    }

    [Theory, MemberData(nameof(All))]
    public void CatBothOrders(string backend)
    {
        // (N, C_k, H, W) parts: y[n] = x0[n], x1[n], x2[n] one after another.
        int n = 2, s = 6;
        int[] cs = [1, 3, 2];
        double[] CatRef(double[][] v)
        {
            var y = new List<double>();
            for (int i = 0; i < n; i++)
                for (int k = 0; k < cs.Length; k++) y.AddRange(v[k].Skip(i * cs[k] * s).Take(cs[k] * s));
            return y.ToArray();
        }
        CheckBothOrders(backend,
            [new("x0", [n, cs[0], 2, 3], Random(n * cs[0] * s, 61)), new("x1", [n, cs[1], 2, 3], Random(n * cs[1] * s, 62)),
             new("x2", [n, cs[2], 2, 3], Random(n * cs[2] * s, 63))],
            CatRef,
            t => Ops.Cat(t[0], t[1], t[2]));
        Check(backend,
            [new("x0", [3, 4], Random(12, 64)), new("x1", [3, 2], Random(6, 65))],
            v => Enumerable.Range(0, 3).SelectMany(i => v[0].Skip(i * 4).Take(4).Concat(v[1].Skip(i * 2).Take(2))).ToArray(),
            t => Ops.Cat(t[0], t[1]));
    }

    [Theory, MemberData(nameof(All))]
    public void L1Loss(string backend)
    {
        // |x - t| has a kink at x = t: differences kept at least 0.05 away from it (h is 1e-6).
        var t = Random(30, 71);
        var diff = Random(30, 72, 1, 0.05);
        var x = t.Zip(diff, (a, b) => a + b).ToArray();
        Check(backend,
            [new("x", [2, 3, 5], x), new("target", [2, 3, 5], t)],
            v => [v[0].Zip(v[1], (a, b) => Math.Abs(a - b)).Average()],
            u => Ops.L1Loss(u[0], u[1]));
    }

    [Theory, MemberData(nameof(All))]
    public void MseLossBothOrders(string backend)
    {
        CheckBothOrders(backend,
            [new("x", [4, 7], Random(28, 73)), new("target", [4, 7], Random(28, 74))],
            v => [v[0].Zip(v[1], (a, b) => (a - b) * (a - b)).Average()],
            u => Ops.MseLoss(u[0], u[1]));
    }
}
