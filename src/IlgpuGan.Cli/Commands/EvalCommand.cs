using IlgpuGan.Recipes;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Data;
using IlgpuGan.Evaluation;
using IlgpuGan.IO;

namespace IlgpuGan.Cli.Commands;

/// <summary>
/// <c>ilgpu-gan eval RUN|CHECKPOINT|IMAGE-FOLDER|GRID-PNG</c>: scores generated digits with the shipped
/// classifier (FID, KID, IS, precision/recall/density/coverage, classes, memorisation, duplicates)
/// against the training digits, next to the same figures for real held-out digits at the same sample
/// count; prints a table and writes eval.json.
/// </summary>
public static class EvalCommand
{
    private static readonly Argument<string> Input = new("input")
    { Description = "A run folder (its latest checkpoint), a checkpoint file, a folder of images, a PNG grid as 'sample' writes it, or raw float32 images with FILE.json giving their shape (the libtorch peer's train output)." };
    private static readonly Option<int?> Samples = new("--samples", "-n")
    { Description = "Samples to score: generated from a checkpoint (default 10000), or the first n of a folder or grid (default all).", HelpName = "n" };
    private static readonly Option<string?> Against = new("--against")
    { Description = "The real data: a folder with MNIST's IDX files; train-* is the reference set, t10k-* the held-out line. Default: the bundled digits.", HelpName = "dir" };
    private static readonly Option<string?> ClassifierFile = new("--classifier")
    { Description = "A classifier file from train-classifier (default: the shipped models/mnist-classifier.safetensors).", HelpName = "file" };
    private static readonly Option<int> Seed = new("--seed", "-s") { Description = "Seed of the latent noise (checkpoints).", DefaultValueFactory = _ => 0, HelpName = "n" };
    private static readonly Option<string?> Out = new("--out", "-o")
    { Description = "The JSON file to write (default: eval.json in the run folder for a run or checkpoint, else in the current folder); the closest pairs go beside it as eval-closest.png.", HelpName = "file" };
    private static readonly Option<string?> Accelerator = new("--accelerator", "-a") { Description = "cpu, opencl, cuda or auto.", HelpName = "kind" };

    public static Command Create()
    {
        var cmd = new Command("eval",
            "Score generated digits: FID, KID, Inception Score, precision/recall/density/coverage, classes covered, memorisation and duplicates, " +
            "with the same figures for real held-out digits at the same sample count; prints a table and writes eval.json.");
        cmd.Arguments.Add(Input);
        foreach (Option o in new Option[] { Samples, Against, ClassifierFile, Seed, Out, Accelerator }) cmd.Options.Add(o);
        cmd.SetAction(Run);
        return cmd;
    }

    private sealed record Source(string Kind, string Description, float[] Images, int Count, string? Note, string DefaultOut)
    {
        /// <summary>The checkpoint and model the samples came from (null for images).</summary>
        public (LoadedCheckpoint Checkpoint, ModelSpec Model)? From { get; init; }
    }

    /// <summary>Samples per class of a conditional checkpoint's per-class accuracy (as class-check's default).</summary>
    private const int PerClassSamples = 500;

