using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Autograd;

/// <summary>Finite-difference checks of conv2d and conv_transpose2d on small odd shapes: stride 1-3,
/// padding 0-2, output_padding 0-2, kernel 1-5, batch 1 and 3, with and without bias.</summary>
public sealed partial class GradCheckTests
{
    /// <summary>(n, cin, h, w, cout, k, stride, pad, bias) for conv2d.</summary>
    public static TheoryData<string, int[]> ConvCases() => Cross(
        [1, 2, 5, 4, 3, 1, 1, 0, 1],
        [3, 2, 7, 6, 2, 3, 2, 1, 0],
        [1, 3, 9, 7, 2, 5, 3, 2, 1],
        [3, 1, 6, 8, 2, 4, 2, 2, 0],
        [1, 2, 5, 5, 3, 2, 1, 1, 0],
        [3, 2, 4, 5, 2, 3, 1, 2, 1]);

    /// <summary>(n, cin, h, w, cout, k, stride, pad, outputPadding, bias) for conv_transpose2d.</summary>
    public static TheoryData<string, int[]> ConvTransposeCases() => Cross(
        [1, 2, 3, 4, 3, 3, 1, 0, 0, 1],
        [3, 2, 3, 2, 2, 4, 2, 1, 1, 0],
        [1, 3, 2, 3, 2, 5, 3, 2, 2, 1],
        [3, 2, 4, 3, 1, 1, 1, 0, 0, 0],
        [1, 1, 2, 2, 2, 3, 3, 0, 1, 1],
        [3, 2, 1, 1, 3, 4, 2, 0, 1, 0]);

    private static TheoryData<string, int[]> Cross(params int[][] cases)
    {
        var data = new TheoryData<string, int[]>();
        foreach (var b in Backends.Names)
            foreach (var c in cases)
                data.Add(b, c);
        return data;
    }

    /// <summary>The direct convolution in double: x (n, ci, h, w), w (co, ci, k, k).</summary>
    private static double[] ConvRef(double[] x, double[] w, double[]? b, int n, int ci, int h, int wd, int co, int k, int s, int p)
    {
        int ho = (h + 2 * p - k) / s + 1, wo = (wd + 2 * p - k) / s + 1;
        var y = new double[n * co * ho * wo];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < co; o++)
                for (int oh = 0; oh < ho; oh++)
                    for (int ow = 0; ow < wo; ow++)
                    {
                        double sum = b?[o] ?? 0;
                        for (int c = 0; c < ci; c++)
                            for (int kh = 0; kh < k; kh++)
                                for (int kw = 0; kw < k; kw++)
                                {
                                    int ih = oh * s - p + kh, iw = ow * s - p + kw;
                                    if (ih < 0 || iw < 0 || ih >= h || iw >= wd) continue;
                                    sum += x[((i * ci + c) * h + ih) * wd + iw] * w[((o * ci + c) * k + kh) * k + kw];
                                }
                        y[((i * co + o) * ho + oh) * wo + ow] = sum;
                    }
        return y;
    }

    /// <summary>The transposed convolution in double, scattering each input: x (n, ci, h, w), w (ci, co, k, k).</summary>
    private static double[] ConvTransposeRef(double[] x, double[] w, double[]? b, int n, int ci, int h, int wd, int co, int k, int s, int p, int op)
    {
        int ho = (h - 1) * s - 2 * p + k + op, wo = (wd - 1) * s - 2 * p + k + op;
        var y = new double[n * co * ho * wo];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < co; o++)
                for (int j = 0; j < ho * wo; j++)
                    y[(i * co + o) * ho * wo + j] = b?[o] ?? 0;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < ci; c++)
                for (int ih = 0; ih < h; ih++)
                    for (int iw = 0; iw < wd; iw++)
                        for (int o = 0; o < co; o++)
                            for (int kh = 0; kh < k; kh++)
                                for (int kw = 0; kw < k; kw++)
                                {
                                    int oh = ih * s - p + kh, ow = iw * s - p + kw;
                                    if (oh < 0 || ow < 0 || oh >= ho || ow >= wo) continue;
                                    y[((i * co + o) * ho + oh) * wo + ow] += x[((i * ci + c) * h + ih) * wd + iw] * w[((c * co + o) * k + kh) * k + kw];
                                }
        return y;
    }

    [Theory, MemberData(nameof(ConvCases))]
    public void Conv2d(string backend, int[] c)
    {
        var (n, ci, h, w, co, k, s, p, hasBias) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8] != 0);
        var inputs = new List<Input>
        {
            new("x", [n, ci, h, w], Random(n * ci * h * w, 1)),
            new("w", [co, ci, k, k], Random(co * ci * k * k, 2)),
        };
        if (hasBias) inputs.Add(new("b", [co], Random(co, 3)));
        Check(backend, [.. inputs],
            v => ConvRef(v[0], v[1], hasBias ? v[2] : null, n, ci, h, w, co, k, s, p),
            t => Ops.Conv2d(t[0], t[1], hasBias ? t[2] : null, s, p));
    }

    [Theory, MemberData(nameof(ConvTransposeCases))]
    public void ConvTranspose2d(string backend, int[] c)
    {
        var (n, ci, h, w, co, k, s, p, op, hasBias) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9] != 0);
        var inputs = new List<Input>
        {
            new("x", [n, ci, h, w], Random(n * ci * h * w, 1)),
            new("w", [ci, co, k, k], Random(ci * co * k * k, 2)),
        };
        if (hasBias) inputs.Add(new("b", [co], Random(co, 3)));
        Check(backend, [.. inputs],
            v => ConvTransposeRef(v[0], v[1], hasBias ? v[2] : null, n, ci, h, w, co, k, s, p, op),
            t => Ops.ConvTranspose2d(t[0], t[1], hasBias ? t[2] : null, s, p, op));
    }

    [Theory, MemberData(nameof(All))]
    public void ConvRejectsBadShapes(string backend)
    {
        var d = Backends.Get(backend);
        using var x = d.Persistent(new Shape(2, 3, 5, 5));
        using var w = d.Persistent(new Shape(4, 2, 3, 3));
        using var big = d.Persistent(new Shape(4, 3, 7, 7));
        using var wt = d.Persistent(new Shape(3, 4, 3, 3));
        using var w3 = d.Persistent(new Shape(4, 3, 3, 3));
        try
        {
            Assert.Contains("same C", Assert.Throws<ArgumentException>(() => Ops.Conv2d(x, w, null)).Message);
            Assert.Contains("does not fit", Assert.Throws<ArgumentException>(() => Ops.Conv2d(x, big, null)).Message);
            Assert.Contains("output_padding", Assert.Throws<ArgumentException>(() => Ops.ConvTranspose2d(x, wt, null, 2, 1, 2)).Message);
            Assert.Contains("stride", Assert.Throws<ArgumentException>(() => Ops.Conv2d(x, w3, null, 0)).Message);
        }
        finally { d.Tape.EndStep(); }
    }
}
