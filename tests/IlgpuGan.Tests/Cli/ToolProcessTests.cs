using System.Diagnostics;
using System.Text;
using IlgpuGan.Cli.Runs;

namespace IlgpuGan.Tests.Cli;

/// <summary>The built ilgpu-gan tool as a user runs it: exit codes, one-line errors, signals, SIGKILL at random moments.</summary>
public sealed class ToolProcessTests
{
    [Fact]
    public void HelpListsTheCommands()
    {
        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, "--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var c in new[] { "train", "sample", "devices", "bench" }) Assert.Contains(c, r.Out);
        foreach (var c in new[] { "train", "sample", "devices" })
            Assert.Equal(0, CliTestSupport.Run(tmp.Path, c, "--help").ExitCode);
    }

    [Fact]
    public void DevicesListsTheCpu()
    {
        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, "devices");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("cpu", r.Out);
        Assert.Contains("auto", r.Out);
    }

    public static TheoryData<string, string[], string> Errors => new()
    {
        { "missing data path", ["train", "--data", "no/such/folder", "--dry-run"], "Data not found" },
        { "corrupt IDX", ["train", "--data", "{tmp}/bad-idx", "--dry-run"], "not an IDX file" },
        { "batch larger than the data", ["train", "--batch", "100000", "--dry-run"], "larger than the data set" },
        { "unknown model", ["train", "--model", "resnet"], "Unknown model 'resnet'" },
        { "bad number", ["train", "--steps", "many"], "'many'" },
        { "unreadable image", ["train", "--model", "dcgan64", "--data", "{tmp}/images", "--batch", "2", "--dry-run"], "broken.png: cannot read the image" },
        { "empty image folder", ["train", "--model", "dcgan64", "--data", "{tmp}/empty", "--dry-run"], "No images found" },
        { "corrupt checkpoint", ["sample", "{tmp}/bad.safetensors"], "bad.safetensors" },
        { "batch-norm critic under wgan-gp", ["train", "--model", "dcgan64", "--loss", "wgan-gp", "--data", "fake", "--dry-run"], "dcgan64's layer D.3 is a BatchNorm2d" },
        { "unknown loss", ["train", "--loss", "wasserstein"], "Unknown loss 'wasserstein'" },
        { "gp lambda without wgan-gp", ["train", "--model", "toy", "--gp-lambda", "5", "--dry-run"], "--gp-lambda applies to --loss wgan-gp only" },
        { "unknown optimizer", ["train", "--model", "toy", "--optimizer", "lbfgs", "--dry-run"], "Unknown optimizer 'lbfgs'" },
        { "nothing to resume", ["train", "--resume", "--out", "{tmp}/empty"], "Nothing to resume from" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void ErrorsAreOneLineAndNonZeroWithoutAStackTrace(string what, string[] args, string expected)
    {
        using var tmp = new TempFolder();
        File.WriteAllBytes(tmp.File("bad-idx"), [0x47, 0x49, 0x46, 0x38, 1, 2, 3]);
        File.WriteAllBytes(tmp.File("bad.safetensors"), Encoding.ASCII.GetBytes("not a checkpoint at all"));
        Directory.CreateDirectory(tmp.File("empty"));
        Directory.CreateDirectory(tmp.File("images"));
        for (int i = 0; i < 3; i++)
            IlgpuGan.Imaging.ImageGrid.SavePng(tmp.File($"images/good{i}.png"), Enumerable.Repeat(i * 0.3f - 0.5f, 3 * 70 * 80).ToArray(), 1, 3, 70, 80, padding: 0);
        File.WriteAllBytes(tmp.File("images/broken.png"), File.ReadAllBytes(tmp.File("images/good0.png"))[..60]);
        args = args.Select(a => a.Replace("{tmp}", tmp.Path)).ToArray();

        var r = CliTestSupport.Run(tmp.Path, args);
        Assert.True(r.ExitCode != 0, what);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("(see:", StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count == 1, $"{what}: expected one error line, got:\n{r.Err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", r.Out + r.Err);

        if (what == "unknown model")
        {
            var verbose = CliTestSupport.Run(tmp.Path, [.. args, "--verbose"]);
            Assert.Contains(" at ", verbose.Err);
        }
    }

    /// <summary>Whether this process ignores SIGINT, as a command started with &amp; by a
    /// non-interactive shell does (nohup ... &amp;): a child inherits that, and .NET, like any program,
    /// keeps an inherited ignored SIGINT ignored (/proc/self/status, SigIgn bit 1).</summary>
    private static bool SigintIgnoredHere()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            return line != null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (CliTestSupport.SIGINT - 1))) != 0;
        }
        catch (IOException) { return false; }
    }

    [Theory]
    [InlineData(CliTestSupport.SIGINT, 130, "SIGINT")]
    [InlineData(CliTestSupport.SIGTERM, 143, "SIGTERM")]
    public void SignalWritesACheckpointAndExitsCleanly(int signal, int exitCode, string name)
    {
        using var tmp = new TempFolder();
        string outDir = tmp.File("run");
        var (p, output, progressed) = StartTraining(tmp.Path, "--out", outDir, "--checkpoint-every", "100000", "--sample-every", "100000", "--progress", "plain");
        using (p)
        {
            Assert.True(progressed.Wait(TimeSpan.FromSeconds(60)), "no progress line within 60 s:\n" + output);
            if (signal == CliTestSupport.SIGINT && SigintIgnoredHere())
            {
                // The tests run in the background with SIGINT ignored (the CI of a session that started
                // them with &): the tool inherited that and must go on; SIGTERM then stops it cleanly.
                CliTestSupport.Signal(p, signal);
                Assert.False(p.WaitForExit(TimeSpan.FromSeconds(5)), "the tool stopped on a SIGINT that its parent ignores");
                (signal, exitCode, name) = (CliTestSupport.SIGTERM, 143, "SIGTERM");
            }
            CliTestSupport.Signal(p, signal);
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(180)), "did not exit within 180 s of the signal");
            p.WaitForExit();
            Assert.Equal(exitCode, p.ExitCode);
        }
        Assert.Contains($"stopped by {name}: checkpoint", output.ToString());
        var ck = Checkpoint.Load(new CheckpointStore(Path.Combine(outDir, "checkpoints")).LatestFile()!);
        Assert.True(ck.Step >= 100, $"checkpoint at step {ck.Step}");
        Assert.Contains("stopped by", File.ReadAllText(Path.Combine(outDir, Report.FileName)));

        var resumed = CliTestSupport.Run(tmp.Path, "train", "--resume", "--out", outDir, "--steps", (ck.Step + 5).ToString());
        Assert.True(resumed.ExitCode == 0, resumed.Err);
        Assert.Contains($"at step {ck.Step} ", resumed.Out);
        Assert.Equal(ck.Step + 5, Checkpoint.Load(new CheckpointStore(Path.Combine(outDir, "checkpoints")).LatestFile()!).Step);
    }

    /// <summary>SIGKILL at random moments, ten times, while the toy GAN writes a checkpoint every few steps: the
    /// latest checkpoint always loads, never goes back, and <c>--resume</c> continues from exactly it.</summary>
    [Fact]
    public void SigkillAtRandomMomentsNeverLeavesABadCheckpoint()
    {
        using var tmp = new TempFolder();
        string outDir = tmp.File("run");
        var store = new CheckpointStore(Path.Combine(outDir, "checkpoints"));
        var random = new Random(12345);
        long previous = 0;
        var log = new StringBuilder();
        for (int kill = 0; kill < 10; kill++)
        {
            string[] args = ["--out", outDir, "--checkpoint-every", random.Next(1, 4).ToString(), "--sample-every", "40", "--keep", "2", "--progress", "plain"];
            if (kill > 0) args = [.. args, "--resume"];
            var sw = Stopwatch.StartNew();
            var (p, output, progressed) = StartTraining(tmp.Path, args);
            using (p)
            {
                if (kill == 0 || random.Next(3) > 0)
                {
                    // Mostly mid-training: after this process's first checkpoint, at a random moment.
                    Assert.True(progressed.Wait(TimeSpan.FromSeconds(60)), "no checkpoint within 60 s:\n" + output);
                    Thread.Sleep(random.Next(0, 500));
                }
                else Thread.Sleep(random.Next(100, 1500));     // sometimes while starting up or resuming
                p.Kill();                                        // SIGKILL
                p.WaitForExit();
            }
            string latest = store.LatestFile() ?? throw new Xunit.Sdk.XunitException($"kill {kill}: no checkpoint\n{output}");
            var ck = Checkpoint.Load(latest);                    // throws if torn
            Assert.True(ck.Step >= previous, $"kill {kill}: latest went back from step {previous} to {ck.Step}");
            log.AppendLine($"kill {kill}: latest step {ck.Step} ({sw.ElapsedMilliseconds} ms)");
            if (kill > 0 && output.ToString().Contains("resuming from"))
                Assert.True(output.ToString().Contains($"resuming from {Path.Combine(store.Folder, CheckpointStore.FileName(previous))} at step {previous} "),
                    $"kill {kill}: expected to resume from step {previous}:\n{output}\n{log}");
            previous = ck.Step;
        }

        var done = CliTestSupport.Run(tmp.Path, "train", "--resume", "--out", outDir, "--steps", (previous + 20).ToString(), "--progress", "plain");
        Assert.True(done.ExitCode == 0, done.Err + log);
        Assert.Contains($"at step {previous} ", done.Out);
        Assert.Equal(previous + 20, Checkpoint.Load(store.LatestFile()!).Step);
    }

    /// <summary>Starts `train` on the toy model for (practically) ever; the event is set at the first progress or checkpoint line.</summary>
    private static (Process, ProcessOutput, ManualResetEventSlim) StartTraining(string dir, params string[] args)
    {
        var p = CliTestSupport.Start(dir, ["train", "--model", "toy", "--steps", "100000000", "--log-every", "20", .. args]);
        var output = new ProcessOutput();
        var progressed = new ManualResetEventSlim();
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            output.AppendLine(e.Data);
            if (e.Data.StartsWith('[') || e.Data.Contains(": checkpoint")) progressed.Set();
        };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) output.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return (p, output, progressed);
    }

    /// <summary>A child's stdout and stderr, appended from the process's reader threads while the test reads it:
    /// both sides take the lock (a bare StringBuilder read mid-append throws, as CI once saw).</summary>
    private sealed class ProcessOutput
    {
        private readonly StringBuilder text = new();
        public void AppendLine(string line) { lock (text) text.AppendLine(line); }
        public override string ToString() { lock (text) return text.ToString(); }
    }
}

