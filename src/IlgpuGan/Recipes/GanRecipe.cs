using System.Globalization;
using IlgpuGan.Nn;
using IlgpuGan.Optim;
using IlgpuGan.Training;

namespace IlgpuGan.Recipes;

/// <summary>
/// A GAN of two parts, <c>G</c> and <c>D</c>, trained with one of the <see cref="Objective"/>s. One
/// step = n critic (D) updates, then one G update (WORKLOADS.md's step for n = 1):
/// <list type="bullet">
/// <item>bce: D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); G minimises BCE(D(G(z)), 1) (non-saturating).</item>
/// <item>wgan: D minimises mean D(G(z)) - mean D(x), its weights clamped to [-c, c] after every update; G minimises -mean D(G(z)).</item>
/// <item>wgan-gp: as wgan plus lambda * mean((||grad D(x^)|| - 1)^2) at x^ = x + alpha (G(z) - x), alpha ~ U[0, 1] per sample; no clamp.</item>
/// <item>hinge: D minimises mean relu(1 - D(x)) + mean relu(1 + D(G(z))); G minimises -mean D(G(z)).</item>
/// <item>lsgan: D minimises (mean (D(x) - 1)^2 + mean D(G(z))^2) / 2; G minimises mean (D(G(z)) - 1)^2.</item>
/// </list>
/// A conditional model (<see cref="ModelSpec.IsConditional"/>) gets a class label per sample: real
/// images come with theirs, fakes are made for labels drawn uniformly on the device, and D judges
/// each image with its label. When D is an <see cref="IAuxiliaryClassifier"/> (ACGAN), D also
/// minimises the cross-entropy of its class logits on real and fake images, and G the one on its
/// fakes (reported as Loss_cls: D's class loss, real plus fake).
/// </summary>
public sealed class GanRecipe : Recipe
{
    private readonly Tensor ones, zeros;       // (N, 1): BCE's labels, the hinge's and least squares' targets
    private readonly int[] slot;               // statistic index by Stat
    private long generatorUpdates;             // G updates so far (the critic schedule's clock)

    private enum Stat { LossD, LossG, DReal, DFake, DFakeAfter, W, Gp, GradNorm, ClassLoss }

    public ModelSpec Model { get; }
    public TrainingOptions Options { get; }
    public int Batch { get; }
    /// <summary>The classes G and D are conditioned on; 0 for an unconditional model.</summary>
    public int Classes { get; }
    public bool IsConditional => Classes > 0;
    public Part G => Parts[0];
    public Part D => Parts[1];

    private GanRecipe(Device device, ModelSpec model, TrainingOptions options, int batch, int classes, Part g, Part d, Stat[] stats)
        : base(device, [g, d], stats.Select(Describe).ToArray())
    {
        Model = model; Options = options; Batch = batch; Classes = classes;

        slot = new int[Enum.GetValues<Stat>().Length];
        Array.Fill(slot, -1);
        for (int i = 0; i < stats.Length; i++) slot[(int)stats[i]] = i;
        ones = device.Persistent(new Shape(batch, 1), 1f);
        zeros = device.Persistent(new Shape(batch, 1), 0f);
    }

