using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Autograd;

// Gradient checks of the classifier ops (issue 13): max and average pooling (overlapping windows,
// padding, a window that does not tile the input) and cross-entropy (large logits).
public sealed partial class GradCheckTests
{
    private static double[] PoolRef(double[] x, int n, int c, int h, int w, int k, int s, int p, bool max)
    {
        int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
        var y = new double[n * c * ho * wo];
        for (int plane = 0; plane < n * c; plane++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                {
                    double acc = max ? double.NegativeInfinity : 0;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++)
                        {
                            int hh = oh * s - p + i, ww = ow * s - p + j;
                            if (hh < 0 || hh >= h || ww < 0 || ww >= w) continue;
                            double v = x[(plane * h + hh) * w + ww];
                            acc = max ? Math.Max(acc, v) : acc + v;
                        }
                    y[(plane * ho + oh) * wo + ow] = max ? acc : acc / (k * k);
                }
        return y;
    }

    /// <summary>Distinct values (a shuffled ramp plus noise), so no max-pool window has a tie that a
    /// finite difference would straddle.</summary>
    private static double[] Distinct(int len, int seed)
    {
        var r = new Random(seed);
        var v = Enumerable.Range(0, len).Select(i => i * 0.05 + r.NextDouble() * 0.01).ToArray();
        r.Shuffle(v);
        return v;
    }

    public static TheoryData<string, int[]> PoolCases()
    {
        // n, c, h, w, kernel, stride, padding
        int[][] shapes = [[2, 3, 6, 6, 2, 2, 0], [1, 2, 7, 5, 3, 2, 0], [2, 1, 5, 6, 3, 1, 1], [1, 2, 9, 7, 4, 3, 2]];
        var data = new TheoryData<string, int[]>();
        foreach (var b in Backends.Names) foreach (var s in shapes) data.Add(b, s);
        return data;
    }

    [Theory, MemberData(nameof(PoolCases))]
    public void MaxPool2d(string backend, int[] a)
    {
        var (n, c, h, w, k, s, p) = (a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
        Check(backend, [new("x", [n, c, h, w], Distinct(n * c * h * w, 20))],
            v => PoolRef(v[0], n, c, h, w, k, s, p, max: true),
            t => Ops.MaxPool2d(t[0], k, s, p));
    }

    [Theory, MemberData(nameof(PoolCases))]
    public void AvgPool2d(string backend, int[] a)
    {
        var (n, c, h, w, k, s, p) = (a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
        Check(backend, [new("x", [n, c, h, w], Random(n * c * h * w, 21))],
            v => PoolRef(v[0], n, c, h, w, k, s, p, max: false),
            t => Ops.AvgPool2d(t[0], k, s, p));
    }

    [Theory, MemberData(nameof(All))]
    public void CrossEntropy(string backend)
    {
        int n = 5, c = 7;
        double[] target = [3, 0, 6, 3, 1];
        var x = Random(n * c, 22, 3);
        x[2] = 40;                                   // a large logit: still finite and exact
        Check(backend,
            [new("x", [n, c], x), new("t", [n], target, Grad: false)],
            v =>
            {
                double loss = 0;
                for (int i = 0; i < n; i++)
                {
                    var row = v[0].AsSpan(i * c, c);
                    double max = double.NegativeInfinity;
                    foreach (double e in row) max = Math.Max(max, e);
                    double s = 0;
                    foreach (double e in row) s += Math.Exp(e - max);
                    loss += Math.Log(s) + max - row[(int)v[1][i]];
                }
                return [loss / n];
            },
            t => Ops.CrossEntropy(t[0], t[1]));
    }

    [Fact]
    public void PoolingRefusesAWindowThatDoesNotFit()
    {
        var d = Backends.Get("cpu");
        using var x = d.Persistent(new Shape(1, 1, 2, 2));
        var e = Assert.Throws<ArgumentException>(() => Ops.MaxPool2d(x, 3));
        Assert.Contains("does not fit", e.Message);
    }
}
