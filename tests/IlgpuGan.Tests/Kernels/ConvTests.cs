using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using IlgpuGan.Kernels;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Kernels;

/// <summary>
/// The three convolution passes against the direct loops (Kernels.ConvReference), with bias and
/// beta = 0.5 accumulation, and with beta = 0 with and without bias, at shapes chosen to take
/// every branch of the host variant: one chunk
/// (N = 1: one worker), one sample per chunk (written in place), several samples per chunk
/// (scattered), 1x1 outputs, kernels that cover the whole input (one GEMM over the batch), stride 3
/// and kernels smaller than the stride (the window copy's planes and borders), and more than one
/// KC block of K, and the direct passes (32 or more output channels). The GPU-style kernels run the
/// small ones.
/// </summary>
[Collection("devices")]
public sealed class ConvTests
{
    public static TheoryData<string, int[]> Shapes()
    {
        int[][] shapes =
        [
            // n, ci, h, w, co, k, stride, pad
            [1, 3, 12, 12, 5, 3, 1, 1],     // a single chunk
            [4, 4, 34, 34, 6, 4, 2, 1],     // 289 output pixels: one sample per chunk
            [7, 3, 6, 5, 4, 3, 1, 1],       // 30 pixels: several samples per chunk, gathered
            [9, 5, 5, 5, 3, 4, 2, 0],       // 1x1 output
            [9, 5, 4, 4, 3, 4, 1, 0],       // the kernel covers the input: a fully connected layer
            [5, 2, 9, 11, 3, 5, 3, 2],
            // A partial row sliver (Ci = 10, Co = 70), two samples per chunk.
            [3, 10, 9, 9, 70, 4, 2, 1],
            [2, 9, 7, 8, 5, 1, 2, 0],       // k < stride: input pixels no tap reaches (gx = bias there)
            [4, 12, 10, 10, 6, 5, 3, 2],    // stride 3, padding 2: the window copy's planes and borders
            [2, 40, 6, 6, 8, 3, 1, 1],      // Ci Kh Kw = 360: two KC blocks, an edge column sliver
            [3, 2, 7, 6, 2, 3, 2, 1],       // window rows of 4 floats: a row's last vector passes several rows
            // Co = 300: two KC blocks of backward data's prepacked gY; 20 input channels: blocks of
            // channels (8 or 14 a block) with a partial last one.
            [2, 20, 5, 5, 300, 3, 1, 1],
            // 40 output channels and Ci Kh Kw = 72: the direct forward and weight-gradient passes
            // (AVX-512), over several chunks of samples per worker.
            [9, 8, 20, 20, 40, 3, 1, 1],
            // 32 or more input channels: the data gradient's direct form, one stride-1 convolution
            // per phase of the input: stride 2 on an odd input, taps no phase shares, a kernel
            // smaller than the stride (phases no tap reaches), stride 1, two KC blocks a phase.
            [3, 36, 9, 9, 20, 4, 2, 1],
            [2, 33, 10, 10, 17, 2, 3, 0],
            [2, 40, 7, 7, 16, 3, 1, 1],
            [2, 32, 8, 8, 100, 4, 2, 1],
            // The direct forward pass on small outputs (64 pixels or fewer): tiles of one pixel of 8
            // samples that skip the taps in the padding: whole tiles (16 samples, 8 a chunk, inputs
            // interleaved in 8 x 8 transposes), part tiles and no padding (11 samples, 3 x 3 taps, 33
            // channels), and a padding as wide as the kernel (border pixels that no tap reaches).
            [16, 16, 8, 8, 40, 4, 2, 1],
            [11, 24, 7, 7, 33, 3, 1, 0],
            [9, 16, 4, 4, 32, 2, 1, 2],
            // The data gradient's phases by sample too (64 pixels each, 8 samples a chunk, gY interleaved
            // in 8 x 8 transposes); the shapes above with 32 or more input channels take part tiles.
            [16, 32, 16, 16, 24, 4, 2, 1],
        ];
        var data = new TheoryData<string, int[]>();
        foreach (var b in Backends.Names)
            foreach (var s in shapes)
                if (b != "cpu-gpu-kernels" || s[0] * s[1] * s[2] * s[3] <= 1024)
                    data.Add(b, s);
        return data;
    }