    /// <summary>Builds G and D for <paramref name="model"/> on <paramref name="device"/> (weights from the
    /// device's generator: G's first, then D's), their optimizers, and the recipe. A combination the
    /// model cannot train is an <see cref="ArgumentException"/> of one line naming the layer at fault
    /// and the alternative.</summary>
    public static GanRecipe Create(Device device, ModelSpec model, TrainingOptions options, int batch, int classes = 0)
    {
        if (!model.IsConditional && classes > 0)
            throw new ArgumentException($"The model '{model.Name}' is not conditional: it takes no classes.");
        if (model.IsConditional && classes <= 0) classes = model.Classes;
        if (model.IsConditional && classes < 2)
            throw new ArgumentException($"A conditional model needs at least 2 classes; got {classes}.");
        if (Validate(options) is { } problem) throw new ArgumentException(problem);
        if (batch < 2) throw new ArgumentOutOfRangeException(nameof(batch), "A batch needs at least 2 samples (batch norm).");
        Module? g = null, d = null;
        Optimizer? optG = null, optD = null;
        try
        {
            g = model.BuildGenerator(device, classes);
            d = model.BuildDiscriminator(device, options.Loss, classes);
            if (options.Loss == Objective.WganGp && FindBatchNorm(d) is { } bn)
                throw new ArgumentException(
                    $"--loss wgan-gp needs a critic without batch norm, but {model.Name}'s layer D.{bn.Path} is a {bn.Type}, which has no second derivative: " +
                    $"use --loss wgan (weight clipping), hinge or lsgan, or {string.Join(" or ", ModelRegistry.All.Where(m => m.GpCritic is not null).Select(m => m.Name))}, whose wgan-gp critic uses LayerNorm.");
            optG = NewOptimizer(g, options, options.LrG);
            optD = NewOptimizer(d, options, options.LrD);
            Stat[] stats = options.Loss switch
            {
                Objective.Bce => [Stat.LossD, Stat.LossG, Stat.DReal, Stat.DFake, Stat.DFakeAfter],
                Objective.Wgan => [Stat.LossD, Stat.LossG, Stat.W, Stat.DReal, Stat.DFake],
                Objective.WganGp => [Stat.LossD, Stat.LossG, Stat.W, Stat.Gp, Stat.GradNorm],
                _ => [Stat.LossD, Stat.LossG, Stat.DReal, Stat.DFake],
            };
            if (d is IAuxiliaryClassifier) stats = [.. stats, Stat.ClassLoss];
            return new GanRecipe(device, model, options, batch, classes, new Part("G", g, optG), new Part("D", d, optD), stats);
        }
        catch
        {
            optD?.Dispose(); optG?.Dispose(); d?.Dispose(); g?.Dispose();
            throw;
        }
    }

    /// <summary>What is wrong with <paramref name="o"/> in one line, or null.</summary>
    public static string? Validate(TrainingOptions o)
    {
        string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        if (o.Optimizer is not ("adam" or "rmsprop")) return $"Unknown optimizer '{o.Optimizer}': use adam or rmsprop.";
        if (!(o.LrG > 0) || !double.IsFinite(o.LrG)) return $"G's learning rate must be a positive number; got {Num(o.LrG)}.";
        if (!(o.LrD > 0) || !double.IsFinite(o.LrD)) return $"D's learning rate must be a positive number; got {Num(o.LrD)}.";
        if (o.Optimizer == "adam" && !(o.Beta1 >= 0 && o.Beta1 < 1)) return $"Adam's beta1 must be in [0, 1); got {Num(o.Beta1)}.";
        if (o.Optimizer == "adam" && !(o.Beta2 >= 0 && o.Beta2 < 1)) return $"Adam's beta2 must be in [0, 1); got {Num(o.Beta2)}.";
        if (o.NCritic < 1) return $"The critic updates per G update (--n-critic) must be at least 1; got {o.NCritic}.";
        if (!(o.Clip >= 0) || !float.IsFinite(o.Clip)) return $"--clip must be a positive number (or 0: no clipping); got {Num(o.Clip)}.";
        if (!(o.GpLambda >= 0) || !float.IsFinite(o.GpLambda)) return $"--gp-lambda must be a positive number; got {Num(o.GpLambda)}.";
        if (o.LrDecayFrom < 0) return $"--lr-decay-from must be 0 (constant) or a step; got {o.LrDecayFrom}.";
        if (o.LrDecayFrom > 0 && o.LrDecayFrom >= o.LrDecayTo) return $"--lr-decay-from {o.LrDecayFrom} must be below the run's last step ({o.LrDecayTo}).";
        if (o.GpLambda > 0 && o.Loss != Objective.WganGp) return $"--gp-lambda applies to --loss wgan-gp only (the loss is {o.Loss.Name()}).";
        if (o.Loss == Objective.WganGp && !(o.GpLambda > 0)) return "--loss wgan-gp needs --gp-lambda above 0 (the paper's is 10).";
        return null;
    }

