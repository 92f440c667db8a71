using IlgpuGan.Models;
using IlgpuGan.Nn;
using IlgpuGan.Translation;

namespace IlgpuGan.Recipes;

/// <summary>
/// Every model IlgpuGan trains, by name: the one list that the tool (train, sample, resume, report),
/// bench, selftest and the samples use. A model is its parts' builders, shapes, default data and
/// its defaults for each objective: BCE, hinge and least squares with WORKLOADS.md's Adam settings;
/// WGAN with the paper's RMSProp 5e-5, clipping at 0.01, 5 critic updates and the original critic
/// schedule; WGAN-GP with Adam 1e-4, betas (0.5, 0.9) at 28x28 and (0, 0.9) at 64x64, lambda 10 and
/// 5 critic updates.
/// </summary>
public static class ModelRegistry
{
    private static readonly Func<int, int, Shape> Flat = (n, nz) => new Shape(n, nz);

    /// <summary>The latent size of WORKLOADS.md's models (nz).</summary>
    public const int LatentSize = 100;

    public static ModelSpec Toy { get; } = new("toy", "the 1-D GAN: 15-point curves a*x^2 + (a-1) from 5 random ideas (seconds on a CPU)",
        ToyCurves.Generator, ToyCurves.Discriminator, ToyCurves.Ideas, Flat, [ToyCurves.Points], "curves",
        Defaults(batch: 64, bce: (3000, 250, 1e-3), wgan: 3000, wganGp: 3000, sampleEvery: 250, wganGpBeta1: 0.5));

    /// <summary>grid25: the 2-D grid of 25 Gaussians (mode collapse made visible; <see cref="Models.Grid25"/>).</summary>
    public static ModelSpec Grid25 { get; } = new("grid25", "the 2-D grid of 25 Gaussians (Unrolled GAN, VEEGAN, PacGAN): modes covered, high-quality share, a scatter plot",
        Models.Grid25.Generator, Models.Grid25.Discriminator, Models.Grid25.LatentSize, Flat, [2], "grid25",
        Defaults(batch: 256, bce: (5000, 500, 1e-4), wgan: 5000, wganGp: 5000, sampleEvery: 500, wganGpBeta1: 0.5))
    {
        SampleCount = 2500,
        ScatterPlot = (path, points, count) => Models.Grid25.SavePlot(path, points, count),
        Figures = (_, points, count) => Models.Grid25.Figures(points, count).Text(),
    };

    public static ModelSpec Mlp { get; } = new("mlp", "W-MLP: the multilayer-perceptron GAN for 28x28 digits (WORKLOADS.md)",
        d => Models.Mlp.Generator(d), d => Models.Mlp.Discriminator(d), LatentSize, Flat, [1, 28, 28], "mnist",
        Defaults(batch: 64, bce: (6000, 500, 2e-4), wgan: 4000, wganGp: 3000, sampleEvery: 500, wganGpBeta1: 0.5));

    public static ModelSpec Dcgan28 { get; } = new("dcgan28", "W-DCGAN28: the DCGAN for 28x28 digits (WORKLOADS.md); under wgan-gp its critic is W-WGANGP28's (LayerNorm)",
        d => Dcgan.Generator28(d), d => Dcgan.Discriminator28(d), LatentSize, Dcgan.LatentShape, [1, 28, 28], "mnist",
        // wgan: 10,000 steps. Weight clipping learns slowly (seed 1's FID 397 at 2,000, 255 at 4,000, 200 at 6,000, 183 at
        // 8,000 and 10,000); at 10,000 every class is drawn recognisably, as wgan-gp's are at its 1,500.
        Defaults(batch: 64, bce: (3000, 250, 2e-4), wgan: 10_000, wganGp: 1500, sampleEvery: 250, wganGpBeta1: 0.5))
    {
        GpCritic = LayerNormCritic28,
    };

