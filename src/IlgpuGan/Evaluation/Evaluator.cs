using System.Diagnostics;
using IlgpuGan.Imaging;

namespace IlgpuGan.Evaluation;

/// <summary>Every figure of one set of images, measured against the reference (training) images.</summary>
public sealed record EvalFigures
{
    public required string Name { get; init; }
    public required int Samples { get; init; }
    /// <summary>FID on the classifier's 128 features against the reference set.</summary>
    public required double Fid { get; init; }
    /// <summary>KID (unbiased MMD^2, cubic kernel) over subsets of up to 1,000: mean and std.</summary>
    public required MeanStd Kid { get; init; }
    /// <summary>Inception Score with the classifier (10 splits).</summary>
    public required MeanStd InceptionScore { get; init; }
    public required PrecisionRecall PrecisionRecall { get; init; }
    public required ClassFigures Classes { get; init; }
    /// <summary>Share of samples closer (pixels) to their nearest training image than half the distance from
    /// that training image to its own nearest other training image.</summary>
    public required double NearCopyShare { get; init; }
    /// <summary>Median pixel distance (L2 on [-1, 1] pixels) of a sample to its nearest training image.</summary>
    public required double MedianNearestTrainDistance { get; init; }
    /// <summary>Pairs of samples closer to each other (pixels) than the duplicate threshold.</summary>
    public required long DuplicatePairs { get; init; }
    /// <summary>The birthday-paradox support size: N(N-1) / (2 pairs); infinite when no pair.</summary>
    public required double SupportEstimate { get; init; }
    /// <summary>The sample and training-image indices of the closest pairs, closest first.</summary>
    public required (int Sample, int Train, double Distance)[] ClosestPairs { get; init; }
    public required TimeSpan Elapsed { get; init; }
}

/// <summary>FID, KID and the class figures of a set: what <see cref="Evaluator.Distribution"/> measures (and
/// <see cref="Evaluator.Evaluate"/> among the rest).</summary>
public sealed record DistributionFigures(double Fid, MeanStd Kid, ClassFigures Classes);

/// <summary>
/// Scores sets of 28x28 grey images against a reference set (the training digits) with a classifier:
/// FID, KID, IS, precision/recall/density/coverage (k = 3) on its features and class probabilities,
/// mode collapse from its predicted classes, memorisation and duplicates in pixel space. The
/// reference set's features and moments are computed once at construction; its k-NN radii and pixel
/// nearest-neighbour distances once, when <see cref="Evaluate"/> first needs them (<see cref="Distribution"/>,
/// which training's --eval-every calls, never does).
/// </summary>
public sealed class Evaluator
{
    public const int K = 3;
    /// <summary>A sample is a near-copy when its distance to its nearest training image is below this
    /// share of that training image's distance to its own nearest other training image.</summary>
    public const double NearCopyRatio = 0.5;
    /// <summary>Two samples are duplicates when closer than this quantile of the training images'
    /// nearest-neighbour distances.</summary>
    public const double DuplicateQuantile = 0.01;

    private const int Pixels = Classifier.ImageSize * Classifier.ImageSize;
    private readonly Device? device;
    private readonly float[] refImages;
    private readonly FeatureSet refFeatures;
    private readonly double[] refMean, refCov;
    private readonly Lazy<double[]> refRadii;
    private readonly Lazy<(double[] Nearest, double DuplicateThreshold)> refPixels;

    public Classifier Classifier { get; }
    public int ReferenceCount { get; }
    /// <summary>Squared pixel distance below which two samples count as duplicates.</summary>
    public double DuplicateThresholdSquared => refPixels.Value.DuplicateThreshold;

    public Evaluator(Classifier classifier, float[] referenceImages, int count, bool useDeviceForDistances = true)
    {
        if (count < Metrics.SamplesNeeded(Classifier.FeatureSize))
            throw new ArgumentException($"The reference set needs at least {Metrics.SamplesNeeded(Classifier.FeatureSize)} images for FID; got {count}.");
        Classifier = classifier;
        device = useDeviceForDistances ? classifier.Device : null;
        refImages = referenceImages;
        ReferenceCount = count;
        var (f, _) = classifier.Evaluate(referenceImages.AsSpan(0, count * Pixels), count);
        refFeatures = new FeatureSet(f, count, Classifier.FeatureSize);
        (refMean, refCov) = Metrics.Moments(refFeatures);
        refRadii = new(() => Distances.KthNeighbourSquared(device, f, count, Classifier.FeatureSize, K));
        refPixels = new(() =>
        {
            var (_, nearest) = Distances.Nearest(device, referenceImages, count, referenceImages, count, Pixels, excludeSelf: true);
            var sorted = nearest.Order().ToArray();
            return (nearest, sorted[(int)(DuplicateQuantile * (sorted.Length - 1))]);
        });
    }

