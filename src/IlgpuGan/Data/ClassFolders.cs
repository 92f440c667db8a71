namespace IlgpuGan.Data;

/// <summary>Class names and one label per sample.</summary>
/// <param name="Names">The class names, by label (label k is Names[k]).</param>
/// <param name="Labels">One label per sample, in sample order.</param>
public sealed record ClassLabels(IReadOnlyList<string> Names, byte[] Labels)
{
    public int Count => Names.Count;

    /// <summary>The label a class is asked for by: a class name (exact, then case-insensitive) or
    /// a number in [0, Count). Anything else is an <see cref="ArgumentException"/> of one line
    /// naming the value and the classes.</summary>
    public int Resolve(string text)
    {
        for (int k = 0; k < Names.Count; k++) if (Names[k] == text) return k;
        for (int k = 0; k < Names.Count; k++) if (string.Equals(Names[k], text, StringComparison.OrdinalIgnoreCase)) return k;
        if (int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n))
        {
            if (n >= 0 && n < Names.Count) return n;
            throw new ArgumentException($"Class {n} is outside [0, {Names.Count}): the classes are {Describe()}.");
        }
        throw new ArgumentException($"Unknown class '{text}': the classes are {Describe()}.");
    }

    /// <summary>"0 (cats), 1 (dogs)" or, where the names are the numbers, "0-9".</summary>
    public string Describe() =>
        Names.Select((n, k) => n == k.ToString(System.Globalization.CultureInfo.InvariantCulture)).All(b => b)
            ? $"0-{Names.Count - 1}"
            : string.Join(", ", Names.Select((n, k) => $"{k} ({n})"));

    /// <summary>The digits' classes, 0-9, named by their numbers, for labels read from an IDX file.</summary>
    public static ClassLabels Numbered(byte[] labels, int classes) =>
        new(Enumerable.Range(0, classes).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(), labels);

    /// <summary>
    /// The classes of an image folder, by the ImageFolder convention (torchvision): each image's
    /// class is the first subfolder it lies in under the root; classes are the subfolders' names
    /// in ordinal order, labelled 0, 1, ... An image directly in the root, a folder with a single
    /// class, or more than 256 classes is an <see cref="InvalidDataException"/> of one line.
    /// </summary>
    public static ClassLabels FromSubfolders(ImageFolderDataset images)
    {
        string root = images.Folder ?? throw new InvalidDataException("These images come from no folder (fake data): they have no classes.");
        var classOf = new string[images.Count];
        for (int i = 0; i < images.Count; i++)
        {
            string rel = Path.GetRelativePath(root, images.Files[i]);
            int cut = rel.IndexOfAny([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar]);
            if (cut <= 0)
                throw new InvalidDataException(
                    $"{rel} lies directly in {root}: a conditional model needs one subfolder per class (e.g. {root}/cat/1.png, {root}/dog/2.png).");
            classOf[i] = rel[..cut];
        }
        var names = classOf.Distinct().Order(StringComparer.Ordinal).ToArray();
        if (names.Length < 2)
            throw new InvalidDataException(
                $"{root} holds one class ('{names[0]}'): a conditional model needs at least two class subfolders.");
        if (names.Length > 256)
            throw new InvalidDataException($"{root} holds {names.Length} class subfolders; at most 256 are supported.");
        var index = names.Select((n, k) => (n, k)).ToDictionary(p => p.n, p => (byte)p.k, StringComparer.Ordinal);
        return new ClassLabels(names, classOf.Select(c => index[c]).ToArray());
    }
}
