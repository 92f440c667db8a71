using IlgpuGan.Recipes;
using IlgpuGan.Data;
using IlgpuGan.Models;

namespace IlgpuGan.Cli.Runs;

/// <summary>A training set in memory: <see cref="Count"/> samples of <see cref="SampleShape"/>, scaled to [-1, 1]
/// as floats (<see cref="Floats"/>: MNIST, curves) or kept as 8-bit pixels (<see cref="Images"/>: image folders
/// and fake images, scaled as each batch is filled).</summary>
public sealed record Dataset(string Description, int Count, int[] SampleShape, float[]? Floats = null, ImageFolderDataset? Images = null)
{
    /// <summary>The class of each sample and the class names (MNIST's IDX labels, an image folder's
    /// subfolders); null when the data has none.</summary>
    public ClassLabels? Classes { get; init; }

    public int SampleSize => SampleShape.Aggregate(1, (a, b) => a * b);
    public string ShapeText => $"({string.Join("x", SampleShape)})";

    /// <summary>A seeded loader over the samples (the same order for a seed on every run).</summary>
    public BatchLoader CreateLoader(int batch, int seed) => Images is not null
        ? BatchLoader.FromImages(Images, batch, seed, labels: Classes?.Labels)
        : new BatchLoader(Floats!, SampleSize, Count, batch, seed, labels: Classes?.Labels);

    /// <summary>For labelled data: the first <paramref name="perClass"/> samples of each class, a class after
    /// another (a class with fewer repeats its samples), as floats (for a conditional run's real.png).</summary>
    public float[] ByClass(int perClass)
    {
        int classes = Classes!.Count, size = SampleSize;
        var result = new float[(long)classes * perClass * size];
        for (int c = 0; c < classes; c++)
        {
            var members = Enumerable.Range(0, Count).Where(i => Classes.Labels[i] == c).Take(perClass).ToArray();
            for (int k = 0; k < perClass && members.Length > 0; k++)
            {
                var sample = Images?.ToFloats(members[k % members.Length], 1) ?? Floats.AsSpan(members[k % members.Length] * size, size).ToArray();
                sample.CopyTo(result, ((long)c * perClass + k) * size);
            }
        }
        return result;
    }

    /// <summary>The first <paramref name="n"/> samples as floats (for real.png).</summary>
    public float[] First(int n) => Images?.ToFloats(0, n) ?? Floats![..(n * SampleSize)];
}

/// <summary>
/// Turns the <c>--data</c> value into a data set for a model:
/// <list type="bullet">
/// <item><c>mnist</c>: the bundled 7,996 training digits (data/mnist beside the tool);</item>
/// <item><c>fake</c>: random samples of the model's shape (for dry runs and timing);</item>
/// <item><c>curves</c>: the toy GAN's real curves;</item>
/// <item>a folder with MNIST's IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]);</item>
/// <item>an IDX image file, or an IDX pair <c>IMAGES,LABELS</c> (labels used by conditional models);</item>
/// <item>any other folder: a folder of images (PNG, JPEG, BMP, GIF, TGA), resized and centre-cropped; for a
/// conditional model, one subfolder per class (the ImageFolder convention).</item>
/// </list>
/// </summary>
public static class Datasets
{
    public const string Mnist = "mnist", Fake = "fake", Curves = "curves", Grid25 = "grid25", StackedMnist = "stacked-mnist";

    /// <summary>Where the tool finds the bundled MNIST subset.</summary>
    public static string BundledMnistFolder => MnistDataset.DefaultFolder;

