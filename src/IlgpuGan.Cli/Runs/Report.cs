using IlgpuGan.IO;
using IlgpuGan.Recipes;
using System.Globalization;
using System.Net;
using System.Text;

namespace IlgpuGan.Cli.Runs;

/// <summary>What the report says about the run's state. While <paramref name="Running"/>, <paramref name="NextWriteWithin"/>
/// is when the next rewrite is due at the latest (the page says the process may have stopped when it is late).</summary>
public sealed record ReportStatus(string Text, bool Running, TimeSpan? NextWriteWithin = null);

/// <summary>What the page says of its run: the title, the steps it runs to, its configuration (a JSON object, shown as a
/// table) and how its grids are headed (and what their rows are).</summary>
public sealed record ReportHeader(string Title, long Steps, string ConfigJson, string SamplesHeading = "Fixed-noise samples over time", string? SamplesNote = null)
{
    public static ReportHeader Of(RunConfig c) => new($"ilgpu-gan: {c.Model} ({c.Loss}) on {c.Data}", c.Steps, c.ToJson());
}

/// <summary>
/// <c>report.html</c>: one self-contained page (inline SVG charts, CSS, no scripts from elsewhere)
/// that shows a run as it goes: the status and device, an SVG chart for each group of the statistics
/// the recipe reports (BCE: Loss_D and Loss_G; D(x) and D(G(z)). WGAN-GP: the losses; the Wasserstein
/// estimate; the penalty; the gradient norm at x^), the fixed-noise grids over time (the PNGs in samples/, newest first), the real data and
/// the configuration. Rewritten atomically; while training it reloads itself every 30 seconds.
/// </summary>
public static class Report
{
    public const string FileName = "report.html";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Write(string outFolder, RunConfig config, string device, string data, RunHistory history,
        IReadOnlyList<Statistic> statistics, long step, ReportStatus status, IEnumerable<string> sampleFiles, string? realFile,
        IReadOnlyList<string>? warnings = null) =>
        Write(outFolder, ReportHeader.Of(config), device, data, history, statistics, step, status, sampleFiles, realFile, warnings);

    public static void Write(string outFolder, ReportHeader header, string device, string data, RunHistory history,
        IReadOnlyList<Statistic> statistics, long step, ReportStatus status, IEnumerable<string> sampleFiles, string? realFile,
        IReadOnlyList<string>? warnings = null)
    {
        string html = Render(header, device, data, history, statistics, step, status, sampleFiles, realFile, warnings);
        AtomicFile.WriteAllText(Path.Combine(outFolder, FileName), html);
    }

    public static string Render(RunConfig config, string device, string data, RunHistory history,
        IReadOnlyList<Statistic> statistics, long step, ReportStatus status, IEnumerable<string> sampleFiles, string? realFile,
        IReadOnlyList<string>? warnings = null) =>
        Render(ReportHeader.Of(config), device, data, history, statistics, step, status, sampleFiles, realFile, warnings);

