namespace IlgpuGan.Cli;

/// <summary>A problem the user can fix (a bad option, a missing file, a corrupt checkpoint): the tool
/// prints its message as one line and exits with <see cref="ExitCode"/>, with no stack trace.</summary>
public sealed class CliException(string message, int exitCode = ExitCodes.Error, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The tool's exit codes.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A usage or data error, or any other failure.</summary>
    public const int Error = 1;
    /// <summary>Training stopped because a loss, D output or parameter became NaN or infinite.</summary>
    public const int Diverged = 3;
    /// <summary>Stopped by SIGINT (Ctrl-C) after writing a checkpoint (128 + 2, as shells report it).</summary>
    public const int Interrupted = 130;
    /// <summary>Stopped by SIGTERM after writing a checkpoint (128 + 15).</summary>
    public const int Terminated = 143;
}
