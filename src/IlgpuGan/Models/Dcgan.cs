using IlgpuGan.Nn;

namespace IlgpuGan.Models;

/// <summary>
/// The DCGANs of shared/bench/WORKLOADS.md: W-DCGAN28 (MNIST, 1 x 28 x 28) and W-DCGAN64 (the
/// classic DCGAN, 3 x 64 x 64, ngf = ndf = 64). Conv layers have no bias; BatchNorm2d eps 1e-5,
/// momentum 0.1; weights N(0, 0.02), BatchNorm weight N(1, 0.02). z is (N, nz, 1, 1).
/// </summary>
public static class Dcgan
{
    /// <summary>W-DCGAN28 G: z (N, nz, 1, 1) -> image (N, channels, 28, 28) in [-1, 1].</summary>
    public static Sequential Generator28(Device d, int nz = 100, int channels = 1) => new(
        new ConvTranspose2d(d, nz, 256, 7, 1, 0), new BatchNorm2d(d, 256), new Relu(),         // (N, 256, 7, 7)
        new ConvTranspose2d(d, 256, 128, 4, 2, 1), new BatchNorm2d(d, 128), new Relu(),        // (N, 128, 14, 14)
        new ConvTranspose2d(d, 128, channels, 4, 2, 1), new Tanh());                           // (N, 1, 28, 28)

    /// <summary>W-DCGAN28 D: image (N, channels, 28, 28) -> one logit per image (N, 1, 1, 1).</summary>
    public static Sequential Discriminator28(Device d, int channels = 1) => new(
        new Conv2d(d, channels, 64, 4, 2, 1), new LeakyRelu(0.2f),                             // (N, 64, 14, 14)
        new Conv2d(d, 64, 128, 4, 2, 1), new BatchNorm2d(d, 128), new LeakyRelu(0.2f),         // (N, 128, 7, 7)
        new Conv2d(d, 128, 1, 7, 1, 0));                                                       // (N, 1, 1, 1) logit

    /// <summary>W-DCGAN64 G: z (N, nz, 1, 1) -> image (N, channels, 64, 64) in [-1, 1].</summary>
    public static Sequential Generator64(Device d, int nz = 100, int channels = 3, int ngf = 64) => new(
        new ConvTranspose2d(d, nz, ngf * 8, 4, 1, 0), new BatchNorm2d(d, ngf * 8), new Relu(),         // (N, 512, 4, 4)
        new ConvTranspose2d(d, ngf * 8, ngf * 4, 4, 2, 1), new BatchNorm2d(d, ngf * 4), new Relu(),    // (N, 256, 8, 8)
        new ConvTranspose2d(d, ngf * 4, ngf * 2, 4, 2, 1), new BatchNorm2d(d, ngf * 2), new Relu(),    // (N, 128, 16, 16)
        new ConvTranspose2d(d, ngf * 2, ngf, 4, 2, 1), new BatchNorm2d(d, ngf), new Relu(),            // (N, 64, 32, 32)
        new ConvTranspose2d(d, ngf, channels, 4, 2, 1), new Tanh());                                   // (N, 3, 64, 64)

    /// <summary>W-DCGAN64 D: image (N, channels, 64, 64) -> one logit per image (N, 1, 1, 1).</summary>
    public static Sequential Discriminator64(Device d, int channels = 3, int ndf = 64) => new(
        new Conv2d(d, channels, ndf, 4, 2, 1), new LeakyRelu(0.2f),                                    // (N, 64, 32, 32)
        new Conv2d(d, ndf, ndf * 2, 4, 2, 1), new BatchNorm2d(d, ndf * 2), new LeakyRelu(0.2f),        // (N, 128, 16, 16)
        new Conv2d(d, ndf * 2, ndf * 4, 4, 2, 1), new BatchNorm2d(d, ndf * 4), new LeakyRelu(0.2f),    // (N, 256, 8, 8)
        new Conv2d(d, ndf * 4, ndf * 8, 4, 2, 1), new BatchNorm2d(d, ndf * 8), new LeakyRelu(0.2f),    // (N, 512, 4, 4)
        new Conv2d(d, ndf * 8, 1, 4, 1, 0));                                                           // (N, 1, 1, 1) logit

    /// <summary>The latent shape of the conv generators: (n, nz) -> (n, nz, 1, 1).</summary>
    public static Shape LatentShape(int n, int nz) => new(n, nz, 1, 1);
}
