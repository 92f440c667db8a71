using IlgpuGan.IO;
using System.Globalization;
using IlgpuGan.Recipes;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// The training loop of <c>ilgpu-gan train</c>, apart from the command line so that tests drive it:
/// data and model set-up, resume, the steps, statistics, sample grids, checkpoints, the report, the
/// NaN guard and a clean stop on a signal.
/// <para>Output folder: <c>config.json</c>, <c>real.png</c>, <c>samples/step-NNNNNNNN.png</c> (the
/// fixed-noise grids), <c>checkpoints/</c> (see <see cref="CheckpointStore"/>), <c>report.html</c>.</para>
/// </summary>
public sealed class TrainRun
{
    public const string SamplesFolder = "samples", CheckpointsFolder = "checkpoints", ConfigFile = "config.json", RealFile = "real.png";

    public required RunConfig Config { get; init; }
    public required string OutFolder { get; init; }
    /// <summary>The checkpoint to continue from (its configuration already merged into <see cref="Config"/>).</summary>
    public LoadedCheckpoint? ResumeFrom { get; init; }
    /// <summary>One step, then exit, writing nothing.</summary>
    public bool DryRun { get; init; }
    public IRunProgress Progress { get; init; } = new PlainProgress(TextWriter.Null, long.MaxValue);
    public TextWriter Log { get; init; } = TextWriter.Null;
    public StopSignal Stop { get; init; } = new();
    /// <summary>At every checkpoint, a line with the process's memory and the device pool (<c>--log-memory</c>; scripts/soak.sh).</summary>
    public bool LogMemory { get; init; }

    /// <summary>Whether this run trained (false for a dry run, and for a resumed run that was already finished).</summary>
    public bool Trained { get; private set; }

    /// <summary>The statistics read during this run, in order (for tests and the report).</summary>
    public RunHistory History { get; private set; } = new();

