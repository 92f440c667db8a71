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

/// <summary>Plain lines for logs and pipes: a line with the statistics every <c>every</c> steps, or sooner when
/// <c>interval</c> (10 s by default) has passed since the last line, so a slow model is never silent for long
/// (a line without statistics when none were read in that time), and at the last step.</summary>
public sealed class PlainProgress(TextWriter output, long every, TimeSpan? interval = null, Func<TimeSpan>? clock = null) : IRunProgress
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    public T Run<T>(long startStep, long totalSteps, Func<IProgressUpdate, T> body)
    {
        var meter = new RateMeter(startStep, totalSteps);
        return body(new Updater(output, every, interval ?? DefaultInterval, clock ?? (() => meter.Elapsed), meter, startStep, totalSteps));
    }

    private sealed class Updater(TextWriter output, long every, TimeSpan interval, Func<TimeSpan> clock, RateMeter meter, long lastPrinted, long total) : IProgressUpdate
    {
        private TimeSpan lastTime = clock();

        public void Step(long step, StepStats? stats)
        {
            TimeSpan now = clock();
            bool due = step - lastPrinted >= every || step == total || now - lastTime >= interval;
            if (stats is { } s && due)
                Print(step, now, $"[{step}/{total}] {s.Text()}  {meter.RateText(step)}  {meter.EtaText(step)}");
            else if (now - lastTime >= 2 * interval)   // no statistics read for a while (a large --log-every): the step and rate alone
                Print(step, now, $"[{step}/{total}] {meter.RateText(step)}  {meter.EtaText(step)}");
        }

        private void Print(long step, TimeSpan now, string line)
        {
            lastPrinted = step;
            lastTime = now;
            output.WriteLine(line);
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

        /// <summary>A line above the bar. Spectre's live display loses its place when a line printed under it wraps
        /// (at 80 columns the stop message ran into the bar), so the text is cut into lines that fit first.</summary>
        public void Message(string text)
        {
            foreach (var line in Fit(text, Math.Max(20, console.Profile.Width - 1))) console.WriteLine(line, Style.Plain);
        }
    }

    /// <summary><paramref name="text"/> as lines of at most <paramref name="width"/> characters, broken at spaces where possible.</summary>
    public static IEnumerable<string> Fit(string text, int width)
    {
        string rest = text;
        while (rest.Length > width)
        {
            int cut = rest.LastIndexOf(' ', width);
            if (cut <= 0) cut = width;
            yield return rest[..cut].TrimEnd();
            rest = rest[cut..].TrimStart();
        }
        yield return rest;
    }

    /// <summary>Shows a string computed at each refresh.</summary>
    private sealed class TextColumn(Func<string> text) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(text(), new Style(Color.Grey));
    }
}
