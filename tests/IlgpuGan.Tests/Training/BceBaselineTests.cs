using System.Runtime.Intrinsics;
using IlgpuGan.Cli.Runs;

namespace IlgpuGan.Tests.Training;

/// <summary>
/// The BCE objective computes exactly what it computed before the training recipes (issue 11): the
/// statistics of the first steps of toy, W-MLP and W-DCGAN28 runs, recorded bit for bit (as float32
/// bits, with their "R" text beside them) from the code of commit 2ccd45f, before any change.
/// The host kernels' sums depend on the SIMD width and, in the convolutions, on the number of cores
/// (each core owns a share of the batch): the values were recorded with AVX-512 on a Zen 5 EPYC, the
/// convolution model's for 2, 3, 4 and 8 cores (DOTNET_PROCESSOR_COUNT). Elsewhere the test is skipped.
/// The convolution rows were recorded again (on a Zen 4 EPYC, same SIMD width) when the host
/// convolutions became direct ones (issue 15), which sum in another order: the new first step
/// differs from 2ccd45f's by 1-3 units in the last place (1.1276594 against 1.1276593 for Loss_D);
/// and again when the direct passes on small outputs began to skip the taps in the padding and to
/// sum tap by tap.
/// </summary>
public sealed class BceBaselineTests
{
    /// <summary>One step's Loss_D, Loss_G, D(x), D(G(z)) (float32 bits) of a run: model, data, batch, d-steps, seed.</summary>
    public sealed record Row(string Model, string Data, int Batch, int DSteps, int Seed, long Step, uint LossD, uint LossG, uint DReal, uint DFake);