    /// <summary>FID, KID and the class figures of <paramref name="count"/> images (count x 784 floats in [-1, 1]):
    /// the distribution-level figures alone, without precision/recall, memorisation or duplicates.</summary>
    public DistributionFigures Distribution(string name, float[] images, int count, int kidSubsets = 100)
    {
        var (feats, p) = Features(name, images, count);
        return Distribution(feats, p, count, kidSubsets);
    }

    private (FeatureSet Features, float[] Probabilities) Features(string name, float[] images, int count)
    {
        if (count < Metrics.SamplesNeeded(Classifier.FeatureSize))
            throw new ArgumentException(
                $"{name}: FID needs at least {Metrics.SamplesNeeded(Classifier.FeatureSize)} samples ({Classifier.FeatureSize} features + 1) for a covariance of full rank; got {count}.");
        var (f, p) = Classifier.Evaluate(images.AsSpan(0, count * Pixels), count);
        return (new FeatureSet(f, count, Classifier.FeatureSize), p);
    }

    private DistributionFigures Distribution(FeatureSet feats, float[] p, int count, int kidSubsets)
    {
        var (mean, cov) = Metrics.Moments(feats);
        double fid = Metrics.Frechet(mean, cov, refMean, refCov, Classifier.FeatureSize);
        var kid = Metrics.Kid(device, feats, refFeatures, kidSubsets, 1000);
        var classes = Metrics.Classes(Metrics.ArgMax(p, count, Classifier.Classes), Classifier.Classes);
        return new DistributionFigures(fid, kid, classes);
    }

    /// <summary>All figures for <paramref name="count"/> images (count x 784 floats in [-1, 1]).</summary>
    public EvalFigures Evaluate(string name, float[] images, int count, int kidSubsets = 100, int closestPairs = 16)
    {
        var clock = Stopwatch.StartNew();
        var (feats, p) = Features(name, images, count);
        var (fid, kid, classes) = Distribution(feats, p, count, kidSubsets);
        var score = Metrics.InceptionScore(p, count, Classifier.Classes, Math.Min(10, count));
        var pr = Metrics.PrecisionRecall(device, refFeatures, feats, K, refRadii.Value);

        // Memorisation: each sample's nearest training image (pixels).
        var refNearest = refPixels.Value.Nearest;
        var (nearest, dist) = Distances.Nearest(device, images, count, refImages, ReferenceCount, Pixels);
        int copies = 0;
        for (int i = 0; i < count; i++)
            if (dist[i] < NearCopyRatio * NearCopyRatio * refNearest[nearest[i]]) copies++;
        var order = Enumerable.Range(0, count).OrderBy(i => dist[i]).Take(closestPairs).ToArray();
        var pairs = order.Select(i => (i, nearest[i], Math.Sqrt(dist[i]))).ToArray();
        double median = Math.Sqrt(dist.Order().ElementAt(count / 2));

        // Birthday paradox: pairs of samples closer than the duplicate threshold.
        double threshold = DuplicateThresholdSquared;
        long duplicates = 0;
        Distances.SquaredBlocks(device, images, count, images, count, Pixels, (first, rows, block) =>
        {
            long local = 0;
            for (int r = 0; r < rows; r++)
            {
                int i = first + r;
                for (int j = i + 1; j < count; j++) if (block[(long)r * count + j] < threshold) local++;
            }
            duplicates += local;
        });
        double support = duplicates == 0 ? double.PositiveInfinity : (double)count * (count - 1) / (2.0 * duplicates);

        return new EvalFigures
        {
            Name = name, Samples = count, Fid = fid, Kid = kid, InceptionScore = score, PrecisionRecall = pr, Classes = classes,
            NearCopyShare = (double)copies / count, MedianNearestTrainDistance = median, DuplicatePairs = duplicates,
            SupportEstimate = support, ClosestPairs = pairs, Elapsed = clock.Elapsed,
        };
    }

    /// <summary>Writes the closest (sample, nearest training image) pairs as a PNG grid: each pair side
    /// by side, four pairs a row.</summary>
    public void SaveClosestPairs(string path, float[] images, EvalFigures figures)
    {
        var pairs = figures.ClosestPairs;
        if (pairs.Length == 0) return;
        var grid = new float[pairs.Length * 2 * Pixels];
        for (int i = 0; i < pairs.Length; i++)
        {
            images.AsSpan(pairs[i].Sample * Pixels, Pixels).CopyTo(grid.AsSpan(2 * i * Pixels));
            refImages.AsSpan(pairs[i].Train * Pixels, Pixels).CopyTo(grid.AsSpan((2 * i + 1) * Pixels));
        }
        ImageGrid.SavePng(path, grid, pairs.Length * 2, 1, Classifier.ImageSize, Classifier.ImageSize, nrow: 8);
    }
}
