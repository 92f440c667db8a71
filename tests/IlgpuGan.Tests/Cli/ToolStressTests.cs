using System.Diagnostics;
using IlgpuGan.Cli;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Recipes;

namespace IlgpuGan.Tests.Cli;

/// <summary>Issue 16's findings, each as the tool reports it: exit code and one line (run as a child process).</summary>
public sealed class ToolStressTests
{
    /// <summary>The error lines of a run (System.CommandLine's "(see: ...)" hint left out): exactly one, "error: ..." containing
    /// <paramref name="expected"/>, and no stack trace.</summary>
    internal static string AssertOneLineError(CliTestSupport.Result r, int exitCode, string expected)
    {
        Assert.True(r.ExitCode == exitCode, $"exit code {r.ExitCode}, expected {exitCode}:\n{r.Out}\n{r.Err}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("(see:", StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count == 1, $"expected one error line, got:\n{r.Err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", r.Out + r.Err);
        return lines[0];
    }

    public static TheoryData<string, string[], string> Errors => new()
    {
        { "--lr nan is --lr's fault", ["train", "--model", "toy", "--lr", "nan", "--dry-run"], "--lr must be a positive number; got NaN" },
        { "--lr-d negative", ["train", "--model", "toy", "--lr-d", "-1", "--dry-run"], "--lr-d must be a positive number; got -1" },
        { "--lr-decay-from a word", ["train", "--model", "toy", "--lr-decay-from", "soon", "--dry-run"], "--lr-decay-from must be a step, 'half' or 0; got 'soon'" },
        { "--lr-decay-from past the end", ["train", "--model", "toy", "--steps", "100", "--lr-decay-from", "100", "--dry-run"], "--lr-decay-from 100 must be below the run's last step (100)" },
        { "sample on a missing file", ["sample", "{tmp}/no-such.safetensors"], "No checkpoint at" },
        { "sample on a missing folder", ["sample", "{tmp}/no-such-run"], "No checkpoint at" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void ErrorsNameWhatTheUserGave(string what, string[] args, string expected)
    {
        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, args.Select(a => a.Replace("{tmp}", tmp.Path)).ToArray());
        string line = AssertOneLineError(r, ExitCodes.Error, expected);
        Assert.DoesNotContain("resume", line);
        Assert.True(what.Length > 0);
    }

    [Theory]
    [InlineData("100000", "larger than the data set")]
    [InlineData("1", "at least 2")]
    public void BatchErrorsLeaveNoOutputFolderBehind(string batch, string expected)
    {
        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, "train", "--model", "toy", "--batch", batch, "--out", "run");
        AssertOneLineError(r, ExitCodes.Error, expected);
        Assert.False(Directory.Exists(tmp.File("run")), "an empty output folder was left behind");
    }

    [Fact]
    public void ASetupErrorLeavesAnExistingFolderAlone()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp.File("run"));
        File.WriteAllText(tmp.File("run/notes.txt"), "mine");
        var r = CliTestSupport.Run(tmp.Path, "train", "--model", "toy", "--batch", "100000", "--out", "run");
        AssertOneLineError(r, ExitCodes.Error, "larger than the data set");
        Assert.Equal("mine", File.ReadAllText(tmp.File("run/notes.txt")));
    }

    [Fact]
    public void ResumingPastItsStepsIsAnErrorAndAFinishedRunIsNothingToDo()
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.Toy(30) with { CheckpointEvery = 10 }, tmp.File("run"));

        var smaller = CliTestSupport.Run(tmp.Path, "train", "--resume", "--out", "run", "--steps", "10");
        AssertOneLineError(smaller, ExitCodes.Error, "is at step 30, past --steps 10: give a --steps above 30 to train further");

