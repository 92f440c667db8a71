using System.CommandLine;
using IlgpuGan.Conformance;

namespace IlgpuGan.Cli.Commands;

/// <summary>
/// <c>ilgpu-gan selftest [--accelerator KIND]</c>: on one accelerator, every reference case found (the
/// copy the tool ships, plus <c>ILGPUGAN_REFERENCE_DIRS</c>), a few training steps of each model, and the
/// first W-MLP losses against the CPU accelerator from the same seed. One line per check; the exit
/// code is non-zero when any check fails.
/// </summary>
public static class SelftestCommand
{
    public static Command Create()
    {
        var accelerator = new Option<string?>("--accelerator", "-a") { Description = "cpu, opencl, cuda or auto (default: $ILGPUGAN_ACCELERATOR, else the best present).", HelpName = "kind" };
        var reference = new Option<string[]>("--reference") { Description = "Extra folders of reference cases (besides the shipped copy and $ILGPUGAN_REFERENCE_DIRS).", Arity = ArgumentArity.ZeroOrMore };
        var quick = new Option<bool>("--no-training") { Description = "Run only the reference cases." };
        var cmd = new Command("selftest", "Prove this machine's accelerator: reference cases, training steps of each model, agreement with the CPU.")
        {
            accelerator, reference, quick,
        };
        cmd.SetAction(parse =>
        {
            using var device = Device.Create(Device.ParseKind(parse.GetValue(accelerator)), seed: 1);
            Console.WriteLine($"# ilgpu-gan selftest device={device} date={DateTime.UtcNow:yyyy-MM-dd}");
            var extra = parse.GetValue(reference) ?? [];
            var options = new SelfTestOptions
            {
                ReferenceDirectories = extra.Length == 0 ? null : [.. ReferenceCases.DefaultDirectories(), .. extra],
                Training = !parse.GetValue(quick),
                CrossBackend = !parse.GetValue(quick),
            };
            int failures = SelfTest.Run(device, Console.Out, options);
            Console.WriteLine(failures == 0 ? "selftest passed" : $"selftest FAILED: {failures} check(s)");
            return failures == 0 ? ExitCodes.Ok : ExitCodes.Error;
        });
        return cmd;
    }
}
