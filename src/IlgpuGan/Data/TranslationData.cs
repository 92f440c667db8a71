using StbImageSharp;

namespace IlgpuGan.Data;

/// <summary>One domain's images: Count images of (Channels, Size, Size) floats in [-1, 1], and
/// where they came from (file names, or labels for the built-in digits).</summary>
public sealed class DomainImages
{
    public DomainImages(string name, float[] images, int count, int channels, int size, IReadOnlyList<string>? names = null, byte[]? labels = null)
    {
        if (count < 1) throw new InvalidDataException($"{name}: no images.");
        Name = name; Images = images; Count = count; Channels = channels; Size = size; Names = names; Labels = labels;
    }

    public string Name { get; }
    public float[] Images { get; }
    public int Count { get; }
    public int Channels { get; }
    public int Size { get; }
    public IReadOnlyList<string>? Names { get; }
    public byte[]? Labels { get; }
    public int SampleSize => Channels * Size * Size;
    public ReadOnlySpan<float> Sample(int i) => Images.AsSpan(i * SampleSize, SampleSize);

    public static DomainImages FromFolder(ImageFolderDataset d, string name) =>
        new(name, d.ToFloats(0, d.Count), d.Count, d.Channels, d.Size, d.Files.Select(Path.GetFileName).ToArray()!);
}