        var same = CliTestSupport.Run(tmp.Path, "train", "--resume", "--out", "run");
        Assert.True(same.ExitCode == 0, same.Err);
        Assert.Contains("Nothing to do: the run is finished (step 30 of 30); give a --steps above 30 to train further.", same.Out);
        Assert.DoesNotContain("done: report", same.Out);
    }

    [Fact]
    public void OnlyAHeldLockIsReportedAsAnotherProcess()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp.File("run"));
        using (new FileStream(tmp.File("run/.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var r = CliTestSupport.Run(tmp.Path, "train", "--model", "toy", "--steps", "5", "--out", "run");
            AssertOneLineError(r, ExitCodes.Error, "Another ilgpu-gan process is training into");
        }
        var free = CliTestSupport.Run(tmp.Path, "train", "--model", "toy", "--steps", "5", "--out", "run", "--progress", "plain");
        Assert.True(free.ExitCode == 0, free.Err);
    }

    /// <summary>A read-only output folder: a real read-only bind mount in a user namespace (unshare), or where that is
    /// not allowed and the tests do not run as root, a folder without write permission.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AReadOnlyOutputFolderIsNotReportedAsALockConflict(bool folderExists)
    {
        using var tmp = new TempFolder();
        string ro = tmp.File("ro");
        Directory.CreateDirectory(ro);
        if (folderExists) Directory.CreateDirectory(Path.Combine(ro, "run"));
        string[] train = ["train", "--model", "toy", "--steps", "5", "--out", Path.Combine(ro, "run")];
        CliTestSupport.Result r;
        string expected;
        if (CanUnshare())
        {
            r = RunReadOnly(ro, train);
            expected = "read-only file system";
        }
        else if (!OperatingSystem.IsWindows() && Environment.UserName != "root")
        {
            File.SetUnixFileMode(ro, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            if (folderExists) File.SetUnixFileMode(Path.Combine(ro, "run"), UnixFileMode.UserRead | UnixFileMode.UserExecute);
            r = CliTestSupport.Run(tmp.Path, train);
            File.SetUnixFileMode(ro, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            if (folderExists) File.SetUnixFileMode(Path.Combine(ro, "run"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            expected = "permission denied";
        }
        else return;   // root without user namespaces: no way to make a folder read-only here
        string line = AssertOneLineError(r, ExitCodes.Error, expected);
        Assert.DoesNotContain("Another ilgpu-gan process", line);
        Assert.Contains(folderExists ? "Cannot write into the output folder" : "Cannot create the output folder", line);
    }

    private static bool CanUnshare()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/unshare")) return false;
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/unshare", ["-rm", "true"]) { RedirectStandardError = true, UseShellExecute = false })!;
            p.WaitForExit();
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception) { return false; }
    }

    /// <summary>Runs the tool with <paramref name="folder"/> bind-mounted read-only over itself (in a private mount namespace).</summary>
    private static CliTestSupport.Result RunReadOnly(string folder, string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-rm", "sh", "-c", "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && exec dotnet \"$@\"", "sh", folder, CliTestSupport.ToolDll })
            psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["ILGPUGAN_ACCELERATOR"] = "cpu";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "did not finish");
        return new CliTestSupport.Result(p.ExitCode, output, err.Result);
    }
}

/// <summary>Format 2's header checksum: a changed digit anywhere in the metadata or the tensor table is found.</summary>
public sealed class CheckpointHeaderTests
{
    [Theory]
    [InlineData("\"rng.offset\":\"")]
    [InlineData("\"loader.batch\":\"")]
    [InlineData("\"optimizer.G.step\":\"")]
    public void AChangedDigitInTheHeaderIsCorruption(string field)
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.Toy(10) with { CheckpointEvery = 5 }, tmp.Path);
        string file = Path.Combine(tmp.Path, "checkpoints", CheckpointStore.FileName(10));
        byte[] bytes = File.ReadAllBytes(file);
        int at = IndexOf(bytes, field) + field.Length;
        while (!char.IsAsciiDigit((char)bytes[at])) at++;
        bytes[at] = (byte)(bytes[at] == '9' ? '8' : bytes[at] + 1);        // one digit changed; still valid JSON
        File.WriteAllBytes(file, bytes);

        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(file));
        Assert.Contains(file, e.Message);
        Assert.Contains("corrupt", e.Message);
        Assert.Contains("header (metadata and tensor table) does not match the SHA-256", e.Message);

        var r = CliTestSupport.Run(tmp.Path, "sample", file);
        ToolStressTests.AssertOneLineError(r, ExitCodes.Error, "is corrupt");
    }

    [Fact]
    public void AFormat2CheckpointWithoutItsHeaderChecksumIsRefused()
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.Toy(5) with { CheckpointEvery = 5 }, tmp.Path);
        string file = Path.Combine(tmp.Path, "checkpoints", CheckpointStore.FileName(5));
        var c = IlgpuGan.IO.SafeTensors.Read(file);
        var meta = new Dictionary<string, string>(c.Metadata);
        meta.Remove(IlgpuGan.Recipes.CheckpointFile.HeaderHashKey);
        IlgpuGan.IO.SafeTensors.Write(file, c.Tensors.Select(kv => (kv.Key, kv.Value)), meta);
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(file));
        Assert.Contains("no 'header_sha256'", e.Message);
    }

    [Fact]
    public void TheHeaderChecksumCoversTheWholeHeader()
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.Toy(5) with { CheckpointEvery = 5 }, tmp.Path);
        byte[] bytes = File.ReadAllBytes(Path.Combine(tmp.Path, "checkpoints", CheckpointStore.FileName(5)));
        string recorded = Checkpoint.Load(Path.Combine(tmp.Path, "checkpoints", CheckpointStore.FileName(5))).Contents.Metadata["header_sha256"];
        Assert.Equal(recorded, IlgpuGan.IO.SafeTensors.HeaderHash(bytes, "header_sha256"));
        ulong n = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var rng = new Random(3);
        for (int k = 0; k < 200; k++)
        {
            int at = rng.Next(0, 8 + (int)n);
            var copy = (byte[])bytes.Clone();
            copy[at] ^= (byte)(1 << rng.Next(8));
            string? h = IlgpuGan.IO.SafeTensors.HeaderHash(copy, "header_sha256");
            string text = System.Text.Encoding.UTF8.GetString(copy, 8, Math.Max(0, Math.Min((int)n, copy.Length - 8)));
            Assert.True(h != recorded || !text.Contains(recorded), $"a flipped bit at byte {at} went unnoticed");
        }
    }

    private static int IndexOf(byte[] bytes, string text, int from = 0) =>
        from + bytes.AsSpan(from).IndexOf(System.Text.Encoding.ASCII.GetBytes(text));
}

