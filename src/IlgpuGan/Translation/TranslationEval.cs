using System.Globalization;
using IlgpuGan.Data;
using IlgpuGan.Evaluation;

namespace IlgpuGan.Translation;

/// <summary>
/// The figures of issue 14's done-when checks on the built-in pair's held-out digits (known pairs
/// with labels), measured with the independent shipped classifier (28x28 digits, ink high):
/// cyclegan: B -> A translations keep their class, the A -> B -> A cycle L1, the A -> B L1 to the
/// true bold negative; pix2pix: the L1 of G(a) to the true b beside the input's own L1 to it; ae:
/// the held-out MSE; ae-swap: Dec_B(E(a)) against the true b, and its class (un-negated); vae: the
/// classes of new samples.
/// </summary>
public static class TranslationEval
{
    public sealed record Figure(string Name, double Value, string Note);

    public static IReadOnlyList<Figure> Run(TranslationModel m, TranslationData data, Classifier classifier, int max = 2004)
    {
        var ta = data.TestA ?? throw new InvalidOperationException("The data have no held-out images.");
        var tb = data.TestB!;
        int n = Math.Min(max, ta.Count), c = m.Options.Channels, s = m.Options.Size;
        float[] Take(DomainImages d) => d.Images.AsSpan(0, n * d.SampleSize).ToArray();
        float[] Ap(string part, float[] x) => Batched(x, n, s * s * c, xs => m.Apply(part, xs, xs.Length / (c * s * s), c, s, s));
        float[] Dec(string part, float[] z, int latent) => Batched(z, n, latent, zs => m.Apply(part, zs, zs.Length / latent, 1, 1, latent));
        var a = Take(ta);
        var b = Take(tb);
        var labels = ta.Labels!.AsSpan(0, n).ToArray();
        var f = new List<Figure>();
        switch (m.Options.Model)
        {
            case "cyclegan":
            {
                var fakeA = Ap("G_B", b);
                f.Add(new("B->A class kept", Accuracy(classifier, fakeA, labels, s), "share of held-out B digits whose translation to A the classifier gives their label"));
                var fakeB = Ap("G_A", a);
                var recA = Ap("G_B", fakeB);
                f.Add(new("A->B->A cycle L1", L1(recA, a), "mean |G_B(G_A(a)) - a| per pixel, [-1, 1] scale"));
                f.Add(new("A->B L1 to true B", L1(fakeB, b), $"input's own L1 to true B: {L1(a, b):F4}"));
                f.Add(new("B->A L1 to true A", L1(fakeA, a), $"input's own L1 to true A: {L1(b, a):F4}"));
                f.Add(new("A classifier on real held-out A", Accuracy(classifier, a, labels, s), "for scale"));
                break;
            }
            case "pix2pix":
            {
                var fake = Ap("G", a);
                f.Add(new("G(A) L1 to true B", L1(fake, b), "held-out pairs"));
                f.Add(new("input A L1 to true B", L1(a, b), "the baseline"));
                f.Add(new("-G(A) class kept", Accuracy(classifier, Negate(fake), labels, s), "G(A) un-negated, classified"));
                break;
            }
            case "ae":
            {
                var r = Dec("Dec", Ap("E", a), m.Options.Latent);
                f.Add(new("held-out MSE", Mse(r, a), "reconstruction of held-out digits, [-1, 1] scale"));
                f.Add(new("reconstruction class kept", Accuracy(classifier, r, labels, s), ""));
                break;
            }
            case "ae-swap":
            {
                int l = m.Options.Latent;
                var za = Ap("E", a);
                var ra = Dec("Dec_A", za, l);
                var swap = Dec("Dec_B", za, l);
                f.Add(new("held-out MSE A", Mse(ra, a), "Dec_A(E(a))"));
                f.Add(new("held-out MSE B", Mse(Dec("Dec_B", Ap("E", b), l), b), "Dec_B(E(b))"));
                f.Add(new("swap L1 to true B", L1(swap, b), $"Dec_B(E(a)) against a's bold negative; input's own L1: {L1(a, b):F4}"));
                f.Add(new("swap class kept", Accuracy(classifier, Negate(swap), labels, s), "-Dec_B(E(a)) classified"));
                f.Add(new("swap mean pixel", swap.Average(), $"domain B's mean {b.Average():F3}, A's {a.Average():F3}"));
                break;
            }
            case "vae":
            {
                var vae = (Vae)m;
                var r = vae.Decode(Ap("E", a), n);
                f.Add(new("held-out MSE (mean z)", Mse(r, a), ""));
                int count = 1000;
                var samples = vae.Sample(count, 12345);
                var (_, p) = classifier.Evaluate(Crop(samples, count, s), count);
                var predicted = Metrics.ArgMax(p, count, classifier.Classes);
                var hist = new int[classifier.Classes];
                foreach (var k in predicted) hist[k]++;
                f.Add(new("classes among 1000 samples (>= 2% each)", hist.Count(h => h >= 20), "histogram " + string.Join(" ", hist)));
                break;
            }
        }
        return f;
    }

    public static string Text(IEnumerable<Figure> figures) =>
        string.Join(Environment.NewLine, figures.Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Name}: {x.Value:F4}{(x.Note.Length > 0 ? "  (" + x.Note + ")" : "")}")));

    private static float[] Batched(float[] x, int n, int per, Func<float[], float[]> f)
    {
        var outs = new List<float>();
        for (int i = 0; i < n; i += 256)
        {
            int k = Math.Min(256, n - i);
            outs.AddRange(f(x.AsSpan(i * per, k * per).ToArray()));
        }
        return outs.ToArray();
    }

    private static float[] Negate(float[] x) => x.Select(v => -v).ToArray();

    /// <summary>The centre 28x28 of each (1, s, s) image.</summary>
    public static float[] Crop(float[] x, int count, int s)
    {
        if (s == 28) return x;
        int p = (s - 28) / 2;
        var o = new float[count * 784];
        for (int i = 0; i < count; i++)
            for (int y = 0; y < 28; y++)
                x.AsSpan(i * s * s + (y + p) * s + p, 28).CopyTo(o.AsSpan(i * 784 + y * 28));
        return o;
    }

    public static double Accuracy(Classifier c, float[] images, byte[] labels, int s)
    {
        int n = labels.Length;
        var (_, p) = c.Evaluate(Crop(images, n, s), n);
        var predicted = Metrics.ArgMax(p, n, c.Classes);
        return (double)Enumerable.Range(0, n).Count(i => predicted[i] == labels[i]) / n;
    }

    public static double L1(float[] x, float[] y) { double s = 0; for (int i = 0; i < x.Length; i++) s += Math.Abs(x[i] - y[i]); return s / x.Length; }
    public static double Mse(float[] x, float[] y) { double s = 0; for (int i = 0; i < x.Length; i++) { double d = x[i] - y[i]; s += d * d; } return s / x.Length; }
}
