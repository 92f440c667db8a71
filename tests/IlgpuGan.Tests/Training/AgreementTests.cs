using System.Diagnostics;
using IlgpuGan.Conformance;
using IlgpuGan.Tests.Support;
using Xunit.Abstractions;

namespace IlgpuGan.Tests.Training;

/// <summary>
/// Cross-backend agreement (issue 4 item 5): training from the same seed gives the same first 5
/// steps (Loss_D, Loss_G, D(x), D(G(z))) on every backend as on the CPU accelerator, within
/// SelfTest.AgreementTolerance (1e-4 of max(1, |value|); its comment says why and what was
/// measured). Parameters, noise and the real batch come from the counter-based generator, so every
/// backend starts from bit-identical numbers; only the order of float32 sums differs. The same
/// comparison is selftest's agreement check (SelfTest.Agreement).
/// </summary>
[Collection("devices")]
[Trait("Category", Backends.Category)]
public sealed class AgreementTests(ITestOutputHelper log)
{
    private const int Steps = 5;
    private const ulong Seed = 11;

    /// <summary>
    /// Every backend present but the two that simulate GPU threads on the CPU accelerator: "cpu"
    /// is compared with the ClCpu kernels there (so the pair host/ClCpu runs once), and the
    /// GPU-style kernels take about 2 minutes a step even on the narrow W-MLP (they agreed within
    /// 1.0e-7 when measured; see SelfTest.AgreementTolerance). OpenCL and CUDA run W-MLP itself at
    /// batch 64 against the host kernels.
    /// </summary>
    public static TheoryData<string> Compared()
    {
        var data = new TheoryData<string>();
        foreach (var b in Backends.Names)
            if (b is not ("cpu-gpu-kernels" or "cpu-clcpu-kernels")) data.Add(b);
        return data;
    }

    /// <summary>The backend a backend is compared with, as SelfTest.ReferenceDeviceFor picks it.</summary>
    private static string ReferenceFor(string backend) => backend == "cpu" ? "cpu-clcpu-kernels" : "cpu";

    [Theory]
    [MemberData(nameof(Compared))]
    public void FirstTrainingStepsAgreeAcrossBackends(string backend)
    {
        var device = Backends.Get(backend);
        var reference = Backends.Get(ReferenceFor(backend));
        var workload = SelfTest.AgreementWorkloadFor(device);
        var clock = Stopwatch.StartNew();
        var r = SelfTest.Agreement(device, reference, workload, Steps, seed: Seed);
        var (diff, step, quantity, value, expected) = r.Worst;
        log.WriteLine($"{r.Workload} batch {r.Batch}, {r.Device} vs {r.Reference}: largest difference {diff:E2} ({quantity}, step {step}), {clock.ElapsedMilliseconds} ms");
        for (int i = 0; i < r.Steps.Count; i++)
        {
            var (x, y) = (r.Steps[i], r.ReferenceSteps[i]);
            log.WriteLine($"  step {i + 1}: " + string.Join("  ", AgreementResult.Quantities.Select(q => $"{q} {x[q]:R} / {y[q]:R}")));
        }

        Assert.Equal(Steps, r.Steps.Count);
        Assert.True(r.Passed, $"{r.Device} step {step} {quantity}: {value} vs {r.Reference} {expected} (difference {diff:E2} > {r.Tolerance:E0})");
        // The steps train: the comparison is not of two untouched models.
        Assert.NotEqual(r.Steps[0]["Loss_G"], r.Steps[^1]["Loss_G"]);
    }
}
