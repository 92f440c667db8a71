namespace IlgpuGan.Nn;

/// <summary>Instance norm over (N, C, H, W) (PyTorch's nn.InstanceNorm2d without running statistics:
/// the same in training and eval). Affine: weight 1 and bias 0 at start, as PyTorch's.</summary>
public sealed class InstanceNorm2d(Device device, int channels, float eps = 1e-5f, bool affine = false) : Module
{
    public Tensor? Weight { get; } = affine ? Init.Constant(device, new Shape(channels), 1f) : null;
    public Tensor? Bias { get; } = affine ? Init.Constant(device, new Shape(channels), 0f) : null;
    public int Channels => channels;

    public override Tensor Forward(Tensor x)
    {
        if (x.Shape.Rank != 4 || x.Shape[1] != channels)
            throw new ArgumentException($"InstanceNorm2d({channels}): expected (N, {channels}, H, W); got {x.Shape}.");
        return Ops.InstanceNorm(x, Weight, Bias, eps);
    }

    protected override IEnumerable<(string, Tensor)> OwnParameters()
    {
        if (Weight != null) yield return ("weight", Weight);
        if (Bias != null) yield return ("bias", Bias);
    }
}

/// <summary>nn.ReflectionPad2d(p): the same padding on all four sides.</summary>
public sealed class ReflectionPad2d(int padding) : Module
{
    public int Padding => padding;
    public override Tensor Forward(Tensor x) => Ops.ReflectionPad2d(x, padding);
}

/// <summary>A module whose children are named (PyTorch's attribute names), each run in its own tape scope.</summary>
public abstract class Composite : Module
{
    protected Tensor Run(string name, Module m, Tensor x)
    {
        using (x.Device.Tape.Layer(name)) return m.Forward(x);
    }
}

/// <summary>
/// The residual block of the CycleGAN reference code (ResnetBlock, padding 'reflect'): x +
/// [reflection pad 1, 3x3 conv, norm, relu, reflection pad 1, 3x3 conv, norm](x). Its parameters
/// are named as PyTorch's: conv_block.1.weight, conv_block.5.weight, ...
/// </summary>
public sealed class ResnetBlock : Composite
{
    public Sequential ConvBlock { get; }

    public ResnetBlock(Device d, int dim, Func<int, Module> norm, bool useBias)
    {
        ConvBlock = new Sequential(
            new ReflectionPad2d(1), new Conv2d(d, dim, dim, 3, bias: useBias), norm(dim), new Relu(),
            new ReflectionPad2d(1), new Conv2d(d, dim, dim, 3, bias: useBias), norm(dim));
    }

    public override Tensor Forward(Tensor x) => Ops.Add(x, Run("conv_block", ConvBlock, x));

    protected override IEnumerable<(string, Module)> Children() { yield return ("conv_block", ConvBlock); }
}

/// <summary>A model held in one Sequential named "model" (as the CycleGAN/pix2pix code names it).</summary>
public class ModelWrapper(Sequential model) : Composite
{
    public Sequential Model => model;
    public override Tensor Forward(Tensor x) => Run("model", model, x);
    protected override IEnumerable<(string, Module)> Children() { yield return ("model", model); }
}

/// <summary>Normalisation layers for the translation networks.</summary>
public static class Norms
{
    public static Func<int, Module> Instance(Device d) => c => new InstanceNorm2d(d, c);
    public static Func<int, Module> Batch(Device d) => c => new BatchNorm2d(d, c);
}

/// <summary>
/// The ResNet generator of CycleGAN (Johnson et al.; the reference code's ResnetGenerator):
/// reflection pad 3, 7x7 conv to ngf, norm, relu; two stride-2 3x3 convs (ngf -> 2 ngf -> 4 ngf),
/// each with norm and relu; <c>blocks</c> residual blocks at 4 ngf; two stride-2 transposed 3x3
/// convs (output padding 1) back to ngf, each with norm and relu; reflection pad 3, 7x7 conv to the
/// output channels, tanh. With instance norm the convolutions have biases. It takes any H and W
/// that are multiples of 4 and at least 8 (the reflection pads need H/4 &gt; 1), and keeps them.
/// </summary>
public sealed class ResnetGenerator : ModelWrapper
{
    public int Blocks { get; }