    /// <summary>stacked28: W-DCGAN28's nets with three channels, on stacked MNIST (1,000 modes: <see cref="Evaluation.StackedMnist"/>).</summary>
    public static ModelSpec Stacked28 { get; } = new("stacked28", "W-DCGAN28 with 3 channels on stacked MNIST (three digits as R, G, B: 1,000 modes; eval: modes covered, KL)",
        d => Dcgan.Generator28(d, channels: 3), d => Dcgan.Discriminator28(d, channels: 3), LatentSize, Dcgan.LatentShape, [3, 28, 28], "stacked-mnist",
        Defaults(batch: 64, bce: (3000, 250, 2e-4), wgan: 2000, wganGp: 1500, sampleEvery: 250, wganGpBeta1: 0.5))
    {
        GpCritic = d => LayerNormCritic28(d, 3),
        FiguresEachPicture = false,
        FiguresSamples = 26_000,
        Figures = StackedFigures,
    };

    /// <summary>Stacked MNIST's figures with the shipped classifier, on the caller's device: modes covered of 1,000 and KL to uniform.</summary>
    private static string StackedFigures(Device device, float[] images, int count)
    {
        string path = Evaluation.Classifier.ShippedPath ?? throw new InvalidOperationException("stacked MNIST's figures need the shipped classifier (models/mnist-classifier.safetensors).");
        using var classifier = Evaluation.Classifier.Load(device, path);
        var (covered, kl) = Evaluation.StackedMnist.Figures(Evaluation.StackedMnist.ModesOf(classifier, images, count));
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{covered} of {Evaluation.StackedMnist.Modes:N0} modes covered, KL to uniform {kl:F3}");
    }

    public static ModelSpec Dcgan64 { get; } = new("dcgan64", "W-DCGAN64: the classic 64x64 RGB DCGAN (WORKLOADS.md); needs --data FOLDER or fake",
        d => Dcgan.Generator64(d), d => Dcgan.Discriminator64(d), LatentSize, Dcgan.LatentShape, [3, 64, 64], "",
        Defaults(batch: 128, bce: (5000, 250, 2e-4), wgan: 5000, wganGp: 5000, sampleEvery: 250, wganGpBeta1: 0));

    /// <summary>cgan-mlp: the classic conditional GAN (G: [z, embed(y)]; D: [image, embed(y)], dropout).</summary>
    public static ModelSpec CganMlp { get; } = Conditional("cgan-mlp",
        "the classic conditional GAN for 28x28 digits: G's input z ++ a label embedding, D's input the image ++ a label embedding, MLP D with dropout",
        (d, k) => new Models.CganMlp.Generator(d, k), (d, k) => new Models.CganMlp.Discriminator(d, k), Flat,
        // 12,000 steps, the rates falling linearly to 0 over the second half (Mirza & Osindero decayed theirs too): at a
        // constant rate the naive cGAN swings between classes (seed 1: lowest class 66.6 % at 6,000, 78.8 % at 12,000);
        // with the decay every class stays above 90 % from step 10,500 on (seed 1: 92.8-95.2 % lowest at 10,500-12,000).
        Defaults(batch: 64, bce: (12000, 500, 2e-4), wgan: 4000, wganGp: 3000, sampleEvery: 500, wganGpBeta1: 0.5, decayLastHalf: true), Objective.Bce);

    /// <summary>cdcgan28: conditional batch norm in G, a projection discriminator, hinge loss.</summary>
    public static ModelSpec Cdcgan28 { get; } = Conditional("cdcgan28",
        "conditional DCGAN for 28x28 digits: conditional batch norm in G (per-class scale and shift), a projection discriminator (Miyato & Koyama 2018); hinge loss",
        (d, k) => new Models.Cdcgan28.Generator(d, k), (d, k) => new Models.Cdcgan28.Discriminator(d, k), Dcgan.LatentShape,
        // 6,000 steps, the rates falling linearly to 0 over the second half (as cgan-mlp's). With the class also at G's
        // input (see Models.Cdcgan28.Generator) the by-class grid's rows differ from step 250 on (seed 1, class-check -n 100:
        // mean 34 % at 500, 52 % at 1,000, 64 % at 1,250).
        Defaults(batch: 64, bce: (6000, 500, 2e-4), wgan: 2000, wganGp: 1500, sampleEvery: 500, wganGpBeta1: 0.5, decayLastHalf: true), Objective.Hinge);