public sealed class SampleCommandTests
{
    [Fact]
    public void SampleWritesAGridOrSinglePngsTheSameForASeed()
    {
        using var tmp = new TempFolder();
        CliTestSupport.Train(CliTestSupport.Toy(2, "mnist") with { Model = "mlp", LrG = 2e-4, LrD = 2e-4 }, tmp.File("run"));

        var a = CliTestSupport.Run(tmp.Path, "sample", "run", "--count", "10", "--seed", "3", "--nrow", "5", "--out", "a.png");
        Assert.True(a.ExitCode == 0, a.Err);
        var b = CliTestSupport.Run(tmp.Path, "sample", tmp.File("run/checkpoints/latest.safetensors"), "--count", "10", "--seed", "3", "--nrow", "5", "--out", "b.png");
        Assert.True(b.ExitCode == 0, b.Err);
        Assert.Equal(File.ReadAllBytes(tmp.File("a.png")), File.ReadAllBytes(tmp.File("b.png")));
        var image = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(tmp.File("a.png")));
        Assert.Equal((5 * 30 + 2, 2 * 30 + 2), (image.Width, image.Height));       // 5 x 2 digits of 28 px, 2 px apart

        var single = CliTestSupport.Run(tmp.Path, "sample", "run", "--count", "3", "--seed", "4", "--single", "--out", "one-by-one");
        Assert.True(single.ExitCode == 0, single.Err);
        Assert.Equal(["sample-0000.png", "sample-0001.png", "sample-0002.png"],
            Directory.GetFiles(tmp.File("one-by-one")).Select(Path.GetFileName).Order());
        Assert.NotEqual(File.ReadAllBytes(tmp.File("one-by-one/sample-0000.png")), File.ReadAllBytes(tmp.File("one-by-one/sample-0001.png")));
    }
}

