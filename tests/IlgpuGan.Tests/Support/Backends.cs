using IlgpuGan.Conformance;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using IlgpuGan.Kernels;

namespace IlgpuGan.Tests.Support;

/// <summary>
/// The backends every op is tested on: the CPU accelerator with the fast host kernels ("cpu"),
/// the GPU-style kernels on a CPU accelerator shaped like an NVIDIA GPU ("cpu-gpu-kernels"), the
/// barrier-free OpenCL-CPU kernels on a CPU accelerator ("cpu-clcpu-kernels"), OpenCL with the kernels
/// its device type picks ("opencl") and with the GPU-style kernels ("opencl-gpu-kernels": on a CPU
/// device such as PoCL, the variant an OpenCL GPU gets), and CUDA, when this machine has them.
/// Devices are made once per test run.
/// ILGPUGAN_BACKENDS (names separated by ',' or ':') limits the backends to those named, e.g.
/// "opencl" for CI's OpenCL lane, which runs only the tests of <see cref="Category"/>; a named
/// backend that is not usable here fails <c>BackendTests.RequestedBackendsArePresent</c>.
/// </summary>
public static class Backends
{
    /// <summary>The trait (Category=Backend) of every test that runs per backend.</summary>
    public const string Category = "Backend";
    public const string Variable = "ILGPUGAN_BACKENDS";

    private static readonly Lazy<string[]> present = new(Probe);
    private static readonly Dictionary<string, Device> devices = new();

    /// <summary>The backends this machine has (before ILGPUGAN_BACKENDS is applied).</summary>
    public static IReadOnlyList<string> Present => present.Value;

    /// <summary>The backends named by ILGPUGAN_BACKENDS, or null when it is unset.</summary>
    public static IReadOnlyList<string>? Requested =>
        Environment.GetEnvironmentVariable(Variable) is { } v && !string.IsNullOrWhiteSpace(v)
            ? v.Split([',', ':'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : null;

    /// <summary>The backends the per-backend tests run on.</summary>
    public static IReadOnlyList<string> Names => Requested is { } r ? Present.Where(r.Contains).ToArray() : Present;

    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (var n in Names) data.Add(n);
        return data;
    }

    /// <summary>A shared device for this backend. Tests that use it must not run in parallel with
    /// other users of the same device: every test class that calls this is in one collection.</summary>
    public static Device Get(string name)
    {
        lock (devices)
        {
            if (!devices.TryGetValue(name, out var d))
                devices[name] = d = Create(name, seed: 0);
            d.Tape.EndStep();
            return d;
        }
    }

    public static Device Create(string name, ulong seed) => name switch
    {
        "cpu" => Device.Create(AcceleratorKind.Cpu, seed),
        "cpu-gpu-kernels" => Device.CreateGpuStyleCpu(seed),
        "cpu-clcpu-kernels" => Device.CreateClCpuStyleCpu(seed),
        "opencl" => Device.Create(AcceleratorKind.OpenCL, seed),
        "opencl-gpu-kernels" => Device.Create(AcceleratorKind.OpenCL, seed, KernelVariant.Gpu),
        "cuda" => Device.Create(AcceleratorKind.Cuda, seed),
        _ => throw new ArgumentException(name),
    };

    private static string[] Probe()
    {
        var names = new List<string> { "cpu", "cpu-gpu-kernels", "cpu-clcpu-kernels" };
        Device.PrepareNativeLibraries();    // before ILGPU first looks for libOpenCL
        try
        {
            using var context = Context.Create(b => b.Cuda().OpenCL(Device.IsUsableOpenCL));
            if (context.Devices.Any(d => d.AcceleratorType == AcceleratorType.OpenCL)) names.AddRange(["opencl", "opencl-gpu-kernels"]);
            if (context.Devices.Any(d => d.AcceleratorType == AcceleratorType.Cuda)) names.Add("cuda");
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or InvalidOperationException)
        {
            // No OpenCL or CUDA runtime on this machine.
        }
        return names.ToArray();
    }
}

/// <summary>Test classes that share the backend devices run one after another.</summary>
[CollectionDefinition("devices", DisableParallelization = true)]
public sealed class DeviceCollection;

/// <summary>Comparison by FORMAT.md's rule.</summary>
public static class Compare
{
    public static double RelativeError(ReadOnlySpan<float> computed, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, computed.Length);
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(float.IsFinite(computed[i]), $"computed value {i} is {computed[i]}");
            double d = computed[i] - (double)expected[i];
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), 1e-12);
    }

    public static void Close(ReadOnlySpan<float> computed, ReadOnlySpan<float> expected, double tolerance, string what)
    {
        double e = RelativeError(computed, expected);
        Assert.True(e <= tolerance, $"{what}: relative error {e:E3} > tolerance {tolerance:E1}");
    }
}

/// <summary>Where the repository and the shared folder are.</summary>
public static class Paths
{
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "IlgpuGan.sln"))) return dir.FullName;
            throw new DirectoryNotFoundException("IlgpuGan.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The cases shared between projects: ../shared/reference beside the repository.</summary>
    public static string SharedReferenceDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "reference"));

    /// <summary>
    /// ../shared/reference, then the shipped copy (reference/ beside the tests, copied from the
    /// repository's reference/), then every folder of ILGPUGAN_REFERENCE_DIRS (':'-separated).
    /// The shipped copy duplicates the shared folder: ReferenceCases.Files runs a file whose name and
    /// bytes match one found earlier only once, so each case runs once and is named by its shared
    /// path; a shipped case that differs from the shared one (a stale copy) still runs, and fails
    /// TheShippedCopyHoldsTheSharedCases.
    /// </summary>
    public static IReadOnlyList<string> ReferenceDirs()
    {
        var dirs = new List<string> { SharedReferenceDir };
        if (ReferenceCases.ShippedDirectory is { } shipped) dirs.Add(shipped);
        dirs.AddRange(ReferenceCases.EnvironmentDirectories());
        return dirs;
    }
}