    private static Optimizer NewOptimizer(Module m, TrainingOptions o, double lr) => o.Optimizer == "rmsprop"
        ? new RmsProp(m.Parameters(), lr)                       // alpha 0.99, eps 1e-8: torch.optim.RMSprop's defaults, as the WGAN code uses
        : new Adam(m.Parameters(), lr, o.Beta1, o.Beta2);

    /// <summary>The first batch-norm layer of a module (path below it, type), or null.</summary>
    private static (string Path, string Type)? FindBatchNorm(Module m)
    {
        if (m is BatchNorm) return ("", m.GetType().Name);
        if (m is Sequential s)
            for (int i = 0; i < s.Modules.Count; i++)
                if (FindBatchNorm(s.Modules[i]) is { } inner)
                    return (inner.Path.Length == 0 ? $"{i}" : $"{i}.{inner.Path}", inner.Type);
        return null;
    }

    private static Statistic Describe(Stat s) => s switch
    {
        Stat.LossD => new("Loss_D", "Losses"),
        Stat.LossG => new("Loss_G", "Losses"),
        Stat.DReal => new("D(x)", "D outputs"),
        Stat.DFake => new("D(G(z))", "D outputs"),
        Stat.DFakeAfter => new("D(G(z))_after", "D outputs"),
        Stat.W => new("W", "Wasserstein estimate"),
        Stat.Gp => new("GP", "Gradient penalty"),
        Stat.ClassLoss => new("Loss_cls", "Losses"),
        _ => new("GradNorm", "Gradient norm at x^"),
    };

    /// <summary>D updates in the coming step: <see cref="TrainingOptions.NCritic"/>, or under the
    /// original schedule 100 for the first 25 G updates and every 500th.</summary>
    public int CriticUpdates => Options.Schedule == CriticSchedule.Original && (generatorUpdates < 25 || generatorUpdates % 500 == 0)
        ? 100 : Options.NCritic;

    /// <summary>A latent batch z ~ N(0, 1) from the device's generator (a step tensor).</summary>
    public Tensor Noise(int n)
    {
        var z = Device.Empty(Model.LatentShape(n, Model.LatentSize));
        Device.Kernels.Normal(z.View, Device.Random.Next(z.Length), 0f, 1f);
        return z;
    }

    /// <summary>Labels for a batch drawn uniformly on the device (a step tensor).</summary>
    public Tensor RandomLabels(int n)
    {
        var y = Device.Empty(new Shape(n));
        Device.Kernels.Uniform(y.View, Device.Random.Next(n), 0f, 1f);
        Device.Kernels.LabelsFromUniform(y.View, y.View, Classes);
        return y;
    }

    /// <summary>G's output for latents and (conditional models) labels.</summary>
    public Tensor Generate(Tensor z, Tensor? labels) => G.Module is ConditionalModule c
        ? c.Forward(z, labels ?? throw new ArgumentException($"The model '{Model.Name}' is conditional: G needs a class label per sample."))
        : G.Module.Forward(z);

    private Tensor Judge(Tensor x, Tensor? labels) => D.Module is ConditionalModule c ? c.Forward(x, labels!) : D.Module.Forward(x);

    public override void TrainStep(Func<Tensor> nextRealBatch)
    {
        if (IsConditional)
            throw new InvalidOperationException($"The model '{Model.Name}' is conditional: train it with TrainStep(next) whose batches carry labels.");
        TrainStep(() => (nextRealBatch(), (Tensor?)null));
    }

