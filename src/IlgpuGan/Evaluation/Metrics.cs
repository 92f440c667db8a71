namespace IlgpuGan.Evaluation;

/// <summary>A set of feature vectors: <see cref="Count"/> rows of <see cref="Dim"/> floats, row-major.</summary>
public sealed record FeatureSet(float[] Data, int Count, int Dim)
{
    public static FeatureSet From(float[] data, int dim) =>
        data.Length % dim == 0 ? new(data, data.Length / dim, dim) : throw new ArgumentException($"{data.Length} values are not rows of {dim}.");

    /// <summary>The first <paramref name="n"/> rows (no copy when n is all of them).</summary>
    public FeatureSet Take(int n) => n >= Count ? this : new(Data.AsSpan(0, n * Dim).ToArray(), n, Dim);

    /// <summary>The rows with these indices.</summary>
    public FeatureSet Rows(IReadOnlyList<int> rows)
    {
        var d = new float[rows.Count * Dim];
        for (int i = 0; i < rows.Count; i++) Data.AsSpan(rows[i] * Dim, Dim).CopyTo(d.AsSpan(i * Dim));
        return new(d, rows.Count, Dim);
    }
}

/// <summary>Mean and standard deviation over subsets or splits.</summary>
public readonly record struct MeanStd(double Mean, double Std);

/// <summary>Precision, recall, density and coverage of generated samples against real ones (k-NN balls).</summary>
public readonly record struct PrecisionRecall(double Precision, double Recall, double Density, double Coverage);

/// <summary>The mode-collapse figures of a set of predicted classes.</summary>
/// <param name="Histogram">Samples per class.</param>
/// <param name="Covered">Classes holding at least <paramref name="CoverThreshold"/> samples.</param>
/// <param name="Entropy">The histogram's entropy over log(classes): 1 for uniform, 0 for one class.</param>
/// <param name="KlToUniform">KL(histogram || uniform) in nats: log(classes) - H; 0 for uniform.</param>
public sealed record ClassFigures(int[] Histogram, int Covered, int CoverThreshold, double Entropy, double KlToUniform);

/// <summary>
/// The evaluation metrics of GAN samples (FORMAT-next.md's <c>metrics</c> and <c>inception_score</c>
/// define them), on feature vectors from a classifier's penultimate layer and on its class
/// probabilities. Everything that sums is float64.
/// </summary>
public static class Metrics
{
    /// <summary>
    /// Fréchet distance between Gaussians fitted to a and b (np.cov, divisor n - 1):
    /// |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr sqrt(S_a S_b), the last term as the sum of the square
    /// roots of the eigenvalues of sqrt(S_a) S_b sqrt(S_a) (the same eigenvalues as S_a S_b, but of a
    /// symmetric matrix). Each set needs more samples than the feature size.
    /// </summary>
    public static double Fid(FeatureSet a, FeatureSet b)
    {
        RequireSameDim(a, b);
        RequireCovariance(a, "the first set"); RequireCovariance(b, "the second set");
        var (ma, ca) = Moments(a);
        var (mb, cb) = Moments(b);
        return Frechet(ma, ca, mb, cb, a.Dim);
    }

    /// <summary>The mean and covariance of a set (for a reference set used many times).</summary>
    public static (double[] Mean, double[] Cov) Moments(FeatureSet s)
    {
        var mean = Linalg.Mean(s.Data, s.Count, s.Dim);
        return (mean, Linalg.Covariance(s.Data, s.Count, s.Dim, mean));
    }

    /// <summary>The Fréchet distance of N(m1, c1) and N(m2, c2) (row-major d x d covariances).</summary>
    public static double Frechet(double[] m1, double[] c1, double[] m2, double[] c2, int d)
    {
        double diff = 0, tr = 0;
        for (int i = 0; i < d; i++) { double t = m1[i] - m2[i]; diff += t * t; tr += c1[i * d + i] + c2[i * d + i]; }
        var s1 = Linalg.SqrtPsd(c1, d);
        var inner = Linalg.Multiply(Linalg.Multiply(s1, c2, d), s1, d);
        for (int i = 0; i < d; i++)                    // symmetrise the rounding
            for (int j = i + 1; j < d; j++) inner[i * d + j] = inner[j * d + i] = 0.5 * (inner[i * d + j] + inner[j * d + i]);
        var (values, _) = Linalg.SymmetricEigen(inner, d);
        double trSqrt = values.Sum(v => Math.Sqrt(Math.Max(v, 0)));
        return diff + tr - 2 * trSqrt;
    }

    /// <summary>The number of samples a covariance of <paramref name="dim"/> features needs to be of full rank.</summary>
    public static int SamplesNeeded(int dim) => dim + 1;

    private static void RequireCovariance(FeatureSet s, string which)
    {
        if (s.Count < SamplesNeeded(s.Dim))
            throw new ArgumentException(
                $"FID needs at least {SamplesNeeded(s.Dim)} samples ({s.Dim} features + 1) in {which} for a covariance of full rank; got {s.Count}.");
    }

