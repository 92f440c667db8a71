using IlgpuGan.Data;

namespace IlgpuGan.Evaluation;

/// <summary>
/// Stacked MNIST, the mode-collapse benchmark of the Unrolled GAN and PacGAN papers: three digits drawn
/// independently and uniformly from the training digits, stacked as the three channels of one 28x28 image,
/// so there are 10^3 = 1,000 modes (the digits' classes, read channel by channel). A generated image's
/// mode is the shipped classifier's reading of each channel (red = hundreds, green = tens, blue = units);
/// the figures are the modes covered (at least one sample) and the KL divergence of the modes' histogram
/// from uniform (PacGAN's; 0 when all 1,000 are equally held, ln 1000 = 6.91 for one mode).
/// </summary>
public static class StackedMnist
{
    public const int Modes = 1000, Size = 28, Pixels = Size * Size;

    /// <summary><paramref name="count"/> stacked images (count x 3 x 28 x 28, in [-1, 1]) from the digits of
    /// <paramref name="data"/>, and their modes; the same for a seed.</summary>
    public static (float[] Images, int[] Modes) Make(MnistDataset data, int count, int seed)
    {
        if (data.Height != Size || data.Width != Size) throw new ArgumentException($"Stacked MNIST needs 28x28 digits; the data are {data.Height}x{data.Width}.");
        var random = new Random(seed);
        var images = new float[checked(count * 3 * Pixels)];
        var modes = new int[count];
        for (int n = 0; n < count; n++)
        {
            int mode = 0;
            for (int c = 0; c < 3; c++)
            {
                int i = random.Next(data.Count);
                data.Images.AsSpan(i * Pixels, Pixels).CopyTo(images.AsSpan((n * 3 + c) * Pixels, Pixels));
                mode = mode * 10 + data.Labels[i];
            }
            modes[n] = mode;
        }
        return (images, modes);
    }

    /// <summary>The modes of <paramref name="count"/> stacked images by <paramref name="classifier"/> (each channel read as a digit).</summary>
    public static int[] ModesOf(Classifier classifier, ReadOnlySpan<float> images, int count)
    {
        var (_, p) = classifier.Evaluate(images[..checked(count * 3 * Pixels)], 3 * count);   // (N, 3, 28, 28) is (3N, 1, 28, 28) in memory
        var digits = Metrics.ArgMax(p, 3 * count, classifier.Classes);
        var modes = new int[count];
        for (int n = 0; n < count; n++) modes[n] = 100 * digits[3 * n] + 10 * digits[3 * n + 1] + digits[3 * n + 2];
        return modes;
    }

    /// <summary>Modes covered and the KL divergence of the modes' histogram from uniform.</summary>
    public static (int Covered, double KlToUniform) Figures(ReadOnlySpan<int> modes)
    {
        var histogram = new int[Modes];
        foreach (int m in modes) histogram[m]++;
        double kl = 0;
        foreach (int h in histogram)
            if (h > 0) { double p = (double)h / modes.Length; kl += p * Math.Log(p * Modes); }
        return (histogram.Count(h => h > 0), kl);
    }
}