    private static float[] Random(Random r, long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();

    [Theory, MemberData(nameof(Shapes))]
    public void PassesMatchTheDirectLoops(string backend, int[] c)
    {
        var d = Backends.Get(backend);
        var s = ConvShape.Conv(c[0], c[1], c[2], c[3], c[4], c[5], c[5], c[6], c[7]);
        var rng = new Random(c.Sum());
        float[] x = Random(rng, s.InputLength), w = Random(rng, s.WeightLength), gy = Random(rng, s.OutputLength);
        float[] biasOut = Random(rng, s.Co), biasIn = Random(rng, s.Ci);
        float[] y0 = Random(rng, s.OutputLength), gx0 = Random(rng, s.InputLength), gw0 = Random(rng, s.WeightLength);
        float[] y = new float[y0.Length], gx = new float[gx0.Length], gw = new float[gw0.Length];
        global::IlgpuGan.Kernels.Kernels.ConvReference(s, x, w, y, gy, gx, gw);

        using Tensor tx = d.Persistent(new Shape(x.Length), x), tw = d.Persistent(new Shape(w.Length), w), tgy = d.Persistent(new Shape(gy.Length), gy);
        using Tensor tbo = d.Persistent(new Shape(s.Co), biasOut), tbi = d.Persistent(new Shape(s.Ci), biasIn);
        using Tensor ty = d.Persistent(new Shape(y0.Length), y0), tgx = d.Persistent(new Shape(gx0.Length), gx0), tgw = d.Persistent(new Shape(gw0.Length), gw0);
        d.Kernels.ConvForward(s, tx.View, tw.View, ty.View, tbo.View, beta: 0.5f);
        d.Kernels.ConvBackwardData(s, tgy.View, tw.View, tgx.View, tbi.View, beta: 0.5f);
        d.Kernels.ConvBackwardWeight(s, tx.View, tgy.View, tgw.View, beta: 0.5f);

        float[] Expect(float[] direct, float[] before, float[]? bias, int channels, int pixels) =>
            direct.Select((v, i) => v + 0.5f * before[i] + (bias == null ? 0f : bias[i / pixels % channels])).ToArray();
        Compare.Close(ty.ToArray(), Expect(y, y0, biasOut, s.Co, s.OutPixels), 1e-5, $"{backend} forward");
        Compare.Close(tgx.ToArray(), Expect(gx, gx0, biasIn, s.Ci, s.InPixels), 1e-5, $"{backend} backward data");
        Compare.Close(tgw.ToArray(), Expect(gw, gw0, null, 1, 1), 1e-5, $"{backend} backward weight");

        // beta = 0 never reads the output: NaN there must not leak through.
        ty.CopyFrom(Enumerable.Repeat(float.NaN, y.Length).ToArray());
        tgx.CopyFrom(Enumerable.Repeat(float.NaN, gx.Length).ToArray());
        tgw.CopyFrom(Enumerable.Repeat(float.NaN, gw.Length).ToArray());
        d.Kernels.ConvForward(s, tx.View, tw.View, ty.View);
        d.Kernels.ConvBackwardData(s, tgy.View, tw.View, tgx.View);
        d.Kernels.ConvBackwardWeight(s, tx.View, tgy.View, tgw.View);
        Compare.Close(ty.ToArray(), y, 1e-5, $"{backend} forward, beta 0");
        Compare.Close(tgx.ToArray(), gx, 1e-5, $"{backend} backward data, beta 0");
        Compare.Close(tgw.ToArray(), gw, 1e-5, $"{backend} backward weight, beta 0");

        // beta = 0 with a bias (a transposed convolution's forward pass with bias is the data gradient's)
        ty.CopyFrom(Enumerable.Repeat(float.NaN, y.Length).ToArray());
        tgx.CopyFrom(Enumerable.Repeat(float.NaN, gx.Length).ToArray());
        d.Kernels.ConvForward(s, tx.View, tw.View, ty.View, tbo.View);
        d.Kernels.ConvBackwardData(s, tgy.View, tw.View, tgx.View, tbi.View);
        Compare.Close(ty.ToArray(), Expect(y, new float[y.Length], biasOut, s.Co, s.OutPixels), 1e-5, $"{backend} forward, beta 0, bias");
        Compare.Close(tgx.ToArray(), Expect(gx, new float[gx.Length], biasIn, s.Ci, s.InPixels), 1e-5, $"{backend} backward data, beta 0, bias");
    }

    /// <summary>The host convolutions on the AVX2 (6 x 16) and scalar GEMM micro-kernels.</summary>
    [Theory]
    [InlineData(256)]
    [InlineData(0)]
    public void HostFallbacksMatchTheDirectLoops(int simd)
    {
        if (simd == 256 && !System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
            return;
        using var context = Context.Create(b => b.CPU(CPUDevice.Default).EnableAlgorithms());
        using var accelerator = context.CreateCPUAccelerator(0);
        var kernels = new global::IlgpuGan.Kernels.Kernels(accelerator, KernelVariant.Host) { HostGemmSimd = simd };
        foreach (var c in new[] { new[] { 3, 10, 9, 9, 70, 4, 2, 1 }, [7, 3, 6, 5, 4, 3, 1, 1], [2, 9, 7, 8, 5, 1, 2, 0] })
        {
            var s = ConvShape.Conv(c[0], c[1], c[2], c[3], c[4], c[5], c[5], c[6], c[7]);
            var rng = new Random(c.Sum());
            float[] x = Random(rng, s.InputLength), w = Random(rng, s.WeightLength), gy = Random(rng, s.OutputLength);
            float[] y = new float[s.OutputLength], gx = new float[s.InputLength], gw = new float[s.WeightLength];
            global::IlgpuGan.Kernels.Kernels.ConvReference(s, x, w, y, gy, gx, gw);
            using var bx = accelerator.Allocate1D(x);
            using var bw = accelerator.Allocate1D(w);
            using var bgy = accelerator.Allocate1D(gy);
            using var by = accelerator.Allocate1D<float>(y.Length);
            using var bgx = accelerator.Allocate1D<float>(gx.Length);
            using var bgw = accelerator.Allocate1D<float>(gw.Length);
            kernels.ConvForward(s, bx.View, bw.View, by.View);
            kernels.ConvBackwardData(s, bgy.View, bw.View, bgx.View);
            kernels.ConvBackwardWeight(s, bx.View, bgy.View, bgw.View);
            accelerator.Synchronize();
            Compare.Close(by.GetAsArray1D(), y, 1e-5, $"simd {simd} forward");
            Compare.Close(bgx.GetAsArray1D(), gx, 1e-5, $"simd {simd} backward data");
            Compare.Close(bgw.GetAsArray1D(), gw, 1e-5, $"simd {simd} backward weight");
        }
    }
}
