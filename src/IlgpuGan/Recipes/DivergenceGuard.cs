using System.Globalization;

namespace IlgpuGan.Recipes;

/// <summary>Numbers as people read them: four decimals in the usual range, and compact scientific notation
/// (<c>5.1e+21</c>, <c>3.2e-07</c>) for magnitudes of 1e5 and above or below 1e-4, never 28 digits.</summary>
public static class Numbers
{
    public static string Compact(double v, string usual = "F4")
    {
        if (double.IsNaN(v)) return "NaN";
        if (double.IsInfinity(v)) return v > 0 ? "Infinity" : "-Infinity";
        double a = Math.Abs(v);
        return a != 0 && (a >= 1e5 || a < 1e-4)
            ? v.ToString("0.##e+00", CultureInfo.InvariantCulture)
            : v.ToString(usual, CultureInfo.InvariantCulture);
    }

    /// <summary>A bound or a ratio: <c>1e+03</c>, <c>0.001</c>.</summary>
    public static string Bound(double v) => Math.Abs(v) >= 1e3 ? v.ToString("0.##e+00", CultureInfo.InvariantCulture) : v.ToString("G4", CultureInfo.InvariantCulture);
}

/// <summary>What the <see cref="DivergenceGuard"/> treats as sane, per objective.</summary>
public sealed record DivergenceBounds
{
    /// <summary>The largest magnitude of a loss (Loss_D, Loss_G).</summary>
    public required double Loss { get; init; }
    /// <summary>The largest magnitude of a raw D output or critic score (D(x), D(G(z)), W); null where D's
    /// outputs are probabilities (bce), which are checked for being pinned at 0 or 1 instead.</summary>
    public double? Score { get; init; }
    /// <summary>The largest root-mean-square of any one parameter tensor (a weight matrix, a bias).</summary>
    public double WeightRms { get; init; } = 1e3;
    /// <summary>A part's gradient norm more than this many times the median of its earlier reads is a spike.</summary>
    public double GradSpike { get; init; } = 1e3;
    /// <summary>Reads of a part's gradient norm before spikes are looked for (and the most kept for the median: 50).</summary>
    public int SpikeWarmup { get; init; } = 5;
    /// <summary>bce: a mean D output within this of 0 or 1 is pinned ...</summary>
    public double Pinned { get; init; } = 1e-3;
    /// <summary>... and a warning when it stays pinned at every read for this many steps.</summary>
    public long PinnedSteps { get; init; } = 1000;
    /// <summary>Any other statistic (GP, GradNorm, or a recipe's own).</summary>
    public double Other { get; init; } = 1e6;

    /// <summary>The bounds for an objective: bce losses 1e3 (nats: a loss of 1e3 means logits of 1e3) with D's
    /// probabilities checked for pinning; lsgan losses 1e4 and scores 1e2 (its targets are 0 and 1); hinge
    /// and wgan 1e4; wgan-gp 1e5 (its Loss_D holds lambda times the penalty), GradNorm 1e3.</summary>
    public static DivergenceBounds For(Objective o) => o switch
    {
        Objective.Bce => new() { Loss = 1e3 },
        Objective.Lsgan => new() { Loss = 1e4, Score = 1e2 },
        Objective.Hinge or Objective.Wgan => new() { Loss = 1e4, Score = 1e4 },
        _ => new() { Loss = 1e5, Score = 1e5, Other = 1e5 },
    };

    /// <summary>The bound of a statistic by name (null: none, a probability) and what kind it is, for messages.</summary>
    public (double? Bound, string Kind) For(string statistic, Objective o) => statistic switch
    {
        "Loss_D" or "Loss_G" => (Loss, "losses"),
        "D(x)" or "D(G(z))" or "D(G(z))_after" or "W" => (Score, "D's outputs"),
        "GradNorm" when o == Objective.WganGp => (1e3, "the gradient norm at x^"),
        _ => (Other, "statistics"),
    };
}

