using IlgpuGan.IO;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Reference;

[Collection("devices")]
public sealed class ReferenceCaseTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in ReferenceCases.Files())
        {
            var contents = SafeTensors.Read(file);
            if (ReferenceCases.ExpectedUnknown.ContainsKey(ReferenceCases.OpOf(contents, file))) continue;
            long largest = contents.Tensors.Values.Max(t => t.Length);
            foreach (var backend in Backends.Names)
                if (largest <= backend switch { "cpu-gpu-kernels" => SimulatedGpuLimit, "cpu-clcpu-kernels" => SimulatedClCpuLimit, _ => long.MaxValue })
                    data.Add(backend, file);
        }
        return data;
    }

    /// <summary>The CPU accelerator simulates GPU threads (a barrier costs milliseconds), so the
    /// GPU-style kernels run there only on the small cases; the real devices run every case.</summary>
    public const long SimulatedGpuLimit = 4096;

    /// <summary>The ClCpu kernels have no barriers and run every case of the core ops on the CPU
    /// accelerator in under a second; the limit keeps a large case of an op whose ClCpu variant
    /// falls back to the GPU-style kernels (barriers) from taking minutes there.</summary>
    public const long SimulatedClCpuLimit = 65536;


    [Theory]
    [MemberData(nameof(Cases))]
    [Trait("Category", Backends.Category)]
    public void CaseMatchesPyTorch(string backend, string file)
    {
        var contents = SafeTensors.Read(file);
        double tolerance = double.Parse(contents.Metadata["tolerance"], System.Globalization.CultureInfo.InvariantCulture);
        var computed = ReferenceCases.Run(Backends.Get(backend), contents);
        var inputs = new HashSet<string> { "x", "w", "b", "gamma", "beta", "target", "gy", "param", "grad1", "grad2", "grad3" };
        var expected = contents.Tensors.Keys.Where(k => !inputs.Contains(k)).ToList();
        Assert.NotEmpty(expected);
        foreach (var name in expected)
        {
            Assert.True(computed.ContainsKey(name), $"{Path.GetFileName(file)}: the runner does not produce '{name}'");
            Compare.Close(computed[name], contents.Tensors[name].Data, tolerance, $"{backend} {Path.GetFileName(file)} {name}");
        }
    }

    [Fact]
    public void EveryCaseHasAKnownOp()
    {
        var files = ReferenceCases.Files().ToList();
        Assert.True(files.Count >= 20, $"expected the shared reference cases; found {files.Count} in {string.Join(", ", Paths.ReferenceDirs())}");
        var unknown = files.Select(f => (File: Path.GetFileName(f), Op: ReferenceCases.OpOf(f)))
            .Where(c => !ReferenceCases.Known.Contains(c.Op) && !ReferenceCases.ExpectedUnknown.ContainsKey(c.Op))
            .ToList();
        Assert.True(unknown.Count == 0, "cases of ops the runtime does not know: " + string.Join(", ", unknown.Select(u => $"{u.File} ({u.Op})")));
    }
}