    /// <param name="badImages">For an image folder: "fail" (an unreadable image is an error naming it) or
    /// "skip" (left out, with a warning line on <paramref name="log"/>).</param>
    public static Dataset Load(string spec, ModelSpec model, int seed, int minimumCount = 0, string badImages = "fail", TextWriter? log = null)
    {
        if (string.IsNullOrWhiteSpace(spec))
            throw new CliException($"The model '{model.Name}' has no default data: give --data (a folder of images, or fake).");
        Dataset data = spec.ToLowerInvariant() switch
        {
            Mnist => LoadBundledMnist(),
            Fake => FakeData(model.SampleShape, Math.Max(1024, minimumCount), seed),
            Curves => CurveData(8192, seed),
            StackedMnist => StackedData(25_600, seed),
            Grid25 => Floats($"25,600 points of the 25 Gaussians (sigma {Models.Grid25.Sigma:G3}) on a 5x5 grid in [-1, 1]^2", Models.Grid25.Points(25_600, seed), 25_600, [2]),
            _ => LoadPath(spec, model, badImages, log ?? TextWriter.Null),
        };
        if (!data.SampleShape.SequenceEqual(model.SampleShape))
            throw new CliException($"The data {spec} holds samples of {data.ShapeText}; the model '{model.Name}' needs {model.ShapeText}.");
        if (!model.IsConditional) return data with { Classes = null };
        if (spec.Equals(Fake, StringComparison.OrdinalIgnoreCase))
            return data with { Classes = ClassLabels.Numbered(Enumerable.Range(0, data.Count).Select(i => (byte)(i % model.Classes)).ToArray(), model.Classes) };
        if (data.Classes is null && data.Images is not null)
        {
            try { data = data with { Classes = ClassLabels.FromSubfolders(data.Images) }; }
            catch (InvalidDataException e) { throw new CliException($"The model '{model.Name}' is conditional: {e.Message}", ExitCodes.Error, e); }
        }
        if (data.Classes is null)
            throw new CliException($"The model '{model.Name}' is conditional and {data.Description} has no labels: give MNIST's IDX images with their labels (a folder, or IMAGES,LABELS) or a folder with one subfolder per class.");
        if (data.Classes.Count < 2)
            throw new CliException($"The model '{model.Name}' is conditional and {data.Description} holds one class ({data.Classes.Names[0]}): it needs at least two.");
        return data;
    }

    private static Dataset LoadBundledMnist()
    {
        string folder = BundledMnistFolder;
        if (!Directory.Exists(folder))
            throw new CliException($"The bundled MNIST digits are not beside the tool ({folder} is missing); give --data a folder with MNIST's IDX files.");
        var m = MnistDataset.Load(folder);
        return Labelled(Floats($"the bundled MNIST ({m.Count:N0} training digits)", m.Images, m.Count, [1, m.Height, m.Width]), m);
    }

    private static Dataset Floats(string description, float[] data, int count, int[] shape) => new(description, count, shape, Floats: data);

    private static Dataset LoadPath(string spec, ModelSpec model, string badImages, TextWriter log)
    {
        string[] pair = spec.Split(',', StringSplitOptions.TrimEntries);
        if (pair.Length == 2)
        {
            foreach (var p in pair)
                if (!File.Exists(p)) throw new CliException($"Data file not found: {Path.GetFullPath(p)}");
            var m = MnistDataset.FromFiles(pair[0], pair[1]);
            return Labelled(Floats($"{m.Count:N0} images from {pair[0]}", m.Images, m.Count, [1, m.Height, m.Width]), m);
        }
        if (File.Exists(spec))
        {
            var images = Idx.ReadImages(spec);
            return Floats($"{images.Count:N0} images from {spec}", Scale(images.Pixels), images.Count, [1, images.Height, images.Width]);
        }
        if (Directory.Exists(spec))
        {
            bool idx = File.Exists(Path.Combine(spec, "train-images-idx3-ubyte.gz")) || File.Exists(Path.Combine(spec, "train-images-idx3-ubyte"));
            if (idx)
            {
                var m = MnistDataset.Load(spec);
                return Labelled(Floats($"{m.Count:N0} MNIST-style images from {spec}", m.Images, m.Count, [1, m.Height, m.Width]), m);
            }
            return ImageFolder(spec, model, badImages, log);
        }
        throw new CliException($"Data not found: '{spec}' is neither mnist, fake, curves, grid25, stacked-mnist, nor an existing file or folder ({Path.GetFullPath(spec)}).");
    }