    /// <summary>acgan28: an auxiliary-classifier GAN (D's class head, cross-entropy on logits).</summary>
    public static ModelSpec Acgan28 { get; } = Conditional("acgan28",
        "auxiliary-classifier GAN for 28x28 digits: G fed z * embed(y), D with a real/fake head and a class head trained with cross-entropy",
        (d, k) => new Models.Acgan28.Generator(d, k), (d, k) => new Models.Acgan28.Discriminator(d, k), Dcgan.LatentShape,
        Defaults(batch: 64, bce: (3000, 250, 2e-4), wgan: 2000, wganGp: 1500, sampleEvery: 250, wganGpBeta1: 0.5), Objective.Bce);

    public static IReadOnlyList<ModelSpec> All { get; } = [Toy, Grid25, Mlp, Dcgan28, Stacked28, Dcgan64, CganMlp, Cdcgan28, Acgan28];

    private static ModelSpec Conditional(string name, string description, Func<Device, int, ConditionalModule> g, Func<Device, int, ConditionalModule> d,
        Func<int, int, Shape> latent, Func<Objective, TrainDefaults> defaults, Objective loss) =>
        new(name, description, dev => g(dev, 10), dev => d(dev, 10), LatentSize, latent, [1, 28, 28], "mnist", defaults)
        {
            Classes = 10,
            ConditionalGenerator = g,
            ConditionalDiscriminator = d,
            DefaultLoss = loss,
        };

    /// <summary>The translation and autoencoder models (trained by <c>train-translation</c> on two domains or
    /// pairs, not by <c>train</c>): their defaults for the built-in digit pair are sized to train on a 2-core CPU
    /// in minutes; for folder data, the papers' sizes (256x256 RGB, batch 1; the length is --steps').</summary>
    public static IReadOnlyList<TranslationSpec> Translation { get; } =
    [
        new("cyclegan", "CycleGAN (unpaired): two ResNet generators, two PatchGANs, least squares, cycle and identity L1, a 50-image pool",
            builtIn => builtIn
                ? new TranslationOptions { Model = "cyclegan", Size = 28, Channels = 1, Ngf = 8, Ndf = 8, Blocks = 6, DLayers = 2, Steps = 6000, DecayFrom = 3000 }
                : new TranslationOptions { Model = "cyclegan", Size = 256, Channels = 3, Ngf = 64, Ndf = 64, Blocks = 9, DLayers = 3, Steps = 200_000, DecayFrom = 100_000 },
            CycleGan.Create),
        new("pix2pix", "pix2pix (paired): a U-Net generator, a PatchGAN on (input, output), BCE plus L1 weight 100",
            builtIn => builtIn
                ? new TranslationOptions { Model = "pix2pix", Size = 32, Channels = 1, Ngf = 8, Ndf = 8, UnetDowns = 5, DLayers = 2, Steps = 3000, DecayFrom = 1500 }
                : new TranslationOptions { Model = "pix2pix", Size = 256, Channels = 3, Ngf = 64, Ndf = 64, UnetDowns = 8, DLayers = 3, Steps = 200_000, DecayFrom = 100_000 },
            Pix2Pix.Create),
        new("ae", "the autoencoder: encoder, decoder, MSE", builtIn => AutoencoderDefaults("ae", builtIn), Autoencoder.Create),
        new("ae-swap", "the face-swap autoencoder: one shared encoder, a decoder per domain, used crossed",
            builtIn => AutoencoderDefaults("ae-swap", builtIn), SwapAutoencoder.Create),
        new("vae", "the variational autoencoder: reparameterised Gaussian latent, BCE plus KL; new images from N(0, I)",
            builtIn => AutoencoderDefaults("vae", builtIn), Vae.Create),
    ];

