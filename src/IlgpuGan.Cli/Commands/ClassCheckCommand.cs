using System.CommandLine;
using System.Globalization;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Evaluation;
using IlgpuGan.Recipes;

namespace IlgpuGan.Cli.Commands;

/// <summary>
/// <c>ilgpu-gan class-check</c>: does a conditional checkpoint make the class it is asked for? For
/// each class c, G draws <c>--count</c> samples of class c (as <c>sample --class c</c>) and an
/// independent classifier (the shipped MNIST classifier, or <c>--classifier</c>) labels them; prints
/// the share labelled c per class and the lowest, and exits 1 when one is below <c>--min</c>.
/// </summary>
public static class ClassCheckCommand
{
    private static readonly Argument<string> From = new("checkpoint") { Description = "A conditional model's checkpoint file, or its run folder." };
    private static readonly Option<int> Count = new("--count", "-n") { Description = "Samples per class.", DefaultValueFactory = _ => 500, HelpName = "n" };
    private static readonly Option<int> Seed = new("--seed", "-s") { Description = "Seed of the latent noise.", DefaultValueFactory = _ => 0, HelpName = "n" };
    private static readonly Option<double> Min = new("--min") { Description = "The share each class must reach (exit code 1 below it).", DefaultValueFactory = _ => 0.9, HelpName = "share" };
    private static readonly Option<string?> ClassifierFile = new("--classifier") { Description = "A classifier checkpoint (default: the shipped MNIST classifier).", HelpName = "file" };
    private static readonly Option<string?> Accelerator = new("--accelerator", "-a") { Description = "cpu, opencl, cuda or auto.", HelpName = "kind" };

    public static Command Create()
    {
        var cmd = new Command("class-check", "For each class of a conditional checkpoint, the share of its samples an independent classifier labels as that class.");
        cmd.Arguments.Add(From);
        foreach (Option o in new Option[] { Count, Seed, Min, ClassifierFile, Accelerator }) cmd.Options.Add(o);
        cmd.SetAction(Run);
        return cmd;
    }

    private static int Run(ParseResult p)
    {
        int count = p.GetValue(Count), seed = p.GetValue(Seed);
        double min = p.GetValue(Min);
        if (count < 1) throw new CliException($"--count must be at least 1; got {count}.");
        var ck = CheckpointStore.LoadForResume(p.GetValue(From)!);
        var model = ModelRegistry.Get(ck.Config.Model);
        if (!model.IsConditional) throw new CliException($"{ck.Path}: the model '{model.Name}' is not conditional: it has no classes to check.");
        if (!model.IsImage || model.SampleShape[0] != 1 || model.SampleShape[1] != Classifier.ImageSize)
            throw new CliException($"The classifier takes 28x28 grey images; {model.Name} makes {model.ShapeText}.");
        string path = p.GetValue(ClassifierFile) ?? Classifier.ShippedPath
            ?? throw new CliException($"no classifier: models/{Classifier.ShippedFileName} is not beside the tool; give --classifier FILE.");
        var kind = Device.ParseKind(p.GetValue(Accelerator));
        var results = Check(ck, model, path, count, seed, kind);
        foreach (var (name, share) in results)
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"class {name}: {share:P1} of {count} samples labelled {name}"));
        var worst = results.MinBy(r => r.Share);
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{model.Name} at step {ck.Step:N0}: lowest {worst.Share:P1} (class {worst.Name}); mean {results.Average(r => r.Share):P1}; required {min:P0}: {(worst.Share >= min ? "PASS" : "FAIL")}"));
        return worst.Share >= min ? ExitCodes.Ok : ExitCodes.Error;
    }

    /// <summary>Per class, the share of <paramref name="count"/> samples the classifier labels as that class.</summary>
    public static List<(string Name, double Share)> Check(LoadedCheckpoint ck, ModelSpec model, string classifierPath, int count, int seed, AcceleratorKind kind)
    {
        var classes = SampleCommand.ClassesOf(ck, model);
        using var device = Device.Create(kind, (ulong)seed);
        using var classifier = Classifier.Load(device, classifierPath);
        var results = new List<(string, double)>();
        for (int c = 0; c < classes.Count; c++)
        {
            var samples = SampleCommand.Generate(ck, model, count, seed, kind, Enumerable.Repeat((float)c, count).ToArray());
            var (_, probs) = classifier.Evaluate(samples, count);
            int hits = 0;
            for (int i = 0; i < count; i++)
            {
                var row = probs.AsSpan(i * classifier.Classes, classifier.Classes);
                int best = 0;
                for (int k = 1; k < row.Length; k++) if (row[k] > row[best]) best = k;
                if (best == c) hits++;
            }
            results.Add((classes.Names[c], (double)hits / count));
        }
        return results;
    }
}
