using System.CommandLine;
using IlgpuGan.Recipes;

namespace IlgpuGan.Cli.Commands;

/// <summary>
/// The root of the tool: its commands, the options every command shares, and the one place errors
/// are turned into a one-line message and an exit code.
/// <para>To add a command (e.g. <c>selftest</c>): write <c>Commands/SelftestCommand.cs</c> with a
/// <c>public static Command Create()</c> whose action returns an exit code (throw
/// <see cref="CliException"/> for errors the user can fix), and add it to <see cref="Build"/>.</para>
/// </summary>
public static class CliApp
{
    /// <summary>--verbose: show stack traces of errors (on every command).</summary>
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Print the full exception (stack trace) when something fails.",
        Recursive = true,
    };

    public static RootCommand Build()
    {
        var root = new RootCommand("ilgpu-gan: train GANs on ILGPU kernels (CUDA, OpenCL or the CPU), sample from checkpoints, list devices.");
        root.Options.Add(Verbose);
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
        root.Subcommands.Add(ClassCheckCommand.Create());
        root.Subcommands.Add(DevicesCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(SelftestCommand.Create());
        root.Subcommands.Add(TrainClassifierCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        foreach (var c in TranslationCommands.Create()) root.Subcommands.Add(c);
        return root;
    }

    public static int Run(string[] args)
    {
        var parse = Build().Parse(args);
        bool verbose = parse.GetValue(Verbose);
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            // One line per problem, not the whole help text.
            foreach (var e in parse.Errors) Console.Error.WriteLine("error: " + Readable(e.Message));
            Console.Error.WriteLine($"(see: ilgpu-gan {parse.CommandResult.Command.Name} --help)".Replace("ilgpu-gan ilgpu-gan", "ilgpu-gan").Replace("ilgpu-gan IlgpuGan.Cli", "ilgpu-gan"));
            return ExitCodes.Error;
        }
        try
        {
            // Errors are ours to print (one line); signals are ours to handle (train checkpoints on SIGINT/SIGTERM).
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (Exception e)
        {
            return Fail(e, verbose);
        }
    }

    /// <summary>System.CommandLine's parse errors with .NET type names put in words.</summary>
    private static string Readable(string message) => System.Text.RegularExpressions.Regex.Replace(message,
        @"as expected type '(System\.Nullable`1\[)?System\.(\w+)\]?'", m => m.Groups[2].Value switch
        {
            "Int32" or "Int64" => "as a whole number",
            "Double" or "Single" => "as a number",
            var t => $"as {t}",
        });

    /// <summary>Prints "error: ..." on one line (the whole exception with --verbose); returns the exit code.</summary>
    public static int Fail(Exception e, bool verbose)
    {
        var error = Console.Error;
        error.WriteLine("error: " + Describe(e));
        if (verbose) error.WriteLine(e.ToString());
        return e is CliException c ? c.ExitCode : e is NonFiniteLossException ? ExitCodes.Diverged : ExitCodes.Error;
    }

    /// <summary>The message of an exception as one line, without .NET's "(Parameter 'x')" suffix.</summary>
    public static string Describe(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } p }) message = message.Replace($" (Parameter '{p}')", "");
        if (e is not (CliException or IOException or InvalidDataException or ArgumentException or InvalidOperationException
                      or NonFiniteLossException or UnauthorizedAccessException))
            message = $"{e.GetType().Name}: {message} (run with --verbose for details)";
        return string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
