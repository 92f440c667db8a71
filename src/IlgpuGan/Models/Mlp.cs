using IlgpuGan.Nn;

namespace IlgpuGan.Models;

/// <summary>W-MLP of shared/bench/WORKLOADS.md: the multilayer-perceptron GAN for 28x28 digits.
/// <c>width</c> scales the hidden layers (W-MLP: 256, i.e. 256/512/1024); a narrow copy (e.g. 16)
/// keeps every layer type for quick checks on slow simulated devices.</summary>
public static class Mlp
{
    /// <summary>z (N, nz) -> image (N, 1, 28, 28) in [-1, 1].</summary>
    public static Sequential Generator(Device d, int nz = 100, int imageSize = 28, int width = 256) => new(
        new Linear(d, nz, width), new LeakyRelu(0.2f), new BatchNorm1d(d, width),                // (N, 256)
        new Linear(d, width, 2 * width), new LeakyRelu(0.2f), new BatchNorm1d(d, 2 * width),     // (N, 512)
        new Linear(d, 2 * width, 4 * width), new LeakyRelu(0.2f), new BatchNorm1d(d, 4 * width), // (N, 1024)
        new Linear(d, 4 * width, imageSize * imageSize), new Tanh(),                             // (N, 784)
        new Reshape(1, imageSize, imageSize));                                                   // (N, 1, 28, 28)

    /// <summary>image (N, 1, 28, 28) -> one logit per image (N, 1).</summary>
    public static Sequential Discriminator(Device d, int imageSize = 28, int width = 256) => new(
        new Flatten(),                                                                           // (N, 784)
        new Linear(d, imageSize * imageSize, 4 * width), new LeakyRelu(0.2f),                    // (N, 1024)
        new Linear(d, 4 * width, 2 * width), new LeakyRelu(0.2f),                               // (N, 512)
        new Linear(d, 2 * width, width), new LeakyRelu(0.2f),                                    // (N, 256)
        new Linear(d, width, 1));                                                                // (N, 1) logit
}
