using IlgpuGan.Nn;

namespace IlgpuGan.Models;

/// <summary>
/// The 1-D GAN: G turns 5 random "ideas" into 15 points of a curve on x in [-1, 1]; real
/// "paintings" are a*x^2 + (a - 1) with a ~ U(1, 2), so every real curve lies between the
/// bounds x^2 (a = 1) and 2x^2 + 1 (a = 2).
/// </summary>
public static class ToyCurves
{
    public const int Ideas = 5, Points = 15, Hidden = 128;

    /// <summary>The x positions of the points: 15 steps from -1 to 1.</summary>
    public static float[] X { get; } = Enumerable.Range(0, Points).Select(i => -1f + 2f * i / (Points - 1)).ToArray();

    public static float Lower(float x) => x * x;
    public static float Upper(float x) => 2 * x * x + 1;

    /// <summary>z (N, 5) -> curve (N, 15).</summary>
    public static Sequential Generator(Device d) => new(
        new Linear(d, Ideas, Hidden), new Relu(),        // (N, 128)
        new Linear(d, Hidden, Points));                   // (N, 15)

    /// <summary>curve (N, 15) -> logit (N, 1).</summary>
    public static Sequential Discriminator(Device d) => new(
        new Linear(d, Points, Hidden), new Relu(),        // (N, 128)
        new Linear(d, Hidden, 1));                        // (N, 1)

    /// <summary>Fills <paramref name="batch"/> (N x 15) with real paintings.</summary>
    public static void Paintings(Span<float> batch, Random random)
    {
        for (int n = 0; n < batch.Length / Points; n++)
        {
            float a = 1f + (float)random.NextDouble();
            for (int i = 0; i < Points; i++) batch[n * Points + i] = a * X[i] * X[i] + (a - 1f);
        }
    }

    /// <summary>The share of points lying between the bounds (with a small slack).</summary>
    public static double ShareInBounds(ReadOnlySpan<float> curves, float slack = 0.1f)
    {
        int inside = 0;
        for (int j = 0; j < curves.Length; j++)
        {
            float x = X[j % Points], y = curves[j];
            if (y >= Lower(x) - slack && y <= Upper(x) + slack) inside++;
        }
        return (double)inside / curves.Length;
    }
}
