using IlgpuGan.Evaluation;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Evaluation;

/// <summary>Closed-form checks of the metrics (the reference cases check them against NumPy/SciPy).</summary>
[Collection("devices")]
public sealed class MetricsTests
{
    private static double Gauss(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    /// <summary>A random orthogonal d x d matrix (Gram-Schmidt of a Gaussian matrix).</summary>
    private static double[] Orthogonal(int d, Random r)
    {
        var q = new double[d * d];
        for (int i = 0; i < q.Length; i++) q[i] = Gauss(r);
        for (int c = 0; c < d; c++)
        {
            for (int p = 0; p < c; p++)
            {
                double dot = 0;
                for (int k = 0; k < d; k++) dot += q[k * d + c] * q[k * d + p];
                for (int k = 0; k < d; k++) q[k * d + c] -= dot * q[k * d + p];
            }
            double norm = 0;
            for (int k = 0; k < d; k++) norm += q[k * d + c] * q[k * d + c];
            for (int k = 0; k < d; k++) q[k * d + c] /= Math.Sqrt(norm);
        }
        return q;
    }

    /// <summary>Q diag(l) Q^T.</summary>
    private static double[] Compose(double[] q, double[] l, int d)
    {
        var a = new double[d * d];
        for (int i = 0; i < d; i++) for (int j = 0; j < d; j++)
            {
                double s = 0;
                for (int k = 0; k < d; k++) s += q[i * d + k] * l[k] * q[j * d + k];
                a[i * d + j] = s;
            }
        return a;
    }

    [Fact]
    public void SymmetricEigenRebuildsTheMatrix()
    {
        var r = new Random(1);
        int d = 24;
        var q = Orthogonal(d, r);
        var l = Enumerable.Range(0, d).Select(i => Math.Pow(1.5, i - 12)).ToArray();
        var a = Compose(q, l, d);
        var (values, v) = Linalg.SymmetricEigen(a, d);
        Assert.Equal(l.Order().ToArray(), values.Order().ToArray(), (x, y) => Math.Abs(x - y) <= 1e-12 * Math.Max(1, Math.Abs(x)));
        var back = Compose(v, values, d);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(back[i] - a[i]) < 1e-12, $"entry {i}: {back[i]} vs {a[i]}");
    }

    [Fact]
    public void FrechetOfGaussiansWithKnownMoments()
    {
        // S1 = Q diag(a) Q^T and S2 = Q diag(b) Q^T commute: tr sqrt(S1 S2) = sum sqrt(a_i b_i), so
        // FID = |m1 - m2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
        var r = new Random(2);
        int d = 16;
        var q = Orthogonal(d, r);
        double[] a = Enumerable.Range(0, d).Select(_ => 0.1 + 3 * r.NextDouble()).ToArray();
        double[] b = Enumerable.Range(0, d).Select(_ => 0.1 + 3 * r.NextDouble()).ToArray();
        double[] m1 = Enumerable.Range(0, d).Select(_ => Gauss(r)).ToArray(), m2 = Enumerable.Range(0, d).Select(_ => Gauss(r)).ToArray();
        double expected = m1.Zip(m2, (x, y) => (x - y) * (x - y)).Sum() + a.Zip(b, (x, y) => (Math.Sqrt(x) - Math.Sqrt(y)) * (Math.Sqrt(x) - Math.Sqrt(y))).Sum();
        double fid = Metrics.Frechet(m1, Compose(q, a, d), m2, Compose(q, b, d), d);
        Assert.Equal(expected, fid, 9);

        // Non-commuting: S1 = I, S2 any: tr sqrt(S2) = sum sqrt(eigenvalues).
        var q2 = Orthogonal(d, r);
        var eye = Compose(q, Enumerable.Repeat(1.0, d).ToArray(), d);
        double expected2 = d + b.Sum() - 2 * b.Sum(Math.Sqrt);
        Assert.Equal(expected2, Metrics.Frechet(new double[d], eye, new double[d], Compose(q2, b, d), d), 9);
    }

    [Fact]
    public void FidOfSamplesApproachesTheClosedForm()
    {
        // Samples of N(0, I) and N(mu, 4 I) in 8 dimensions: FID = |mu|^2 + 8 (2 - 1)^2.
        var r = new Random(3);
        int d = 8, n = 20000;
        var x = new float[n * d]; var y = new float[n * d];
        for (int i = 0; i < x.Length; i++) { x[i] = (float)Gauss(r); y[i] = (float)(0.5 + 2 * Gauss(r)); }
        double expected = d * 0.25 + d;
        double fid = Metrics.Fid(new FeatureSet(x, n, d), new FeatureSet(y, n, d));
        Assert.InRange(fid, expected * 0.97, expected * 1.03);
        Assert.InRange(Metrics.Fid(new FeatureSet(x, n, d), new FeatureSet(x, n, d)), -1e-9, 1e-9);
    }

    [Fact]
    public void FidSaysHowManySamplesACovarianceNeeds()
    {
        var few = new FeatureSet(new float[100 * 128], 100, 128);
        var many = new FeatureSet(new float[500 * 128], 500, 128);
        var e = Assert.Throws<ArgumentException>(() => Metrics.Fid(many, few));
        Assert.Contains("at least 129 samples", e.Message);
        Assert.Contains("got 100", e.Message);
    }