    /// <summary>One training step on real batches with (conditional models) their labels: (N) floats
    /// holding whole numbers in [0, <see cref="Classes"/>).</summary>
    public void TrainStep(Func<(Tensor Images, Tensor? Labels)> nextRealBatch)
    {
        var tape = Device.Tape;
        Module g = G.Module, d = D.Module;
        var aux = d as IAuxiliaryClassifier;
        if (Options.LrDecayFrom > 0)
        {
            double f = Options.LrFactor(Step);                                   // the schedule, from the step count alone (exact on resume)
            G.Optimizer.LearningRate = Options.LrG * f;
            D.Optimizer.LearningRate = Options.LrD * f;
        }

        // (1) Update D (the critic) CriticUpdates times on fresh real batches and fresh fakes.
        int updates = CriticUpdates;
        for (int k = 0; k < updates; k++)
        {
            var (real, realLabels) = nextRealBatch();                            // (N, C, H, W) or (N, F); (N)
            if (real.Shape[0] != Batch)
                throw new ArgumentException($"The real batch is {real.Shape}; the recipe was set up for batches of {Batch}.");
            if (IsConditional && realLabels?.Length != Batch)
                throw new ArgumentException($"The model '{Model.Name}' is conditional: each real batch needs {Batch} labels.");
            D.Optimizer.ZeroGrad();
            Tensor fake;
            Tensor? labels = IsConditional ? RandomLabels(Batch) : null;        // the fakes' classes
            using (tape.NoGrad())
            using (Layer("G"))
                fake = Generate(Noise(Batch), labels);                           // G in training mode, not back-propagated
            Tensor outReal, outFake;
            Tensor? classLoss = null;
            using (Layer("D"))
            {
                if (aux is null)
                {
                    outReal = Judge(real, realLabels);                           // (N, 1) or (N, 1, 1, 1)
                    outFake = Judge(fake, labels);
                }
                else
                {
                    (outReal, var classReal) = aux.Classify(real);
                    (outFake, var classFake) = aux.Classify(fake);
                    classLoss = Ops.CrossEntropy(classReal, realLabels!);
                    var classFakeLoss = Ops.CrossEntropy(classFake, labels!);
                    classLoss = Ops.Add(classLoss, classFakeLoss);
                }
            }
            Tensor? penalty = null, gradNorm = null;
            if (Options.Loss == Objective.WganGp) (penalty, gradNorm) = Penalty(real, fake, realLabels);   // (1) in the graph, (N)
            Tensor lossD;
            switch (Options.Loss)
            {
                case Objective.Bce:
                    lossD = Ops.Add(Ops.BceWithLogits(outReal, ones), Ops.BceWithLogits(outFake, zeros));
                    break;
                case Objective.Wgan:
                    lossD = Ops.Sub(Ops.Mean(outFake), Ops.Mean(outReal));     // -W
                    break;
                case Objective.WganGp:
                    lossD = Ops.Add(Ops.Sub(Ops.Mean(outFake), Ops.Mean(outReal)), penalty!);   // -W + lambda * penalty
                    break;
                case Objective.Hinge:
                    lossD = Ops.Add(Ops.Mean(Ops.Relu(Ops.Sub(ones, Column(outReal)))), Ops.Mean(Ops.Relu(Ops.Add(ones, Column(outFake)))));
                    break;
                default:
                    lossD = Ops.Scale(Ops.Add(Ops.Mean(Square(Ops.Sub(Column(outReal), ones))), Ops.Mean(Square(Column(outFake)))), 0.5f);
                    break;
            }
            if (classLoss is not null) lossD = Ops.Add(lossD, classLoss);
            tape.Backward(lossD);
            D.Optimizer.Step();
            if (Options.Clip > 0) ClampWeights(d, Options.Clip);
            if (k == updates - 1) RecordCritic(lossD, outReal, outFake, penalty, gradNorm, classLoss);
            tape.EndStep();
        }

        // (2) Update G on fresh z through the updated D, whose weights stay as they are (frozen).
        G.Optimizer.ZeroGrad();
        Tensor generated;
        Tensor? genLabels = IsConditional ? RandomLabels(Batch) : null;
        using (Layer("G")) generated = Generate(Noise(Batch), genLabels);
        using (d.Freeze())
        {
            Tensor output;
            Tensor? classLogits = null;
            using (Layer("D"))
            {
                if (aux is null) output = Judge(generated, genLabels);         // (N, 1) or (N, 1, 1, 1)
                else (output, classLogits) = aux.Classify(generated);
            }
            var lossG = Options.Loss switch
            {
                Objective.Bce => Ops.BceWithLogits(output, ones),                // non-saturating: fakes labelled real
                Objective.Lsgan => Ops.Mean(Square(Ops.Sub(Column(output), ones))),
                _ => Ops.Scale(Ops.Mean(output), -1f),                           // wgan, wgan-gp, hinge
            };
            if (classLogits is not null) lossG = Ops.Add(lossG, Ops.CrossEntropy(classLogits, genLabels!));
            tape.Backward(lossG);
            using (tape.NoGrad())
            {
                Report(slot[(int)Stat.LossG], lossG);
                if (slot[(int)Stat.DFakeAfter] >= 0) Report(slot[(int)Stat.DFakeAfter], MeanOutput(output));
            }
        }
        G.Optimizer.Step();
        tape.EndStep();
        generatorUpdates++;
        Step++;
    }

