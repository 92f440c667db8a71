using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using IlgpuGan.Cli.Runs;

namespace IlgpuGan.Tests.Cli;

/// <summary>Runs the training loop in-process, and the built ilgpu-gan tool as a child process.</summary>
internal static partial class CliTestSupport
{
    /// <summary>A small run on the CPU accelerator: every step's statistics recorded.</summary>
    public static RunConfig Toy(long steps, string data = "curves", int dSteps = 1) => new()
    {
        Model = "toy", Data = data, Steps = steps, Batch = 64, LrG = 1e-3, LrD = 1e-3, Beta1 = 0.5, Beta2 = 0.999, DSteps = dSteps,
        Seed = 7, Accelerator = "cpu", SampleEvery = 1000, CheckpointEvery = 1000, Keep = 3, LogEvery = 1, SampleCount = 16,
    };

    /// <summary>A small run of <paramref name="model"/> under <paramref name="loss"/> with the registry's defaults for them
    /// (as <c>train --model M --loss L</c> sets them), on the CPU accelerator, every step's statistics recorded.</summary>
    public static RunConfig For(string model, string loss, long steps, string data, int batch)
    {
        var d = IlgpuGan.Recipes.ModelRegistry.Get(model).DefaultsFor(IlgpuGan.Recipes.Objectives.Parse(loss));
        var o = d.Options;
        return Toy(steps, data) with
        {
            Model = model, Loss = loss, Optimizer = o.Optimizer, Batch = batch, LrG = o.LrG, LrD = o.LrD, Beta1 = o.Beta1, Beta2 = o.Beta2,
            DSteps = o.NCritic, CriticSchedule = IlgpuGan.Recipes.Objectives.Name(o.Schedule), Clip = o.Clip, GpLambda = o.GpLambda,
        };
    }

    public static TrainRun Train(RunConfig config, string outFolder, LoadedCheckpoint? resume = null)
    {
        var run = new TrainRun { Config = config, OutFolder = outFolder, ResumeFrom = resume };
        Assert.Equal(0, run.Execute());
        return run;
    }

    /// <summary>The built tool (IlgpuGan.Cli.dll beside the tests, or in its own bin folder).</summary>
    public static string ToolDll
    {
        get
        {
            string here = Path.Combine(AppContext.BaseDirectory, "IlgpuGan.Cli.dll");
            if (File.Exists(here) && File.Exists(Path.Combine(AppContext.BaseDirectory, "IlgpuGan.Cli.runtimeconfig.json"))) return here;
            // tests/IlgpuGan.Tests/bin/<Configuration>/<tfm>/ -> src/IlgpuGan.Cli/bin/<Configuration>/<tfm>/
            var tfm = new DirectoryInfo(AppContext.BaseDirectory);
            string config = tfm.Parent!.Name, root = tfm.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
            return Path.Combine(root, "src", "IlgpuGan.Cli", "bin", config, tfm.Name, "IlgpuGan.Cli.dll");
        }
    }

    public static Process Start(string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(ToolDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["ILGPUGAN_ACCELERATOR"] = "cpu";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        return Process.Start(psi)!;
    }

    /// <summary>A finished tool run: exit code, standard output and standard error.</summary>
    public sealed record Result(int ExitCode, string Out, string Err);

    public static Result Run(string workingDirectory, params string[] args)
    {
        using var p = Start(workingDirectory, args);
        var output = new StringBuilder();
        var error = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (error) error.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"ilgpu-gan {string.Join(' ', args)} did not finish in 2 minutes");
        }
        p.WaitForExit();
        return new Result(p.ExitCode, output.ToString(), error.ToString());
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);

    public const int SIGINT = 2, SIGKILL = 9, SIGTERM = 15;

    public static void Signal(Process p, int signal) => Assert.Equal(0, SysKill(p.Id, signal));
}