    private static TranslationOptions AutoencoderDefaults(string model, bool builtIn) => new()
    {
        Model = model, Size = 28, Channels = 1, Batch = 64, Lr = 1e-3, Beta1 = 0.9, Beta2 = 0.999,
        Steps = model == "vae" ? 3000 : 2000, DecayFrom = model == "vae" ? 3000 : 2000, Latent = model == "vae" ? 16 : 32,
        // The built-in pair's domains differ in tone (B is negative): half the encoder's inputs are shown inverted.
        InvertAugment = model == "ae-swap" && builtIn ? 0.5f : 0f,
    };

    /// <summary>The translation or autoencoder model named <paramref name="name"/> (case-insensitive); an unknown
    /// name is an <see cref="ArgumentException"/> listing them.</summary>
    public static TranslationSpec GetTranslation(string name) =>
        Translation.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown model '{name}': use {string.Join(", ", Translation.Select(m => m.Name))}.");

    public static IEnumerable<string> Names => All.Select(m => m.Name);

    private static string TranslationNames => string.Join(", ", Translation.Select(m => m.Name));

    /// <summary>The model named <paramref name="name"/> (case-insensitive); an unknown name is an
    /// <see cref="ArgumentException"/> listing the known ones.</summary>
    public static ModelSpec Get(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException(Translation.Any(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
            ? $"'{name}' is a translation or autoencoder model ({TranslationNames}): train it with train-translation --model {name.ToLowerInvariant()}."
            : $"Unknown model '{name}': use {string.Join(", ", Names)}; the translation and autoencoder models ({TranslationNames}) train with train-translation.");

    /// <summary>W-WGANGP28's critic (WORKLOADS.md): W-DCGAN28's D with its BatchNorm replaced by LayerNorm([128, 7, 7]).</summary>
    public static Sequential LayerNormCritic28(Device d) => LayerNormCritic28(d, 1);

    public static Sequential LayerNormCritic28(Device d, int channels) => new(
        new Conv2d(d, channels, 64, 4, 2, 1), new LeakyRelu(0.2f),                                       // (N, 64, 14, 14)
        new Conv2d(d, 64, 128, 4, 2, 1), new LayerNorm(d, [128, 7, 7]), new LeakyRelu(0.2f),        // (N, 128, 7, 7)
        new Conv2d(d, 128, 1, 7, 1, 0));                                                          // (N, 1, 1, 1) score

    private static Func<Objective, TrainDefaults> Defaults(int batch, (long Steps, long Every, double Lr) bce, long wgan, long wganGp,
        long sampleEvery, double wganGpBeta1, bool decayLastHalf = false) => loss => loss switch
    {
        Objective.Wgan => new TrainDefaults(batch, wgan, sampleEvery, sampleEvery, new TrainingOptions
        {
            Loss = loss, Optimizer = "rmsprop", LrG = 5e-5, LrD = 5e-5, Beta1 = 0, Beta2 = 0, NCritic = 5,
            Schedule = CriticSchedule.Original, Clip = 0.01f,
        }),
        Objective.WganGp => new TrainDefaults(batch, wganGp, sampleEvery, sampleEvery, new TrainingOptions
        {
            Loss = loss, Optimizer = "adam", LrG = 1e-4, LrD = 1e-4, Beta1 = wganGpBeta1, Beta2 = 0.9, NCritic = 5, GpLambda = 10,
        }),
        _ => new TrainDefaults(batch, bce.Steps, bce.Every, bce.Every, new TrainingOptions
        {
            Loss = loss, Optimizer = "adam", LrG = bce.Lr, LrD = bce.Lr, Beta1 = 0.5, Beta2 = 0.999,
        }, decayLastHalf),
    };
}