/// <summary>One part's parameters at a statistics read: the largest root-mean-square of its tensors (and which),
/// and its gradient's L2 norm over all tensors (null when it has none yet).</summary>
public readonly record struct PartNorms(string Part, string WorstTensor, double WorstRms, double? GradNorm);

/// <summary>Something the guard found: its key (one per statistic, part and kind), whether it makes the values
/// insane (a statistic or a weight beyond its bound) rather than a sign of trouble (a gradient spike, a pinned D),
/// and a message naming the step and the values.</summary>
public readonly record struct DivergenceFinding(string Key, bool Insane, string Message);

/// <summary>
/// Catches runs that explode without a NaN: at each statistics read, a statistic beyond its objective's
/// bound (<see cref="DivergenceBounds"/>), a parameter tensor whose root-mean-square is beyond
/// <see cref="DivergenceBounds.WeightRms"/>, a part's gradient norm more than <see cref="DivergenceBounds.GradSpike"/>
/// times the median of its earlier reads, and under bce a mean D output (D(x), D(G(z))) within
/// <see cref="DivergenceBounds.Pinned"/> of 0 or 1 at every read for <see cref="DivergenceBounds.PinnedSteps"/> steps.
/// The caller warns or stops; <see cref="ValuesSane"/> says whether a checkpoint of this state is a good one.
/// </summary>
public sealed class DivergenceGuard(Objective objective, DivergenceBounds? bounds = null)
{
    private readonly Dictionary<string, List<double>> gradNorms = [];
    private readonly Dictionary<string, long> pinnedSince = [];
    private HashSet<string> active = [];

    public DivergenceBounds Bounds { get; } = bounds ?? DivergenceBounds.For(objective);
    public Objective Objective { get; } = objective;

    /// <summary>What the last read found (all of it, not only what was new).</summary>
    public IReadOnlyList<DivergenceFinding> Current { get; private set; } = [];
    /// <summary>Whether the last read found every statistic and weight within bounds.</summary>
    public bool ValuesSane => !Current.Any(f => f.Insane);
    /// <summary>The first step at which values were beyond bounds (null if never).</summary>
    public long? FirstInsaneStep { get; private set; }

    /// <summary>Looks at one read; returns what is new since the previous read (to warn about once).</summary>
    public IReadOnlyList<DivergenceFinding> Observe(StepStats stats, IReadOnlyList<PartNorms> norms)
    {
        var found = new List<DivergenceFinding>();
        string step = stats.Step.ToString("N0", CultureInfo.InvariantCulture);
        for (int i = 0; i < stats.Names.Count; i++)
        {
            string name = stats.Names[i];
            double v = stats.Values[i];
            var (bound, kind) = Bounds.For(name, Objective);
            if (bound is { } b && !(Math.Abs(v) <= b))
                found.Add(new($"stat:{name}", true, $"step {step}: {name} is {Numbers.Compact(v)}, beyond {Numbers.Bound(b)} ({Objective.Name()}'s bound for {kind}): training is exploding"));
            if (Objective == Objective.Bce && name is "D(x)" or "D(G(z))")
            {
                bool pinned = v <= Bounds.Pinned || v >= 1 - Bounds.Pinned;
                if (!pinned) pinnedSince.Remove(name);
                else
                {
                    if (!pinnedSince.TryGetValue(name, out long since)) pinnedSince[name] = since = stats.Step;
                    if (stats.Step - since >= Bounds.PinnedSteps)
                        found.Add(new($"pinned:{name}", false,
                            $"step {step}: {name} has stayed within {Numbers.Bound(Bounds.Pinned)} of {(v < 0.5 ? 0 : 1)} since step {since.ToString("N0", CultureInfo.InvariantCulture)}: " +
                            "D is saturated and G learns little"));
                }
            }
        }
        foreach (var n in norms)
        {
            if (!(n.WorstRms <= Bounds.WeightRms))
                found.Add(new($"weights:{n.Part}", true,
                    $"step {step}: {n.Part}'s weights exploded: {n.WorstTensor} has a root-mean-square of {Numbers.Compact(n.WorstRms)}, beyond {Numbers.Bound(Bounds.WeightRms)}"));
            if (n.GradNorm is not { } g) continue;
            if (!gradNorms.TryGetValue(n.Part, out var history)) gradNorms[n.Part] = history = [];
            if (history.Count >= Bounds.SpikeWarmup)
            {
                var sorted = history.Order().ToList();
                double median = sorted[sorted.Count / 2];
                if (!(g <= Bounds.GradSpike * median))
                    found.Add(new($"spike:{n.Part}", false,
                        $"step {step}: {n.Part}'s gradient norm is {Numbers.Compact(g)}, {Numbers.Bound(median > 0 ? g / median : double.PositiveInfinity)} times its median " +
                        $"({Numbers.Compact(median)}) over the last {history.Count} reads: a spike"));
            }
            if (double.IsFinite(g))
            {
                history.Add(g);
                if (history.Count > 50) history.RemoveAt(0);
            }
        }
        Current = found;
        if (!ValuesSane) FirstInsaneStep ??= stats.Step;
        var news = found.Where(f => !active.Contains(f.Key)).ToList();
        active = found.Select(f => f.Key).ToHashSet();
        return news;
    }
}