    /// <summary>Independent of the core count (checked for 2, 3, 4 and 8).</summary>
    public static readonly Row[] Dense =
    [
        new("toy", "curves", 64, 1, 7, 1, 0x3FB12D06u, 0x3F319DDCu, 0x3F00441Bu, 0x3EFFFDEAu), // 1.3841865 0.693815 0.5010392 0.4999841
        new("toy", "curves", 64, 1, 7, 2, 0x3FAFDE30u, 0x3F31C383u, 0x3F01859Du, 0x3EFFDE38u), // 1.3739681 0.6943895 0.505945 0.49974227
        new("toy", "curves", 64, 1, 7, 3, 0x3FAEA96Eu, 0x3F31F0CCu, 0x3F02AD98u, 0x3EFFB98Eu), // 1.3645456 0.6950805 0.51046133 0.49946254
        new("toy", "curves", 64, 1, 7, 4, 0x3FAD2D36u, 0x3F32268Cu, 0x3F041FC0u, 0x3EFF8FE4u), // 1.3529422 0.6959007 0.51610947 0.49914467
        new("toy", "curves", 64, 1, 7, 5, 0x3FAC6C70u, 0x3F3260D3u, 0x3F04CDB8u, 0x3EFF5B7Eu), // 1.3470592 0.6967899 0.518764 0.4987449
        new("toy", "curves", 64, 1, 7, 6, 0x3FAAB552u, 0x3F329C0Au, 0x3F067DC2u, 0x3EFF247Du), // 1.3336585 0.69769347 0.5253564 0.49832526
        new("toy", "curves", 64, 1, 7, 7, 0x3FA98E5Au, 0x3F32D611u, 0x3F079651u, 0x3EFEE919u), // 1.3246567 0.6985789 0.5296374 0.49787214
        new("toy", "curves", 64, 1, 7, 8, 0x3FA83B80u, 0x3F3314C5u, 0x3F08E906u, 0x3EFEB9BFu), // 1.3143158 0.69953567 0.53480566 0.49751088
        new("toy", "curves", 64, 1, 7, 9, 0x3FA6135Cu, 0x3F333C17u, 0x3F0B290Du, 0x3EFE8A68u), // 1.2974658 0.70013565 0.54359514 0.4971497
        new("toy", "curves", 64, 1, 7, 10, 0x3FA4FCDCu, 0x3F337525u, 0x3F0C4809u, 0x3EFE66F7u), // 1.2889667 0.70100623 0.54797417 0.4968793
        new("toy", "fake", 32, 2, 5, 1, 0x3FB0E340u, 0x3F31CCD4u, 0x3F007A96u, 0x3EFFD6C4u), // 1.3819351 0.6945317 0.5018705 0.4996854
        new("toy", "fake", 32, 2, 5, 2, 0x3FB07868u, 0x3F322044u, 0x3F00BC86u, 0x3EFF8420u), // 1.3786745 0.69580483 0.50287664 0.4990549
        new("toy", "fake", 32, 2, 5, 3, 0x3FB00FA4u, 0x3F327985u, 0x3F00F85Fu, 0x3EFF28DDu), // 1.3754773 0.69716674 0.50378984 0.49835864
        new("toy", "fake", 32, 2, 5, 4, 0x3FAF8B4Au, 0x3F32C53Cu, 0x3F015319u, 0x3EFED3A7u), // 1.3714383 0.69832206 0.5051742 0.49770853
        new("toy", "fake", 32, 2, 5, 5, 0x3FAF1A9Fu, 0x3F331556u, 0x3F019F01u, 0x3EFE8863u), // 1.3679999 0.6995443 0.50633246 0.4971343
        new("toy", "fake", 32, 2, 5, 6, 0x3FAEAF9Eu, 0x3F3364B4u, 0x3F01E0ADu, 0x3EFE32F3u), // 1.3647344 0.70075536 0.50733453 0.49648246
        new("mlp", "mnist", 64, 1, 1, 1, 0x3FB19FDDu, 0x3F3218A9u, 0x3EFF33F1u, 0x3EFF8DB7u), // 1.3876911 0.6956888 0.49844316 0.49912807
        new("mlp", "mnist", 64, 1, 1, 2, 0x3FA9AECAu, 0x3F327B91u, 0x3F07D0B8u, 0x3EFFA3A2u), // 1.3256466 0.697198 0.53052855 0.4992953
        new("mlp", "mnist", 64, 1, 1, 3, 0x3FA19F10u, 0x3F32F43Cu, 0x3F10888Au, 0x3EFF6E2Fu), // 1.2626667 0.6990392 0.5645834 0.4988875
        new("mlp", "mnist", 64, 1, 1, 4, 0x3F97B395u, 0x3F33A784u, 0x3F1BC917u, 0x3EFEC53Du), // 1.1851679 0.70177484 0.60853714 0.49759856
        new("mlp", "mnist", 64, 1, 1, 5, 0x3F8B63CDu, 0x3F3512AEu, 0x3F2B4125u, 0x3EFE5671u), // 1.0889832 0.7073163 0.6689628 0.49675325
    ];