/// <summary>
/// Two image domains A and B for translation: training images of each (unpaired, or paired: A[i]
/// goes with B[i]) and optional held-out images (paired where known: the built-in pair's held-out
/// digits, with labels).
/// </summary>
public sealed record TranslationData(string Description, DomainImages TrainA, DomainImages TrainB, bool Paired,
    DomainImages? TestA, DomainImages? TestB, bool TestPaired)
{
    public int Channels => TrainA.Channels;
    public int Size => TrainA.Size;

    /// <summary>
    /// The built-in offline pair: domain A = the bundled MNIST digits; domain B = the same kind of
    /// digit drawn bold and in negative (a 3x3 dilation, then inverted). Unpaired: A is the first
    /// half of the training digits and B is made from the second half, so no pair is ever seen in
    /// training. Paired (pix2pix): A[i] and B[i] are one training digit and its bold negative.
    /// Held-out digits give known pairs (with labels) in both cases. <paramref name="size"/> &gt; 28
    /// pads each digit with background (e.g. 32 for a 5-level U-Net).
    /// </summary>
    public static TranslationData BuiltIn(MnistDataset train, MnistDataset test, bool paired, int size = 28)
    {
        if (size < 28 || (size - 28) % 2 != 0) throw new ArgumentException($"The built-in pair is 28x28 or padded evenly: 30, 32, ...; got {size}.");
        DomainImages A(MnistDataset m, int from, int count, string name) => new(name, Pad(m, from, count, size), count, 1, size, labels: m.Labels.AsSpan(from, count).ToArray());
        DomainImages B(MnistDataset m, int from, int count, string name)
        {
            var a = A(m, from, count, name);
            return new(name, BoldNegative(a.Images, count, size), count, 1, size, labels: a.Labels);
        }
        int half = train.Count / 2;
        var (trainA, trainB) = paired
            ? (A(train, 0, train.Count, "digits"), B(train, 0, train.Count, "bold negative digits"))
            : (A(train, 0, half, "digits"), B(train, half, train.Count - half, "bold negative digits"));
        string how = paired ? $"{train.Count:N0} paired training digits" : $"{half:N0} digits (A) and {train.Count - half:N0} other digits drawn bold and negative (B), unpaired";
        return new TranslationData($"built-in pair {size}x{size}: {how}; {test.Count:N0} held-out pairs", trainA, trainB, paired,
            A(test, 0, test.Count, "held-out digits"), B(test, 0, test.Count, "held-out bold negative digits"), true);
    }

    private static float[] Pad(MnistDataset m, int from, int count, int size)
    {
        int p = (size - m.Height) / 2, s = m.SampleSize;
        var o = new float[count * size * size];
        Array.Fill(o, -1f);
        for (int i = 0; i < count; i++)
            for (int y = 0; y < m.Height; y++)
                m.Images.AsSpan((from + i) * s + y * m.Width, m.Width).CopyTo(o.AsSpan(i * size * size + (y + p) * size + p));
        return o;
    }

    /// <summary>Each image's 3x3 dilation (a max filter: ink is high), then inverted (-v).</summary>
    public static float[] BoldNegative(float[] images, int count, int size)
    {
        var o = new float[images.Length];
        int s = size * size;
        for (int i = 0; i < count; i++)
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    float m = -1f;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++)
                        {
                            int yy = y + dy, xx = x + dx;
                            if (yy >= 0 && yy < size && xx >= 0 && xx < size) m = Math.Max(m, images[i * s + yy * size + xx]);
                        }
                    o[i * s + y * size + x] = -m;
                }
        return o;
    }

    /// <summary>Unpaired domains from two folders of images (any size; resized and centre-cropped to
    /// <paramref name="size"/>). An empty folder is an error naming the option.</summary>
    public static TranslationData Unpaired(string folderA, string folderB, int size, int channels, string? testA = null, string? testB = null)
    {
        var a = LoadDomain(folderA, "--data-a", size, channels);
        var b = LoadDomain(folderB, "--data-b", size, channels);
        DomainImages? ta = testA != null && Directory.Exists(testA) ? LoadDomain(testA, "testA", size, channels) : null;
        DomainImages? tb = testB != null && Directory.Exists(testB) ? LoadDomain(testB, "testB", size, channels) : null;
        return new TranslationData($"{a.Count:N0} images of A ({folderA}) and {b.Count:N0} of B ({folderB}), unpaired", a, b, false, ta, tb, false);
    }

    /// <summary>A CycleGAN data set folder: trainA, trainB (and testA, testB when present).</summary>
    public static TranslationData CycleGanFolder(string root, int size, int channels)
    {
        foreach (var sub in new[] { "trainA", "trainB" })
            if (!Directory.Exists(Path.Combine(root, sub)))
                throw new DirectoryNotFoundException($"--data {root}: no {sub} folder (a CycleGAN data set holds trainA, trainB, testA, testB).");
        return Unpaired(Path.Combine(root, "trainA"), Path.Combine(root, "trainB"), size, channels, Path.Combine(root, "testA"), Path.Combine(root, "testB"));
    }

    private static DomainImages LoadDomain(string folder, string option, int size, int channels)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{option} {folder}: no such folder.");
        if (ImageFolderDataset.FindImageFiles(folder).Length == 0)
            throw new InvalidDataException($"{option} {folder}: the domain folder holds no images ({string.Join(", ", ImageFolderDataset.SupportedExtensions)}).");
        var d = ImageFolderDataset.Load(folder, size, new ImageFolderOptions { Channels = channels, OnBadFile = BadFileAction.Fail });
        return DomainImages.FromFolder(d, Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)));
    }

    /// <summary>Paired data from two folders whose files have matching names (extension aside). No
    /// matching name at all is an error: unpaired data given to a paired model.</summary>
    public static TranslationData PairedFolders(string folderA, string folderB, int size, int channels)
    {
        var a = LoadDomain(folderA, "--data-a", size, channels);
        var b = LoadDomain(folderB, "--data-b", size, channels);
        string Key(string n) => Path.GetFileNameWithoutExtension(n);
        var indexB = new Dictionary<string, int>();
        for (int i = 0; i < b.Count; i++) indexB.TryAdd(Key(b.Names![i]), i);
        var pairs = Enumerable.Range(0, a.Count).Where(i => indexB.ContainsKey(Key(a.Names![i]))).Select(i => (i, indexB[Key(a.Names![i])])).ToList();
        if (pairs.Count == 0)
            throw new InvalidDataException($"--data-a {folderA} and --data-b {folderB} have no file names in common: paired models (pix2pix) need each image of A to have one of the same name in B; use cyclegan for unpaired data.");
        DomainImages Take(DomainImages d, IEnumerable<int> idx, string name)
        {
            var list = idx.ToList();
            var o = new float[list.Count * d.SampleSize];
            for (int k = 0; k < list.Count; k++) d.Sample(list[k]).CopyTo(o.AsSpan(k * d.SampleSize));
            return new DomainImages(name, o, list.Count, d.Channels, d.Size, list.Select(i => d.Names![i]).ToArray());
        }
        return new TranslationData($"{pairs.Count:N0} pairs matched by name in {folderA} and {folderB}",
            Take(a, pairs.Select(p => p.i), a.Name), Take(b, pairs.Select(p => p.Item2), b.Name), true, null, null, false);
    }

    /// <summary>Paired data as pix2pix's data sets hold it: each image is A and B side by side (A on
    /// the left); each half is resized and centre-cropped to <paramref name="size"/>.</summary>
    public static TranslationData Aligned(string folder, int size, int channels)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"--data {folder}: no such folder.");
        var files = ImageFolderDataset.FindImageFiles(folder);
        if (files.Length == 0) throw new InvalidDataException($"--data {folder}: the folder holds no images.");
        int s = channels * size * size;
        float[] a = new float[files.Length * s], b = new float[files.Length * s];
        var bytes = new byte[s];
        for (int i = 0; i < files.Length; i++)
        {
            ImageResult img;
            try { img = ImageResult.FromMemory(File.ReadAllBytes(files[i]), ColorComponents.RedGreenBlue); }
            catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException)
            { throw new InvalidDataException($"{files[i]}: cannot read the image: {e.Message}"); }
            if (img.Width < 2 || img.Width < img.Height * 3 / 2)
                throw new InvalidDataException($"{files[i]}: {img.Width}x{img.Height} is not two images side by side (A|B, about twice as wide as high): for unpaired data use cyclegan with --data-a/--data-b or trainA/trainB.");
            int half = img.Width / 2;
            for (int side = 0; side < 2; side++)
            {
                var part = new byte[half * img.Height * 3];
                for (int y = 0; y < img.Height; y++)
                    img.Data.AsSpan((y * img.Width + side * half) * 3, half * 3).CopyTo(part.AsSpan(y * half * 3));
                ImageFolderDataset.ResizeCrop(part, half, img.Height, size, channels, bytes);
                ImageFolderDataset.PixelsToFloats(bytes, (side == 0 ? a : b).AsSpan(i * s, s));
            }
        }
        var names = files.Select(Path.GetFileName).ToArray()!;
        return new TranslationData($"{files.Length:N0} A|B pairs in {folder}",
            new DomainImages("A", a, files.Length, channels, size, names!), new DomainImages("B", b, files.Length, channels, size, names!), true, null, null, false);
    }
}