/// <summary>Measures each part's parameters on the device (one sum of squares per tensor, read back together):
/// the largest root-mean-square of a tensor and the gradient's L2 norm, for the <see cref="DivergenceGuard"/>.</summary>
public sealed class NormProbe : IDisposable
{
    private readonly Recipe recipe;
    private readonly List<(string Part, string Name, Tensor Tensor)> tensors = [];
    private readonly Tensor sums;           // 2 per tensor: sum of squares of the values, of the gradient
    private readonly long longest;

    public NormProbe(Recipe recipe)
    {
        this.recipe = recipe;
        foreach (var part in recipe.Parts)
            foreach (var (name, t) in part.Module.NamedParameters())
                tensors.Add((part.Name, $"{part.Name}.{name}", t));
        sums = recipe.Device.Persistent(new Shape(Math.Max(1, 2 * tensors.Count)));
        longest = tensors.Count == 0 ? 1 : tensors.Max(t => t.Tensor.Length);
    }

    public IReadOnlyList<PartNorms> Measure()
    {
        var device = recipe.Device;
        var k = device.Kernels;
        var hasGrad = new bool[tensors.Count];
        using (device.Tape.NoGrad())
        {
            var square = device.Empty(new Shape(checked((int)longest)));
            for (int i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i].Tensor;
                var sq = square.View.SubView(0, t.Length);
                k.Binary(IlgpuGan.Kernels.BinaryOp.Mul, t.View, t.View, sq);
                k.Sum(sq, sums.View.SubView(2 * i, 1));
                hasGrad[i] = t.HasGrad && t.Grad is not null;
                if (hasGrad[i])
                {
                    k.Binary(IlgpuGan.Kernels.BinaryOp.Mul, t.Grad!.View, t.Grad.View, sq);
                    k.Sum(sq, sums.View.SubView(2 * i + 1, 1));
                }
            }
        }
        device.Tape.EndStep();
        float[] s = sums.ToArray();
        var result = new List<PartNorms>();
        foreach (var part in recipe.Parts)
        {
            string worst = "";
            double worstRms = 0, grad = 0;
            bool any = false;
            for (int i = 0; i < tensors.Count; i++)
            {
                if (tensors[i].Part != part.Name) continue;
                double rms = Math.Sqrt(s[2 * i] / tensors[i].Tensor.Length);
                if (worst.Length == 0 || !(rms <= worstRms)) { worst = tensors[i].Name; worstRms = rms; }
                if (hasGrad[i]) { grad += s[2 * i + 1]; any = true; }
            }
            result.Add(new PartNorms(part.Name, worst, worstRms, any ? Math.Sqrt(grad) : null));
        }
        return result;
    }

    public void Dispose() => sums.Dispose();
}
