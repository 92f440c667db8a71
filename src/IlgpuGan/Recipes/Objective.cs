namespace IlgpuGan.Recipes;

/// <summary>The GAN objective (<c>--loss</c>).</summary>
public enum Objective
{
    /// <summary>Binary cross-entropy on logits, non-saturating G loss (Goodfellow et al.; DCGAN).</summary>
    Bce,
    /// <summary>Wasserstein GAN with weight clipping (Arjovsky et al. 2017).</summary>
    Wgan,
    /// <summary>Wasserstein GAN with gradient penalty (Gulrajani et al. 2017).</summary>
    WganGp,
    /// <summary>Hinge loss: D mean relu(1 - D(x)) + mean relu(1 + D(G(z))); G -mean D(G(z)).</summary>
    Hinge,
    /// <summary>Least squares (Mao et al. 2017): D to 1 on real, 0 on fake; G to 1.</summary>
    Lsgan,
}

/// <summary>How many critic updates a step makes.</summary>
public enum CriticSchedule
{
    /// <summary>Always <see cref="TrainingOptions.NCritic"/>.</summary>
    Constant,
    /// <summary>The WGAN paper's: 100 for the first 25 G updates and every 500th, else <see cref="TrainingOptions.NCritic"/>.</summary>
    Original,
}

public static class Objectives
{
    public static readonly IReadOnlyList<Objective> All = Enum.GetValues<Objective>();

    /// <summary>The command-line name: bce, wgan, wgan-gp, hinge, lsgan.</summary>
    public static string Name(this Objective o) => o switch
    {
        Objective.Bce => "bce",
        Objective.Wgan => "wgan",
        Objective.WganGp => "wgan-gp",
        Objective.Hinge => "hinge",
        Objective.Lsgan => "lsgan",
        _ => throw new ArgumentOutOfRangeException(nameof(o)),
    };

    public static Objective Parse(string text)
    {
        foreach (var o in All)
            if (string.Equals(o.Name(), text.Trim(), StringComparison.OrdinalIgnoreCase)) return o;
        throw new ArgumentException($"Unknown loss '{text}': use {string.Join(", ", All.Select(x => x.Name()))}.");
    }

    public static string Name(this CriticSchedule s) => s == CriticSchedule.Original ? "original" : "constant";

    public static CriticSchedule ParseSchedule(string text) => text.Trim().ToLowerInvariant() switch
    {
        "original" => CriticSchedule.Original,
        "constant" => CriticSchedule.Constant,
        _ => throw new ArgumentException($"Unknown critic schedule '{text}': use original or constant."),
    };

    /// <summary>Whether D is a critic (an unbounded score, no sigmoid): the Wasserstein objectives.</summary>
    public static bool IsWasserstein(this Objective o) => o is Objective.Wgan or Objective.WganGp;
}

/// <summary>
/// Everything that decides what a GAN recipe's steps compute, apart from the model and the seed.
/// <see cref="ModelSpec.DefaultsFor"/> gives each objective's published settings for a model.
/// </summary>
public sealed record TrainingOptions
{
    public Objective Loss { get; init; } = Objective.Bce;
    /// <summary>adam or rmsprop, for both parts.</summary>
    public string Optimizer { get; init; } = "adam";
    public double LrG { get; init; } = 2e-4;
    public double LrD { get; init; } = 2e-4;
    /// <summary>Adam's betas (ignored by RMSProp).</summary>
    public double Beta1 { get; init; } = 0.5;
    public double Beta2 { get; init; } = 0.999;
    /// <summary>D (critic) updates per G update.</summary>
    public int NCritic { get; init; } = 1;
    public CriticSchedule Schedule { get; init; } = CriticSchedule.Constant;
    /// <summary>When above 0, D's weights are clamped to [-Clip, Clip] after every D update (WGAN).</summary>
    public float Clip { get; init; }
    /// <summary>WGAN-GP's lambda.</summary>
    public float GpLambda { get; init; }
    /// <summary>When above 0: both learning rates fall linearly from their values at G update
    /// <see cref="LrDecayFrom"/> to 0 at <see cref="LrDecayTo"/> (the run's last step), as the CycleGAN reference
    /// code's schedule and Mirza &amp; Osindero's decaying rate do; 0: constant.</summary>
    public long LrDecayFrom { get; init; }
    public long LrDecayTo { get; init; }

    /// <summary>The factor on the learning rates for G update <paramref name="step"/> (from 0).</summary>
    public double LrFactor(long step) => LrDecayFrom <= 0 || step < LrDecayFrom ? 1
        : Math.Max(0, (double)(LrDecayTo - step) / Math.Max(1, LrDecayTo - LrDecayFrom));
}
