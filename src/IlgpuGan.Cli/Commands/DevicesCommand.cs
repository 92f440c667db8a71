using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Spectre.Console;

namespace IlgpuGan.Cli.Commands;

/// <summary><c>ilgpu-gan devices</c>: the accelerators ILGPU finds, with memory and capabilities, whether
/// IlgpuGan can use each (and why not), and which one <c>--accelerator auto</c> picks.</summary>
public static class DevicesCommand
{
    public sealed record Found(string Kind, string Name, long MemoryBytes, bool Usable, string Details, string? WhyNot);

    public static Command Create()
    {
        var cmd = new Command("devices", "List the accelerators found (CUDA, OpenCL, CPU) with memory and capabilities, and why a present one is not usable.");
        cmd.SetAction(_ => Run());
        return cmd;
    }

    private static int Run()
    {
        var (devices, notes) = Discover();
        var table = new Table().AddColumns("kind", "device", "memory", "usable", "capabilities");
        foreach (var d in devices)
            table.AddRow(Markup.Escape(d.Kind), Markup.Escape(d.Name), Markup.Escape(Memory(d.MemoryBytes)),
                d.Usable ? "[green]yes[/]" : "[red]no[/]: " + Markup.Escape(d.WhyNot ?? ""), Markup.Escape(d.Details));
        AnsiConsole.Write(table);
        foreach (var n in notes) AnsiConsole.WriteLine(n);
        var pick = devices.FirstOrDefault(d => d.Usable && d.Kind == "cuda") ?? devices.FirstOrDefault(d => d.Usable && d.Kind == "opencl")
                   ?? devices.FirstOrDefault(d => d.Kind == "cpu");
        string? forced = Environment.GetEnvironmentVariable(Device.AcceleratorVariable);
        AnsiConsole.WriteLine(forced is { Length: > 0 }
            ? $"{Device.AcceleratorVariable}={forced}: --accelerator auto uses that kind."
            : $"--accelerator auto picks: {pick?.Kind} ({pick?.Name}).");
        return ExitCodes.Ok;
    }

    /// <summary>Every device ILGPU reports, OpenCL ones included whether or not ILGPU's backend can run on them,
    /// and notes on drivers that are missing.</summary>
    public static (List<Found> Devices, List<string> Notes) Discover()
    {
        var found = new List<Found>();
        var notes = new List<string>();
        using var context = Context.Create(b => b.CPU().Cuda().OpenCL(_ => true).EnableAlgorithms());
        foreach (var d in context.Devices)
        {
            if (d.AcceleratorType == AcceleratorType.CPU && found.Any(f => f.Kind == "cpu")) continue;   // ILGPU lists several CPU configurations
            try { found.Add(Describe(d)); }
            catch (Exception e) { found.Add(new Found(d.AcceleratorType.ToString().ToLowerInvariant(), d.Name, d.MemorySize, false, "", e.Message)); }
        }
        if (!found.Any(d => d.Kind == "cuda"))
            notes.Add(LibraryPresent(OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"])
                ? "CUDA: the NVIDIA driver library is present but reports no device."
                : "CUDA: no NVIDIA driver found (libcuda.so.1 cannot be loaded).");
        if (!found.Any(d => d.Kind == "opencl"))
            notes.Add(LibraryPresent(OperatingSystem.IsWindows() ? ["OpenCL.dll"] : ["libOpenCL.so.1", "libOpenCL.so"])
                ? "OpenCL: the loader (libOpenCL) is present but no platform reports a device (is an ICD such as PoCL installed?)."
                : "OpenCL: no OpenCL loader found (libOpenCL.so.1 cannot be loaded).");
        return (found, notes);
    }

    private static Found Describe(ILGPU.Runtime.Device d)
    {
        string common = string.Create(CultureInfo.InvariantCulture,
            $"warp {d.WarpSize}, {d.NumMultiprocessors} multiprocessors, <= {d.MaxNumThreadsPerGroup} threads/group, {d.MaxSharedMemoryPerGroup / 1024} KiB shared/group");
        switch (d)
        {
            case CudaDevice c:
                return new Found("cuda", c.Name, c.MemorySize, true,
                    $"compute capability {c.Architecture}, PTX {c.InstructionSet}, driver {c.DriverVersion}, {common}", null);
            case CLDevice cl:
            {
                bool generic = cl.Capabilities.GenericAddressSpace;
                string? why = cl.CLStdVersion < ILGPU.Backends.OpenCL.CLBackend.MinimumVersion
                    ? $"OpenCL C {cl.CLStdVersion} is older than the {ILGPU.Backends.OpenCL.CLBackend.MinimumVersion} ILGPU needs"
                    : !generic ? "no generic address space, which ILGPU's OpenCL backend needs (e.g. PoCL 3.x lacks it; PoCL 6 has it)"
                    : null;
                return new Found("opencl", cl.Name, cl.MemorySize, Device.IsUsableOpenCL(cl),
                    $"{cl.DeviceType} by {cl.VendorName}; platform {cl.PlatformName} {cl.PlatformVersion}; OpenCL C {cl.CLStdVersion}; " +
                    $"generic address space {(generic ? "yes" : "no")}; {common}", why);
            }
            default:
                return new Found("cpu", "CPU (ILGPU CPU accelerator)", GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, true,
                    $"IlgpuGan's SIMD host kernels ({(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "128-bit")}), {Environment.ProcessorCount} cores",
                    null);
        }
    }

    private static bool LibraryPresent(string[] names)
    {
        foreach (var n in names)
            if (NativeLibrary.TryLoad(n, out var h)) { NativeLibrary.Free(h); return true; }
        return false;
    }

    private static string Memory(long bytes) =>
        bytes <= 0 ? "-" : bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F1} GiB" : $"{bytes / (double)(1L << 20):F0} MiB";
}
