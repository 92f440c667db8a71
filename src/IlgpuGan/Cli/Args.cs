namespace IlgpuGan;

/// <summary>A minimal "--name value" parser for the samples; an unknown or malformed option is an error.</summary>
public sealed class Args
{
    private readonly Dictionary<string, string> values = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> used = new(StringComparer.OrdinalIgnoreCase);

    public static Args Parse(string[] args)
    {
        var a = new Args();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--") || i + 1 >= args.Length)
                throw new ArgumentException($"Expected '--name value' pairs; got '{args[i]}'.");
            a.values[args[i][2..]] = args[++i];
        }
        return a;
    }

    public string? Get(string name, string? fallback) => Take(name) ?? fallback;

    public int Int(string name, int fallback) => Take(name) is { } s
        ? int.TryParse(s, out int v) && v > 0 ? v : throw new ArgumentException($"--{name} must be a positive integer; got '{s}'.")
        : fallback;

    public double Double(string name, double fallback) => Take(name) is { } s
        ? double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out double v) ? v : throw new ArgumentException($"--{name} must be a number; got '{s}'.")
        : fallback;

    /// <summary>Options given but never asked for: a typo the user should hear about.</summary>
    public IEnumerable<string> Unused => values.Keys.Where(k => !used.Contains(k));

    private string? Take(string name) { used.Add(name); return values.TryGetValue(name, out var v) ? v : null; }
}
