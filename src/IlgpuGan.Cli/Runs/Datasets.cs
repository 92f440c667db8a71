using IlgpuGan.Data;
using IlgpuGan.Models;

namespace IlgpuGan.Cli.Runs;

/// <summary>A training set in memory: <see cref="Count"/> samples of <see cref="SampleShape"/>, one after
/// another in <see cref="Data"/>, scaled to [-1, 1].</summary>
public sealed record Dataset(string Description, float[] Data, int Count, int[] SampleShape)
{
    public int SampleSize => SampleShape.Aggregate(1, (a, b) => a * b);
    public string ShapeText => $"({string.Join("x", SampleShape)})";
}

/// <summary>
/// Turns the <c>--data</c> value into a data set for a model:
/// <list type="bullet">
/// <item><c>mnist</c>: the bundled 7,996 training digits (data/mnist beside the tool);</item>
/// <item><c>fake</c>: random samples of the model's shape (for dry runs and timing);</item>
/// <item><c>curves</c>: the toy GAN's real curves;</item>
/// <item>a folder with MNIST's IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]);</item>
/// <item>an IDX image file, or an IDX pair <c>IMAGES,LABELS</c> (labels are checked but not used);</item>
/// <item>any other folder: a folder of images (PNG, JPEG, BMP).</item>
/// </list>
/// </summary>
public static class Datasets
{
    public const string Mnist = "mnist", Fake = "fake", Curves = "curves";

    /// <summary>Where the tool finds the bundled MNIST subset.</summary>
    public static string BundledMnistFolder => MnistDataset.DefaultFolder;

    public static Dataset Load(string spec, ModelSpec model, int seed, int minimumCount = 0)
    {
        if (string.IsNullOrWhiteSpace(spec))
            throw new CliException($"The model '{model.Name}' has no default data: give --data (a folder of images, or fake).");
        Dataset data = spec.ToLowerInvariant() switch
        {
            Mnist => LoadBundledMnist(),
            Fake => FakeData(model.SampleShape, Math.Max(1024, minimumCount), seed),
            Curves => CurveData(8192, seed),
            _ => LoadPath(spec, model),
        };
        if (!data.SampleShape.SequenceEqual(model.SampleShape))
            throw new CliException($"The data {spec} holds samples of {data.ShapeText}; the model '{model.Name}' needs {model.ShapeText}.");
        return data;
    }

    private static Dataset LoadBundledMnist()
    {
        string folder = BundledMnistFolder;
        if (!Directory.Exists(folder))
            throw new CliException($"The bundled MNIST digits are not beside the tool ({folder} is missing); give --data a folder with MNIST's IDX files.");
        var m = MnistDataset.Load(folder);
        return new Dataset($"the bundled MNIST ({m.Count:N0} training digits)", m.Images, m.Count, [1, m.Height, m.Width]);
    }

    private static Dataset LoadPath(string spec, ModelSpec model)
    {
        string[] pair = spec.Split(',', StringSplitOptions.TrimEntries);
        if (pair.Length == 2)
        {
            foreach (var p in pair)
                if (!File.Exists(p)) throw new CliException($"Data file not found: {Path.GetFullPath(p)}");
            var m = MnistDataset.FromFiles(pair[0], pair[1]);
            return new Dataset($"{m.Count:N0} images from {pair[0]}", m.Images, m.Count, [1, m.Height, m.Width]);
        }
        if (File.Exists(spec))
        {
            var images = Idx.ReadImages(spec);
            return new Dataset($"{images.Count:N0} images from {spec}", Scale(images.Pixels), images.Count, [1, images.Height, images.Width]);
        }
        if (Directory.Exists(spec))
        {
            bool idx = File.Exists(Path.Combine(spec, "train-images-idx3-ubyte.gz")) || File.Exists(Path.Combine(spec, "train-images-idx3-ubyte"));
            if (idx)
            {
                var m = MnistDataset.Load(spec);
                return new Dataset($"{m.Count:N0} MNIST-style images from {spec}", m.Images, m.Count, [1, m.Height, m.Width]);
            }
            return ImageFolder(spec, model);
        }
        throw new CliException($"Data not found: '{spec}' is neither mnist, fake, curves, nor an existing file or folder ({Path.GetFullPath(spec)}).");
    }

    /// <summary>A folder of images, resized and centre-cropped to the model's size.</summary>
    private static Dataset ImageFolder(string folder, ModelSpec model)
    {
        if (!model.IsImage)
            throw new CliException($"The model '{model.Name}' trains on curves, not on the images in {folder}.");
        throw new CliException($"{folder} holds no MNIST IDX files, and image folders need the image-folder loader of issue 3, which this build does not have yet.");
    }

    public static float[] Scale(byte[] pixels)
    {
        var scaled = new float[pixels.Length];
        for (int i = 0; i < pixels.Length; i++) scaled[i] = pixels[i] / 127.5f - 1f;
        return scaled;
    }

    /// <summary>Random samples in [-1, 1], the same for a seed.</summary>
    public static Dataset FakeData(int[] shape, int count, int seed)
    {
        int size = shape.Aggregate(1, (a, b) => a * b);
        var data = new float[(long)size * count];
        var random = new Random(seed);
        for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
        return new Dataset($"{count:N0} random samples (fake)", data, count, shape);
    }

    /// <summary>The toy GAN's real curves a*x^2 + (a-1), a ~ U(1, 2), the same for a seed.</summary>
    public static Dataset CurveData(int count, int seed)
    {
        var data = new float[count * ToyCurves.Points];
        ToyCurves.Paintings(data, new Random(seed));
        return new Dataset($"{count:N0} curves a*x^2 + (a-1), a ~ U(1, 2)", data, count, [ToyCurves.Points]);
    }
}
