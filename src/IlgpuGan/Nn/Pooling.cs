namespace IlgpuGan.Nn;

/// <summary>Max pooling with a square window (stride defaults to the window, as PyTorch's nn.MaxPool2d).</summary>
public sealed class MaxPool2d(int kernelSize, int? stride = null, int padding = 0) : Module
{
    public override Tensor Forward(Tensor x) => Ops.MaxPool2d(x, kernelSize, stride, padding);
}

/// <summary>Average pooling with a square window (padded pixels count as zeros, as PyTorch's nn.AvgPool2d).</summary>
public sealed class AvgPool2d(int kernelSize, int? stride = null, int padding = 0) : Module
{
    public override Tensor Forward(Tensor x) => Ops.AvgPool2d(x, kernelSize, stride, padding);
}