/// <summary>Progress under stress (issue 16, finding 5): plain lines by time, the live bar into a pipe and at 80 columns.</summary>
public sealed class ProgressStressTests
{
    private static StepStats Stats(long step) => new(step, ["Loss_D"], [1.25f]);

    [Fact]
    public void PlainProgressReportsByTimeAsWellAsBySteps()
    {
        var output = new StringWriter();
        var now = TimeSpan.Zero;
        new PlainProgress(output, 100, TimeSpan.FromSeconds(10), () => now).Run(0, 1000, u =>
        {
            for (long step = 1; step <= 40; step++)
            {
                now += TimeSpan.FromSeconds(1.5);                     // a slow model: 1.5 s a step
                u.Step(step, step % 10 == 0 ? Stats(step) : null);
            }
            return 0;
        });
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Every read (10 steps = 15 s) is more than 10 s after the last line: a line each, long before step 100.
        Assert.Equal(["[10/1000]", "[20/1000]", "[30/1000]", "[40/1000]"], lines.Select(l => l.Split(' ')[0]));
        Assert.All(lines, l => Assert.Contains("Loss_D 1.2500", l));
    }

    [Fact]
    public void PlainProgressSaysSomethingWhenNoStatisticsAreReadForLong()
    {
        var output = new StringWriter();
        var now = TimeSpan.Zero;
        new PlainProgress(output, 100, TimeSpan.FromSeconds(10), () => now).Run(0, 1000, u =>
        {
            for (long step = 1; step <= 30; step++) { now += TimeSpan.FromSeconds(1); u.Step(step, null); }
            return 0;
        });
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["[20/1000]"], lines.Select(l => l.Split(' ')[0]));        // 2 x 10 s without statistics: the step and rate alone
        Assert.Contains("steps/s", lines[0]);
        Assert.DoesNotContain("Loss", lines[0]);
    }

    [Fact]
    public void MessagesAreCutToTheWidthOfTheLiveBar()
    {
        string stop = "stopped by SIGINT: checkpoint checkpoints/step-00000156.safetensors at step 156; continue with --resume";
        var lines = LiveProgress.Fit(stop, 79).ToList();
        Assert.Equal(["stopped by SIGINT: checkpoint checkpoints/step-00000156.safetensors at step", "156; continue with --resume"], lines);
        Assert.All(LiveProgress.Fit(new string('x', 200), 79), l => Assert.True(l.Length <= 79));
    }

    [Fact]
    public void LiveProgressIntoAPipeDrawsTheBar()
    {
        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, "train", "--model", "toy", "--steps", "200", "--out", "run", "--progress", "live");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Matches(@"step \d+/200", r.Out);
        Assert.Contains("100%", r.Out);
        Assert.Contains("Loss_D", r.Out);
    }
}