/// <summary><c>bench</c>: WORKLOADS.md's lines, and at another <c>--batch</c> the peer's extra fields.</summary>
public sealed class BenchCommandTests
{
    [Fact]
    public void BatchGivesImagesPerSecondAndBadValuesAreOneLine()
    {
        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, "bench", "W-MLP", "--steps", "2", "--batch", "16", "-a", "cpu");
        Assert.True(r.ExitCode == 0, r.Err);
        var line = r.Out.Split('\n').Single(l => l.StartsWith("W-MLP ", StringComparison.Ordinal));
        Assert.Contains(" steps=2 batch=16 images_per_s=", line);
        double stepsPerS = double.Parse(line.Split(' ').Single(f => f.StartsWith("steps_per_s=", StringComparison.Ordinal))["steps_per_s=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        double images = double.Parse(line.Split(' ').Single(f => f.StartsWith("images_per_s=", StringComparison.Ordinal))["images_per_s=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(images / stepsPerS, 15.5, 16.5);

        var bad = CliTestSupport.Run(tmp.Path, "bench", "W-MLP", "--batch", "0");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("--batch must be at least 1; got 0", bad.Err);
    }

    /// <summary>K-PEAK measures the host's FMA ceiling on 1 thread and on all; the host kernels' figures carry
    /// their share of it.</summary>
    [Fact]
    public void PeakIsMeasuredAndKernelFiguresCarryTheirShare()
    {
        if (IlgpuGan.Bench.FmaPeak.Bits == 0) return; // not x86: nothing to measure (the bench line says so)
        double one = IlgpuGan.Bench.FmaPeak.Measure(1, iterations: 2_000_000);
        Assert.True(one > 1 && double.IsFinite(one), $"1-thread FMA peak {one} GFLOP/s");

        using var tmp = new TempFolder();
        var r = CliTestSupport.Run(tmp.Path, "bench", "K-PEAK", "K-GEMM", "-a", "cpu");
        Assert.True(r.ExitCode == 0, r.Err);
        var lines = r.Out.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("K-PEAK device=host threads=1 fma", StringComparison.Ordinal));
        var gemm = lines.Where(l => l.StartsWith("K-GEMM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, gemm.Count);
        foreach (var l in gemm)
        {
            double share = double.Parse(l.Split(' ').Single(f => f.StartsWith("peak_share=", StringComparison.Ordinal))["peak_share=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(share > 0, l);
        }
    }
}