    /// <summary>Runs; returns the exit code (0 done, 130/143 stopped by a signal). Errors are exceptions:
    /// <see cref="CliException"/> for what the user can fix (divergence included, with exit code 3).</summary>
    public int Execute()
    {
        var c = Config;
        Validate(c);
        var model = ModelRegistry.Get(c.Model);
        var data = Datasets.Load(c.Data, model, c.Seed, c.Batch, c.BadImages, Log);
        if (c.Epochs > 0)
        {
            if (c.Batch > data.Count)
                throw new CliException($"The batch size {c.Batch} is larger than the data set ({data.Count} samples in {data.Description}).");
            long batches = (long)Math.Ceiling(c.Epochs * (data.Count / c.Batch));
            c = c with { Steps = Math.Max(1, (batches + c.DSteps - 1) / c.DSteps) };
        }

        // What can be refused before the output folder is touched is refused here, so a mistake leaves no empty folder behind.
        Session.CheckBatch(c.Batch, data);
        if (c.EvalEvery > 0 && TrainingEval.Unsupported(model) is { } cannot) throw new CliException(cannot);
        if (ResumeFrom is { } from && from.Step > c.Steps)
            throw new CliException($"The checkpoint {from.Path} is at step {from.Step:N0}, past --steps {c.Steps:N0}: give a --steps above {from.Step:N0} " +
                                   "to train further (nothing was changed).");

        string outFolder = Path.GetFullPath(OutFolder);
        var store = new CheckpointStore(Path.Combine(outFolder, CheckpointsFolder));
        bool createdFolder = !DryRun && !Directory.Exists(outFolder);
        using var runLock = DryRun ? null : Lock(outFolder);
        Session session;
        try
        {
            if (!DryRun && ResumeFrom is null && !store.IsEmpty)
                throw new CliException($"{outFolder} already holds checkpoints of a run (latest: {store.LatestFile()}): " +
                                       "continue it with --resume, or give another --out.");
            session = new Session(c, model, data);
        }
        catch
        {
            if (createdFolder) RemoveEmptyFolder(outFolder, runLock);
            throw;
        }
        using var s = session;
        if (ResumeFrom is { } ck)
        {
            ck.Restore(s);
            History = ck.History;
            History.TruncateAfter(ck.Step);
        }
        string device = s.Device.ToString();
        var o = s.Recipe.Options;
        string optimizer = o.Optimizer == "adam"
            ? string.Create(CultureInfo.InvariantCulture, $"Adam lr {o.LrG:G3}/{o.LrD:G3} betas ({o.Beta1:G3}, {o.Beta2:G3})")
            : string.Create(CultureInfo.InvariantCulture, $"RMSProp lr {o.LrG:G3}/{o.LrD:G3}");
        string extras = (o.Clip > 0 ? string.Create(CultureInfo.InvariantCulture, $", clip {o.Clip:G3}") : "") +
                        (o.GpLambda > 0 ? string.Create(CultureInfo.InvariantCulture, $", gp lambda {o.GpLambda:G3}") : "") +
                        (o.Schedule == CriticSchedule.Original ? ", original critic schedule" : "") +
                        (o.LrDecayFrom > 0 ? string.Create(CultureInfo.InvariantCulture, $", learning rates falling linearly to 0 from step {o.LrDecayFrom:N0}") : "");
        Log.WriteLine($"ilgpu-gan train: {model.Name} ({string.Join(", ", s.Recipe.Parts.Select(p => $"{p.Name} {p.Module.ParameterCount():N0}"))} parameters), " +
                      $"loss {o.Loss.Name()}, {optimizer}, {o.NCritic} D update(s) per G update{extras}; on {data.Description}; " +
                      $"{c.Steps:N0} steps of batch {c.Batch}, seed {c.Seed}; device {device}; output {outFolder}");

        if (DryRun)
        {
            s.Step();
            var st = s.Recipe.ReadStats();
            s.SampleFixed();
            Log.WriteLine($"dry run: 1 step of batch {c.Batch} done: {st.Text()}. Nothing was written.");
            return ExitCodes.Ok;
        }
        if (ResumeFrom is not null)
            Log.WriteLine($"resuming from {ResumeFrom.Path} at step {ResumeFrom.Step} (epoch {ResumeFrom.LoaderEpoch}, batch {ResumeFrom.LoaderBatch})");
        if (s.Recipe.Step >= c.Steps)
        {
            Log.WriteLine($"Nothing to do: the run is finished (step {s.Recipe.Step:N0} of {c.Steps:N0}); give a --steps above {s.Recipe.Step:N0} to train further.");
            return ExitCodes.Ok;
        }

        Trained = true;
        Directory.CreateDirectory(Path.Combine(outFolder, SamplesFolder));
        foreach (var f in new[] { outFolder, Path.Combine(outFolder, SamplesFolder), store.Folder }) AtomicFile.CleanStaleTemporaries(f);
        AtomicFile.WriteAllText(Path.Combine(outFolder, ConfigFile), c.ToJson(indented: true));
        if (model.IsConditional)      // a row per class, as the training grids
            model.SaveGrid(Path.Combine(outFolder, RealFile), data.ByClass(Session.ByClassColumns), data.Classes!.Count * Session.ByClassColumns, Session.ByClassColumns);
        else
        {
            int realCount = Math.Min(c.SampleCount, data.Count);
            model.SaveGrid(Path.Combine(outFolder, RealFile), data.First(realCount), realCount);
        }

        long lastCheckpoint = s.Recipe.Step;
        var guard = new DivergenceGuard(o.Loss);
        using var probe = new NormProbe(s.Recipe);
        var warnings = new List<string>();
        string? lastGood = store.LastGoodFile() ?? store.LatestFile();     // a run from before the link: its latest passed the NaN check
        using var eval = c.EvalEvery > 0 ? new TrainingEval(s, c.EvalSamples) : null;
        var statistics = eval is null ? s.Recipe.Statistics : [.. s.Recipe.Statistics, .. TrainingEval.Statistics];
        double bestFid = TrainingEval.BestFid(History);
        void WriteReport(ReportStatus status) => Report.Write(outFolder, c, device, data.Description, History, statistics, s.Recipe.Step, status,
            History.SampleSteps.Select(SampleName), RealFile, warnings);
        WriteReport(new ReportStatus("training", true));

        // Reads the statistics (waits for the device; a NaN or infinity throws) and lets the guard look at them and the weights.
        StepStats Read(IProgressUpdate u)
        {
            var stats = s.Recipe.ReadStats();
            foreach (var f in guard.Observe(stats, probe.Measure()))
            {
                string line = $"warning: {f.Message}" + (c.StopOnDivergence ? "" : " (--stop-on-divergence stops a run here)");
                warnings.Add(line);
                if (warnings.Count > 20) warnings.RemoveAt(0);
                u.Message(line);
            }
            if (c.StopOnDivergence && guard.Current.Count > 0)
                throw new DivergenceStop($"Training stopped at step {stats.Step:N0} (--stop-on-divergence): {guard.Current[0].Message}.");
            return stats;
        }
        string Save()
        {
            string path = store.Save(s, History, c.Keep, guard.ValuesSane);
            if (guard.ValuesSane) lastGood = path;
            return path;
        }
        string Kept()
        {
            string? latest = store.LatestFile();
            if (lastGood is null)
                return latest is null ? " No checkpoint had been written." : $" No checkpoint with sane values was written (the latest, {latest}, holds exploded values).";
            if (latest is not null && Path.GetFullPath(latest) != Path.GetFullPath(lastGood))
                return $" The last good checkpoint (sane values) is {lastGood}: resume from it with --resume {lastGood} (the latest, {latest}, holds exploded values).";
            return $" The last good checkpoint is {lastGood}.";
        }

        // When the report is due to be rewritten next, at this run's pace (the page warns when it is overdue).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long firstStep = s.Recipe.Step;
        TimeSpan? NextWrite(long step)
        {
            if (step <= firstStep) return null;
            long next = Math.Min(c.Steps, Math.Min((step / c.SampleEvery + 1) * c.SampleEvery, (step / c.CheckpointEvery + 1) * c.CheckpointEvery));
            return clock.Elapsed / (step - firstStep) * (next - step);
        }

        try
        {
            return Progress.Run(s.Recipe.Step, c.Steps, u =>
            {
                while (s.Recipe.Step < c.Steps && !Stop.Requested)
                {
                    s.Step();
                    long step = s.Recipe.Step;
                    bool last = step == c.Steps, checkpoint = step % c.CheckpointEvery == 0 || last, sample = step % c.SampleEvery == 0 || last;
                    StepStats? stats = null;
                    if (step % c.LogEvery == 0 || checkpoint || sample)
                    {
                        stats = Read(u);
                        History.Points.Add(new HistoryPoint(stats.Value));
                    }
                    u.Step(step, stats);
                    if (sample)
                    {
                        var fixedSamples = s.SampleFixed();
                        model.SaveGrid(Path.Combine(outFolder, SampleName(step)), fixedSamples, s.FixedCount, s.FixedPerRow);
                        if (model.Figures is not null && model.FiguresEachPicture) u.Message($"step {step:N0}: {model.Figures(s.Device, fixedSamples, s.FixedCount)} ({s.FixedCount:N0} fixed-noise samples)");
                        if (!History.SampleSteps.Contains(step)) History.SampleSteps.Add(step);
                    }
                    // The evaluation comes before the checkpoint of its step, so the history that checkpoint keeps holds its figures.
                    bool best = false;
                    if (eval is not null && (step % c.EvalEvery == 0 || last))
                    {
                        var evalClock = System.Diagnostics.Stopwatch.StartNew();
                        var f = eval.Run();
                        var values = TrainingEval.Values(f).ToDictionary(x => x.Name, x => x.Value);
                        if (History.Points.Count > 0 && History.Points[^1].Step == step)
                        {
                            foreach (var (k, v) in History.Points[^1].Values) values.TryAdd(k, v);
                            History.Points[^1] = new HistoryPoint(step, values);
                        }
                        else History.Points.Add(new HistoryPoint(step, values));
                        best = f.Fid < bestFid && guard.ValuesSane;
                        if (best) bestFid = f.Fid;
                        u.Message(string.Create(CultureInfo.InvariantCulture, $"step {step:N0}: FID {f.Fid:F2}, KID {f.Kid.Mean:F4}, {f.Classes.Covered} classes covered ({eval.Samples:N0} samples, {evalClock.Elapsed.TotalSeconds:F1} s)") +
                                  (best ? $": the best so far, checkpoints/{CheckpointStore.BestName}" : ""));
                    }
                    if (checkpoint || best)
                    {
                        string path = Save();
                        lastCheckpoint = step;
                        if (best) AtomicFile.PointLink(store.BestPath, path);
                        u.Message($"step {step:N0}: checkpoint {Path.GetRelativePath(outFolder, path)}" + (guard.ValuesSane ? "" : " (exploded values: not the last good one)"));
                        if (LogMemory) u.Message(MemoryLine(step, s.Device));
                    }
                    if (sample || checkpoint) WriteReport(new ReportStatus(last ? "finished" : "training", !last, NextWrite(step)));
                }
                if (s.Recipe.Step >= c.Steps)
                {
                    if (guard.ValuesSane) return ExitCodes.Ok;
                    string exploded = $"Training ran to step {s.Recipe.Step:N0}, but its values exploded (first at step {guard.FirstInsaneStep:N0}; now {guard.Current.First(f => f.Insane).Message}).";
                    WriteReport(new ReportStatus("diverged: " + exploded, false));
                    throw new CliException(exploded + Kept() + " Try a lower learning rate.", ExitCodes.Diverged);
                }

                // Stopped by a signal: keep the work.
                if (s.Recipe.Step > lastCheckpoint)
                {
                    Read(u);
                    string path = Save();
                    u.Message($"stopped by {Stop.Signal}: checkpoint {Path.GetRelativePath(outFolder, path)} at step {s.Recipe.Step:N0}; continue with --resume");
                }
                else if (store.LatestFile() is null) u.Message($"stopped by {Stop.Signal} before the first step: nothing to keep");
                else u.Message($"stopped by {Stop.Signal} at step {s.Recipe.Step:N0}, which the latest checkpoint holds; continue with --resume");
                WriteReport(new ReportStatus($"stopped by {Stop.Signal} (resume with --resume)", false));
                return Stop.ExitCode;
            });
        }
        catch (Exception e) when (e is NonFiniteLossException or DivergenceStop)
        {
            WriteReport(new ReportStatus($"diverged: {e.Message}", false));
            throw new CliException(e.Message + Kept(), ExitCodes.Diverged, e);
        }
    }

