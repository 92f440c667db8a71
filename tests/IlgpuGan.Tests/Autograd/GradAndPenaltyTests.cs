using IlgpuGan.Nn;
using IlgpuGan.Tests.Support;
using IlgpuGan.Training;

namespace IlgpuGan.Tests.Autograd;

/// <summary>Tape.Grad's contract (no parameter gradient touched, unused inputs, errors) and the
/// gradient penalty's effect on a critic.</summary>
[Collection("devices")]
public sealed class GradAndPenaltyTests
{
    private static Device Cpu() => Backends.Get("cpu");

    private static Sequential MlpCritic(Device d) =>
        new(new Linear(d, 6, 8), new LeakyRelu(0.2f), new Linear(d, 8, 1));

    private static Tensor Batch(Device d, int seed, params int[] shape)
    {
        var t = d.Persistent(new Shape(shape));
        d.Kernels.Uniform(t.View, new IlgpuGan.Kernels.RandomState((ulong)seed, 0), -1, 1);
        return t;
    }

    [Fact]
    public void GradLeavesParameterGradientsAlone()
    {
        var d = Cpu();
        using var critic = MlpCritic(d);
        using var x = Batch(d, 1, 4, 6);
        x.RequiresGrad = true;
        try
        {
            var g = d.Tape.Grad([Ops.Sum(critic.Forward(x))], [x]);
            Assert.Equal(x.Shape, g[0].Shape);
            Assert.All(critic.Parameters(), p => Assert.False(p.HasGrad));
            Assert.False(x.HasGrad);
            // The same gradient as Backward gives.
            var viaGrad = g[0].ToArray();
            d.Tape.Backward(Ops.Sum(critic.Forward(x)));
            Assert.Equal(x.Grad!.ToArray(), viaGrad);
        }
        finally { d.Tape.EndStep(); x.ZeroGrad(); }
    }

    [Fact]
    public void AnInputTheOutputDoesNotDependOnGetsZeros()
    {
        var d = Cpu();
        using var a = Batch(d, 2, 3);
        using var b = Batch(d, 3, 3);
        a.RequiresGrad = b.RequiresGrad = true;
        try
        {
            var g = d.Tape.Grad([Ops.Sum(Ops.Square(a))], [a, b]);
            Assert.All(g[1].ToArray(), v => Assert.Equal(0f, v));
            var av = a.ToArray();
            Assert.Equal(av.Select(v => 2 * v).ToArray(), g[0].ToArray());
        }
        finally { d.Tape.EndStep(); }
    }

    [Fact]
    public void BatchNormUnderAGradientPenaltyIsAnErrorNamingTheOpAndTheLayer()
    {
        var d = Cpu();
        using var critic = new Sequential(new Linear(d, 6, 8), new BatchNorm1d(d, 8), new LeakyRelu(0.2f), new Linear(d, 8, 1));
        using var real = Batch(d, 4, 4, 6);
        using var fake = Batch(d, 5, 4, 6);
        try
        {
            var e = Assert.Throws<NotSupportedException>(() =>
            {
                using (d.Tape.Layer("D")) GradientPenalty.Compute(critic.Forward, real, fake, 10f);
            });
            Assert.Contains("batch_norm (layer D.1) has no second derivative", e.Message);
            Assert.Contains("layer norm", e.Message);
        }
        finally { d.Tape.EndStep(); }
    }

