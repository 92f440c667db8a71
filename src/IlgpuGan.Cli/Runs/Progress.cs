using System.Diagnostics;
using System.Globalization;
using IlgpuGan.Recipes;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace IlgpuGan.Cli.Runs;

/// <summary>What a training loop tells the person watching it.</summary>
public interface IProgressUpdate
{
    /// <summary>Step <paramref name="step"/> is done; <paramref name="stats"/> when they were read this step.</summary>
    void Step(long step, StepStats? stats);
    /// <summary>A line of news (a checkpoint written, a grid saved).</summary>
    void Message(string text);
}

/// <summary>Shows a training loop's progress: runs <c>body</c> with an updater.</summary>
public interface IRunProgress
{
    T Run<T>(long startStep, long totalSteps, Func<IProgressUpdate, T> body);
}

/// <summary>Rate and ETA over the steps of this process (a resumed run's earlier steps do not count).</summary>
internal sealed class RateMeter(long startStep, long totalSteps)
{
    private readonly Stopwatch clock = Stopwatch.StartNew();

    public double Rate(long step) => (step - startStep) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);

    public string RateText(long step) => step > startStep ? $"{Rate(step):F1} steps/s" : "- steps/s";

    public string EtaText(long step)
    {
        double rate = Rate(step);
        if (step <= startStep || rate <= 0) return "ETA -";
        return "ETA " + Duration(TimeSpan.FromSeconds((totalSteps - step) / rate));
    }

    public static string Duration(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:D2}s" : $"{t.TotalSeconds:F0}s";

    public TimeSpan Elapsed => clock.Elapsed;
}

/// <summary>Plain lines, at most one every <c>every</c> steps (and at the last), for logs and pipes.</summary>
public sealed class PlainProgress(TextWriter output, long every) : IRunProgress
{
    public T Run<T>(long startStep, long totalSteps, Func<IProgressUpdate, T> body) =>
        body(new Updater(output, every, new RateMeter(startStep, totalSteps), startStep, totalSteps));

    private sealed class Updater(TextWriter output, long every, RateMeter meter, long lastPrinted, long total) : IProgressUpdate
    {
        public void Step(long step, StepStats? stats)
        {
            if (stats is not { } s || (step - lastPrinted < every && step != total)) return;
            lastPrinted = step;
            output.WriteLine($"[{step}/{total}] {s.Text()}  {meter.RateText(step)}  {meter.EtaText(step)}");
            output.Flush();
        }

        public void Message(string text) { output.WriteLine(text); output.Flush(); }
    }
}

/// <summary>A live Spectre.Console bar: step, bar, percentage, rate, ETA, and the latest statistics below it.</summary>
public sealed class LiveProgress(IAnsiConsole console) : IRunProgress
{
    public T Run<T>(long startStep, long totalSteps, Func<IProgressUpdate, T> body)
    {
        var meter = new RateMeter(startStep, totalSteps);
        string statsLine = "waiting for the first statistics…";
        long current = startStep;
        return new Progress(console)
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TextColumn(() => meter.RateText(current)), new TextColumn(() => meter.EtaText(current)))
            .UseRenderHook((table, _) => new Rows(table, new Markup("  " + Markup.Escape(statsLine), new Style(Color.Grey))))
            .Start(ctx =>
            {
                var task = ctx.AddTask(Describe(startStep, totalSteps), maxValue: totalSteps);
                task.Value = startStep;
                var updater = new Updater(task, totalSteps, step => current = step, s => statsLine = s, console);
                updater.Step(startStep, null);
                return body(updater);
            });
    }

    private static string Describe(long step, long total) => $"step {step}/{total}";

    private sealed class Updater(ProgressTask task, long total, Action<long> setStep, Action<string> setStats, IAnsiConsole console) : IProgressUpdate
    {
        public void Step(long step, StepStats? stats)
        {
            setStep(step);
            task.Value = step;
            task.Description = Describe(step, total);
            if (stats is { } s) setStats(s.Text());
        }

        public void Message(string text) => console.MarkupLine(Markup.Escape(text));
    }

    /// <summary>Shows a string computed at each refresh.</summary>
    private sealed class TextColumn(Func<string> text) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(text(), new Style(Color.Grey));
    }
}
