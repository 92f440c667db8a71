using IlgpuGan.Conformance;
using IlgpuGan.IO;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Reference;

[Collection("devices")]
public sealed class ReferenceCaseTests
{
    /// <summary>Ops that later issues add; a case of any other unknown op fails the run.</summary>
    public static readonly IReadOnlyDictionary<string, string> ExpectedUnknown = new Dictionary<string, string>();

    /// <summary>The case files of <see cref="Paths.ReferenceDirs"/>, each once (see <see cref="ReferenceCases.Files(IEnumerable{string})"/>).</summary>
    public static IReadOnlyList<string> Files() => ReferenceCases.Files(Paths.ReferenceDirs());

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in Files())
        {
            var contents = SafeTensors.Read(file);
            if (ExpectedUnknown.ContainsKey(ReferenceCases.OpOf(contents, file))) continue;
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
        var result = ReferenceCases.Run(Backends.Get(backend), file);
        Assert.True(result.Passed, $"{backend} {file}: {result}");
        Assert.NotNull(result.WorstTensor);
    }

    [Fact]
    public void EveryCaseHasAKnownOp()
    {
        var files = Files();
        Assert.True(files.Count >= 20, $"expected the shared reference cases; found {files.Count} in {string.Join(", ", Paths.ReferenceDirs())}");
        var unknown = files.Select(f => (File: Path.GetFileName(f), Op: ReferenceCases.OpOf(f)))
            .Where(c => !ReferenceCases.Known.Contains(c.Op) && !ExpectedUnknown.ContainsKey(c.Op))
            .ToList();
        Assert.True(unknown.Count == 0, "cases of ops the runtime does not know: " + string.Join(", ", unknown.Select(u => $"{u.File} ({u.Op})")));
    }

    /// <summary>The project ships every case of ../shared/reference (when that folder is here) and
    /// every case of its next/ folder whose op the runtime knows, byte for byte, and nothing else;
    /// the build copies them beside the tests, where the library finds them first.</summary>
    [Fact]
    public void TheShippedCopyHoldsTheSharedCases()
    {
        string? shipped = ReferenceCases.ShippedDirectory;
        Assert.NotNull(shipped);
        Assert.Equal(Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "reference")), Path.GetFullPath(shipped));
        Assert.True(File.Exists(Path.Combine(shipped, "FORMAT.md")), "FORMAT.md is not shipped");
        Assert.True(ReferenceCases.Files([shipped]).Count >= 20);
        string shared = Paths.SharedReferenceDir;
        if (!Directory.Exists(shared)) return;
        string next = Path.Combine(shared, "next");
        var mustShip = Directory.EnumerateFiles(shared, "*.safetensors")
            .Concat(Directory.Exists(next)
                ? Directory.EnumerateFiles(next, "*.safetensors").Where(f => ReferenceCases.Known.Contains(ReferenceCases.OpOf(f)))
                : [])
            .ToList();
        foreach (var file in mustShip)
        {
            string copy = Path.Combine(shipped, Path.GetFileName(file));
            Assert.True(File.Exists(copy), $"{Path.GetFileName(file)} of {Path.GetDirectoryName(file)} is not in the shipped reference/ copy");
            Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(copy)), $"the shipped {Path.GetFileName(file)} differs from {file}");
        }
        // Nothing else is shipped, and with both folders searched each case runs once.
        Assert.Equal(mustShip.Count, ReferenceCases.Files([shipped]).Count);
        Assert.Equal(Directory.EnumerateFiles(shared, "*.safetensors").Count(), ReferenceCases.Files([shared]).Count);
        Assert.Equal(mustShip.Count, ReferenceCases.Files([shared, shipped]).Count);
    }
}
