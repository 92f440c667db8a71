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

    public static Command Create()
    {
        var cmd = new Command("sample", "Draw samples from a checkpoint's generator (in eval mode) for a seed: a PNG grid, or single PNGs.");
        cmd.Arguments.Add(From);
        foreach (Option o in new Option[] { Count, Seed, Out, Single, Nrow, Accelerator }) cmd.Options.Add(o);
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
        var ck = CheckpointStore.LoadForResume(p.GetValue(From)!);
        var model = ModelRegistry.Get(ck.Config.Model);
        bool single = p.GetValue(Single);
        string name = $"sample-{model.Name}-step{ck.Step}-seed{seed}";
        string output = p.GetValue(Out) ?? (single ? name : name + ".png");

        float[] samples = Generate(ck, model, count, seed, Device.ParseKind(p.GetValue(Accelerator)));
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

    /// <summary>G's outputs for <paramref name="count"/> latent vectors z ~ N(0, 1) drawn from stream (seed, 0),
    /// in chunks of 256, with G in eval mode (running batch-norm statistics).</summary>
    public static float[] Generate(LoadedCheckpoint ck, ModelSpec model, int count, int seed, AcceleratorKind kind)
    {
        using var device = Device.Create(kind, (ulong)seed);
        using var g = model.Generator(device);
        ck.Contents.LoadModule(g, "G");
        g.Eval();
        var result = new float[(long)count * model.SampleSize];
        using var noise = device.Persistent(model.LatentShape(count, model.LatentSize));
        device.Kernels.Normal(noise.View, new RandomState((ulong)(uint)seed, 0), 0f, 1f);
        const int chunk = 256;
        for (int start = 0; start < count; start += chunk)
        {
            int n = Math.Min(chunk, count - start);
            using (device.Tape.NoGrad())
            {
                var z = noise.View.SubView((long)start * model.LatentSize, (long)n * model.LatentSize);
                var out_ = g.Forward(device.Wrap(z, model.LatentShape(n, model.LatentSize)));
                out_.ToArray().CopyTo(result, (long)start * model.SampleSize);
            }
            device.Tape.EndStep();
        }
        return result;
    }
}
