namespace IlgpuGan;

/// <summary>A tensor's dimensions, row-major (C order), e.g. (64, 1, 28, 28).</summary>
public readonly struct Shape : IEquatable<Shape>
{
    private readonly int[] dims;

    public Shape(params int[] dims)
    {
        foreach (int d in dims)
            if (d <= 0) throw new ArgumentException($"Shape ({string.Join(", ", dims)}) has a dimension <= 0.");
        this.dims = (int[])dims.Clone();
    }

    public int Rank => dims?.Length ?? 0;
    public int this[int i] => dims[i < 0 ? dims.Length + i : i];
    public long Length { get { long n = 1; foreach (int d in dims ?? []) n *= d; return n; } }
    public ReadOnlySpan<int> Dims => dims;

    /// <summary>(N, rest): the first dimension and the product of the others.</summary>
    public (int Rows, int Cols) AsMatrix() => (this[0], (int)(Length / this[0]));

    public bool Equals(Shape other) => Dims.SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode() { var h = new HashCode(); foreach (int d in dims ?? []) h.Add(d); return h.ToHashCode(); }
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);
    public override string ToString() => $"({string.Join(", ", dims ?? [])})";
}