    /// <summary>G's images for a fixed latent batch (and, conditional models, its labels), in eval
    /// mode (running batch-norm statistics), to the host.</summary>
    public float[] Sample(Tensor noise, Tensor? labels = null)
    {
        using var _ = Device.Tape.NoGrad();
        var g = G.Module;
        g.Eval();
        try { return Generate(noise, labels).ToArray(); }
        finally { g.Train(); Device.Tape.EndStep(); }
    }

    public override IEnumerable<(string Key, string Value)> SaveState()
    {
        yield return ("generator_updates", generatorUpdates.ToString(CultureInfo.InvariantCulture));
    }

    public override void LoadState(IReadOnlyDictionary<string, string> state) =>
        generatorUpdates = state.TryGetValue("generator_updates", out var v) ? long.Parse(v, CultureInfo.InvariantCulture) : G.Optimizer.Steps;

    private void RecordCritic(Tensor lossD, Tensor outReal, Tensor outFake, Tensor? penalty, Tensor? gradNorm, Tensor? classLoss)
    {
        if (classLoss is not null) Report(slot[(int)Stat.ClassLoss], classLoss);
        using var _ = Device.Tape.NoGrad();
        Report(slot[(int)Stat.LossD], lossD);
        if (slot[(int)Stat.DReal] >= 0) Report(slot[(int)Stat.DReal], MeanOutput(outReal));
        if (slot[(int)Stat.DFake] >= 0) Report(slot[(int)Stat.DFake], MeanOutput(outFake));
        if (slot[(int)Stat.W] >= 0) Report(slot[(int)Stat.W], Ops.Sub(Ops.Mean(outReal), Ops.Mean(outFake)));
        if (penalty is not null) Report(slot[(int)Stat.Gp], penalty);
        if (gradNorm is not null) Report(slot[(int)Stat.GradNorm], Ops.Mean(gradNorm));
    }

    /// <summary>D's mean output: a probability under BCE, the raw score otherwise.</summary>
    private Tensor MeanOutput(Tensor logits) => Ops.Mean(Options.Loss == Objective.Bce ? Ops.Sigmoid(logits) : logits);

    /// <summary>(N, 1, 1, 1) or (N, 1) as (N, 1), the targets' shape.</summary>
    private static Tensor Column(Tensor x) => x.Shape.Rank == 2 ? x : Ops.Reshape(x, new Shape(x.Shape[0], 1));

    private static Tensor Square(Tensor x) => Ops.Mul(x, x);

    private (Tensor Penalty, Tensor GradNorm) Penalty(Tensor real, Tensor fake, Tensor? labels)
    {
        using (Layer("D"))
            return GradientPenalty.Compute(x => Judge(x, labels), real, fake, Options.GpLambda);
    }

    /// <summary>WGAN's weight clipping: every parameter of <paramref name="m"/> clamped to [-c, c] in place.</summary>
    private void ClampWeights(Module m, float c)
    {
        foreach (var p in m.Parameters()) Device.Kernels.Clamp(p.View, p.View, -c, c);
    }

    /// <summary>Names the part whose layers run inside the scope (for errors from the autograd).</summary>
    private IDisposable Layer(string part) =>
        Device.Tape.Layer(part);

    public override void Dispose()
    {
        ones.Dispose();
        zeros.Dispose();

        base.Dispose();
    }
}