    public static string Render(ReportHeader header, string device, string data, RunHistory history,
        IReadOnlyList<Statistic> statistics, long step, ReportStatus status, IEnumerable<string> sampleFiles, string? realFile,
        IReadOnlyList<string>? warnings = null)
    {
        var h = new StringBuilder();
        string title = header.Title;
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        if (status.Running) h.Append("<meta http-equiv=\"refresh\" content=\"30\">");
        h.Append($"<title>{E(title)}</title>\n<style>{Css}</style></head>\n<body>\n");
        h.Append($"<h1>{E(title)}</h1>\n");
        DateTime written = (Now ?? (() => DateTime.UtcNow))();
        h.Append($"<p class=\"status\" id=\"status\">{E(status.Text)} &middot; step {step:N0} of {header.Steps:N0} &middot; " +
                 $"last written <time id=\"written\" datetime=\"{written.ToString("yyyy-MM-ddTHH:mm:ssZ", Inv)}\">{written.ToString("yyyy-MM-dd HH:mm:ss", Inv)} UTC</time></p>\n");
        if (status.Running)
        {
            // A run killed without warning (SIGKILL, power loss) cannot rewrite its report: the page itself notices when the next
            // rewrite is overdue (the run's pace and intervals, with a margin), and says so.
            DateTime due = written + (status.NextWriteWithin ?? TimeSpan.FromMinutes(10)) * 2 + TimeSpan.FromMinutes(1);
            h.Append($"<p class=\"stale\" id=\"stale\" data-due=\"{due.ToString("yyyy-MM-ddTHH:mm:ssZ", Inv)}\" hidden></p>\n");
            h.Append("<script>(()=>{const s=document.getElementById('stale'),w=document.getElementById('written');" +
                     "const late=Date.now()-Date.parse(s.dataset.due);if(late<=0)return;" +
                     "const m=Math.round((Date.now()-Date.parse(w.getAttribute('datetime')))/60000);" +
                     "s.textContent='No update since '+w.textContent+' ('+m+' min ago), though one was due by then: the training process " +
                     "may have been stopped or killed. train --resume continues it from its latest checkpoint.';s.hidden=false;" +
                     "document.getElementById('status').classList.add('old');})();</script>\n");
        }

        h.Append("<table class=\"facts\">");
        Row(h, "device", device);
        Row(h, "data", data);
        if (history.Points.Count > 0)
        {
            var p = history.Points[^1];
            Row(h, $"step {p.Step:N0}", string.Join(", ", p.Values.Select(kv => $"{kv.Key} {Numbers.Compact(kv.Value)}")));
        }
        h.Append("</table>\n");
        if (warnings is { Count: > 0 })
        {
            h.Append("<h2>Warnings</h2>\n<ul class=\"warnings\">");
            foreach (var w in warnings) h.Append($"<li>{E(w)}</li>");
            h.Append("</ul>\n");
        }

        h.Append("<h2>Training curves</h2>\n<div class=\"charts\">\n");
        int color = 0;
        foreach (var group in statistics.GroupBy(x => x.Chart))
        {
            var series = group.Select(x => (x.Name, Palette[color++ % Palette.Length], (Func<HistoryPoint, float>)(p => p[x.Name]))).ToArray();
            h.Append(Chart(group.Key, ChartId(group.Key), history.Points, series));
        }
        h.Append("</div>\n");

        var samples = sampleFiles.ToList();
        h.Append($"<h2>{E(header.SamplesHeading)}</h2>\n");
        if (header.SamplesNote is { } note) h.Append($"<p>{E(note)}</p>\n");
        if (samples.Count == 0) h.Append("<p>No sample grid yet.</p>\n");
        h.Append("<div class=\"grids\">\n");
        foreach (var file in Enumerable.Reverse(samples))
        {
            string caption = Path.GetFileNameWithoutExtension(file);
            h.Append($"<figure><img class=\"sample\" src=\"{E(file)}\" alt=\"{E(caption)}\"><figcaption>{E(caption)}</figcaption></figure>\n");
        }
        h.Append("</div>\n");
        if (realFile is not null)
            h.Append($"<h2>Real data</h2>\n<div class=\"grids\"><figure><img class=\"real\" src=\"{E(realFile)}\" alt=\"real samples\"><figcaption>real samples</figcaption></figure></div>\n");

        h.Append("<h2>Configuration</h2>\n<table class=\"config\">");
        foreach (var (name, value) in System.Text.Json.Nodes.JsonNode.Parse(header.ConfigJson)!.AsObject())
            Row(h, name, value?.ToString() ?? "");
        h.Append("</table>\n");
        // Counts the grids that loaded (for a person: broken images show; for the test: an attribute).
        h.Append("<script>addEventListener('load',()=>{const i=[...document.images];" +
                 "document.body.dataset.imagesLoaded=i.filter(x=>x.complete&&x.naturalWidth>0).length;" +
                 "document.body.dataset.images=i.length;});</script>\n");
        h.Append("</body></html>\n");
        return h.ToString();
    }

    /// <summary>The clock of "last written" (tests set it).</summary>
    internal static Func<DateTime>? Now { get; set; }

    private static readonly string[] Palette = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

