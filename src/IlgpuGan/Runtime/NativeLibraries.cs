using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace IlgpuGan;

/// <summary>
/// Lets ILGPU find its native driver libraries by their versioned names. ILGPU imports "OpenCL"
/// and "cuda", which .NET probes as libOpenCL.so and libcuda.so: names that only the development
/// packages install (Debian's ocl-icd-libopencl1 ships libOpenCL.so.1 alone, and the NVIDIA driver
/// may ship only libcuda.so.1). When .NET's own probing fails, this resolver loads
/// lib&lt;name&gt;.so.1. ILGPU caches a failed load for the whole process, so this must run before the
/// first ILGPU context is built: <see cref="Device"/> does it itself; an application that builds
/// its own ILGPU context with OpenCL or CUDA calls <see cref="Device.PrepareNativeLibraries"/> first.
/// </summary>
internal static class NativeLibraries
{
    private static int registered;

    public static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) != 0) return;
        Assembly ilgpu = typeof(ILGPU.Context).Assembly;
        var context = AssemblyLoadContext.GetLoadContext(ilgpu) ?? AssemblyLoadContext.Default;
        context.ResolvingUnmanagedDll += (assembly, name) => assembly == ilgpu ? Resolve(name) : IntPtr.Zero;
    }

    /// <summary>lib&lt;name&gt;.so.1 for a bare library name on Linux, or zero (not found).</summary>
    internal static IntPtr Resolve(string name)
    {
        if (!OperatingSystem.IsLinux() || name.Contains('/') || name.Contains(".so")) return IntPtr.Zero;
        string file = (name.StartsWith("lib", StringComparison.Ordinal) ? name : "lib" + name) + ".so.1";
        return NativeLibrary.TryLoad(file, out IntPtr handle) ? handle : IntPtr.Zero;
    }
}
