using IlgpuGan.Nn;
using IlgpuGan.Recipes;

namespace IlgpuGan.Translation;

/// <summary>The encoders and decoders of the autoencoders, for (C, S, S) images with S a multiple of 4.</summary>
public static class AutoencoderNets
{
    /// <summary>conv: two 4x4 stride-2 convs (C -> 32 -> 64, leaky relu 0.2), flatten, linear to
    /// <paramref name="outFeatures"/>. mlp: flatten, linear to 512, leaky relu, linear.</summary>
    public static Sequential Encoder(Device d, string arch, int c, int s, int outFeatures) => arch switch
    {
        "conv" => new Sequential(
            new Conv2d(d, c, 32, 4, 2, 1, bias: true), new LeakyRelu(0.2f),
            new Conv2d(d, 32, 64, 4, 2, 1, bias: true), new LeakyRelu(0.2f),
            new Flatten(), new Linear(d, 64 * (s / 4) * (s / 4), outFeatures)),
        "mlp" => new Sequential(new Flatten(), new Linear(d, c * s * s, 512), new LeakyRelu(0.2f), new Linear(d, 512, outFeatures)),
        _ => throw new ArgumentException($"Unknown autoencoder --arch '{arch}': use conv or mlp."),
    };

    /// <summary>The mirror image: linear, relu, two 4x4 stride-2 transposed convs (or linear
    /// layers), then tanh (or nothing: logits, for the VAE's Bernoulli likelihood).</summary>
    public static Sequential Decoder(Device d, string arch, int latent, int c, int s, bool tanh = true)
    {
        var layers = arch switch
        {
            "conv" => new List<Module>
            {
                new Linear(d, latent, 64 * (s / 4) * (s / 4)), new Relu(), new Reshape(64, s / 4, s / 4),
                new ConvTranspose2d(d, 64, 32, 4, 2, 1, bias: true), new Relu(),
                new ConvTranspose2d(d, 32, c, 4, 2, 1, bias: true),
            },
            "mlp" => [new Linear(d, latent, 512), new Relu(), new Linear(d, 512, c * s * s), new Reshape(c, s, s)],
            _ => throw new ArgumentException($"Unknown autoencoder --arch '{arch}': use conv or mlp."),
        };
        if (tanh) layers.Add(new Tanh());
        return new Sequential(layers.ToArray());
    }

    public static string? CheckSize(TranslationOptions o, int h, int w) =>
        h == o.Size && w == o.Size ? null : $"this autoencoder takes {o.Size}x{o.Size} images (its linear layers fix the size); got {h}x{w}";
}

/// <summary>The autoencoder: E then Dec, trained on domain A with the MSE to the input.</summary>
public sealed class Autoencoder : TranslationModel
{
    private Autoencoder(Device d, TranslationOptions o, Part[] parts) : base(d, o, parts, Stats("Reconstruction", "MSE")) { }

    public static Autoencoder Create(Device d, TranslationOptions o) => new(d, o, [
        Part("E", AutoencoderNets.Encoder(d, o.Arch, o.Channels, o.Size, o.Latent), o),
        Part("Dec", AutoencoderNets.Decoder(d, o.Arch, o.Latent, o.Channels, o.Size), o)]);

    public override bool UsesB => false;
    public override string? CheckSize(int h, int w) => AutoencoderNets.CheckSize(Options, h, w);

    public override void TrainStep(Tensor a, Tensor b)
    {
        Schedule();
        foreach (var p in Parts) p.Optimizer.ZeroGrad();
        Tensor z, r;
        using (Device.Tape.Layer("E")) z = Net("E").Forward(a);
        using (Device.Tape.Layer("Dec")) r = Net("Dec").Forward(z);
        var loss = Ops.MseLoss(r, a);
        Device.Tape.Backward(loss);
        Report(0, loss);
        foreach (var p in Parts) p.Optimizer.Step();
        Device.Tape.EndStep();
        Step++;
    }
}

/// <summary>
/// The face-swap autoencoder: one shared encoder E and one decoder per domain (Dec_A, Dec_B), each
/// domain trained to reconstruct itself (MSE) through E; used crossed, Dec_B(E(a)) draws a in
/// domain B's style.
/// </summary>
public sealed class SwapAutoencoder : TranslationModel
{
    private SwapAutoencoder(Device d, TranslationOptions o, Part[] parts) : base(d, o, parts, Stats("Reconstruction", "MSE_A", "MSE_B")) { }

    public static SwapAutoencoder Create(Device d, TranslationOptions o) => new(d, o, [
        Part("E", AutoencoderNets.Encoder(d, o.Arch, o.Channels, o.Size, o.Latent), o),
        Part("Dec_A", AutoencoderNets.Decoder(d, o.Arch, o.Latent, o.Channels, o.Size), o),
        Part("Dec_B", AutoencoderNets.Decoder(d, o.Arch, o.Latent, o.Channels, o.Size), o)]);

    public override string? CheckSize(int h, int w) => AutoencoderNets.CheckSize(Options, h, w);

    public override void TrainStep(Tensor a, Tensor b)
    {
        Schedule();
        foreach (var p in Parts) p.Optimizer.ZeroGrad();
        var tape = Device.Tape;
        Tensor za, zb, ra, rb;
        using (tape.Layer("E")) { za = Net("E").Forward(Invert(a)); zb = Net("E").Forward(Invert(b)); }
        using (tape.Layer("Dec_A")) ra = Net("Dec_A").Forward(za);
        using (tape.Layer("Dec_B")) rb = Net("Dec_B").Forward(zb);
        var la = Ops.MseLoss(ra, a);
        var lb = Ops.MseLoss(rb, b);
        tape.Backward(Ops.Add(la, lb));
        Report(0, la); Report(1, lb);
        foreach (var p in Parts) p.Optimizer.Step();
        tape.EndStep();
        Step++;
    }

