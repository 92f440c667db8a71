using System.CommandLine;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Kernels;
using IlgpuGan.Recipes;

namespace IlgpuGan.Cli.Commands;

/// <summary><c>ilgpu-gan sample</c>: G's samples from a checkpoint, as one PNG grid or one PNG per sample.</summary>
public static class SampleCommand
{
    private static readonly Argument<string> From = new("checkpoint")
    {
        Description = "A checkpoint file, or a run folder (its latest checkpoint).",
    };
    private static readonly Option<int> Count = new("--count", "-n") { Description = "How many samples.", DefaultValueFactory = _ => 64, HelpName = "n" };
    private static readonly Option<int> Seed = new("--seed", "-s") { Description = "Seed of the latent noise: the same seed gives the same samples.", DefaultValueFactory = _ => 0, HelpName = "n" };
    private static readonly Option<string?> Out = new("--out", "-o")
    { Description = "The PNG to write (default sample-<model>-step<N>-seed<S>.png), or with --single the folder (default the same name without .png).", HelpName = "path" };
    private static readonly Option<bool> Single = new("--single") { Description = "Write one PNG per sample (sample-0000.png, ...) instead of a grid." };
    private static readonly Option<int> Nrow = new("--nrow") { Description = "Samples per row of the grid.", DefaultValueFactory = _ => 8, HelpName = "n" };
    private static readonly Option<string?> Accelerator = new("--accelerator", "-a") { Description = "cpu, opencl, cuda or auto.", HelpName = "kind" };
    private static readonly Option<string?> Class = new("--class", "-c")
    { Description = "Conditional models: every sample of this class (its number, or for folder data its name). Default: all classes in turn.", HelpName = "class" };
    private static readonly Option<bool> ByClass = new("--by-class")
    { Description = "Conditional models: one row per class, the same noise in each column (--count samples per row, default 8).", };

    public static Command Create()
    {
        var cmd = new Command("sample", "Draw samples from a checkpoint's generator (in eval mode) for a seed: a PNG grid, or single PNGs.");
        cmd.Arguments.Add(From);
        foreach (Option o in new Option[] { Count, Seed, Out, Single, Nrow, Accelerator, Class, ByClass }) cmd.Options.Add(o);
        cmd.SetAction(Run);
        return cmd;
    }

    private static int Run(ParseResult p)
    {
        int count = p.GetValue(Count), seed = p.GetValue(Seed), nrow = p.GetValue(Nrow);
        if (count < 1) throw new CliException($"--count must be at least 1; got {count}.");
        if (nrow < 1) throw new CliException($"--nrow must be at least 1; got {nrow}.");
        if (TranslationCommands.IsTranslationCheckpoint(p.GetValue(From)!))
            return TranslationCommands.SampleVae(p.GetValue(From)!, count, seed, p.GetValue(Out), nrow, p.GetValue(Accelerator));
        var ck = CheckpointStore.LoadToRead(p.GetValue(From)!);
        var model = ModelRegistry.Get(ck.Config.Model);
        bool single = p.GetValue(Single), byClass = p.GetValue(ByClass);
        string? classText = p.GetValue(Class);
        string name = $"sample-{model.Name}-step{ck.Step}-seed{seed}";
        float[]? labels = null;
        if (!model.IsConditional)
        {
            if (classText is not null) throw new CliException($"--class {classText}: the model '{model.Name}' is not conditional (it takes no class); sample it without --class.");
            if (byClass) throw new CliException($"--by-class: the model '{model.Name}' is not conditional (it takes no class).");
        }
        else
        {
            var classes = ClassesOf(ck, model);
            if (classText is not null && byClass) throw new CliException("--class and --by-class exclude each other: give one.");
            if (classText is not null)
            {
                int label;
                try { label = classes.Resolve(classText); }
                catch (ArgumentException e) { throw new CliException($"--class {classText}: {e.Message}"); }
                labels = Enumerable.Repeat((float)label, count).ToArray();
                name += $"-class{label}";
            }
            else if (byClass)
            {
                int perRow = p.GetResult(Count) is { Implicit: false } ? count : 8;
                count = classes.Count * perRow;
                nrow = perRow;
                labels = Runs.Session.ByClassLabels(classes.Count, perRow);
                name += "-by-class";
            }
            else labels = Enumerable.Range(0, count).Select(i => (float)(i % classes.Count)).ToArray();   // all classes in turn
        }
        string output = p.GetValue(Out) ?? (single ? name : name + ".png");

        float[] samples = Generate(ck, model, count, seed, Device.ParseKind(p.GetValue(Accelerator)), labels, sameNoisePerColumn: byClass ? nrow : 0);
        if (single)
        {
            Directory.CreateDirectory(output);
            for (int i = 0; i < count; i++)
                model.SaveGrid(Path.Combine(output, $"sample-{i:D4}.png"), samples.AsSpan(i * model.SampleSize, model.SampleSize), 1, 1);
            Console.Out.WriteLine($"wrote {count} PNGs to {Path.GetFullPath(output)} ({model.Name}, step {ck.Step:N0}, seed {seed})");
        }
        else
        {
            model.SaveGrid(output, samples, count, nrow);
            Console.Out.WriteLine($"wrote {Path.GetFullPath(output)}: {count} samples of {model.Name} at step {ck.Step:N0}, seed {seed}");
        }
        return ExitCodes.Ok;
    }