    /// <summary>A folder of images (PNG, JPEG, BMP, GIF, TGA; subfolders too), resized and centre-cropped to the
    /// model's size, RGB or grey as the model needs.</summary>
    private static Dataset ImageFolder(string folder, ModelSpec model, string badImages, TextWriter log)
    {
        if (!model.IsImage)
            throw new CliException($"The model '{model.Name}' trains on curves, not on the images in {folder}.");
        bool skip = badImages.ToLowerInvariant() switch
        {
            "skip" => true,
            "fail" => false,
            _ => throw new CliException($"Unknown --bad-images '{badImages}': use fail or skip."),
        };
        int channels = model.SampleShape[0], size = model.SampleShape[1];
        int files = ImageFolderDataset.FindImageFiles(folder).Length;
        if (files > 2000) log.WriteLine($"loading {files:N0} images from {folder} ...");
        ImageFolderDataset images;
        try
        {
            images = ImageFolderDataset.Load(folder, size, new ImageFolderOptions
            {
                Channels = channels,
                OnBadFile = skip ? BadFileAction.Skip : BadFileAction.Fail,
            });
        }
        catch (InvalidDataException e) when (!skip && e.Message.Contains("cannot read the image", StringComparison.Ordinal))
        {
            throw new CliException(e.Message + " (--bad-images skip leaves unreadable images out)", ExitCodes.Error, e);
        }
        foreach (var bad in images.Skipped.Take(10)) log.WriteLine($"warning: skipped {bad}");
        if (images.Skipped.Count > 10) log.WriteLine($"warning: {images.Skipped.Count - 10:N0} more unreadable images skipped");
        return new Dataset($"{images.Count:N0} images from {folder} ({channels}x{size}x{size})" +
                           (images.Skipped.Count > 0 ? $", {images.Skipped.Count:N0} unreadable skipped" : ""),
            images.Count, [channels, size, size], Images: images);
    }

    /// <summary>The data with the IDX labels of <paramref name="m"/> (classes 0 to the largest label, named by number).</summary>
    private static Dataset Labelled(Dataset data, MnistDataset m) => data with { Classes = ClassLabels.Numbered(m.Labels, Math.Max(m.ClassCount, 1)) };

    public static float[] Scale(byte[] pixels)
    {
        var scaled = new float[pixels.Length];
        for (int i = 0; i < pixels.Length; i++) scaled[i] = pixels[i] / 127.5f - 1f;
        return scaled;
    }

    /// <summary>Synthetic samples, the same for a seed: images (<see cref="ImageFolderDataset.Fake"/>) for image
    /// models, uniform values in [-1, 1] otherwise.</summary>
    public static Dataset FakeData(int[] shape, int count, int seed)
    {
        if (shape.Length == 3 && shape[1] == shape[2] && shape[0] is 1 or 3)
            return new Dataset($"{count:N0} synthetic images (fake)", count, shape, Images: ImageFolderDataset.Fake(count, shape[0], shape[1], seed));
        int size = shape.Aggregate(1, (a, b) => a * b);
        var data = new float[(long)size * count];
        var random = new Random(seed);
        for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
        return Floats($"{count:N0} random samples (fake)", data, count, shape);
    }

    /// <summary>Stacked MNIST from the bundled digits: three independent digits as R, G, B, the same for a seed.</summary>
    public static Dataset StackedData(int count, int seed)
    {
        string folder = BundledMnistFolder;
        if (!Directory.Exists(folder))
            throw new CliException($"The bundled MNIST digits are not beside the tool ({folder} is missing): stacked-mnist is made from them.");
        var (images, _) = Evaluation.StackedMnist.Make(MnistDataset.Load(folder), count, seed);
        return Floats($"{count:N0} stacked MNIST images (three of the bundled digits as R, G, B: 1,000 modes)", images, count, [3, 28, 28]);
    }

    /// <summary>The toy GAN's real curves a*x^2 + (a-1), a ~ U(1, 2), the same for a seed.</summary>
    public static Dataset CurveData(int count, int seed)
    {
        var data = new float[count * ToyCurves.Points];
        ToyCurves.Paintings(data, new Random(seed));
        return Floats($"{count:N0} curves a*x^2 + (a-1), a ~ U(1, 2)", data, count, [ToyCurves.Points]);
    }
}