    /// <summary>x with each sample negated with probability <see cref="TranslationOptions.InvertAugment"/> (drawn
    /// from the run's random stream): floor(u + p) for u ~ U[0, 1) is 1 with probability p, and the sign is 1 - 2 floor(u + p).</summary>
    private Tensor Invert(Tensor x)
    {
        float p = Options.InvertAugment;
        if (p <= 0) return x;
        int n = x.Shape[0];
        var u = Device.Empty(new Shape(n));
        Device.Kernels.Uniform(u.View, Device.Random.Next(n), p / 2, (1 + p) / 2);     // (u + p) / 2
        Device.Kernels.LabelsFromUniform(u.View, u.View, 2);                            // floor(u + p), in {0, 1}
        return Ops.MulPerSample(x, Ops.AddScalar(Ops.Scale(u, -2f), 1f));              // (N, C, H, W) times +-1 per sample
    }
}

/// <summary>The VAE's encoder: a trunk to 2 * latent features, then mu and log-variance heads.</summary>
public sealed class VaeEncoder(Device d, string arch, int c, int s, int latent) : Module
{
    public Sequential Trunk { get; } = AutoencoderNets.Encoder(d, arch, c, s, 256);
    public Linear Mu { get; } = new(d, 256, latent);
    public Linear LogVar { get; } = new(d, 256, latent);

    public (Tensor Mu, Tensor LogVar) Encode(Tensor x)
    {
        var tape = x.Device.Tape;
        Tensor h;
        using (tape.Layer("trunk")) h = Ops.LeakyRelu(Trunk.Forward(x), 0.2f);
        using (tape.Layer("mu")) { var mu = Mu.Forward(h); using (tape.Layer("logvar")) return (mu, LogVar.Forward(h)); }
    }

    public override Tensor Forward(Tensor x) => Encode(x).Mu;

    protected override IEnumerable<(string, Module)> Children() { yield return ("trunk", Trunk); yield return ("mu", Mu); yield return ("logvar", LogVar); }
}

/// <summary>
/// The variational autoencoder (Kingma and Welling): E gives mu and log sigma^2, z = mu + sigma *
/// eps with eps ~ N(0, I) (the reparameterisation), Dec gives Bernoulli logits per pixel of the
/// image mapped to [0, 1]; loss per image = BCE summed over pixels + KL(N(mu, sigma^2) || N(0, I)),
/// averaged over the batch. New images: Dec(z) for z ~ N(0, I), through a sigmoid.
/// </summary>
public sealed class Vae : TranslationModel
{
    private Vae(Device d, TranslationOptions o, Part[] parts) : base(d, o, parts, Stats("Losses", "Loss", "Recon", "KL")) { }

    public static Vae Create(Device d, TranslationOptions o) => new(d, o, [
        Part("E", new VaeEncoder(d, o.Arch, o.Channels, o.Size, o.Latent), o),
        Part("Dec", AutoencoderNets.Decoder(d, o.Arch, o.Latent, o.Channels, o.Size, tanh: false), o)]);

    public override bool UsesB => false;
    public override string? CheckSize(int h, int w) => AutoencoderNets.CheckSize(Options, h, w);

    public override void TrainStep(Tensor a, Tensor b)
    {
        Schedule();
        foreach (var p in Parts) p.Optimizer.ZeroGrad();
        var d = Device;
        var tape = d.Tape;
        int n = a.Shape[0], pixels = (int)(a.Length / n);
        Tensor mu, logVar, logits;
        using (tape.Layer("E")) (mu, logVar) = ((VaeEncoder)Net("E")).Encode(a);
        var eps = d.Empty(mu.Shape);
        d.Kernels.Normal(eps.View, d.Random.Next(eps.Length), 0f, 1f);
        var z = Ops.Add(mu, Ops.Mul(Ops.Exp(logVar, 0.5f), eps));
        using (tape.Layer("Dec")) logits = Net("Dec").Forward(z);
        var target = d.Empty(a.Shape);               // [-1, 1] -> [0, 1]
        d.Kernels.Axpby(a.View, target.View, 0.5f, 0f);
        d.Kernels.Unary(Kernels.UnaryOp.Affine, 1f, 0.5f, target.View, target.View);
        var recon = Ops.Scale(Ops.BceWithLogits(logits, target), pixels);            // per image, summed over pixels
        // KL = -1/2 sum_j (1 + logvar - mu^2 - exp(logvar)), averaged over the batch.
        var kl = Ops.Scale(Ops.Sum(Ops.Sub(Ops.Add(Ops.Square(mu), Ops.Exp(logVar)), Ops.AddScalar(logVar, 1f))), 0.5f / n);
        var loss = Ops.Add(recon, kl);
        tape.Backward(loss);
        Report(0, loss); Report(1, recon); Report(2, kl);
        foreach (var p in Parts) p.Optimizer.Step();
        tape.EndStep();
        Step++;
    }

    /// <summary>Images in [-1, 1] decoded from <paramref name="count"/> draws of z ~ N(0, I) for a seed.</summary>
    public float[] Sample(int count, int seed)
    {
        var d = Device;
        var z = new float[count * Options.Latent];
        var r = new Random(seed);
        for (int i = 0; i < z.Length; i++) z[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()));
        return Decode(z, count);
    }

    /// <summary>Decodes latent vectors (count, latent) to images in [-1, 1].</summary>
    public float[] Decode(float[] z, int count)
    {
        var logits = Apply("Dec", z, count, 1, 1, Options.Latent);
        for (int i = 0; i < logits.Length; i++) logits[i] = 2f / (1f + MathF.Exp(-logits[i])) - 1f;
        return logits;
    }
}