    public ResnetGenerator(Device d, int inChannels, int outChannels, int ngf = 64, int blocks = 9, Func<int, Module>? norm = null, bool useBias = true)
        : base(Build(d, inChannels, outChannels, ngf, blocks, norm ?? Norms.Instance(d), useBias)) => Blocks = blocks;

    private static Sequential Build(Device d, int inC, int outC, int ngf, int blocks, Func<int, Module> norm, bool bias)
    {
        var layers = new List<Module> { new ReflectionPad2d(3), new Conv2d(d, inC, ngf, 7, bias: bias), norm(ngf), new Relu() };
        for (int i = 0, mult = 1; i < 2; i++, mult *= 2)
            layers.AddRange([new Conv2d(d, ngf * mult, ngf * mult * 2, 3, 2, 1, bias), norm(ngf * mult * 2), new Relu()]);
        for (int i = 0; i < blocks; i++) layers.Add(new ResnetBlock(d, ngf * 4, norm, bias));
        for (int i = 0, mult = 4; i < 2; i++, mult /= 2)
            layers.AddRange([new ConvTranspose2d(d, ngf * mult, ngf * mult / 2, 3, 2, 1, 1, bias), norm(ngf * mult / 2), new Relu()]);
        layers.AddRange([new ReflectionPad2d(3), new Conv2d(d, ngf, outC, 7, bias: true), new Tanh()]);
        return new Sequential(layers.ToArray());
    }

    /// <summary>Null when the generator takes an image of this size, else why not (one sentence).</summary>
    public static string? CheckSize(int h, int w) =>
        h % 4 == 0 && w % 4 == 0 && h >= 8 && w >= 8 ? null
        : $"the ResNet generator takes images whose height and width are multiples of 4 and at least 8 (e.g. 28x28, 32x32, 256x256); got {h}x{w}";
}

/// <summary>
/// The PatchGAN discriminator (pix2pix/CycleGAN's NLayerDiscriminator): 4x4 convs, stride 2 then
/// 1: conv(in, ndf) + leaky relu 0.2; <c>layers</c> - 1 more stride-2 convs doubling the width (at
/// most 8 ndf), each with norm and leaky relu; a stride-1 conv, norm, leaky relu; a stride-1 conv
/// to one channel: a grid of logits, one per overlapping patch. layers = 3 is the 70x70 PatchGAN
/// (a 30x30 grid on 256x256 images); layers = 2 sees 34x34 patches (a 5x5 grid on 28x28 digits).
/// </summary>
public sealed class PatchDiscriminator : ModelWrapper
{
    public PatchDiscriminator(Device d, int inChannels, int ndf = 64, int layers = 3, Func<int, Module>? norm = null, bool useBias = true)
        : base(Build(d, inChannels, ndf, layers, norm ?? Norms.Instance(d), useBias)) { }

    private static Sequential Build(Device d, int inC, int ndf, int n, Func<int, Module> norm, bool bias)
    {
        var layers = new List<Module> { new Conv2d(d, inC, ndf, 4, 2, 1, bias: true), new LeakyRelu(0.2f) };
        int mult = 1;
        for (int i = 1; i < n; i++)
        {
            int prev = mult; mult = Math.Min(1 << i, 8);
            layers.AddRange([new Conv2d(d, ndf * prev, ndf * mult, 4, 2, 1, bias), norm(ndf * mult), new LeakyRelu(0.2f)]);
        }
        int last = mult; mult = Math.Min(1 << n, 8);
        layers.AddRange([new Conv2d(d, ndf * last, ndf * mult, 4, 1, 1, bias), norm(ndf * mult), new LeakyRelu(0.2f)]);
        layers.Add(new Conv2d(d, ndf * mult, 1, 4, 1, 1, bias: true));
        return new Sequential(layers.ToArray());
    }

