using System.Runtime.InteropServices;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// Turns the first SIGINT (Ctrl-C) or SIGTERM into a request to stop after the current step (the
/// training loop then writes a checkpoint and exits); a second signal ends the process at once,
/// which is safe because every file is written atomically.
/// </summary>
public sealed class StopSignal : IDisposable
{
    private readonly List<PosixSignalRegistration> registrations = [];
    private volatile int signal;   // 0, or the PosixSignal that asked to stop

    public bool Requested => signal != 0;
    public PosixSignal? Signal => signal == 0 ? null : (PosixSignal)signal;

    /// <summary>Listens for SIGINT and SIGTERM.</summary>
    public static StopSignal Listen()
    {
        var s = new StopSignal();
        foreach (var sig in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            try { s.registrations.Add(PosixSignalRegistration.Create(sig, s.Handle)); }
            catch (PlatformNotSupportedException) { }
        }
        return s;
    }

    private void Handle(PosixSignalContext context)
    {
        if (signal != 0) return;              // the second signal: let it end the process
        context.Cancel = true;
        Request(context.Signal);
    }

    /// <summary>Asks the loop to stop as if <paramref name="s"/> had arrived (tests).</summary>
    public void Request(PosixSignal s) => signal = (int)s;

    public int ExitCode => Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Interrupted;

    public void Dispose()
    {
        foreach (var r in registrations) r.Dispose();
        registrations.Clear();
    }
}