    private static int Run(ParseResult p)
    {
        var clock = Stopwatch.StartNew();
        string input = p.GetValue(Input)!;
        int? samples = p.GetValue(Samples);
        if (samples is < 1) throw new CliException($"--samples must be at least 1; got {samples}.");
        var kind = Device.ParseKind(p.GetValue(Accelerator));
        if (PointModelFigures(input, samples, p.GetValue(Seed), kind, out var loaded) is { } line)
        {
            Console.Out.WriteLine(line);
            return ExitCodes.Ok;
        }

        string classifierPath = p.GetValue(ClassifierFile) ?? Classifier.ShippedPath
            ?? throw new CliException($"no classifier: models/{Classifier.ShippedFileName} is not beside the tool; give --classifier FILE (see train-classifier).");
        string against = p.GetValue(Against) ?? MnistDataset.DefaultFolder;
        if (!Directory.Exists(against)) throw new CliException($"--against: no folder {against}.");
        var train = MnistDataset.Load(against, train: true);
        MnistDataset? heldOut = null;
        try { heldOut = MnistDataset.Load(against, train: false); }
        catch (FileNotFoundException) { }

        var source = Load(input, samples, p.GetValue(Seed), kind, loaded);
        var timeLoad = clock.Elapsed;
        if (source.Note != null) Console.Error.WriteLine("note: " + source.Note);
        int needed = Metrics.SamplesNeeded(Classifier.FeatureSize);
        if (source.Count < needed)
            throw new CliException($"{source.Count} samples are too few: FID needs at least {needed} ({Classifier.FeatureSize} features + 1) for a covariance of full rank; give more (--samples).");

        using var device = Device.Create(kind);
        using var classifier = Classifier.Load(device, classifierPath);
        string accuracy = classifier.Metadata.TryGetValue("held_out_accuracy", out var a)
            ? double.Parse(a, CultureInfo.InvariantCulture).ToString("P2", CultureInfo.InvariantCulture) : "unknown";
        Console.Out.WriteLine($"scoring {source.Count:N0} samples of {source.Description}");
        Console.Out.WriteLine($"against {train.Count:N0} training digits ({against}); classifier {Path.GetFileName(classifierPath)} (held-out accuracy {accuracy}); {device}");
        var evaluator = new Evaluator(classifier, train.Images, train.Count);
        var timeReference = clock.Elapsed;

        var sets = new List<(EvalFigures Figures, float[] Images)>();
        sets.Add((evaluator.Evaluate("generated", source.Images, source.Count), source.Images));
        if (heldOut != null)
        {
            int m = Math.Min(source.Count, heldOut.Count);
            if (m < needed) Console.Error.WriteLine($"note: {heldOut.Count} held-out digits are too few for the real-data line (FID needs {needed}).");
            else
            {
                if (m < source.Count)
                    sets.Add((evaluator.Evaluate($"generated, first {m:N0}", source.Images, m), source.Images));
                var real = heldOut.Images.AsSpan(0, m * 784).ToArray();
                sets.Add((evaluator.Evaluate("real held-out", real, m), real));
            }
        }
        else Console.Error.WriteLine($"note: {against} has no t10k-* files: no real-data line.");

        PrintTable(sets.Select(s => s.Figures).ToList(), classifier.Classes);
        // A conditional checkpoint: for each class c, the share of --class c samples the classifier labels c.
        List<(string Name, double Share)>? perClass = null;
        if (source.From is { Model.IsConditional: true } from)
        {
            perClass = ClassCheckCommand.Check(from.Checkpoint, from.Model, classifierPath, PerClassSamples, p.GetValue(Seed), kind);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"per class ({PerClassSamples} samples of --class c each, labelled c): {string.Join(", ", perClass.Select(x => $"{x.Name} {100 * x.Share:F1} %"))}; lowest {100 * perClass.Min(x => x.Share):F1} %"));
        }
        string output = p.GetValue(Out) ?? source.DefaultOut;
        string closest = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(output))!, Path.GetFileNameWithoutExtension(output) + "-closest.png");
        evaluator.SaveClosestPairs(closest, sets[0].Images, sets[0].Figures);
        var json = new JsonObject
        {
            ["input"] = Path.GetFullPath(input),
            ["source"] = source.Kind,
            ["description"] = source.Description,
            ["note"] = source.Note,
            ["against"] = Path.GetFullPath(against),
            ["reference_count"] = train.Count,
            ["classifier"] = Path.GetFullPath(classifierPath),
            ["classifier_held_out_accuracy"] = classifier.Metadata.GetValueOrDefault("held_out_accuracy"),
            ["seed"] = p.GetValue(Seed),
            ["device"] = device.ToString(),
            ["k"] = Evaluator.K,
            ["sets"] = new JsonArray(sets.Select(s => (JsonNode)ToJson(s.Figures)).ToArray()),
            ["closest_pairs_png"] = closest,
            ["per_class_accuracy"] = perClass is null ? null : new JsonObject(perClass.Select(x => KeyValuePair.Create(x.Name, (JsonNode?)JsonValue.Create(x.Share)))),
            ["seconds"] = new JsonObject
            {
                ["load_or_generate"] = Math.Round(timeLoad.TotalSeconds, 2),
                ["reference"] = Math.Round((timeReference - timeLoad).TotalSeconds, 2),
                ["total"] = Math.Round(clock.Elapsed.TotalSeconds, 2),
            },
        };
        AtomicFile.WriteAllBytes(output, System.Text.Encoding.UTF8.GetBytes(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n"));
        Console.Out.WriteLine($"wrote {Path.GetFullPath(output)} and {closest} ({clock.Elapsed.TotalSeconds:F1} s)");
        return ExitCodes.Ok;
    }

    private static Source Load(string input, int? samples, int seed, AcceleratorKind kind, LoadedCheckpoint? loaded)
    {
        if (Directory.Exists(input))
        {
            bool isRun = Directory.Exists(Path.Combine(input, "checkpoints")) || File.Exists(Path.Combine(input, "config.json"));
            if (isRun) return FromCheckpoint(input, samples ?? 10_000, seed, kind, Path.Combine(input, "eval.json"), loaded);
            var folder = ImageFolderDataset.Load(input, DigitImages.Size, new ImageFolderOptions { Channels = 1, MaxImages = samples ?? 0 });
            int n = folder.Count;
            return new Source("folder", $"the image folder {input}", folder.ToFloats(0, n), n,
                $"images are read as grey, shorter side resized to {DigitImages.Size} and centre-cropped where they are not {DigitImages.Size}x{DigitImages.Size} grey already", "eval.json");
        }
        if (!File.Exists(input)) throw new CliException($"no file or folder {input}.");
        if (input.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
        {
            var (images, count, cell, channels) = DigitImages.ReadGrid(input);
            int n = Math.Min(count, samples ?? count);
            var prepared = DigitImages.Prepare(images, n, channels, cell, cell, out var note);
            return new Source("grid", $"the grid {input} ({count} cells of {cell}x{cell})", prepared, n, note, "eval.json");
        }
        if (File.Exists(input + ".json") && !input.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            return FromRawFloats(input, samples);
        string runFolder = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(input))!)!;
        return FromCheckpoint(input, samples ?? 10_000, seed, kind, Path.Combine(runFolder, "eval.json"), loaded);
    }

    /// <summary>A run or checkpoint of a model with its own mode figures (grid25): its figures for N samples (default
    /// 2,500, PacGAN's count) and a scatter plot beside the run; null for anything else, with the checkpoint it read
    /// (if any) in <paramref name="loaded"/>, so that it is not read twice.</summary>
    private static string? PointModelFigures(string input, int? samples, int seed, AcceleratorKind kind, out LoadedCheckpoint? loaded)
    {
        loaded = null;
        bool checkpointLike = input.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || Directory.Exists(Path.Combine(input, "checkpoints"));
        if (!checkpointLike || !(File.Exists(input) || Directory.Exists(input))) return null;
        var ck = loaded = CheckpointStore.LoadToRead(input);
        var model = ModelRegistry.Get(ck.Config.Model);
        if (model.Figures is null) return null;
        int count = samples ?? model.FiguresSamples;
        var points = SampleCommand.Generate(ck, model, count, seed, kind);
        string folder = File.Exists(input) ? Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(input))!)! : input;
        string plot = Path.Combine(folder, model.IsImage ? "eval-samples.png" : "eval-points.png");
        int shown = model.IsImage ? Math.Min(count, 64) : count;
        model.SaveGrid(plot, points, shown);
        using var device = Device.Create(kind);                                      // the figures run where eval -a asks (stacked MNIST's classifier)
        return $"{model.Name} at step {ck.Step:N0} ({ck.Path}), {count:N0} samples, seed {seed}: {model.Figures(device, points, count)}; {(model.IsImage ? "the first 64 in" : "scatter plot")} {plot}";
    }

    /// <summary>Raw little-endian float32 images in [-1, 1] with a FILE.json beside them giving their "shape"
    /// [n, channels, height, width]: what the libtorch peer's <c>train</c> mode (shared/bench/torchsharp) writes,
    /// so that its samples are scored exactly as IlgpuGan's are, without an 8-bit round trip.</summary>
    private static Source FromRawFloats(string path, int? samples)
    {
        if (!BitConverter.IsLittleEndian) throw new CliException("raw float32 files are read on little-endian machines only.");
        JsonNode? info;
        try { info = JsonNode.Parse(File.ReadAllText(path + ".json")); }
        catch (JsonException e) { throw new CliException($"{path}.json: not JSON ({e.Message})."); }
        int[]? shape;
        try { shape = (info?["shape"] as JsonArray)?.Select(v => v?.GetValue<int>() ?? 0).ToArray(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException) { shape = null; }   // not whole numbers
        if (shape is not { Length: 4 } || shape.Any(v => v <= 0))
            throw new CliException($"{path}.json: needs \"shape\": [n, channels, height, width] for the raw float32 file {path}.");
        long expected = 4L * shape[0] * shape[1] * shape[2] * shape[3];
        long length = new FileInfo(path).Length;
        if (length != expected)
            throw new CliException($"{path}: {length:N0} bytes, but its shape [{string.Join(", ", shape)}] needs {expected:N0} (float32).");
        int n = Math.Min(shape[0], samples ?? shape[0]);
        var raw = new float[(long)n * shape[1] * shape[2] * shape[3]];
        using (var f = File.OpenRead(path)) f.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(raw.AsSpan()));
        var images = DigitImages.Prepare(raw, n, shape[1], shape[2], shape[3], out var note);
        string what = info?["implementation"] is JsonValue v && v.TryGetValue(out string? impl)
            ? $" ({impl}, {info?["workload"]}, {info?["steps"]} steps, seed {info?["seed"]})" : "";
        return new Source("raw", $"the raw float32 samples {path}{what}", images, n, note, path + ".eval.json");
    }

    private static Source FromCheckpoint(string path, int count, int seed, AcceleratorKind kind, string defaultOut, LoadedCheckpoint? loaded)
    {
        var ck = loaded ?? CheckpointStore.LoadToRead(path);
        var model = ModelRegistry.Get(ck.Config.Model);
        if (!model.IsImage) throw new CliException($"{ck.Path}: the {model.Name} model makes curves, not images: there is nothing to score (refused).");
        var raw = SampleCommand.Generate(ck, model, count, seed, kind);
        var images = DigitImages.Prepare(raw, count, model.SampleShape[0], model.SampleShape[1], model.SampleShape[2], out var note);
        return new Source("checkpoint", $"{model.Name} at step {ck.Step:N0} ({ck.Path}), G in eval mode, seed {seed}", images, count, note, defaultOut) { From = (ck, model) };
    }

    private static JsonObject ToJson(EvalFigures f) => new()
    {
        ["name"] = f.Name,
        ["samples"] = f.Samples,
        ["fid"] = f.Fid,
        ["kid_mean"] = f.Kid.Mean,
        ["kid_std"] = f.Kid.Std,
        ["inception_score_mean"] = f.InceptionScore.Mean,
        ["inception_score_std"] = f.InceptionScore.Std,
        ["precision"] = f.PrecisionRecall.Precision,
        ["recall"] = f.PrecisionRecall.Recall,
        ["density"] = f.PrecisionRecall.Density,
        ["coverage"] = f.PrecisionRecall.Coverage,
        ["class_histogram"] = new JsonArray(f.Classes.Histogram.Select(h => (JsonNode)h).ToArray()),
        ["classes_covered"] = f.Classes.Covered,
        ["class_cover_threshold"] = f.Classes.CoverThreshold,
        ["class_entropy"] = f.Classes.Entropy,
        ["class_kl_to_uniform"] = f.Classes.KlToUniform,
        ["near_copy_share"] = f.NearCopyShare,
        ["median_nearest_train_distance"] = f.MedianNearestTrainDistance,
        ["duplicate_pairs"] = f.DuplicatePairs,
        ["support_estimate"] = double.IsFinite(f.SupportEstimate) ? f.SupportEstimate : null,
        ["closest_pairs"] = new JsonArray(f.ClosestPairs.Select(c => (JsonNode)new JsonObject
            { ["sample"] = c.Sample, ["train"] = c.Train, ["distance"] = c.Distance }).ToArray()),
        ["seconds"] = Math.Round(f.Elapsed.TotalSeconds, 2),
    };

    private static void PrintTable(IReadOnlyList<EvalFigures> sets, int classes)
    {
        var inv = CultureInfo.InvariantCulture;
        var rows = new List<(string Name, Func<EvalFigures, string> Value, string Better)>
        {
            ("FID", f => f.Fid.ToString("F2", inv), "lower"),
            ("KID", f => $"{f.Kid.Mean.ToString("F3", inv)} ± {f.Kid.Std.ToString("F3", inv)}", "lower"),
            ("Inception Score", f => $"{f.InceptionScore.Mean.ToString("F2", inv)} ± {f.InceptionScore.Std.ToString("F2", inv)}", "higher, max " + classes),
            ("precision (k=3)", f => f.PrecisionRecall.Precision.ToString("F3", inv), "higher"),
            ("recall (k=3)", f => f.PrecisionRecall.Recall.ToString("F3", inv), "higher"),
            ("density", f => f.PrecisionRecall.Density.ToString("F3", inv), "about 1"),
            ("coverage", f => f.PrecisionRecall.Coverage.ToString("F3", inv), "higher"),
            ("classes covered", f => $"{f.Classes.Covered} / {classes}", "all"),
            ("class entropy / log 10", f => f.Classes.Entropy.ToString("F4", inv), "1 = uniform"),
            ("class KL to uniform", f => f.Classes.KlToUniform.ToString("F4", inv), "0 = uniform"),
            ("near-copies of training", f => f.NearCopyShare.ToString("P2", inv), "like real"),
            ("median distance to train", f => f.MedianNearestTrainDistance.ToString("F2", inv), "like real"),
            ("duplicate pairs", f => f.DuplicatePairs.ToString("N0", inv), "like real"),
            ("support (birthday)", f => double.IsFinite(f.SupportEstimate) ? f.SupportEstimate.ToString("N0", inv) : "> N^2/2", "higher"),
            ("seconds", f => f.Elapsed.TotalSeconds.ToString("F1", inv), ""),
        };
        var headers = sets.Select(s => $"{s.Name} ({s.Samples:N0})").ToList();
        int first = Math.Max(26, rows.Max(r => r.Name.Length) + 2);
        var widths = headers.Select((h, i) => Math.Max(h.Length, sets.Max(s => rows.Max(r => r.Value(sets[i]).Length))) + 2).ToList();
        var w = Console.Out;
        w.WriteLine();
        w.WriteLine("".PadRight(first) + string.Concat(headers.Select((h, i) => h.PadLeft(widths[i]))) + "   better");
        foreach (var (name, value, better) in rows)
            w.WriteLine(name.PadRight(first) + string.Concat(sets.Select((s, i) => value(s).PadLeft(widths[i]))) + "   " + better);
        w.WriteLine("class histogram:");
        foreach (var s in sets) w.WriteLine($"  {s.Name,-22} " + string.Join(" ", s.Classes.Histogram.Select(h => h.ToString(inv).PadLeft(5))));
        w.WriteLine();
    }
}
