using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.OpenCL;
using EmbeddedPipeline;

// The host application: it owns the ILGPU context and accelerator (CPU, or OpenCL with --opencl).
// Usage: dotnet run -c Release --project samples/EmbeddedPipeline [-- --opencl] [--steps N]
bool openCl = args.Contains("--opencl");
int steps = args.SkipWhile(a => a != "--steps").Skip(1).Select(int.Parse).FirstOrDefault(300);
IlgpuGan.Device.PrepareNativeLibraries();
using var context = Context.Create(b =>
{
    b.EnableAlgorithms();                   // IlgpuGan's kernels use ILGPU.Algorithms
    if (openCl) b.OpenCL(IlgpuGan.Device.IsUsableOpenCL); else b.CPU();
});
var hostDevice = openCl ? context.Devices.OfType<CLDevice>().FirstOrDefault(d => IlgpuGan.Device.IsUsableOpenCL(d)) : (ILGPU.Runtime.Device)context.GetCPUDevice(0);
if (hostDevice is null) { Console.Error.WriteLine("error: no usable OpenCL device"); return 1; }
using var accelerator = hostDevice.CreateAccelerator(context);
Console.WriteLine($"host accelerator: {accelerator.Name} ({accelerator.AcceleratorType})");
var report = Pipeline.Run(accelerator, new PipelineOptions { Steps = steps, Log = Console.Out });
Console.WriteLine($"host buffers kept their addresses: {report.BufferAddressesBefore.SequenceEqual(report.BufferAddressesAfter)}; " +
                  $"training read them in place: {report.BatchesWereHostMemory}; G read the latents in place: {report.ReadLatentsInPlace}; " +
                  $"host accelerator usable after IlgpuGan: {report.HostUsableAfterDispose}");
for (int c = 0; c < Pipeline.Classes; c++)
{
    var row = report.SampleMeans.Skip(c * 8).Take(8);
    Console.WriteLine($"class {c}: mean pixel of its samples (the host's kernel) {row.Average():F3}");
}
return 0;