    private static FeatureSet Blobs(int n, int d, int seed, double shift = 0)
    {
        var r = new Random(seed);
        var x = new float[n * d];
        for (int i = 0; i < n; i++) for (int k = 0; k < d; k++) x[i * d + k] = (float)(Gauss(r) + shift + (i % 5) * (k == 0 ? 3 : 0));
        return new FeatureSet(x, n, d);
    }

    [Fact]
    public void KidOfASetWithItselfIsAboutZero()
    {
        // Against itself the unbiased estimate is -(2/n)(mean k(x, x) - mean k(x, y)): zero up to a
        // 1/n term (the cross sum includes the diagonal); two samples of one distribution give about 0,
        // a shifted distribution clearly more.
        int n = 2000, d = 16;
        var a = Blobs(n, d, 4);
        double self = Metrics.KidOnce(null, a, a);
        double meanDiag = Enumerable.Range(0, n).Average(i =>
        {
            double dot = 0;
            for (int k = 0; k < d; k++) dot += (double)a.Data[i * d + k] * a.Data[i * d + k];
            return Math.Pow(dot / d + 1, 3);
        });
        Assert.InRange(self, -2 * meanDiag / n, 0);
        double shifted = Metrics.KidOnce(null, a, Blobs(n, d, 5, shift: 0.5));
        double same = Metrics.KidOnce(null, a, Blobs(n, d, 6));
        Assert.True(Math.Abs(same) < 0.02 * shifted, $"same distribution {same}, shifted {shifted}");
        Assert.True(Math.Abs(self) < 0.05 * shifted, $"itself {self}, shifted {shifted}");
        var sub = Metrics.Kid(null, a, Blobs(n, d, 6), subsets: 10, subsetSize: 500);
        Assert.True(Math.Abs(sub.Mean) < 0.02 * shifted, $"subsets {sub}");
    }

    [Fact]
    public void PrecisionAndRecallOfASetAgainstItselfAreOne()
    {
        var a = Blobs(300, 8, 7);
        var pr = Metrics.PrecisionRecall(null, a, a);
        Assert.Equal(1.0, pr.Precision);
        Assert.Equal(1.0, pr.Recall);
        Assert.Equal(1.0, pr.Coverage);
        // A set far away: nothing inside the other's balls.
        var far = Metrics.PrecisionRecall(null, a, Blobs(300, 8, 8, shift: 100));
        Assert.Equal(0.0, far.Precision);
        Assert.Equal(0.0, far.Recall);
        Assert.Equal(0.0, far.Density);
    }

    [Fact]
    public void DevicePathAgreesWithTheExactPath()
    {
        // 1,500 x 1,500 x 32 multiply-adds is above the exact limit: the device GEMM computes the products.
        var device = Backends.Get("cpu");
        var a = Blobs(1500, 32, 9);
        var b = Blobs(1500, 32, 10, shift: 0.2);
        Assert.True(1500L * 1500 * 32 > Distances.ExactLimit);
        var exact = Metrics.PrecisionRecall(null, a, b);
        var fast = Metrics.PrecisionRecall(device, a, b);
        Assert.Equal(exact.Precision, fast.Precision, 3);
        Assert.Equal(exact.Recall, fast.Recall, 3);
        Assert.Equal(exact.Density, fast.Density, 3);
        Assert.Equal(exact.Coverage, fast.Coverage, 3);
        double k0 = Metrics.KidOnce(null, a, b), k1 = Metrics.KidOnce(device, a, b);
        Assert.True(Math.Abs(k0 - k1) <= 1e-4 * Math.Abs(k0) + 1e-6, $"KID exact {k0}, device {k1}");
        var (i0, d0) = Distances.Nearest(null, a.Data, 1500, b.Data, 1500, 32);
        var (i1, d1) = Distances.Nearest(device, a.Data, 1500, b.Data, 1500, 32);
        Assert.True(i0.Zip(i1).Count(p => p.First != p.Second) <= 2);
        for (int i = 0; i < d0.Length; i++) Assert.True(Math.Abs(d0[i] - d1[i]) <= 1e-4 * d0[i] + 1e-4, $"row {i}: {d0[i]} vs {d1[i]}");
    }

    [Fact]
    public void InceptionScoreOfUniformAndConfidentPredictions()
    {
        int n = 1000, c = 10;
        var uniform = Enumerable.Repeat(0.1f, n * c).ToArray();
        Assert.Equal(1.0, Metrics.InceptionScore(uniform, n, c).Mean, 6);
        var confident = new float[n * c];
        for (int i = 0; i < n; i++) confident[i * c + i % c] = 1;
        var s = Metrics.InceptionScore(confident, n, c);
        Assert.Equal(10.0, s.Mean, 6);
        Assert.Equal(0.0, s.Std, 6);
    }

    [Fact]
    public void OneClassShowsOneClassCoveredAndAHighKl()
    {
        var labels = Enumerable.Repeat(3, 995).Concat(Enumerable.Repeat(7, 5)).ToArray();
        var f = Metrics.Classes(labels, 10);
        Assert.Equal(1, f.Covered);               // 5 stray 7s (a classifier's mistakes) are below a tenth of a uniform share (100 / 10)
        Assert.True(f.KlToUniform > 2.0, $"KL {f.KlToUniform}");
        var uniform = Metrics.Classes(Enumerable.Range(0, 1000).Select(i => i % 10).ToArray(), 10);
        Assert.Equal(10, uniform.Covered);
        Assert.Equal(1.0, uniform.Entropy, 9);
        Assert.Equal(0.0, uniform.KlToUniform, 9);
    }
}
