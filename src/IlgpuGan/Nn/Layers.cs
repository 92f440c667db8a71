using IlgpuGan.Kernels;

namespace IlgpuGan.Nn;

/// <summary>Initial values for a layer's weights (WORKLOADS.md: N(0, 0.02); BatchNorm weight N(1, 0.02)).</summary>
public static class Init
{
    public static Tensor Normal(Device d, Shape shape, float mean, float std)
    {
        var t = d.Persistent(shape);
        d.Kernels.Normal(t.View, d.Random.Next(shape.Length), mean, std);
        t.RequiresGrad = true;
        return t;
    }

    public static Tensor Constant(Device d, Shape shape, float value, bool requiresGrad = true)
    {
        var t = d.Persistent(shape, value);
        t.RequiresGrad = requiresGrad;
        return t;
    }
}

/// <summary>y = x W^T + b, W (out, in) ~ N(0, 0.02), b = 0.</summary>
public sealed class Linear(Device device, int inFeatures, int outFeatures, bool bias = true) : Module
{
    public Tensor Weight { get; } = Init.Normal(device, new Shape(outFeatures, inFeatures), 0f, 0.02f);
    public Tensor? Bias { get; } = bias ? Init.Constant(device, new Shape(outFeatures), 0f) : null;
    public int InFeatures => inFeatures;
    public int OutFeatures => outFeatures;

    public override Tensor Forward(Tensor x) => Ops.Linear(x, Weight, Bias);

    protected override IEnumerable<(string, Tensor)> OwnParameters()
    {
        yield return ("weight", Weight);
        if (Bias != null) yield return ("bias", Bias);
    }
}

/// <summary>2-D convolution: W (out, in, k, k) ~ N(0, 0.02); no bias unless asked for (WORKLOADS.md's DCGANs have none).</summary>
public sealed class Conv2d(Device device, int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = false) : Module
{
    public Tensor Weight { get; } = Init.Normal(device, new Shape(outChannels, inChannels, kernelSize, kernelSize), 0f, 0.02f);
    public Tensor? Bias { get; } = bias ? Init.Constant(device, new Shape(outChannels), 0f) : null;
    public int Stride => stride;
    public int Padding => padding;

    public override Tensor Forward(Tensor x) => Ops.Conv2d(x, Weight, Bias, stride, padding);

    protected override IEnumerable<(string, Tensor)> OwnParameters()
    {
        yield return ("weight", Weight);
        if (Bias != null) yield return ("bias", Bias);
    }
}

/// <summary>Transposed 2-D convolution: W (in, out, k, k) ~ N(0, 0.02), as PyTorch stores it; no bias unless asked for.</summary>
public sealed class ConvTranspose2d(Device device, int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0,
    int outputPadding = 0, bool bias = false) : Module
{
    public Tensor Weight { get; } = Init.Normal(device, new Shape(inChannels, outChannels, kernelSize, kernelSize), 0f, 0.02f);
    public Tensor? Bias { get; } = bias ? Init.Constant(device, new Shape(outChannels), 0f) : null;
    public int Stride => stride;
    public int Padding => padding;
    public int OutputPadding => outputPadding;

    public override Tensor Forward(Tensor x) => Ops.ConvTranspose2d(x, Weight, Bias, stride, padding, outputPadding);

    protected override IEnumerable<(string, Tensor)> OwnParameters()
    {
        yield return ("weight", Weight);
        if (Bias != null) yield return ("bias", Bias);
    }
}

/// <summary>A pointwise activation as a layer.</summary>
public class ActivationLayer(Activation f, float slope = 0f) : Module
{
    public override Tensor Forward(Tensor x) => Ops.Activate(x, f, slope);
}

public sealed class Relu() : ActivationLayer(Activation.Relu);
public sealed class LeakyRelu(float slope = 0.01f) : ActivationLayer(Activation.LeakyRelu, slope);
public sealed class Tanh() : ActivationLayer(Activation.Tanh);
public sealed class Sigmoid() : ActivationLayer(Activation.Sigmoid);

