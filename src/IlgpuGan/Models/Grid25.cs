using IlgpuGan.Imaging;
using IlgpuGan.Nn;

namespace IlgpuGan.Models;

/// <summary>
/// The 2-D grid of 25 Gaussians, the mode-collapse benchmark of the Unrolled GAN, VEEGAN and PacGAN
/// papers: real points are drawn from 25 Gaussians of standard deviation 0.05 centred on the grid
/// {-4, -2, 0, 2, 4}^2, scaled by 1/4 into [-1, 1]^2 (so the spacing is 0.5 and sigma 0.0125 after scaling).
/// A generated point is of high quality when it lies within 3 sigma of its nearest centre; a mode is
/// covered when at least one high-quality point falls to it (VEEGAN's and PacGAN's definitions).
/// G: z (N, 2) -> point (N, 2), four ReLU layers of 400 (PacGAN's width); D: three LeakyReLU layers
/// of 200 -> a logit. Neither has batch norm, so every objective (wgan-gp included) trains them.
/// </summary>
public static class Grid25
{
    public const int Modes = 25, LatentSize = 2;
    /// <summary>The data's scale: grid coordinates (spacing 2) are divided by this.</summary>
    public const float Scale = 4f;
    public const float Sigma = 0.05f / Scale;

    /// <summary>The 25 centres (x, y), scaled into [-1, 1]^2, row by row.</summary>
    public static (float X, float Y)[] Centres { get; } =
        [.. from i in Enumerable.Range(0, 5) from j in Enumerable.Range(0, 5) select ((2f * j - 4f) / Scale, (2f * i - 4f) / Scale)];

    /// <summary>z (N, 2) -> point (N, 2).</summary>
    public static Sequential Generator(Device d) => new(
        new Linear(d, LatentSize, 400), new Relu(),      // (N, 400)
        new Linear(d, 400, 400), new Relu(),             // (N, 400)
        new Linear(d, 400, 400), new Relu(),             // (N, 400)
        new Linear(d, 400, 2));                          // (N, 2)

    /// <summary>point (N, 2) -> logit (N, 1).</summary>
    public static Sequential Discriminator(Device d) => new(
        new Linear(d, 2, 200), new LeakyRelu(0.2f),      // (N, 200)
        new Linear(d, 200, 200), new LeakyRelu(0.2f),    // (N, 200)
        new Linear(d, 200, 200), new LeakyRelu(0.2f),    // (N, 200)
        new Linear(d, 200, 1));                          // (N, 1)

    /// <summary><paramref name="count"/> real points (x, y, x, y, ...), a mode drawn uniformly for each, the same for a seed.</summary>
    public static float[] Points(int count, int seed)
    {
        var random = new Random(seed);
        var points = new float[2 * count];
        for (int n = 0; n < count; n++)
        {
            var (cx, cy) = Centres[random.Next(Modes)];
            points[2 * n] = cx + Sigma * Gaussian(random);
            points[2 * n + 1] = cy + Sigma * Gaussian(random);
        }
        return points;
    }

    private static float Gaussian(Random r) =>
        (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()));

    /// <summary>The mode-collapse figures of <paramref name="count"/> points: how many points each mode holds
    /// (high-quality ones only), the modes covered, the share of high-quality points and the KL divergence of the
    /// modes' histogram (of high-quality points) from uniform (PacGAN's reverse KL; 0 when all 25 are equally held).</summary>
    public static Grid25Figures Figures(ReadOnlySpan<float> points, int count)
    {
        var histogram = new int[Modes];
        int good = 0;
        for (int n = 0; n < count; n++)
        {
            float x = points[2 * n], y = points[2 * n + 1];
            int best = 0;
            float bestD = float.MaxValue;
            for (int m = 0; m < Modes; m++)
            {
                float dx = x - Centres[m].X, dy = y - Centres[m].Y, d = dx * dx + dy * dy;
                if (d < bestD) (bestD, best) = (d, m);
            }
            if (bestD <= 9 * Sigma * Sigma) { histogram[best]++; good++; }
        }
        double kl = 0;
        if (good > 0)
            foreach (int h in histogram)
                if (h > 0) { double p = (double)h / good; kl += p * Math.Log(p * Modes); }
        return new Grid25Figures(histogram, histogram.Count(h => h > 0), count == 0 ? 0 : (double)good / count, good > 0 ? kl : double.PositiveInfinity);
    }

    /// <summary>A scatter plot: the real centres as red crosses, the points in blue, on [-1.25, 1.25]^2.</summary>
    public static void SavePlot(string path, ReadOnlySpan<float> points, int count, int size = 480)
    {
        var plot = new LinePlot().SetXRange(-1.25f, 1.25f).SetYRange(-1.25f, 1.25f);
        const float r = 0.004f;
        for (int n = 0; n < count; n++)
        {
            float x = points[2 * n], y = points[2 * n + 1];
            plot.AddSeries([x - r, x + r], [y, y], (31, 119, 180), 2);
        }
        foreach (var (cx, cy) in Centres)
        {
            plot.AddSeries([cx - 0.04f, cx + 0.04f], [cy, cy], (214, 39, 40), 2);
            plot.AddSeries([cx, cx], [cy - 0.04f, cy + 0.04f], (214, 39, 40), 2);
        }
        plot.SavePng(path, size, size);
    }
}

/// <summary><see cref="Grid25.Figures"/>: high-quality points per mode, modes covered (of 25), the share of high-quality
/// points, and the KL divergence of the modes' histogram from uniform.</summary>
public sealed record Grid25Figures(int[] Histogram, int Covered, double HighQualityShare, double KlToUniform)
{
    public string Text() => $"{Covered} of {Grid25.Modes} modes covered, {HighQualityShare:P1} high-quality points, KL to uniform {KlToUniform:F3}";
}