    private static void RequireSameDim(FeatureSet a, FeatureSet b)
    {
        if (a.Dim != b.Dim) throw new ArgumentException($"The feature sets differ in size: {a.Dim} and {b.Dim}.");
    }

    /// <summary>k(x, y) = (x.y / d + 1)^3, the polynomial kernel of KID.</summary>
    private static double Kernel(double dot, int d) { double t = dot / d + 1; return t * t * t; }

    /// <summary>
    /// Unbiased MMD^2 between all of a and all of b with the cubic polynomial kernel:
    /// sum_{i != j} k(a_i, a_j) / (n(n-1)) + sum_{i != j} k(b_i, b_j) / (m(m-1)) - 2 sum k(a_i, b_j) / (nm).
    /// </summary>
    public static double KidOnce(Device? device, FeatureSet a, FeatureSet b)
    {
        RequireSameDim(a, b);
        if (a.Count < 2 || b.Count < 2) throw new ArgumentException($"KID needs at least 2 samples in each set; got {a.Count} and {b.Count}.");
        double kaa = KernelSum(device, a, a, true), kbb = KernelSum(device, b, b, true), kab = KernelSum(device, a, b, false);
        int n = a.Count, m = b.Count;
        return kaa / ((double)n * (n - 1)) + kbb / ((double)m * (m - 1)) - 2 * kab / ((double)n * m);
    }

    /// <summary>
    /// KID as the literature reports it: the unbiased MMD^2 over <paramref name="subsets"/> random
    /// subsets of <paramref name="subsetSize"/> samples of each set (drawn without replacement,
    /// seeded), as mean and standard deviation. The size is cut to the smaller set's.
    /// </summary>
    public static MeanStd Kid(Device? device, FeatureSet a, FeatureSet b, int subsets = 100, int subsetSize = 1000, int seed = 0)
    {
        RequireSameDim(a, b);
        int size = Math.Min(subsetSize, Math.Min(a.Count, b.Count));
        if (size < 2) throw new ArgumentException($"KID needs at least 2 samples in each set; got {a.Count} and {b.Count}.");
        if (size == a.Count && size == b.Count) { double v = KidOnce(device, a, b); return new(v, 0); }
        var rng = new Random(seed);
        var values = new double[subsets];
        for (int s = 0; s < subsets; s++)
        {
            var ia = Draw(rng, a.Count, size);
            var ib = Draw(rng, b.Count, size);
            values[s] = KidOnce(device, a.Rows(ia), b.Rows(ib));
        }
        return Summarise(values);
    }

