using IlgpuGan.Kernels;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Kernels;

/// <summary>
/// The three convolution passes against the direct loops (Kernels.ConvReference), with bias and
/// beta = 0.5 accumulation, at shapes chosen to take every branch of the host variant: one chunk
/// (N = 1, the GEMM on all cores), one sample per chunk, several samples per chunk (the gathered
/// layout), 1x1 outputs (the transposed layout) and kernels that cover the whole input (one GEMM). The GPU-style kernels run the small ones.
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
            [9, 5, 5, 5, 3, 4, 2, 0],       // 1x1 output: the transposed layout
            [9, 5, 4, 4, 3, 4, 1, 0],       // the kernel covers the input: a fully connected layer
            [5, 2, 9, 11, 3, 5, 3, 2],
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
        d.Kernels.ConvForward(s, tx.View, tw.View, ty.View);
        Compare.Close(ty.ToArray(), y, 1e-5, $"{backend} forward, beta 0");
    }
}