    /// <summary>chart-loss, chart-d (the D outputs), else chart- and the title's letters.</summary>
    public static string ChartId(string title) => title switch
    {
        "Losses" => "chart-loss",
        "D outputs" => "chart-d",
        _ => "chart-" + new string(title.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).ToArray()),
    };

    private static void Row(StringBuilder h, string name, string value) =>
        h.Append($"<tr><th>{E(name)}</th><td>{E(value)}</td></tr>");

    private static string E(string s) => WebUtility.HtmlEncode(s);

    /// <summary>An SVG line chart of some series over steps, with axes, ticks and a legend. When the values span
    /// more than three orders of magnitude beyond their median (a run that explodes), the y axis is a symmetric log
    /// scale (sign(v) log10(1 + |v|), ticks at 0 and the powers of ten), so both the usual values and the explosion show.</summary>
    public static string Chart(string title, string id, IReadOnlyList<HistoryPoint> points,
        (string Name, string Color, Func<HistoryPoint, float> Value)[] series)
    {
        const int W = 560, H = 260, L = 60, R = 24, T = 28, B = 34;
        var s = new StringBuilder();
        var pts = Thin(points, 800);
        var values = pts.SelectMany(p => series.Select(x => (double)x.Value(p))).Where(double.IsFinite).ToList();
        bool log = SymLog(values);
        s.Append($"<figure class=\"chart\"><svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{E(title)}\" data-scale=\"{(log ? "symlog" : "linear")}\">");
        s.Append($"<text x=\"{L}\" y=\"18\" class=\"title\">{E(title)}{(log ? " (log scale)" : "")}</text>");
        if (pts.Count == 0)
        {
            s.Append($"<text x=\"{W / 2}\" y=\"{H / 2}\" text-anchor=\"middle\">no statistics yet</text></svg></figure>\n");
            return s.ToString();
        }
        double x0 = pts[0].Step, x1 = pts[^1].Step;
        if (x1 <= x0) { x0 -= 1; x1 += 1; }
        Func<double, double> f = log ? v => Math.Sign(v) * Math.Log10(1 + Math.Abs(v)) : v => v;
        double y0 = double.MaxValue, y1 = double.MinValue;
        foreach (double v in values) { y0 = Math.Min(y0, f(v)); y1 = Math.Max(y1, f(v)); }
        if (y0 > y1) { y0 = 0; y1 = 1; }
        if (y1 - y0 < 1e-6) { y0 -= 0.5; y1 += 0.5; }
        double[] yTicks;
        if (log)
        {
            yTicks = LogTicks(y0, y1);
            y0 = Math.Min(Math.Min(y0, 0), f(yTicks[0])); y1 = Math.Max(Math.Max(y1, 0), f(yTicks[^1]));
        }
        else
        {
            yTicks = Ticks(y0, y1, 5);
            y0 = Math.Min(y0, yTicks[0]); y1 = Math.Max(y1, yTicks[^1]);
        }
        double X(double v) => L + (v - x0) / (x1 - x0) * (W - L - R);
        double Y(double v) => H - B - (f(v) - y0) / (y1 - y0) * (H - T - B);

        s.Append($"<rect x=\"{L}\" y=\"{T}\" width=\"{W - L - R}\" height=\"{H - T - B}\" class=\"frame\"/>");
        foreach (double t in yTicks)
        {
            string y = F(Y(t));
            string label = log ? Numbers.Bound(t) : Math.Abs(t) >= 1e5 ? Numbers.Compact(t) : t.ToString("G4", Inv);
            s.Append($"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{y}\" y2=\"{y}\" class=\"grid\"/><text x=\"{L - 6}\" y=\"{y}\" class=\"ytick\">{label}</text>");
        }
        foreach (double t in Ticks(x0, x1, 6))
        {
            if (t < x0 || t > x1) continue;
            double px = X(t);
            string x = F(px);
            // A label near the right edge ends at its tick instead of centring on it, so it is never cut off.
            string anchor = px > W - R - 20 ? " style=\"text-anchor:end\"" : "";
            s.Append($"<line x1=\"{x}\" x2=\"{x}\" y1=\"{T}\" y2=\"{H - B}\" class=\"grid\"/><text x=\"{x}\" y=\"{H - B + 16}\" class=\"xtick\"{anchor}>{t.ToString("#,0", Inv)}</text>");
        }
        s.Append($"<text x=\"{W - R}\" y=\"{H - 2}\" class=\"xlabel\">step</text>");
        int legendX = W - R - 8;
        for (int k = series.Length - 1; k >= 0; k--)
        {
            var (name, color, value) = series[k];
            var d = new StringBuilder();
            foreach (var p in pts)
            {
                double v = value(p);
                if (!double.IsFinite(v)) continue;
                d.Append(d.Length == 0 ? 'M' : 'L').Append(F(X(p.Step))).Append(',').Append(F(Y(v)));
            }
            s.Append($"<path class=\"series\" data-series=\"{E(name)}\" d=\"{d}\" stroke=\"{color}\"/>");
            legendX -= 8 * name.Length + 26;
            s.Append($"<line x1=\"{legendX}\" x2=\"{legendX + 16}\" y1=\"14\" y2=\"14\" stroke=\"{color}\" stroke-width=\"3\"/><text x=\"{legendX + 20}\" y=\"18\">{E(name)}</text>");
        }
        s.Append("</svg></figure>\n");
        return s.ToString();
    }

    /// <summary>Whether a chart needs the symmetric log scale: its largest magnitude is at least 100 and more than
    /// 1,000 times the median magnitude (a linear scale would draw the usual values as a flat line at 0).</summary>
    public static bool SymLog(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return false;
        var magnitudes = values.Select(Math.Abs).Order().ToList();
        double max = magnitudes[^1], median = magnitudes[magnitudes.Count / 2];
        return max >= 100 && max > 1000 * median;
    }

    /// <summary>Ticks of the symmetric log scale for transformed values in [y0, y1]: 0 and +-10^k up to the decade
    /// above the largest magnitude, every decade or every few (about 5 per side at most).</summary>
    private static double[] LogTicks(double y0, double y1)
    {
        int top = Math.Max(1, (int)Math.Ceiling(Math.Max(Math.Abs(y0), Math.Abs(y1))));
        int every = Math.Max(1, (top + 4) / 5), last = (top + every - 1) / every * every;
        var ticks = new List<double> { 0 };
        for (int k = 0; k <= last; k += every)
        {
            if (y1 > 0) ticks.Add(Math.Pow(10, k));
            if (y0 < 0) ticks.Add(-Math.Pow(10, k));
        }
        return [.. ticks.Order()];
    }

    /// <summary>At most <paramref name="max"/> points, evenly spaced, always with the last.</summary>
    private static List<HistoryPoint> Thin(IReadOnlyList<HistoryPoint> points, int max)
    {
        if (points.Count <= max) return [.. points];
        var result = new List<HistoryPoint>(max + 1);
        double stride = (double)points.Count / max;
        for (int i = 0; i < max; i++) result.Add(points[(int)(i * stride)]);
        if (result[^1].Step != points[^1].Step) result.Add(points[^1]);
        return result;
    }

    /// <summary>"Round" tick values (1, 2 or 5 times a power of ten) covering [lo, hi].</summary>
    private static double[] Ticks(double lo, double hi, int count)
    {
        double raw = (hi - lo) / count;
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
        double first = Math.Floor(lo / step) * step, last = Math.Ceiling(hi / step) * step;
        var ticks = new List<double>();
        for (double t = first; t <= last + step / 2; t += step) ticks.Add(Math.Round(t / step) * step);
        return [.. ticks];
    }

    private static string F(double v) => v.ToString("0.#", Inv);

    private const string Css =
        "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}" +
        "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}" +
        ".status{color:#555}.status.old{color:#b00}.stale{color:#b00;font-weight:600}.warnings{color:#8a4b00}table{border-collapse:collapse}th,td{text-align:left;padding:2px 10px;border-bottom:1px solid #eee}" +
        ".charts,.grids{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-size:.85em;color:#555;text-align:center}" +
        "svg text{font-size:11px;fill:#333}svg .title{font-size:13px;font-weight:600}.ytick{text-anchor:end;dominant-baseline:middle}" +
        ".xtick{text-anchor:middle}.xlabel{text-anchor:end}.frame{fill:none;stroke:#888}.grid{stroke:#eee}" +
        ".series{fill:none;stroke-width:1.5}img{image-rendering:pixelated;border:1px solid #ddd;max-width:100%}" +
        ".grids img,img.real{width:250px}.json{background:#f7f7f7;padding:8px;font-size:.85em}";
}
