using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Autograd;

// The conditional GANs' ops (issue 12), finite-difference checked on every backend: the embedding
// (repeated indices add up; an index of the last row), its adjoint, the per-(sample, channel)
// affine of conditional batch norm, sum pooling and the projection's per-sample inner product.
public sealed partial class GradCheckTests
{
    private static double[] EmbeddingRef(double[] idx, double[] w, int dim)
    {
        var y = new double[idx.Length * dim];
        for (int n = 0; n < idx.Length; n++)
            for (int c = 0; c < dim; c++) y[n * dim + c] = w[(int)idx[n] * dim + c];
        return y;
    }

    [Theory, MemberData(nameof(All))]
    public void Embedding(string backend)
    {
        int num = 4, dim = 3;
        double[] idx = [2, 0, 2, 3, 2, 1, 0];          // 2 three times, 0 twice
        Check(backend,
            [new("idx", [idx.Length], idx, Grad: false), new("w", [num, dim], Random(num * dim, 21))],
            v => EmbeddingRef(v[0], v[1], dim),
            t => Ops.Embedding(t[0], t[1]));
    }

    [Theory, MemberData(nameof(All))]
    public void EmbeddingScatterAndBack(string backend)
    {
        // The adjoint: rows (N, dim) scattered into a (num, dim) table (row 3 gets nothing), then
        // looked up again, so both ops' backwards are in the graph.
        int num = 4, dim = 2;
        double[] idx = [1, 1, 0, 2, 1];
        Check(backend,
            [new("idx", [idx.Length], idx, Grad: false), new("rows", [idx.Length, dim], Random(idx.Length * dim, 22))],
            v =>
            {
                var table = new double[num * dim];
                for (int n = 0; n < v[0].Length; n++)
                    for (int c = 0; c < dim; c++) table[(int)v[0][n] * dim + c] += v[1][n * dim + c];
                return table.Select(x => Math.Tanh(x)).ToArray();
            },
            t => Ops.Tanh(Ops.EmbeddingScatter(t[0], t[1], num)));
    }

    [Theory, MemberData(nameof(All))]
    public void AffinePerSampleChannel(string backend)
    {
        int n = 3, c = 2, s = 5;
        Check(backend,
            [new("x", [n, c, 1, s], Random(n * c * s, 23)), new("scale", [n, c], Random(n * c, 24)), new("shift", [n, c], Random(n * c, 25))],
            v =>
            {
                var y = new double[n * c * s];
                for (int i = 0; i < y.Length; i++) y[i] = v[0][i] * v[1][i / s] + v[2][i / s];
                return y;
            },
            t => Ops.AffinePerSampleChannel(t[0], t[1], t[2]));
    }

    [Theory, MemberData(nameof(All))]
    public void ProjectionHead(string backend)
    {
        // logit = <e, sum_pixels(h)> per sample, e = embed(y): the projection discriminator's term.
        int n = 3, c = 4, s = 6, num = 5;
        double[] labels = [4, 0, 4];
        Check(backend,
            [new("h", [n, c, 2, 3], Random(n * c * s, 26)), new("w", [num, c], Random(num * c, 27)), new("y", [n], labels, Grad: false)],
            v =>
            {
                var y = new double[n];
                for (int i = 0; i < n; i++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        double sum = 0;
                        for (int k = 0; k < s; k++) sum += v[0][(i * c + ch) * s + k];
                        y[i] += sum * v[1][(int)v[2][i] * c + ch];
                    }
                return y;
            },
            t => Ops.RowDot(Ops.Embedding(t[2], t[1]), Ops.SumPixels(t[0])));
    }
}