    /// <summary>The classes of a conditional checkpoint: the names it keeps, else the model's numbered ones.</summary>
    public static Data.ClassLabels ClassesOf(LoadedCheckpoint ck, ModelSpec model) =>
        new(ck.ClassNames ?? Enumerable.Range(0, model.Classes).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(), []);

    /// <summary>G's outputs for <paramref name="count"/> latent vectors z ~ N(0, 1) drawn from stream (seed, 0),
    /// in chunks of 256, with G in eval mode (running batch-norm statistics). A conditional model needs
    /// <paramref name="labels"/> (one per sample; null: all classes in turn); with
    /// <paramref name="sameNoisePerColumn"/> = k, sample i gets latent i % k (the same noise in each column of a k-wide grid).</summary>
    public static float[] Generate(LoadedCheckpoint ck, ModelSpec model, int count, int seed, AcceleratorKind kind,
        float[]? labels = null, int sameNoisePerColumn = 0)
    {
        int classes = model.IsConditional ? ClassesOf(ck, model).Count : 0;
        if (model.IsConditional)
        {
            labels ??= Enumerable.Range(0, count).Select(i => (float)(i % classes)).ToArray();
            if (labels.Length != count) throw new ArgumentException($"{labels.Length} labels for {count} samples.");
            try { Ops.CheckLabels(labels, classes); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
        }
        else if (labels is not null) throw new CliException($"The model '{model.Name}' is not conditional: it takes no class labels.");
        using var device = Device.Create(kind, (ulong)seed);
        using var g = model.BuildGenerator(device, classes);
        ck.Contents.LoadModule(g, "G");
        return Generate(device, g, model, count, seed, labels, sameNoisePerColumn);
    }

    /// <summary>As above, for a G already on <paramref name="device"/> (a training run's: its mode is put back after,
    /// and its random stream is not touched: the latents come from stream (seed, 0)). Conditional models need labels.</summary>
    public static float[] Generate(Device device, Nn.Module g, ModelSpec model, int count, int seed, float[]? labels = null, int sameNoisePerColumn = 0)
    {
        bool training = g.Training;
        g.Eval();
        try
        {
            var result = new float[(long)count * model.SampleSize];
            using var noise = device.Persistent(model.LatentShape(count, model.LatentSize));
            if (sameNoisePerColumn > 0)
            {
                int k = sameNoisePerColumn;
                long row = (long)k * model.LatentSize;
                device.Kernels.Normal(noise.View.SubView(0, row), new RandomState((ulong)(uint)seed, 0), 0f, 1f);
                for (long at = row; at < noise.Length; at += row)
                    device.Kernels.Copy(noise.View.SubView(0, Math.Min(row, noise.Length - at)), noise.View.SubView(at, Math.Min(row, noise.Length - at)));
            }
            else device.Kernels.Normal(noise.View, new RandomState((ulong)(uint)seed, 0), 0f, 1f);
            using var labelTensor = labels is null ? null : device.Persistent(new Shape(count), labels);
            const int chunk = 256;
            for (int start = 0; start < count; start += chunk)
            {
                int n = Math.Min(chunk, count - start);
                using (device.Tape.NoGrad())
                {
                    var z = noise.View.SubView((long)start * model.LatentSize, (long)n * model.LatentSize);
                    var zt = device.Wrap(z, model.LatentShape(n, model.LatentSize));
                    var out_ = g is Nn.ConditionalModule c
                        ? c.Forward(zt, device.Wrap(labelTensor!.View.SubView(start, n), new Shape(n)))
                        : g.Forward(zt);
                    out_.ToArray().CopyTo(result, (long)start * model.SampleSize);
                }
                device.Tape.EndStep();
            }
            return result;
        }
        finally { g.Train(training); }
    }
}
