using System.CommandLine;
using System.Globalization;
using IlgpuGan.Data;
using IlgpuGan.Evaluation;

namespace IlgpuGan.Cli.Commands;

/// <summary>
/// <c>ilgpu-gan train-classifier</c>: trains the evaluation classifier (LeNet-style, 128 features) on
/// labelled 28x28 digits and writes it as a safetensors file with its held-out accuracy in the
/// metadata. With the defaults it makes the file the tool ships (models/mnist-classifier.safetensors).
/// </summary>
public static class TrainClassifierCommand
{
    private static readonly Option<string?> Data = new("--data", "-d")
    { Description = "A folder with MNIST's IDX files (train-* and t10k-*, gzip or plain). Default: the bundled 7,996 / 2,004 digits.", HelpName = "dir" };
    private static readonly Option<string> Out = new("--out", "-o")
    { Description = "The safetensors file to write.", DefaultValueFactory = _ => "mnist-classifier.safetensors", HelpName = "file" };
    private static readonly Option<int?> Epochs = new("--epochs") { Description = "Passes over the training digits (default 12).", HelpName = "n" };
    private static readonly Option<int?> Seed = new("--seed", "-s") { Description = "Seed of the weights, order and shifts (default 1).", HelpName = "n" };
    private static readonly Option<double> MinAccuracy = new("--min-accuracy")
    { Description = "Fail (exit 1, nothing written) when the held-out accuracy is below this (default 0.985).", DefaultValueFactory = _ => 0.985, HelpName = "share" };
    private static readonly Option<string?> Accelerator = new("--accelerator", "-a") { Description = "cpu, opencl, cuda or auto.", HelpName = "kind" };

    public static Command Create()
    {
        var cmd = new Command("train-classifier",
            "Train the evaluation classifier (the features of FID, KID and precision/recall; the classes of IS and mode collapse) on labelled digits; " +
            "writes a safetensors file with its held-out accuracy in the metadata. The defaults remake the one the tool ships.");
        foreach (Option o in new Option[] { Data, Out, Epochs, Seed, MinAccuracy, Accelerator }) cmd.Options.Add(o);
        cmd.SetAction(Run);
        return cmd;
    }

    private static int Run(ParseResult p)
    {
        string folder = p.GetValue(Data) ?? MnistDataset.DefaultFolder;
        if (!Directory.Exists(folder)) throw new CliException($"--data: no folder {folder}.");
        var train = MnistDataset.Load(folder, train: true);
        var heldOut = MnistDataset.Load(folder, train: false);
        var options = new ClassifierOptions();
        if (p.GetValue(Epochs) is { } e) options = options with { Epochs = e >= 1 ? e : throw new CliException($"--epochs must be at least 1; got {e}.") };
        if (p.GetValue(Seed) is { } s) options = options with { Seed = s };
        using var device = Device.Create(Device.ParseKind(p.GetValue(Accelerator)), (ulong)options.Seed);
        Console.Out.WriteLine($"training the classifier on {train.Count:N0} digits ({heldOut.Count:N0} held out), {options.Epochs} epochs, on {device}");
        using var model = Classifier.Train(device, train, heldOut, options, ep =>
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"epoch {ep.Epoch,2}/{ep.Epochs}: loss {ep.TrainLoss:F4}  held-out accuracy {ep.HeldOutAccuracy:P2}  {ep.Elapsed.TotalSeconds:F0} s")));
        double accuracy = double.Parse(model.Metadata["held_out_accuracy"], CultureInfo.InvariantCulture);
        if (accuracy < p.GetValue(MinAccuracy))
            throw new CliException($"the held-out accuracy {accuracy:P2} is below --min-accuracy {p.GetValue(MinAccuracy):P2}; nothing written.");
        string output = p.GetValue(Out)!;
        model.Save(output);
        Console.Out.WriteLine($"wrote {Path.GetFullPath(output)}: held-out accuracy {accuracy:P2} on {heldOut.Count:N0} digits");
        return ExitCodes.Ok;
    }
}
