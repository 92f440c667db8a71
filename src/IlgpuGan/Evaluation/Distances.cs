using ILGPU;
using ILGPU.Runtime;
using IlgpuGan.Kernels;

namespace IlgpuGan.Evaluation;

/// <summary>
/// Squared Euclidean distances between the rows of two sets, in blocks of rows of the first set,
/// so that 10,000 x 10,000 pairs never need to be held at once. Small problems (n m dim up to
/// <see cref="ExactLimit"/>) are computed directly in float64, exactly as a float64 reference would;
/// larger ones as ||a||^2 + ||b||^2 - 2 a.b with the products from the device's float32 GEMM, after
/// both sets are centred on a common mean (which keeps the cancellation small: distances between
/// near neighbours come out with a relative error of about 1e-6, far below what decides a
/// neighbourhood). The callback receives the block as float64.
/// </summary>
public static class Distances
{
    /// <summary>Problems of at most this many multiply-adds are computed exactly in float64.</summary>
    public const long ExactLimit = 1L << 25;

    /// <summary>Rows of <paramref name="a"/> per block (the block holds rows x m float64).</summary>
    public static int BlockRows(int m) => Math.Clamp((int)(32_000_000L / 8 / Math.Max(m, 1)), 16, 4096);

    /// <summary>
    /// Calls <paramref name="visit"/>(first row, rows, block) for consecutive blocks of a's rows,
    /// where block[r * m + j] = ||a[first + r] - b[j]||^2. The visitor may split its work over the cores.
    /// </summary>
    public static void SquaredBlocks(Device? device, float[] a, int n, float[] b, int m, int dim, Action<int, int, double[]> visit)
    {
        if (a.Length < (long)n * dim || b.Length < (long)m * dim)
            throw new ArgumentException($"Expected {n} and {m} rows of {dim} values; got {a.Length} and {b.Length} values.");
        int rows = BlockRows(m);
        var block = new double[(long)Math.Min(rows, n) * m];
        if (device is null || (long)n * m * dim <= ExactLimit)
        {
            for (int first = 0; first < n; first += rows)
            {
                int count = Math.Min(rows, n - first);
                Parallel.For(0, count, r =>
                {
                    int i = first + r;
                    for (int j = 0; j < m; j++)
                    {
                        double s = 0;
                        for (int k = 0; k < dim; k++) { double d = (double)a[i * dim + k] - b[j * dim + k]; s += d * d; }
                        block[(long)r * m + j] = s;
                    }
                });
                visit(first, count, block);
            }
            return;
        }

        // Centre both sets on the mean of all their rows.
        var centre = new double[dim];
        for (int i = 0; i < n; i++) for (int k = 0; k < dim; k++) centre[k] += a[i * dim + k];
        for (int j = 0; j < m; j++) for (int k = 0; k < dim; k++) centre[k] += b[j * dim + k];
        for (int k = 0; k < dim; k++) centre[k] /= n + m;
        float[] ca = Centred(a, n, dim, centre, out double[] na), cb = Centred(b, m, dim, centre, out double[] nb);

        using var ta = device.Persistent(new Shape(n, dim), ca);
        using var tb = device.Persistent(new Shape(m, dim), cb);
        using var prod = device.Persistent(new Shape(Math.Min(rows, n), m));
        var host = new float[block.Length];
        for (int first = 0; first < n; first += rows)
        {
            int count = Math.Min(rows, n - first);
            // prod (count x m) = a[first..] (count x dim) b^T (dim x m)
            device.Kernels.Gemm(GemmShape.Dense(count, m, dim, transB: true), ta.View.SubView((long)first * dim, (long)count * dim), tb.View,
                prod.View.SubView(0, (long)count * m), 1f, 0f);
            prod.View.SubView(0, (long)count * m).CopyToCPU(device.Accelerator.DefaultStream, host.AsSpan(0, count * m));
            device.Accelerator.DefaultStream.Synchronize();
            Parallel.For(0, count, r =>
            {
                double ni = na[first + r];
                long at = (long)r * m;
                for (int j = 0; j < m; j++) block[at + j] = Math.Max(0, ni + nb[j] - 2.0 * host[at + j]);
            });
            visit(first, count, block);
        }
    }

    private static float[] Centred(float[] x, int n, int dim, double[] centre, out double[] norms)
    {
        var c = new float[(long)n * dim];
        var nn = new double[n];
        Parallel.For(0, n, i =>
        {
            double s = 0;
            for (int k = 0; k < dim; k++)
            {
                float v = (float)(x[i * dim + k] - centre[k]);
                c[i * dim + k] = v;
                s += (double)v * v;
            }
            nn[i] = s;
        });
        norms = nn;
        return c;
    }

    /// <summary>
    /// For each row of <paramref name="a"/>, the k-th smallest squared distance to the other rows of
    /// a (itself excluded by index) — the radius of its k-nearest-neighbour ball, squared.
    /// </summary>
    public static double[] KthNeighbourSquared(Device? device, float[] a, int n, int dim, int k)
    {
        if (n <= k) throw new ArgumentException($"A k-nearest-neighbour radius with k = {k} needs at least {k + 1} samples; got {n}.");
        var radius = new double[n];
        SquaredBlocks(device, a, n, a, n, dim, (first, rows, block) => Parallel.For(0, rows, r =>
        {
            Span<double> best = stackalloc double[k];
            best.Fill(double.PositiveInfinity);
            long at = (long)r * n;
            for (int j = 0; j < n; j++)
            {
                if (j == first + r) continue;
                double d = block[at + j];
                if (d >= best[k - 1]) continue;
                int p = k - 1;
                while (p > 0 && best[p - 1] > d) { best[p] = best[p - 1]; p--; }
                best[p] = d;
            }
            radius[first + r] = best[k - 1];
        }));
        return radius;
    }

    /// <summary>For each row of a, the index of its nearest row of b and that squared distance
    /// (with <paramref name="excludeSelf"/>, a and b are one set and row i skips itself).</summary>
    public static (int[] Index, double[] Squared) Nearest(Device? device, float[] a, int n, float[] b, int m, int dim, bool excludeSelf = false)
    {
        var index = new int[n];
        var dist = new double[n];
        SquaredBlocks(device, a, n, b, m, dim, (first, rows, block) => Parallel.For(0, rows, r =>
        {
            long at = (long)r * m;
            int best = -1; double bd = double.PositiveInfinity;
            for (int j = 0; j < m; j++)
            {
                if (excludeSelf && j == first + r) continue;
                if (block[at + j] < bd) { bd = block[at + j]; best = j; }
            }
            index[first + r] = best; dist[first + r] = bd;
        }));
        return (index, dist);
    }
}
