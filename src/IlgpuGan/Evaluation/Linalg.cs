using System.Numerics.Tensors;

namespace IlgpuGan.Evaluation;

/// <summary>
/// The little dense linear algebra the metrics need, in float64: means, covariances and the
/// eigen-decomposition of a symmetric matrix (cyclic Jacobi, which is accurate to the last bits for
/// the small matrices of feature covariances: 128 x 128 takes a few milliseconds).
/// </summary>
public static class Linalg
{
    /// <summary>The column means of <paramref name="x"/> (n rows of <paramref name="dim"/>).</summary>
    public static double[] Mean(ReadOnlySpan<float> x, int n, int dim)
    {
        var mean = new double[dim];
        for (int i = 0; i < n; i++)
        {
            var row = x.Slice(i * dim, dim);
            for (int j = 0; j < dim; j++) mean[j] += row[j];
        }
        for (int j = 0; j < dim; j++) mean[j] /= n;
        return mean;
    }

    /// <summary>
    /// The sample covariance (divisor n - 1, as np.cov) of n rows, row-major dim x dim, accumulated
    /// in float64 from the centred rows. Rows are split over the cores, each adding a partial matrix.
    /// </summary>
    public static double[] Covariance(ReadOnlySpan<float> x, int n, int dim, double[] mean)
    {
        if (n < 2) throw new ArgumentException($"A covariance needs at least 2 samples; got {n}.");
        var data = x.ToArray();
        int parts = Math.Clamp(n / 256, 1, Environment.ProcessorCount);
        var partial = new double[parts][];
        Parallel.For(0, parts, p =>
        {
            var acc = new double[dim * dim];
            var c = new double[dim];
            int from = (int)((long)n * p / parts), to = (int)((long)n * (p + 1) / parts);
            for (int i = from; i < to; i++)
            {
                for (int j = 0; j < dim; j++) c[j] = data[i * dim + j] - mean[j];
                for (int j = 0; j < dim; j++)
                {
                    // upper triangle, row j: acc[j, k] += c[j] c[k] for k >= j (vectorised by TensorPrimitives)
                    var dst = acc.AsSpan(j * dim + j, dim - j);
                    TensorPrimitives.MultiplyAdd(c.AsSpan(j, dim - j), c[j], dst, dst);
                }
            }
            partial[p] = acc;
        });
        var cov = partial[0];
        for (int p = 1; p < parts; p++) TensorPrimitives.Add(cov, partial[p], cov);
        for (int j = 0; j < dim; j++)
            for (int k = j; k < dim; k++)
            {
                double v = cov[j * dim + k] / (n - 1);
                cov[j * dim + k] = v;
                cov[k * dim + j] = v;
            }
        return cov;
    }

    /// <summary>
    /// Eigenvalues and eigenvectors of the symmetric n x n matrix <paramref name="a"/> (row-major; not
    /// modified) by cyclic Jacobi rotations: returns the eigenvalues and V (row-major, column i the
    /// eigenvector of eigenvalue i), so that A = V diag(values) V^T.
    /// </summary>
    public static (double[] Values, double[] Vectors) SymmetricEigen(ReadOnlySpan<double> a, int n)
    {
        if (a.Length != n * n) throw new ArgumentException($"Expected {n}x{n} values; got {a.Length}.");
        var m = a.ToArray();
        var v = new double[n * n];
        for (int i = 0; i < n; i++) v[i * n + i] = 1;
        double scale = 0;
        foreach (double x in m) scale = Math.Max(scale, Math.Abs(x));
        if (scale == 0) return (new double[n], v);
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++) off += m[p * n + q] * m[p * n + q];
            if (off <= 1e-30 * scale * scale) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = m[p * n + q];
                    if (Math.Abs(apq) <= 1e-300) continue;
                    double app = m[p * n + p], aqq = m[q * n + q];
                    double theta = (aqq - app) / (2 * apq);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    // A' = J^T A J on rows/columns p and q
                    for (int k = 0; k < n; k++)
                    {
                        double akp = m[k * n + p], akq = m[k * n + q];
                        m[k * n + p] = c * akp - s * akq;
                        m[k * n + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = m[p * n + k], aqk = m[q * n + k];
                        m[p * n + k] = c * apk - s * aqk;
                        m[q * n + k] = s * apk + c * aqk;
                    }
                    m[p * n + q] = m[q * n + p] = 0;
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k * n + p], vkq = v[k * n + q];
                        v[k * n + p] = c * vkp - s * vkq;
                        v[k * n + q] = s * vkp + c * vkq;
                    }
                }
        }
        var values = new double[n];
        for (int i = 0; i < n; i++) values[i] = m[i * n + i];
        return (values, v);
    }

    /// <summary>The symmetric square root V diag(sqrt(max(l, 0))) V^T of a symmetric positive semi-definite matrix.</summary>
    public static double[] SqrtPsd(ReadOnlySpan<double> a, int n)
    {
        var (values, v) = SymmetricEigen(a, n);
        var r = new double[n * n];
        var w = new double[n];
        for (int i = 0; i < n; i++) w[i] = Math.Sqrt(Math.Max(values[i], 0));
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
            {
                double s = 0;
                for (int k = 0; k < n; k++) s += v[i * n + k] * w[k] * v[j * n + k];
                r[i * n + j] = r[j * n + i] = s;
            }
        return r;
    }

    /// <summary>C = A B for row-major n x n matrices.</summary>
    public static double[] Multiply(ReadOnlySpan<double> a, ReadOnlySpan<double> b, int n)
    {
        var c = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            var ci = c.AsSpan(i * n, n);
            for (int k = 0; k < n; k++)
            {
                double aik = a[i * n + k];
                if (aik != 0) TensorPrimitives.MultiplyAdd(b.Slice(k * n, n), aik, ci, ci);
            }
        }
        return c;
    }
}