/// <summary>Batch norm over channel dimension 1 of (N, C) (BatchNorm1d) or (N, C, H, W) (BatchNorm2d).</summary>
public class BatchNorm(Device device, int channels, float eps = 1e-5f, float momentum = 0.1f) : Module
{
    public Tensor Weight { get; } = Init.Normal(device, new Shape(channels), 1f, 0.02f);
    public Tensor Bias { get; } = Init.Constant(device, new Shape(channels), 0f);
    public Tensor RunningMean { get; } = Init.Constant(device, new Shape(channels), 0f, requiresGrad: false);
    public Tensor RunningVar { get; } = Init.Constant(device, new Shape(channels), 1f, requiresGrad: false);
    public BatchNormArgs Args { get; } = new(eps, momentum);

    public override Tensor Forward(Tensor x) => Ops.BatchNorm(x, Weight, Bias, RunningMean, RunningVar, Training, Args);

    protected override IEnumerable<(string, Tensor)> OwnParameters() { yield return ("weight", Weight); yield return ("bias", Bias); }
    protected override IEnumerable<(string, Tensor)> OwnBuffers() { yield return ("running_mean", RunningMean); yield return ("running_var", RunningVar); }
}

public sealed class BatchNorm1d(Device device, int features, float eps = 1e-5f, float momentum = 0.1f) : BatchNorm(device, features, eps, momentum);

public sealed class BatchNorm2d(Device device, int channels, float eps = 1e-5f, float momentum = 0.1f) : BatchNorm(device, channels, eps, momentum);

/// <summary>
/// Layer norm over each sample's last dims (PyTorch's nn.LayerNorm(normalizedShape) with
/// elementwise affine: weight 1, bias 0 at start). The input is (N, normalizedShape...). Unlike
/// batch norm it has a second derivative, so a WGAN-GP critic may use it.
/// </summary>
public sealed class LayerNorm(Device device, int[] normalizedShape, float eps = 1e-5f) : Module
{
    public Tensor Weight { get; } = Init.Constant(device, new Shape(normalizedShape), 1f);
    public Tensor Bias { get; } = Init.Constant(device, new Shape(normalizedShape), 0f);
    public float Eps => eps;

    public override Tensor Forward(Tensor x)
    {
        if (x.Length / x.Shape[0] != Weight.Length)
            throw new ArgumentException($"LayerNorm({new Shape(normalizedShape)}): input {x.Shape} has {x.Length / x.Shape[0]} values per sample.");
        return Ops.LayerNorm(x, Weight, Bias, eps);
    }

    protected override IEnumerable<(string, Tensor)> OwnParameters() { yield return ("weight", Weight); yield return ("bias", Bias); }
}

/// <summary>Reshapes each sample: (N, ...) to (N, dims...).</summary>
public sealed class Reshape(params int[] sampleDims) : Module
{
    public override Tensor Forward(Tensor x) => Ops.Reshape(x, new Shape([x.Shape[0], .. sampleDims]));
}

/// <summary>(N, ...) to (N, rest).</summary>
public sealed class Flatten : Module
{
    public override Tensor Forward(Tensor x) => Ops.Reshape(x, new Shape(x.Shape.AsMatrix().Rows, x.Shape.AsMatrix().Cols));
}

/// <summary>Runs its modules in order; children are named "0", "1", ... as in PyTorch. Each child
/// runs inside a tape layer scope of its name, so a recorded op knows its layer ("D.4").</summary>
public sealed class Sequential(params Module[] modules) : Module
{
    private static readonly string[] Names = Enumerable.Range(0, 64).Select(i => i.ToString()).ToArray();

    public IReadOnlyList<Module> Modules => modules;

    public override Tensor Forward(Tensor x)
    {
        var tape = x.Device.Tape;
        for (int i = 0; i < modules.Length; i++)
            using (tape.Layer(i < Names.Length ? Names[i] : i.ToString()))
                x = modules[i].Forward(x);
        return x;
    }

    protected override IEnumerable<(string, Module)> Children() => modules.Select((m, i) => (i.ToString(), m));
}
