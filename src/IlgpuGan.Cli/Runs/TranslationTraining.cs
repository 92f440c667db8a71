using System.Diagnostics;
using System.Globalization;
using IlgpuGan.IO;
using IlgpuGan.Recipes;
using IlgpuGan.Translation;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// train-translation's loop: steps to <see cref="TranslationOptions.Steps"/>, a log line every
/// <c>logEvery</c> steps, a held-out grid (<see cref="TranslationRun.Grid"/>) and a checkpoint every
/// <c>every</c> steps and at the end (the newest <c>keep</c> step files kept), and report.html (the statistics' charts, the grids over time with what
/// their rows show, the options) rewritten with each grid. The statistics' history travels in the
/// checkpoints, so a resumed run's report goes on where it left off.
/// </summary>
public static class TranslationTraining
{
    public const string HistoryKey = "history";

    /// <summary>The history a checkpoint holds (empty for one written before histories were kept).</summary>
    public static RunHistory HistoryOf(string checkpoint)
    {
        var c = CheckpointFile.Load(checkpoint);
        if (!c.Metadata.TryGetValue(HistoryKey, out var json)) return new RunHistory();
        var h = RunHistory.FromJson(json);
        h.TruncateAfter(c.Step);
        return h;
    }

    /// <summary>Trains until the last step or until <paramref name="stop"/> says so; returns whether it finished.</summary>
    public static bool Run(TranslationRun run, string outDir, string device, RunHistory history, TextWriter log,
        long logEvery, long every, Func<bool> stop, int keep = 3)
    {
        if (keep < 1) throw new ArgumentOutOfRangeException(nameof(keep), keep, "Keep at least one checkpoint.");
        string samples = Path.Combine(outDir, TrainRun.SamplesFolder), checkpoints = Path.Combine(outDir, TrainRun.CheckpointsFolder);
        Directory.CreateDirectory(samples);
        Directory.CreateDirectory(checkpoints);
        var model = run.Model;
        var o = model.Options;
        var header = new ReportHeader($"ilgpu-gan: {o.Model} on {run.Data.Description}", o.Steps, o.ToJson(),
            "Held-out images over time", $"Rows, top to bottom: {run.GridRows}.");
        var store = new CheckpointStore(checkpoints);
        void WriteReport(string status, bool running) => Report.Write(outDir, header, device, run.Data.Description, history,
            model.Statistics, model.Step, new ReportStatus(status, running), history.SampleSteps.Select(TrainRun.SampleName), null);
        void Save()
        {
            string path = Path.Combine(checkpoints, CheckpointStore.FileName(model.Step));
            run.Save(path, new Dictionary<string, string> { [HistoryKey] = history.ToJson() });
            AtomicFile.Write(store.LatestPath, f => { using var src = File.OpenRead(path); src.CopyTo(f); });
            store.Prune(model.Step, keep);      // the newest `keep` step files stay (latest is a copy of the newest)
        }

        var clock = Stopwatch.StartNew();
        long first = model.Step;
        WriteReport("training", true);
        try
        {
            while (model.Step < o.Steps && !stop())
            {
                run.Step();
                long s = model.Step;
                bool last = s == o.Steps, grid = s % every == 0 || last;
                if (s % logEvery == 0 || grid)
                {
                    var stats = model.ReadStats();
                    history.Points.Add(new HistoryPoint(stats));
                    double per = clock.Elapsed.TotalMilliseconds / (s - first);
                    if (s % logEvery == 0 || last)
                        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{s}/{o.Steps}] {stats.Text()}  {per:F1} ms/step  ETA {TimeSpan.FromMilliseconds(per * (o.Steps - s)):hh\\:mm\\:ss}"));
                }
                if (grid)
                {
                    run.Grid(Path.Combine(outDir, TrainRun.SampleName(s)));
                    if (!history.SampleSteps.Contains(s)) history.SampleSteps.Add(s);
                    Save();
                    WriteReport(last ? "finished" : "training", !last);
                }
            }
        }
        catch (NonFiniteLossException e)
        {
            // A NaN or infinity in the statistics or the weights: nothing was written over the last checkpoint.
            WriteReport($"diverged: {e.Message}", false);
            string kept = File.Exists(store.LatestPath) ? $" The last good checkpoint is {Path.GetRelativePath(outDir, store.LatestPath)}." : "";
            throw new CliException(e.Message + kept, ExitCodes.Diverged, e);
        }
        if (model.Step < o.Steps)
        {
            Save();
            WriteReport($"stopped at step {model.Step:N0}: continue with --resume", false);
            return false;
        }
        return true;
    }
}
