namespace IlgpuGan.Nn;

/// <summary>
/// A module whose output depends on a class label per sample as well as on its input: a
/// conditional G (z, y) -> image or D (image, y) -> logit. Labels are (N) floats holding whole
/// numbers in [0, <see cref="Classes"/>), on the device. <see cref="Module.Forward(Tensor)"/>
/// without labels is an error naming the module.
/// </summary>
public abstract class ConditionalModule : Module
{
    /// <summary>The number of classes the labels index.</summary>
    public abstract int Classes { get; }

    /// <summary>The output for inputs <paramref name="x"/> (N, ...) and labels (N).</summary>
    public abstract Tensor Forward(Tensor x, Tensor labels);

    public override Tensor Forward(Tensor x) =>
        throw new InvalidOperationException($"{GetType().Name} is conditional: it needs a class label per sample (Forward(x, labels)).");

    protected static void RequireLabels(Tensor x, Tensor labels, string module)
    {
        if (labels.Length != x.Shape[0])
            throw new ArgumentException($"{module}: {labels.Length} labels for a batch of {x.Shape[0]} ({x.Shape}).");
    }
}

/// <summary>A discriminator with an auxiliary classifier (ACGAN): for images (N, ...) the
/// real/fake logit (N, 1) and the class logits (N, classes), from one pass.</summary>
public interface IAuxiliaryClassifier
{
    int Classes { get; }
    (Tensor Adversarial, Tensor ClassLogits) Classify(Tensor x);
}

/// <summary>A table of <c>num</c> vectors of <c>dim</c> floats, looked up by index (PyTorch's
/// nn.Embedding; weight ~ N(0, std), PyTorch's default std is 1).</summary>
public sealed class Embedding(Device device, int num, int dim, float std = 1f, float mean = 0f) : Module
{
    public Tensor Weight { get; } = Init.Normal(device, new Shape(num, dim), mean, std);
    public int Num => num;
    public int Dim => dim;

    /// <summary>The rows of the labels (N floats holding whole numbers): (N, dim).</summary>
    public override Tensor Forward(Tensor labels) => Ops.Embedding(labels, Weight);

    protected override IEnumerable<(string, Tensor)> OwnParameters() { yield return ("weight", Weight); }
}

/// <summary>Dropout with probability p in training (a counter-based mask from the device's
/// generator), the identity in eval mode.</summary>
public sealed class Dropout(float p = 0.5f) : Module
{
    public float P { get; } = p is >= 0f and < 1f ? p : throw new ArgumentOutOfRangeException(nameof(p), p, "Dropout: p must be in [0, 1).");

    public override Tensor Forward(Tensor x) => Ops.Dropout(x, P, Training);
}

/// <summary>Batch norm without its own affine (PyTorch's BatchNorm2d(affine=False)): running
/// statistics as buffers, scale 1 and shift 0 held as constants outside the state dict.</summary>
public sealed class PlainBatchNorm : Module
{
    private readonly Tensor one, zero;

    public PlainBatchNorm(Device device, int channels, float eps = 1e-5f, float momentum = 0.1f)
    {
        one = Init.Constant(device, new Shape(channels), 1f, requiresGrad: false);
        zero = Init.Constant(device, new Shape(channels), 0f, requiresGrad: false);
        RunningMean = Init.Constant(device, new Shape(channels), 0f, requiresGrad: false);
        RunningVar = Init.Constant(device, new Shape(channels), 1f, requiresGrad: false);
        Args = new(eps, momentum);
    }

    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }
    public Kernels.BatchNormArgs Args { get; }

    public override Tensor Forward(Tensor x) => Ops.BatchNorm(x, one, zero, RunningMean, RunningVar, Training, Args);

    protected override IEnumerable<(string, Tensor)> OwnBuffers() { yield return ("running_mean", RunningMean); yield return ("running_var", RunningVar); }

    public override void Dispose()
    {
        one.Dispose();
        zero.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// Conditional batch norm (StudioGAN's ConditionalBatchNorm2d; de Vries et al. 2017): batch norm
/// without affine, then a scale and a shift chosen by the class, y = bn(x) * (1 + gain[y]) + bias[y];
/// gain ~ N(0, 0.02) (as DCGAN's batch-norm weights around 1), bias = 0.
/// </summary>
public sealed class ConditionalBatchNorm2d(Device device, int channels, int classes) : ConditionalModule
{
    public PlainBatchNorm Bn { get; } = new(device, channels);
    public Embedding Gain { get; } = new(device, classes, channels, std: 0.02f);
    public Embedding Bias { get; } = new(device, classes, channels, std: 0f);

    public override int Classes => classes;

    public override Tensor Forward(Tensor x, Tensor labels)
    {
        RequireLabels(x, labels, nameof(ConditionalBatchNorm2d));
        var h = Bn.Forward(x);
        return Ops.AffinePerSampleChannel(h, Ops.AddScalar(Gain.Forward(labels), 1f), Bias.Forward(labels));
    }

    protected override IEnumerable<(string, Module)> Children() { yield return ("bn", Bn); yield return ("gain", Gain); yield return ("bias", Bias); }
}
