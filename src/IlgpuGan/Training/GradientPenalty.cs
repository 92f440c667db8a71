namespace IlgpuGan.Training;

/// <summary>
/// The WGAN-GP gradient penalty (Gulrajani et al. 2017): at x^ = real + alpha (fake - real), one
/// alpha ~ U[0, 1] per sample, penalty = lambda * mean_n (||d sum(D(x^)) / d x^ [n]||_2 - 1)^2.
/// The gradient is taken with a graph of itself (create_graph), so back-propagating the penalty
/// reaches the critic's weights through the critic's backward; this is what makes the penalty do
/// anything (computed without that graph it silently changes nothing).
/// </summary>
public static class GradientPenalty
{
    /// <summary>Epsilon inside the per-sample norm's square root (keeps its derivative finite at 0).</summary>
    public const float NormEpsilon = 1e-12f;

    /// <summary>
    /// The penalty (a scalar in the graph: add it to the critic's loss before Backward) and the
    /// per-sample gradient norms (N, no gradient). <paramref name="alpha"/> (N) is drawn from the
    /// device's generator when null. real and fake are (N, ...) and carry no gradient.
    /// </summary>
    public static (Tensor Penalty, Tensor GradNorm) Compute(Func<Tensor, Tensor> critic, Tensor real, Tensor fake, float lambda, Tensor? alpha = null)
    {
        var d = real.Device;
        if (real.Shape != fake.Shape) throw new ArgumentException($"GradientPenalty: real {real.Shape} and fake {fake.Shape} differ.");
        int n = real.Shape[0];
        if (alpha is null)
        {
            alpha = d.Empty(new Shape(n));
            d.Kernels.Uniform(alpha.View, d.Random.Next(n), 0f, 1f);
        }
        else if (alpha.Length != n) throw new ArgumentException($"GradientPenalty: {alpha.Length} alphas for {n} samples.");

        // x^ = real + alpha (fake - real): a leaf of its own that the gradient is taken at.
        Tensor xHat;
        using (d.Tape.NoGrad()) xHat = Ops.Add(real.Detach(), Ops.MulPerSample(Ops.Sub(fake.Detach(), real.Detach()), alpha.Detach()));
        xHat.RequiresGrad = true;                                                   // (N, ...)
        var score = critic(xHat);                                                   // (N, 1)
        var grad = d.Tape.Grad([score], [xHat], createGraph: true)[0];              // (N, ...) in the graph
        var norm = Ops.SampleNorm(grad, NormEpsilon);                               // (N)
        var penalty = Ops.Scale(Ops.Mean(Ops.Square(Ops.AddScalar(norm, -1f))), lambda);   // (1)
        return (penalty, norm.Detach());
    }
}
