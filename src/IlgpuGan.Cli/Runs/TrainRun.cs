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

        string outFolder = Path.GetFullPath(OutFolder);
        var store = new CheckpointStore(Path.Combine(outFolder, CheckpointsFolder));
        using var runLock = DryRun ? null : Lock(outFolder);
        if (!DryRun && ResumeFrom is null && !store.IsEmpty)
            throw new CliException($"{outFolder} already holds checkpoints of a run (latest: {store.LatestFile()}): " +
                                   "continue it with --resume, or give another --out.");

        using var s = new Session(c, model, data);
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
                        (o.Schedule == CriticSchedule.Original ? ", original critic schedule" : "");
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
            Log.WriteLine($"The run is already at step {s.Recipe.Step:N0} of {c.Steps:N0}; give a larger --steps to train further.");
            return ExitCodes.Ok;
        }

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
        void WriteReport(ReportStatus status) => Report.Write(outFolder, c, device, data.Description, History, s.Recipe.Statistics, s.Recipe.Step, status,
            History.SampleSteps.Select(SampleName), RealFile);
        WriteReport(new ReportStatus("training", true));

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
                        stats = s.Recipe.ReadStats();    // waits for the device; throws on NaN/Inf
                        History.Points.Add(new HistoryPoint(stats.Value));
                    }
                    u.Step(step, stats);
                    if (sample)
                    {
                        model.SaveGrid(Path.Combine(outFolder, SampleName(step)), s.SampleFixed(), s.FixedCount, s.FixedPerRow);
                        if (!History.SampleSteps.Contains(step)) History.SampleSteps.Add(step);
                    }
                    if (checkpoint)
                    {
                        string path = store.Save(s, History, c.Keep);
                        lastCheckpoint = step;
                        u.Message($"step {step:N0}: checkpoint {Path.GetRelativePath(outFolder, path)}");
                    }
                    if (sample || checkpoint) WriteReport(new ReportStatus(last ? "finished" : "training", !last));
                }
                if (s.Recipe.Step >= c.Steps) return ExitCodes.Ok;

                // Stopped by a signal: keep the work.
                if (s.Recipe.Step > lastCheckpoint)
                {
                    s.Recipe.ReadStats();
                    string path = store.Save(s, History, c.Keep);
                    u.Message($"stopped by {Stop.Signal}: checkpoint {Path.GetRelativePath(outFolder, path)} at step {s.Recipe.Step:N0}; continue with --resume");
                }
                else if (store.LatestFile() is null) u.Message($"stopped by {Stop.Signal} before the first step: nothing to keep");
                else u.Message($"stopped by {Stop.Signal} at step {s.Recipe.Step:N0}, which the latest checkpoint holds; continue with --resume");
                WriteReport(new ReportStatus($"stopped by {Stop.Signal} (resume with --resume)", false));
                return Stop.ExitCode;
            });
        }
        catch (NonFiniteLossException e)
        {
            string kept = store.LatestFile() is { } l ? $" The last good checkpoint is {l}." : " No checkpoint had been written.";
            WriteReport(new ReportStatus($"diverged: {e.Message}", false));
            throw new CliException(e.Message + kept, ExitCodes.Diverged, e);
        }
    }

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
    /// process ends however it ends.</summary>
    private static FileStream Lock(string outFolder)
    {
        Directory.CreateDirectory(outFolder);
        string path = Path.Combine(outFolder, ".lock");
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            throw new CliException($"Another ilgpu-gan process is training into {outFolder} (it holds {path}); give another --out.");
        }
    }
}
