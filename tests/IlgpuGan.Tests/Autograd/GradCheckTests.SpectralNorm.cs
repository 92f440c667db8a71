using IlgpuGan.Nn;

namespace IlgpuGan.Tests.Autograd;

// Spectral normalisation (the cdcgan28 projection discriminator's layers): W / (u^T W v) with the
// gradient through sigma, finite-difference checked on every backend, and its power iteration
// against the largest singular value computed in float64.
public sealed partial class GradCheckTests
{
    [Theory, MemberData(nameof(All))]
    public void SpectralNormWithFixedVectors(string backend)
    {
        int rows = 3, cols = 4;
        double[] u = Unit(Random(rows, 31)), v = Unit(Random(cols, 32));
        Check(backend,
            [new("w", [rows, cols], Random(rows * cols, 33, awayFromZero: 0.1)), new("u", [1, rows], u, Grad: false), new("v", [1, cols], v, Grad: false)],
            x =>
            {
                double sigma = 0;
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < cols; j++) sigma += x[1][i] * x[0][i * cols + j] * x[2][j];
                return x[0].Select(w => w / sigma).ToArray();
            },
            t =>
            {
                var sn = new SpectralNorm(t[0].Device, t[0].Shape);   // its u, v and constant outlive the check: a few floats
                t[0].Device.Kernels.Copy(t[1].View, sn.U.View);
                t[0].Device.Kernels.Copy(t[2].View, sn.V.View);
                return sn.Apply(t[0], training: false);   // eval mode: the vectors as given
            });
    }

    [Theory, MemberData(nameof(All))]
    public void SpectralNormPowerIterationFindsTheLargestSingularValue(string backend)
    {
        var d = IlgpuGan.Tests.Support.Backends.Get(backend);
        int rows = 6, cols = 10;
        double[] w = Random(rows * cols, 34);
        // float64 reference: the largest eigenvalue of W^T W by a long power iteration
        var x = Unit(Random(cols, 35));
        for (int it = 0; it < 2000; it++)
        {
            var wx = new double[rows];
            for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) wx[i] += w[i * cols + j] * x[j];
            var y = new double[cols];
            for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) y[j] += w[i * cols + j] * wx[i];
            x = Unit(y);
        }
        var wxs = new double[rows];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) wxs[i] += w[i * cols + j] * x[j];
        double sigma = Math.Sqrt(wxs.Sum(a => a * a));

        using var weight = d.Persistent(new Shape(rows, cols), w.Select(a => (float)a).ToArray());
        var sn = new SpectralNorm(d, weight.Shape);
        try
        {
            float[] scaled = [];
            for (int it = 0; it < 25; it++)
            {
                scaled = sn.Apply(weight, training: true).ToArray();
                d.Tape.EndStep();
            }
            // W / sigma: every element is w / sigma(W)
            for (int i = 0; i < w.Length; i++)
                Assert.True(Math.Abs(scaled[i] - w[i] / sigma) <= 1e-4 * Math.Abs(w[i] / sigma) + 1e-6,
                    $"{backend}: element {i} is {scaled[i]}, w / sigma = {w[i] / sigma} (sigma {sigma})");
        }
        finally { sn.U.Dispose(); sn.V.Dispose(); sn.Dispose(); }
    }

    private static double[] Unit(double[] x)
    {
        double n = Math.Sqrt(x.Sum(a => a * a));
        return x.Select(a => a / n).ToArray();
    }
}
