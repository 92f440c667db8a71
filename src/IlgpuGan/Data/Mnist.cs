namespace IlgpuGan.Data;

/// <summary>
/// MNIST-style digits in memory: <see cref="Count"/> grey images of <see cref="Height"/> x
/// <see cref="Width"/>, scaled from 0..255 to [-1, 1] (x / 127.5 - 1), laid out as (N, 1, H, W)
/// row-major, and one label per image. Reads the IDX files of the MNIST distribution, gzip-compressed
/// or plain (see <see cref="Idx"/>).
/// </summary>
public sealed class MnistDataset
{
    private MnistDataset(int count, int height, int width, float[] images, byte[] labels)
    {
        Count = count;
        Height = height;
        Width = width;
        Images = images;
        Labels = labels;
    }

    /// <summary>Number of images (and labels).</summary>
    public int Count { get; }

    public int Height { get; }

    public int Width { get; }

    /// <summary>Floats per image: 1 * Height * Width.</summary>
    public int SampleSize => Height * Width;

    /// <summary>Count * 1 * Height * Width floats in [-1, 1], (N, 1, H, W) row-major.</summary>
    public float[] Images { get; }

    /// <summary>One label per image, as stored in the file (0-9 for MNIST).</summary>
    public byte[] Labels { get; }

    /// <summary>One more than the largest label (10 for MNIST); 0 for an empty set.</summary>
    public int ClassCount
    {
        get
        {
            int max = -1;
            foreach (byte label in Labels)
                if (label > max) max = label;
            return max + 1;
        }
    }

    /// <summary>Where the samples and tests copy the bundled MNIST subset:
    /// <c>AppContext.BaseDirectory/data/mnist</c>.</summary>
    public static string DefaultFolder => Path.Combine(AppContext.BaseDirectory, "data", "mnist");

    /// <summary>
    /// Loads the training set (train-images-idx3-ubyte / train-labels-idx1-ubyte) or the test set
    /// (t10k-images-idx3-ubyte / t10k-labels-idx1-ubyte) from <paramref name="folder"/>; each file may
    /// be named with or without a .gz suffix (the .gz name is tried first).
    /// </summary>
    public static MnistDataset Load(string folder, bool train = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        string prefix = train ? "train" : "t10k";
        string images = FindFile(folder, $"{prefix}-images-idx3-ubyte");
        string labels = FindFile(folder, $"{prefix}-labels-idx1-ubyte");
        return FromFiles(images, labels);
    }

    /// <summary>Loads a data set from an IDX image file and an IDX label file (each gzip-compressed
    /// or plain). Their counts must agree.</summary>
    public static MnistDataset FromFiles(string imagesPath, string labelsPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagesPath);
        ArgumentException.ThrowIfNullOrEmpty(labelsPath);
        IdxImages images = Idx.ReadImages(imagesPath);
        byte[] labels = Idx.ReadLabels(labelsPath);
        if (images.Count != labels.Length)
            throw new InvalidDataException(
                $"{Path.GetFileName(imagesPath)} and {Path.GetFileName(labelsPath)} disagree: count mismatch: " +
                $"{Idx.Num(images.Count)} images but {Idx.Num(labels.Length)} labels " +
                $"[{Path.GetFullPath(imagesPath)}, {Path.GetFullPath(labelsPath)}]");

        byte[] pixels = images.Pixels;
        var scaled = new float[pixels.Length];
        for (int i = 0; i < pixels.Length; i++)
            scaled[i] = pixels[i] / 127.5f - 1f;
        return new MnistDataset(images.Count, images.Height, images.Width, scaled, labels);
    }

    private static string FindFile(string folder, string baseName)
    {
        string gz = Path.Combine(folder, baseName + ".gz");
        if (File.Exists(gz)) return gz;
        string plain = Path.Combine(folder, baseName);
        if (File.Exists(plain)) return plain;
        string full = Path.GetFullPath(folder);
        string where = Directory.Exists(full) ? $"in {full}" : $"in {full} (the folder does not exist)";
        throw new FileNotFoundException(
            $"MNIST file not found: neither {baseName}.gz nor {baseName} is {where}", Path.GetFullPath(gz));
    }
}