    /// <summary>The side of the logit grid for an input side (or below 1: too small).</summary>
    public static int GridSide(int side, int layers)
    {
        for (int i = 0; i < layers; i++) side = (side + 2 - 4) / 2 + 1;
        return side - 2;     // two stride-1 4x4 convs with padding 1
    }
}

/// <summary>
/// One level of pix2pix's U-Net (UnetSkipConnectionBlock): down = [leaky relu 0.2 (not outermost),
/// 4x4 stride-2 conv, norm (not outermost or innermost)]; the inner level; up = [relu, 4x4
/// stride-2 transposed conv, norm (tanh at the outermost)]; every level but the outermost returns
/// cat(x, up(inner(down(x)))) along the channels (the skip connection). No dropout.
/// </summary>
public sealed class UnetBlock : ModelWrapper
{
    public bool Outermost { get; }

    public UnetBlock(Device d, int outerC, int innerC, int? inputC, UnetBlock? inner, bool outermost, Func<int, Module> norm, bool bias)
        : base(Build(d, outerC, innerC, inputC ?? outerC, inner, outermost, norm, bias)) => Outermost = outermost;

    private static Sequential Build(Device d, int outerC, int innerC, int inputC, UnetBlock? inner, bool outermost, Func<int, Module> norm, bool bias)
    {
        var downconv = new Conv2d(d, inputC, innerC, 4, 2, 1, bias);
        if (outermost)
            return new Sequential(downconv, inner!, new Relu(), new ConvTranspose2d(d, innerC * 2, outerC, 4, 2, 1, bias: true), new Tanh());
        if (inner is null)
            return new Sequential(new LeakyRelu(0.2f), downconv, new Relu(), new ConvTranspose2d(d, innerC, outerC, 4, 2, 1, bias: bias), norm(outerC));
        return new Sequential(new LeakyRelu(0.2f), downconv, norm(innerC), inner, new Relu(),
            new ConvTranspose2d(d, innerC * 2, outerC, 4, 2, 1, bias: bias), norm(outerC));
    }

    public override Tensor Forward(Tensor x) => Outermost ? base.Forward(x) : Ops.Cat(x, base.Forward(x));
}

/// <summary>
/// pix2pix's U-Net generator (UnetGenerator): <c>downs</c> stride-2 levels, so H and W must be
/// multiples of 2^downs (the innermost level is 1x1 then); widths ngf, 2 ngf, 4 ngf, 8 ngf, then 8
/// ngf for the remaining levels. downs = 8 for 256x256 images; 5 for 32x32.
/// </summary>
public sealed class UnetGenerator : ModelWrapper
{
    public int Downs { get; }

    public UnetGenerator(Device d, int inChannels, int outChannels, int downs = 8, int ngf = 64, Func<int, Module>? norm = null, bool useBias = true)
        : base(new Sequential(Build(d, inChannels, outChannels, downs, ngf, norm ?? Norms.Instance(d), useBias))) => Downs = downs;

    private static UnetBlock Build(Device d, int inC, int outC, int downs, int ngf, Func<int, Module> norm, bool bias)
    {
        if (downs < 5) throw new ArgumentException($"UnetGenerator: at least 5 levels; got {downs}.");
        var block = new UnetBlock(d, ngf * 8, ngf * 8, null, null, false, norm, bias);
        for (int i = 0; i < downs - 5; i++) block = new UnetBlock(d, ngf * 8, ngf * 8, null, block, false, norm, bias);
        block = new UnetBlock(d, ngf * 4, ngf * 8, null, block, false, norm, bias);
        block = new UnetBlock(d, ngf * 2, ngf * 4, null, block, false, norm, bias);
        block = new UnetBlock(d, ngf, ngf * 2, null, block, false, norm, bias);
        return new UnetBlock(d, outC, ngf, inC, block, true, norm, bias);
    }

    /// <summary>Null when the generator takes an image of this size, else why not.</summary>
    public string? CheckSize(int h, int w)
    {
        int m = 1 << Downs;
        return h % m == 0 && w % m == 0 && h >= m && w >= m ? null
            : $"this U-Net generator ({Downs} levels) takes images whose height and width are multiples of {m}; got {h}x{w}";
    }
}