    /// <summary><c>memory: step 100 rss_mb 312.4 gc_heap_mb 40.1 pool_reserved_mb 53.0 pool_in_use_mb 20.1 pool_allocations 61</c>.</summary>
    public static string MemoryLine(long step, Device device)
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        double mb(long bytes) => bytes / 1048576.0;
        var pool = device.Pool;
        return string.Create(CultureInfo.InvariantCulture,
            $"memory: step {step} rss_mb {mb(self.WorkingSet64):F1} gc_heap_mb {mb(GC.GetTotalMemory(false)):F1} " +
            $"pool_reserved_mb {mb(pool.ReservedBytes):F1} pool_in_use_mb {mb(pool.InUseBytes):F1} pool_allocations {pool.Allocations}");
    }

    /// <summary>The guard found trouble and the run was asked to stop on it.</summary>
    private sealed class DivergenceStop(string message) : Exception(message);

    public static string SampleName(long step) => Path.Combine(SamplesFolder, $"step-{step.ToString("D8", CultureInfo.InvariantCulture)}.png");

    private static void Validate(RunConfig c)
    {
        void Positive(long v, string option) { if (v < 1) throw new CliException($"{option} must be at least 1; got {v}."); }
        void PositiveD(double v, string option) { if (!(v > 0) || !double.IsFinite(v)) throw new CliException($"{option} must be a positive number; got {v.ToString(CultureInfo.InvariantCulture)}."); }
        void Beta(double v, string option) { if (!(v >= 0 && v < 1)) throw new CliException($"{option} must be in [0, 1); got {v.ToString(CultureInfo.InvariantCulture)}."); }
        if (c.Epochs <= 0) Positive(c.Steps, "--steps");
        else if (!double.IsFinite(c.Epochs)) throw new CliException($"--epochs must be a positive number.");
        Positive(c.Batch, "--batch");
        Positive(c.DSteps, "--n-critic");
        Positive(c.SampleEvery, "--sample-every");
        Positive(c.CheckpointEvery, "--checkpoint-every");
        Positive(c.Keep, "--keep");
        Positive(c.LogEvery, "--log-every");
        Positive(c.SampleCount, "--sample-count");
        if (c.EvalEvery < 0) throw new CliException($"--eval-every must be at least 1 (or absent); got {c.EvalEvery}.");
        int needed = Evaluation.Metrics.SamplesNeeded(Evaluation.Classifier.FeatureSize);
        if (c.EvalEvery > 0 && c.EvalSamples < needed)
            throw new CliException($"--eval-samples must be at least {needed} (FID needs a covariance of full rank over {Evaluation.Classifier.FeatureSize} features); got {c.EvalSamples}.");
        PositiveD(c.LrG, "--lr-g");
        PositiveD(c.LrD, "--lr-d");
        if (c.Optimizer == "adam")
        {
            Beta(c.Beta1, "--beta1");
            Beta(c.Beta2, "--beta2");
        }
        TrainingOptions options;
        try { options = c.ToOptions(); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
        if (GanRecipe.Validate(options) is { } problem) throw new CliException(problem);
    }

    /// <summary>One training process per output folder: an exclusive lock on <c>.lock</c>, released when the
    /// process ends however it ends. Only a lock held by another process is reported as one; any other
    /// failure (a read-only file system, no permission, a file where the folder should be) says what it is.</summary>
    internal static FileStream Lock(string outFolder)
    {
        try { Directory.CreateDirectory(outFolder); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"Cannot create the output folder {outFolder}: {IoProblem(e)}.", ExitCodes.Error, e);
        }
        string path = Path.Combine(outFolder, LockFile);
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException e) when (IsLockConflict(e))
        {
            throw new CliException($"Another ilgpu-gan process is training into {outFolder} (it holds {path}); give another --out.", ExitCodes.Error, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"Cannot write into the output folder {outFolder} (creating {path}): {IoProblem(e)}.", ExitCodes.Error, e);
        }
    }

    public const string LockFile = ".lock";

    /// <summary>Undoes <see cref="Lock"/> in a folder this run created, when it failed before writing anything.</summary>
    private static void RemoveEmptyFolder(string outFolder, FileStream? runLock)
    {
        runLock?.Dispose();
        try
        {
            File.Delete(Path.Combine(outFolder, LockFile));
            if (!Directory.EnumerateFileSystemEntries(outFolder).Any()) Directory.Delete(outFolder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Whether opening a file failed because another process holds its lock: .NET reports a held
    /// flock (EWOULDBLOCK, errno 11 on Linux, 35 on macOS) or Windows' sharing violation as an IOException with
    /// that code; every other error (EROFS, EACCES, ENOSPC, ...) is something else.</summary>
    internal static bool IsLockConflict(IOException e) => OperatingSystem.IsWindows()
        ? (e.HResult & 0xFFFF) is 32 or 33                                   // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
        : e.HResult == (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 35 : 11);

    /// <summary>An I/O error in words: "permission denied", "read-only file system", or .NET's message.</summary>
    internal static string IoProblem(Exception e) => e switch
    {
        UnauthorizedAccessException => $"permission denied ({e.Message.TrimEnd('.')})",
        IOException { HResult: 30 } when !OperatingSystem.IsWindows() => $"read-only file system ({e.Message.TrimEnd('.')})",
        IOException { HResult: 28 } when !OperatingSystem.IsWindows() => $"no space left on the device ({e.Message.TrimEnd('.')})",
        _ => e.Message.TrimEnd('.'),
    };
}