    private static int[] Draw(Random rng, int n, int k)
    {
        var all = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < k; i++) { int j = i + rng.Next(n - i); (all[i], all[j]) = (all[j], all[i]); }
        return all[..k];
    }

    private static MeanStd Summarise(double[] v)
    {
        double mean = v.Average();
        double var = v.Sum(x => (x - mean) * (x - mean)) / v.Length;
        return new(mean, Math.Sqrt(var));
    }

    /// <summary>Sum of k(x_i, y_j) over all pairs (over i != j when <paramref name="same"/>).</summary>
    private static double KernelSum(Device? device, FeatureSet x, FeatureSet y, bool same)
    {
        int n = x.Count, m = y.Count, d = x.Dim;
        if (device is null || (long)n * m * d <= Distances.ExactLimit)
        {
            var partial = new double[n];
            Parallel.For(0, n, i =>
            {
                double s = 0;
                for (int j = 0; j < m; j++)
                {
                    if (same && i == j) continue;
                    double dot = 0;
                    for (int k = 0; k < d; k++) dot += (double)x.Data[i * d + k] * y.Data[j * d + k];
                    s += Kernel(dot, d);
                }
                partial[i] = s;
            });
            return partial.Sum();
        }
        using var tx = device.Persistent(new Shape(n, d), x.Data.AsSpan(0, n * d));
        using var ty = same ? null : device.Persistent(new Shape(m, d), y.Data.AsSpan(0, m * d));
        using var prod = device.Persistent(new Shape(n, m));
        device.Kernels.Gemm(IlgpuGan.Kernels.GemmShape.Dense(n, m, d, transB: true), tx.View, (ty ?? tx).View, prod.View, 1f, 0f);
        var p = prod.ToArray();
        var rows = new double[n];
        Parallel.For(0, n, i =>
        {
            double s = 0;
            for (int j = 0; j < m; j++) if (!(same && i == j)) s += Kernel(p[(long)i * m + j], d);
            rows[i] = s;
        });
        return rows.Sum();
    }

    /// <summary>
    /// Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020)
    /// with k-nearest-neighbour balls (radius: the distance to the k-th nearest other point of the
    /// same set; a point on the border counts as inside): precision = the share of b inside some ball
    /// of a; recall = the share of a inside some ball of b; density = the number of a-balls holding
    /// each b, over k, averaged; coverage = the share of a whose ball holds some b.
    /// </summary>
    public static PrecisionRecall PrecisionRecall(Device? device, FeatureSet a, FeatureSet b, int k = 3,
        double[]? realRadiiSquared = null)
    {
        RequireSameDim(a, b);
        int n = a.Count, m = b.Count, d = a.Dim;
        var ra = realRadiiSquared ?? Distances.KthNeighbourSquared(device, a.Data, n, d, k);
        var rb = Distances.KthNeighbourSquared(device, b.Data, m, d, k);
        var inA = new int[m];          // per b: how many a-balls hold it
        var inB = new bool[n];         // per a: inside some b-ball
        var covered = new bool[n];     // per a: its ball holds some b
        var locks = new object[64];
        for (int i = 0; i < locks.Length; i++) locks[i] = new object();
        Distances.SquaredBlocks(device, a.Data, n, b.Data, m, d, (first, rows, block) =>
        {
            var counts = new int[rows][];
            Parallel.For(0, rows, r =>
            {
                int i = first + r;
                long at = (long)r * m;
                List<int>? mine = null;
                bool anyIn = false, anyCover = false;
                for (int j = 0; j < m; j++)
                {
                    double dist = block[at + j];
                    if (dist <= ra[i]) { (mine ??= new()).Add(j); anyCover = true; }
                    if (dist <= rb[j]) anyIn = true;
                }
                inB[i] = anyIn; covered[i] = anyCover;
                counts[r] = mine?.ToArray() ?? [];
            });
            foreach (var list in counts) foreach (int j in list) inA[j]++;
        });
        double precision = inA.Count(c => c > 0) / (double)m;
        double recall = inB.Count(x => x) / (double)n;
        double density = inA.Sum(c => (double)c) / ((double)k * m);
        double coverage = covered.Count(x => x) / (double)n;
        return new(precision, recall, density, coverage);
    }

    /// <summary>
    /// Inception Score: exp(mean over x of KL(p(y|x) || p(y))) on each of <paramref name="splits"/>
    /// consecutive parts (NumPy's array_split: the first N % splits parts one row longer), p(y) the
    /// part's mean; mean and standard deviation (divisor splits) over the parts.
    /// </summary>
    public static MeanStd InceptionScore(ReadOnlySpan<float> probabilities, int count, int classes, int splits = 10)
    {
        if (probabilities.Length != (long)count * classes)
            throw new ArgumentException($"Expected {count} x {classes} probabilities; got {probabilities.Length} values.");
        if (splits < 1 || count < splits) throw new ArgumentException($"The Inception Score over {splits} splits needs at least {splits} samples; got {count}.");
        var scores = new double[splits];
        int start = 0;
        for (int s = 0; s < splits; s++)
        {
            int len = count / splits + (s < count % splits ? 1 : 0);
            var py = new double[classes];
            for (int i = start; i < start + len; i++)
                for (int c = 0; c < classes; c++) py[c] += probabilities[i * classes + c];
            for (int c = 0; c < classes; c++) py[c] /= len;
            double kl = 0;
            for (int i = start; i < start + len; i++)
                for (int c = 0; c < classes; c++)
                {
                    double p = probabilities[i * classes + c];
                    if (p > 0) kl += p * (Math.Log(p) - Math.Log(py[c]));
                }
            scores[s] = Math.Exp(kl / len);
            start += len;
        }
        return Summarise(scores);
    }

    /// <summary>
    /// Class histogram of predicted labels and the mode-collapse figures: classes covered (holding at
    /// least a tenth of a uniform share, N / (10 classes), and at least one sample), the entropy over
    /// log(classes) and KL(histogram || uniform).
    /// </summary>
    public static ClassFigures Classes(ReadOnlySpan<int> labels, int classes)
    {
        var hist = new int[classes];
        foreach (int l in labels) hist[l]++;
        int threshold = Math.Max(1, labels.Length / (10 * classes));
        double h = 0;
        foreach (int c in hist)
            if (c > 0) { double p = (double)c / labels.Length; h -= p * Math.Log(p); }
        double logC = Math.Log(classes);
        return new(hist, hist.Count(c => c >= threshold), threshold, h / logC, logC - h);
    }

    /// <summary>The index of the largest value of each row (the predicted class).</summary>
    public static int[] ArgMax(ReadOnlySpan<float> values, int count, int classes)
    {
        var r = new int[count];
        for (int i = 0; i < count; i++)
        {
            var row = values.Slice(i * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
            r[i] = best;
        }
        return r;
    }

    /// <summary>Softmax of each row of logits, in float64 (returned as float32).</summary>
    public static float[] Softmax(ReadOnlySpan<float> logits, int count, int classes)
    {
        var p = new float[logits.Length];
        for (int i = 0; i < count; i++)
        {
            var row = logits.Slice(i * classes, classes);
            double max = double.NegativeInfinity;
            foreach (float v in row) max = Math.Max(max, v);
            double s = 0;
            foreach (float v in row) s += Math.Exp(v - max);
            for (int c = 0; c < classes; c++) p[i * classes + c] = (float)(Math.Exp(row[c] - max) / s);
        }
        return p;
    }
}
