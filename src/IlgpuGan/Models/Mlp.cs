using IlgpuGan.Nn;

namespace IlgpuGan.Models;

/// <summary>W-MLP of shared/bench/WORKLOADS.md: the multilayer-perceptron GAN for 28x28 digits.</summary>
public static class Mlp
{
    /// <summary>z (N, nz) -> image (N, 1, 28, 28) in [-1, 1].</summary>
    public static Sequential Generator(Device d, int nz = 100, int imageSize = 28) => new(
        new Linear(d, nz, 256), new LeakyRelu(0.2f), new BatchNorm1d(d, 256),        // (N, 256)
        new Linear(d, 256, 512), new LeakyRelu(0.2f), new BatchNorm1d(d, 512),       // (N, 512)
        new Linear(d, 512, 1024), new LeakyRelu(0.2f), new BatchNorm1d(d, 1024),     // (N, 1024)
        new Linear(d, 1024, imageSize * imageSize), new Tanh(),                      // (N, 784)
        new Reshape(1, imageSize, imageSize));                                       // (N, 1, 28, 28)

    /// <summary>image (N, 1, 28, 28) -> one logit per image (N, 1).</summary>
    public static Sequential Discriminator(Device d, int imageSize = 28) => new(
        new Flatten(),                                                               // (N, 784)
        new Linear(d, imageSize * imageSize, 1024), new LeakyRelu(0.2f),             // (N, 1024)
        new Linear(d, 1024, 512), new LeakyRelu(0.2f),                               // (N, 512)
        new Linear(d, 512, 256), new LeakyRelu(0.2f),                                // (N, 256)
        new Linear(d, 256, 1));                                                      // (N, 1) logit
}