    /// <summary>The bug that other implementations had: a penalty computed on a gradient without
    /// its graph does nothing. Here the critic's weight gradients with the penalty must differ from
    /// those without it by exactly the penalty's own gradient (checked by finite differences).</summary>
    [Fact]
    public void ThePenaltyChangesTheCriticsWeightGradients()
    {
        var d = Cpu();
        using var critic = MlpCritic(d);
        using var real = Batch(d, 6, 4, 6);
        using var fake = Batch(d, 7, 4, 6);
        using var alpha = d.Persistent(new Shape(4), [0.1f, 0.5f, 0.9f, 0.3f]);
        var w = ((Linear)critic.Modules[0]).Weight;
        try
        {
            float[] Gradient(bool withPenalty)
            {
                critic.ZeroGrad();
                var loss = Ops.Sub(Ops.Mean(critic.Forward(fake)), Ops.Mean(critic.Forward(real)));
                if (withPenalty) loss = Ops.Add(loss, GradientPenalty.Compute(critic.Forward, real, fake, 10f, alpha).Penalty);
                d.Tape.Backward(loss);
                var g = w.Grad!.ToArray();
                d.Tape.EndStep();
                return g;
            }
            var without = Gradient(false);
            var with = Gradient(true);
            var difference = with.Zip(without, (a, b) => (double)a - b).ToArray();
            Assert.True(difference.Max(Math.Abs) > 1e-3, "the penalty did not change the critic's weight gradient");

            // The difference is d(penalty)/dw: compare a few entries with central differences.
            double Penalty()
            {
                // (not under NoGrad: the penalty needs the critic's graph to take its gradient)
                var p = GradientPenalty.Compute(critic.Forward, real, fake, 10f, alpha).Penalty.ToArray()[0];
                d.Tape.EndStep();
                return p;
            }
            var values = w.ToArray();
            foreach (int i in new[] { 0, 7, 19, 40 })
            {
                const float h = 1e-2f;
                float keep = values[i];
                values[i] = keep + h; w.CopyFrom(values); double plus = Penalty();
                values[i] = keep - h; w.CopyFrom(values); double minus = Penalty();
                values[i] = keep; w.CopyFrom(values);
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - difference[i]) <= 2e-2 * Math.Max(1, Math.Abs(numeric)),
                    $"w[{i}]: penalty gradient {difference[i]:E4}, finite differences {numeric:E4}");
            }
        }
        finally { d.Tape.EndStep(); critic.ZeroGrad(); }
    }

    /// <summary>Layer norm's gamma may already hold a gradient when beta does not (a penalty reaches
    /// gamma only): each gets its own beta.</summary>
    [Fact]
    public void LayerNormAccumulatesGammaAndBetaIndependently()
    {
        var d = Cpu();
        using var x = Batch(d, 9, 3, 4);
        using var gamma = Batch(d, 10, 4);
        using var beta = Batch(d, 11, 4);
        gamma.RequiresGrad = beta.RequiresGrad = true;
        try
        {
            float[] Grads(bool extra, Tensor t)
            {
                gamma.ZeroGrad(); beta.ZeroGrad();
                var loss = Ops.Sum(Ops.Square(Ops.LayerNorm(x, gamma, beta)));
                if (extra) loss = Ops.Add(loss, Ops.Sum(Ops.Square(gamma)));     // recorded last: runs first
                d.Tape.Backward(loss);
                var g = t.Grad!.ToArray();
                d.Tape.EndStep();
                return g;
            }
            var gammaAlone = Grads(false, gamma);
            var gammaWithExtra = Grads(true, gamma);
            var gv = gamma.ToArray();
            for (int i = 0; i < gv.Length; i++) Assert.Equal(gammaAlone[i] + 2 * gv[i], gammaWithExtra[i], 4);
            Assert.Equal(Grads(false, beta), Grads(true, beta));
        }
        finally { d.Tape.EndStep(); gamma.ZeroGrad(); beta.ZeroGrad(); }
    }

    [Fact]
    public void NodesKnowTheirOpAndLayer()
    {
        var d = Cpu();
        using var critic = MlpCritic(d);
        using var x = Batch(d, 8, 2, 6);
        try
        {
            using (d.Tape.Layer("D")) critic.Forward(x);
            Assert.Equal(["linear (layer D.0)", "leaky_relu (layer D.1)", "linear (layer D.2)"], d.Tape.Nodes.Select(n => n.ToString()));
        }
        finally { d.Tape.EndStep(); }
    }
}