    /// <summary>W-DCGAN28 at batch 16, by core count.</summary>
    public static readonly Dictionary<int, Row[]> Conv = new()
    {
        [2] =
        [
            new("dcgan28", "mnist", 16, 1, 3, 1, 0x3F905725u, 0x3F727D53u, 0x3F2CAFC0u, 0x3EF61296u), // 1.1276594 0.9472248 0.67455673 0.48061055
            new("dcgan28", "mnist", 16, 1, 3, 2, 0x3F8D883Bu, 0x3F67057Au, 0x3F614733u, 0x3F16D1C3u), // 1.1057199 0.9024273 0.87999266 0.5891382
            new("dcgan28", "mnist", 16, 1, 3, 3, 0x3FA10C0Cu, 0x3F7442D5u, 0x3F5EC2C9u, 0x3F21786Eu), // 1.2581801 0.9541448 0.8701597 0.63074386
        ],
        [3] =
        [
            new("dcgan28", "mnist", 16, 1, 3, 1, 0x3F905725u, 0x3F727D53u, 0x3F2CAFC0u, 0x3EF61296u), // 1.1276594 0.9472248 0.67455673 0.48061055
            new("dcgan28", "mnist", 16, 1, 3, 2, 0x3F8D8833u, 0x3F67057Eu, 0x3F614733u, 0x3F16D1BDu), // 1.105719 0.90242755 0.87999266 0.58913785
            new("dcgan28", "mnist", 16, 1, 3, 3, 0x3FA10C09u, 0x3F7442D8u, 0x3F5EC2CAu, 0x3F21786Fu), // 1.2581798 0.95414495 0.87015975 0.6307439
        ],
        [4] =
        [
            new("dcgan28", "mnist", 16, 1, 3, 1, 0x3F905725u, 0x3F727D53u, 0x3F2CAFC0u, 0x3EF61296u), // 1.1276594 0.9472248 0.67455673 0.48061055
            new("dcgan28", "mnist", 16, 1, 3, 2, 0x3F8D8834u, 0x3F67057Au, 0x3F614733u, 0x3F16D1BEu), // 1.1057191 0.9024273 0.87999266 0.5891379
            new("dcgan28", "mnist", 16, 1, 3, 3, 0x3FA10C06u, 0x3F7442DCu, 0x3F5EC2C9u, 0x3F21786Cu), // 1.2581794 0.9541452 0.8701597 0.63074374
        ],
        [8] =
        [
            new("dcgan28", "mnist", 16, 1, 3, 1, 0x3F905725u, 0x3F727D53u, 0x3F2CAFC0u, 0x3EF61296u), // 1.1276594 0.9472248 0.67455673 0.48061055
            new("dcgan28", "mnist", 16, 1, 3, 2, 0x3F8D8832u, 0x3F670575u, 0x3F614733u, 0x3F16D1BDu), // 1.1057189 0.902427 0.87999266 0.58913785
            new("dcgan28", "mnist", 16, 1, 3, 3, 0x3FA10C08u, 0x3F7442DAu, 0x3F5EC2CAu, 0x3F21786Cu), // 1.2581797 0.9541451 0.87015975 0.63074374
        ],
    };

    public static TheoryData<string> Runs => new() { "toy/curves", "toy/fake", "mlp/mnist", "dcgan28/mnist" };

    [BaselineTheory]
    [MemberData(nameof(Runs))]
    public void BceStepsEqualTheRecordedValuesBitForBit(string run)
    {
        var rows = (run.StartsWith("dcgan28", StringComparison.Ordinal)
                ? Conv.GetValueOrDefault(Environment.ProcessorCount) ?? []
                : Dense.Where(r => $"{r.Model}/{r.Data}" == run)).ToList();
        if (rows.Count == 0) return;   // no values recorded for this core count
        var first = rows[0];
        using var tmp = new TempFolder();
        var config = Cli.CliTestSupport.Toy(rows.Count, first.Data, first.DSteps) with
        {
            Model = first.Model, Batch = first.Batch, Seed = first.Seed,
            LrG = first.Model == "toy" ? 1e-3 : 2e-4, LrD = first.Model == "toy" ? 1e-3 : 2e-4,
        };
        var points = Cli.CliTestSupport.Train(config, tmp.File("run")).History.Points;
        Assert.Equal(rows.Count, points.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var (r, p) = (rows[i], points[i]);
            Assert.Equal(r.Step, p.Step);
            uint[] expected = [r.LossD, r.LossG, r.DReal, r.DFake];
            uint[] actual = [Bits(p["Loss_D"]), Bits(p["Loss_G"]), Bits(p["D(x)"]), Bits(p["D(G(z))"])];
            Assert.True(expected.SequenceEqual(actual),
                $"{run} step {r.Step}: recorded {string.Join(" ", expected.Select(Text))}, now {string.Join(" ", actual.Select(Text))}");
        }
    }

    private static uint Bits(float v) => BitConverter.SingleToUInt32Bits(v);
    private static string Text(uint bits) => BitConverter.UInt32BitsToSingle(bits).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Runs where the recorded values apply: the host kernels with AVX-512 (the machine they were recorded on).</summary>
public sealed class BaselineTheoryAttribute : TheoryAttribute
{
    public BaselineTheoryAttribute()
    {
        if (!Vector512.IsHardwareAccelerated) Skip = "the recorded values are AVX-512 host-kernel sums; this CPU has no AVX-512";
    }
}
