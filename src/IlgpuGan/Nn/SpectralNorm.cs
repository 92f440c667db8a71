namespace IlgpuGan.Nn;

/// <summary>
/// Spectral normalisation (Miyato et al. 2018) of one weight: W / sigma(W), sigma the largest singular
/// value of W viewed as (rows, rest), as <c>torch.nn.utils.spectral_norm</c> computes it: one power
/// iteration per forward in training (v = normalise(W^T u), u = normalise(W v), under no-grad), then
/// sigma = u^T W v with the gradient flowing through W; in eval mode the stored u and v are used as
/// they are. u (1, rows) and v (1, rest) are buffers, so a checkpoint resumes exactly.
/// </summary>
public sealed class SpectralNorm : IDisposable
{
    private readonly Device device;
    private readonly int rows, columns;
    private readonly Tensor one;

    public SpectralNorm(Device d, Shape weight)
    {
        device = d;
        rows = weight[0];
        columns = checked((int)(weight.Length / rows));
        one = Init.Constant(d, new Shape(1), 1f, requiresGrad: false);
        U = Init.Normal(d, new Shape(1, rows), 0f, 1f);
        V = Init.Normal(d, new Shape(1, columns), 0f, 1f);
        U.RequiresGrad = V.RequiresGrad = false;
        using (d.Tape.NoGrad())
        {
            d.Kernels.Copy(Normalize(U).View, U.View);
            d.Kernels.Copy(Normalize(V).View, V.View);
        }
    }

    /// <summary>The left singular vector estimate (1, rows).</summary>
    public Tensor U { get; }

    /// <summary>The right singular vector estimate (1, rest).</summary>
    public Tensor V { get; }

    /// <summary>W / sigma(W), in W's shape; <paramref name="training"/> first refines u and v by one power iteration.</summary>
    public Tensor Apply(Tensor weight, bool training)
    {
        var w = Ops.Reshape(weight, new Shape(rows, columns));
        if (training)
            using (device.Tape.NoGrad())
            {
                var v = Normalize(Ops.MatMul(U, w));                   // (1, rest) = (W^T u)^T, normalised
                device.Kernels.Copy(v.View, V.View);
                var u = Normalize(Ops.MatMul(V, w, transB: true));     // (1, rows) = (W v)^T, normalised
                device.Kernels.Copy(u.View, U.View);
            }
        var sigma = Ops.Sum(Ops.Mul(U, Ops.MatMul(V, w, transB: true)));   // u^T W v, (1), differentiable in W
        var scaled = Ops.MulPerSample(Ops.Reshape(weight, new Shape(1, checked((int)weight.Length))), Ops.Div(one, sigma));
        return Ops.Reshape(scaled, weight.Shape);
    }

    /// <summary>The buffers, named as PyTorch names them (weight_u, weight_v).</summary>
    public IEnumerable<(string, Tensor)> Buffers(string weightName = "weight")
    {
        yield return ($"{weightName}_u", U);
        yield return ($"{weightName}_v", V);
    }

    /// <summary>Frees the constant it holds; u and v are the owning module's buffers (disposed with its state).</summary>
    public void Dispose() => one.Dispose();

    /// <summary>x (1, n) / ||x|| (PyTorch's normalize, eps 1e-12 under the root).</summary>
    private Tensor Normalize(Tensor x) => Ops.MulPerSample(x, Ops.Div(one, Ops.SampleNorm(x)));
}

/// <summary>Conv2d with a spectrally normalised weight (SNGAN's SNConv2d): no bias unless asked for.</summary>
public sealed class SnConv2d : Module
{
    private readonly SpectralNorm sn;
    private readonly int stride, padding;

    public SnConv2d(Device device, int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = false)
    {
        Weight = Init.Normal(device, new Shape(outChannels, inChannels, kernelSize, kernelSize), 0f, 0.02f);
        Bias = bias ? Init.Constant(device, new Shape(outChannels), 0f) : null;
        sn = new SpectralNorm(device, Weight.Shape);
        this.stride = stride;
        this.padding = padding;
    }

    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => Ops.Conv2d(x, sn.Apply(Weight, Training), Bias, stride, padding);

    protected override IEnumerable<(string, Tensor)> OwnParameters()
    {
        yield return ("weight", Weight);
        if (Bias != null) yield return ("bias", Bias);
    }

    protected override IEnumerable<(string, Tensor)> OwnBuffers() => sn.Buffers();

    public override void Dispose() { base.Dispose(); sn.Dispose(); }
}

/// <summary>Linear with a spectrally normalised weight (SNGAN's SNLinear).</summary>
public sealed class SnLinear : Module
{
    private readonly SpectralNorm sn;

    public SnLinear(Device device, int inFeatures, int outFeatures, bool bias = true)
    {
        Weight = Init.Normal(device, new Shape(outFeatures, inFeatures), 0f, 0.02f);
        Bias = bias ? Init.Constant(device, new Shape(outFeatures), 0f) : null;
        sn = new SpectralNorm(device, Weight.Shape);
    }

    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public override Tensor Forward(Tensor x) => Ops.Linear(x, sn.Apply(Weight, Training), Bias);

    protected override IEnumerable<(string, Tensor)> OwnParameters()
    {
        yield return ("weight", Weight);
        if (Bias != null) yield return ("bias", Bias);
    }

    protected override IEnumerable<(string, Tensor)> OwnBuffers() => sn.Buffers();

    public override void Dispose() { base.Dispose(); sn.Dispose(); }
}

/// <summary>Embedding with a spectrally normalised table (StudioGAN's sn_embedding, the projection
/// discriminator's class vectors).</summary>
public sealed class SnEmbedding : Module
{
    private readonly SpectralNorm sn;

    public SnEmbedding(Device device, int num, int dim, float std = 0.02f)
    {
        Weight = Init.Normal(device, new Shape(num, dim), 0f, std);
        sn = new SpectralNorm(device, Weight.Shape);
    }

    public Tensor Weight { get; }

    public override Tensor Forward(Tensor labels) => Ops.Embedding(labels, sn.Apply(Weight, Training));

    protected override IEnumerable<(string, Tensor)> OwnParameters() { yield return ("weight", Weight); }

    protected override IEnumerable<(string, Tensor)> OwnBuffers() => sn.Buffers();

    public override void Dispose() { base.Dispose(); sn.Dispose(); }
}
