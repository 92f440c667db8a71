using System.CommandLine;
using System.Globalization;
using IlgpuGan.Data;
using IlgpuGan.Evaluation;
using IlgpuGan.Imaging;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Translation;
using StbImageSharp;

namespace IlgpuGan.Cli.Commands;

/// <summary>
/// The image-to-image translation and autoencoder commands (issue 14): <c>train-translation</c>
/// (cyclegan, pix2pix, ae, ae-swap, vae), <c>translate</c>, <c>reconstruct</c>, <c>encode</c>,
/// <c>decode</c>, <c>swap</c>, <c>eval-translation</c>; <c>sample</c> hands VAE checkpoints to
/// <see cref="SampleVae"/>.
/// </summary>
public static class TranslationCommands
{
    private static Option<string?> Accel() => new("--accelerator", "-a") { Description = "cpu, opencl, cuda or auto.", HelpName = "kind" };

    public static IEnumerable<Command> Create() => [Train(), Translate(), Reconstruct(), Encode(), Decode(), Swap(), Eval()];

    // ---- train-translation ------------------------------------------------------------------------

    private static Command Train()
    {
        var model = new Option<string>("--model", "-m") { Description = string.Join("; ", IlgpuGan.Recipes.ModelRegistry.Translation.Select(m => $"{m.Name}: {m.Description}")) + ".", DefaultValueFactory = _ => "cyclegan", HelpName = "name" };
        var data = new Option<string?>("--data", "-d") { Description = "builtin (the digit pair, default), a CycleGAN folder (trainA, trainB, testA, testB) or, for pix2pix, a folder of A|B images.", HelpName = "dir" };
        var dataA = new Option<string?>("--data-a") { Description = "A folder of domain A images.", HelpName = "dir" };
        var dataB = new Option<string?>("--data-b") { Description = "A folder of domain B images (pix2pix: the same file names as --data-a).", HelpName = "dir" };
        var steps = new Option<long?>("--steps") { Description = "Training steps (the learning rate is constant for the first half, then falls linearly to 0).", HelpName = "n" };
        var ngf = new Option<int?>("--ngf") { Description = "Generator width.", HelpName = "n" };
        var ndf = new Option<int?>("--ndf") { Description = "Discriminator width.", HelpName = "n" };
        var blocks = new Option<int?>("--blocks") { Description = "CycleGAN's residual blocks (6 or 9).", HelpName = "n" };
        var dLayers = new Option<int?>("--d-layers") { Description = "PatchGAN stride-2 layers (3: 70x70 patches).", HelpName = "n" };
        var size = new Option<int?>("--size") { Description = "Image side for folder data.", HelpName = "n" };
        var channels = new Option<int?>("--channels") { Description = "1 (grey) or 3 (RGB) for folder data.", HelpName = "n" };
        var batch = new Option<int?>("--batch", "-b") { Description = "Batch size.", HelpName = "n" };
        var arch = new Option<string?>("--arch") { Description = "Autoencoders: conv or mlp.", HelpName = "kind" };
        var invert = new Option<float?>("--invert-augment") { Description = "ae-swap: probability that an encoder input is shown inverted while its decoder reconstructs it as it is (default 0.5 on the built-in pair, whose domain B is negative; 0 on folder data).", HelpName = "p" };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed.", DefaultValueFactory = _ => 1, HelpName = "n" };
        var out_ = new Option<string?>("--out", "-o") { Description = "Output folder (default out/<model>).", HelpName = "dir" };
        var resume = new Option<bool>("--resume", "-r") { Description = "Continue the --out folder's run from its latest checkpoint." };
        var keepOption = new Option<int>("--keep") { Description = "Checkpoints to keep, the newest (latest.safetensors is a copy of the newest).", DefaultValueFactory = _ => 3, HelpName = "n" };
        var every = new Option<long>("--checkpoint-every") { Description = "Steps between checkpoints and grids.", DefaultValueFactory = _ => 1000, HelpName = "n" };
        var logEvery = new Option<long>("--log-every") { Description = "Steps between log lines.", DefaultValueFactory = _ => 100, HelpName = "n" };
        var bench = new Option<int?>("--bench") { Description = "Time N training steps (after 20 warm-up ones) and print the median; writes nothing.", HelpName = "n" };
        var accel = Accel();
        var cmd = new Command("train-translation", "Train an image-to-image translation model (cyclegan, pix2pix) or an autoencoder (ae, ae-swap, vae); the built-in digit pair by default.");
        foreach (Option o in new Option[] { model, data, dataA, dataB, steps, ngf, ndf, blocks, dLayers, size, channels, batch, arch, invert, seed, out_, resume, keepOption, every, logEvery, bench, accel }) cmd.Options.Add(o);
        cmd.SetAction(p =>
        {
            string name = p.GetValue(model)!.ToLowerInvariant();
            string outDir = p.GetValue(out_) ?? Path.Combine("out", name);
            string latest = Path.Combine(outDir, "checkpoints", "latest.safetensors");
            TranslationOptions o;
            bool builtIn = p.GetValue(data) is null or "builtin" && p.GetValue(dataA) is null && p.GetValue(dataB) is null;
            if (p.GetValue(resume))
            {
                if (!File.Exists(latest)) throw new CliException($"--resume: no checkpoint {latest}.");
                o = TranslationRun.OptionsOf(latest);
                if (p.GetValue(steps) is { } more) o = o with { Steps = more };
            }
            else
            {
                if (File.Exists(latest) && p.GetValue(bench) is null) throw new CliException($"{outDir} already holds a run: continue it with --resume or choose another --out.");
                o = TranslationRun.Defaults(name, builtIn) with { Seed = p.GetValue(seed) };
                if (p.GetValue(steps) is { } st) o = o with { Steps = st, DecayFrom = st / 2 };
                if (p.GetValue(ngf) is { } g) o = o with { Ngf = g };
                if (p.GetValue(ndf) is { } dd) o = o with { Ndf = dd };
                if (p.GetValue(blocks) is { } bl) o = o with { Blocks = bl };
                if (p.GetValue(dLayers) is { } dl) o = o with { DLayers = dl };
                if (p.GetValue(size) is { } sz) o = o with { Size = sz };
                if (p.GetValue(channels) is { } ch) o = o with { Channels = ch };
                if (p.GetValue(batch) is { } b) o = o with { Batch = b };
                if (p.GetValue(arch) is { } ar) o = o with { Arch = ar };
                if (p.GetValue(invert) is { } inv)
                {
                    if (!(inv >= 0 && inv <= 1)) throw new CliException($"--invert-augment must be in [0, 1]; got {inv.ToString(CultureInfo.InvariantCulture)}.");
                    o = o with { InvertAugment = inv };
                }
            }
            var td = LoadData(o, p.GetValue(data), p.GetValue(dataA), p.GetValue(dataB));
            using var device = Device.Create(Device.ParseKind(p.GetValue(accel)), (ulong)o.Seed);
            using var run = new TranslationRun(device, o, td);
            if (p.GetValue(resume)) run.Load(latest);
            if (p.GetValue(bench) is { } n)
            {
                var (median, min) = run.Bench(20, Math.Max(1, n));
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{o.Model.ToUpperInvariant()}-STEP ilgpugan model={o.Model} batch={o.Batch} size={o.Size} ngf={o.Ngf} blocks={o.Blocks} ndf={o.Ndf} steps={n} median_ms={median:F2} min_ms={min:F2} device=\"{device}\""));
                return ExitCodes.Ok;
            }
            Console.Out.WriteLine($"ilgpu-gan train-translation: {o.Model} ({string.Join(", ", run.Model.Parts.Select(x => $"{x.Name} {x.Module.ParameterCount():N0}"))} parameters) on {td.Description}; {device}; step {run.Model.Step:N0} of {o.Steps:N0}");
            using var stop = StopSignal.Listen();     // SIGINT or SIGTERM: finish the step, write a checkpoint, exit 130 / 143
            var history = p.GetValue(resume) ? TranslationTraining.HistoryOf(latest) : new RunHistory();
            if (p.GetValue(keepOption) < 1) throw new CliException($"--keep must be at least 1; got {p.GetValue(keepOption)}.");
            if (!TranslationTraining.Run(run, outDir, device.ToString(), history, Console.Out, p.GetValue(logEvery), p.GetValue(every), () => stop.Requested, p.GetValue(keepOption)))
            {
                Console.Out.WriteLine($"stopped by {stop.Signal} at step {run.Model.Step:N0}: checkpoint {latest}; continue with --resume");
                return stop.ExitCode;
            }
            if (td.TestA != null && Classifier.ShippedPath is { } cp && o.Channels == 1)
            {
                using var classifier = Classifier.Load(device, cp);
                Console.Out.WriteLine(TranslationEval.Text(TranslationEval.Run(run.Model, td, classifier)));
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The data a run trains on; bad combinations are one-line errors naming the option.</summary>
    public static TranslationData LoadData(TranslationOptions o, string? data, string? dataA, string? dataB)
    {
        bool paired = o.Model == "pix2pix";
        if ((dataA is null) != (dataB is null)) throw new CliException("give both --data-a and --data-b, or neither.");
        if (dataA != null)
            return paired ? TranslationData.PairedFolders(dataA, dataB!, o.Size, o.Channels) : TranslationData.Unpaired(dataA, dataB!, o.Size, o.Channels);
        if (data is null or "builtin")
        {
            string folder = MnistDataset.DefaultFolder;
            return TranslationData.BuiltIn(MnistDataset.Load(folder, true), MnistDataset.Load(folder, false), paired || o.Model is "ae" or "vae", o.Size);
        }
        if (!Directory.Exists(data)) throw new CliException($"--data {data}: no such folder.");
        bool cycleLayout = Directory.Exists(Path.Combine(data, "trainA"));
        if (paired)
        {
            if (cycleLayout)
                throw new CliException($"--data {data} holds trainA/trainB (unpaired domains): pix2pix needs pairs (A|B images side by side, or --data-a/--data-b with matching file names); use --model cyclegan.");
            return TranslationData.Aligned(data, o.Size, o.Channels);
        }
        if (!cycleLayout) throw new CliException($"--data {data}: no trainA folder; give a CycleGAN data set (trainA, trainB, testA, testB) or --data-a and --data-b.");
        return TranslationData.CycleGanFolder(data, o.Size, o.Channels);
    }

    // ---- applying a checkpoint ----------------------------------------------------------------------

    private static readonly Argument<string> Checkpoint = new("checkpoint") { Description = "A translation or autoencoder checkpoint file, or a run folder (its latest)." };

    private static string CheckpointPath(string p)
    {
        string path = Directory.Exists(p) ? Path.Combine(p, "checkpoints", "latest.safetensors") : p;
        if (!File.Exists(path)) throw new CliException($"no checkpoint {path}.");
        return path;
    }

    /// <summary>Image files, or every image in the folders given, with their names.</summary>
    private static List<string> Inputs(IEnumerable<string> inputs)
    {
        var files = new List<string>();
        foreach (var i in inputs)
        {
            if (Directory.Exists(i))
            {
                var found = ImageFolderDataset.FindImageFiles(i);
                if (found.Length == 0) throw new CliException($"{i}: the folder holds no images.");
                files.AddRange(found);
            }
            else if (File.Exists(i)) files.Add(i);
            else throw new CliException($"{i}: no such file or folder.");
        }
        if (files.Count == 0) throw new CliException("no input images given.");
        return files;
    }

    /// <summary>Reads an image at its own size as C planes in [-1, 1] (grey: BT.601 luma).</summary>
    public static (float[] Data, int H, int W) ReadImage(string file, int channels)
    {
        ImageResult img;
        try { img = ImageResult.FromMemory(File.ReadAllBytes(file), ColorComponents.RedGreenBlue); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException) { throw new CliException($"{file}: cannot read the image: {e.Message}"); }
        int n = img.Width * img.Height;
        var o = new float[channels * n];
        for (int i = 0; i < n; i++)
        {
            byte r = img.Data[3 * i], g = img.Data[3 * i + 1], b = img.Data[3 * i + 2];
            if (channels == 1) o[i] = (0.299f * r + 0.587f * g + 0.114f * b) / 127.5f - 1f;
            else { o[i] = r / 127.5f - 1f; o[n + i] = g / 127.5f - 1f; o[2 * n + i] = b / 127.5f - 1f; }
        }
        return (o, img.Height, img.Width);
    }

    private static void Write(string path, float[] image, int c, int h, int w) => ImageGrid.SavePng(path, image, 1, c, h, w, 1, 0);

    /// <summary>Maps each input image through <paramref name="map"/> and writes it under the same name (.png) into --out.</summary>
    private static int MapImages(ParseResult p, Argument<string> ck, Argument<string[]> inputs, Option<string> outDir, Option<string?> accel,
        Func<TranslationModel, string> check, Func<TranslationModel, float[], int, int, float[]> map, string verb)
    {
        string path = CheckpointPath(p.GetValue(ck)!);
        var o = TranslationRun.OptionsOf(path);
        using var device = Device.Create(Device.ParseKind(p.GetValue(accel)), 0);
        using var m = TranslationRun.LoadModel(device, path);
        string problem = check(m);
        if (problem.Length > 0) throw new CliException(problem);
        string dir = p.GetValue(outDir)!;
        Directory.CreateDirectory(dir);
        var files = Inputs(p.GetValue(inputs)!);
        foreach (var f in files)
        {
            var (x, h, w) = ReadImage(f, o.Channels);
            if (m.CheckSize(h, w) is { } bad) throw new CliException($"{f}: {bad}.");
            Write(Path.Combine(dir, Path.GetFileNameWithoutExtension(f) + ".png"), map(m, x, h, w), o.Channels, h, w);
        }
        Console.Out.WriteLine($"{verb} {files.Count} image(s) into {Path.GetFullPath(dir)} ({o.Model}, step {m.Step:N0})");
        return ExitCodes.Ok;
    }

    private static (Argument<string[]> Inputs, Option<string> Out, Option<string?> Accel) Common(Command cmd)
    {
        var inputs = new Argument<string[]>("inputs") { Description = "Image files or folders of images.", Arity = ArgumentArity.OneOrMore };
        var out_ = new Option<string>("--out", "-o") { Description = "Output folder.", DefaultValueFactory = _ => "out/translated", HelpName = "dir" };
        var accel = Accel();
        cmd.Arguments.Add(Checkpoint);
        cmd.Arguments.Add(inputs);
        cmd.Options.Add(out_);
        cmd.Options.Add(accel);
        return (inputs, out_, accel);
    }

    private static Command Translate()
    {
        var cmd = new Command("translate", "Translate images with a cyclegan (--direction a2b or b2a) or pix2pix (a2b) checkpoint; any size the generator takes.");
        var dir = new Option<string>("--direction") { Description = "a2b or b2a.", DefaultValueFactory = _ => "a2b", HelpName = "a2b|b2a" };
        cmd.Options.Add(dir);
        var (inputs, out_, accel) = Common(cmd);
        cmd.SetAction(p =>
        {
            string d = p.GetValue(dir)!;
            if (d is not ("a2b" or "b2a")) throw new CliException($"--direction must be a2b or b2a; got {d}.");
            return MapImages(p, Checkpoint, inputs, out_, accel,
                m => m.Options.Model switch
                {
                    "cyclegan" => "",
                    "pix2pix" => d == "a2b" ? "" : "a pix2pix checkpoint translates a2b only.",
                    var other => $"translate needs a cyclegan or pix2pix checkpoint; this is {other} (use reconstruct, encode, decode or swap).",
                },
                (m, x, h, w) => m.Apply(m.Options.Model == "pix2pix" ? "G" : d == "a2b" ? "G_A" : "G_B", x, 1, m.Options.Channels, h, w), "translated");
        });
        return cmd;
    }

    private static string NeedsAutoencoder(TranslationModel m) =>
        m.Options.Model is "ae" or "ae-swap" or "vae" ? "" : $"this command needs an ae, ae-swap or vae checkpoint; this is {m.Options.Model}.";

    private static float[] Decoded(TranslationModel m, string decoder, float[] z, int count) =>
        m is Vae v ? v.Decode(z, count) : m.Apply(decoder, z, count, 1, 1, m.Options.Latent);

    private static Command Reconstruct()
    {
        var cmd = new Command("reconstruct", "Encode and decode images with an autoencoder checkpoint (ae-swap: with the decoder of --domain).");
        var domain = new Option<string>("--domain") { Description = "ae-swap: a or b.", DefaultValueFactory = _ => "a", HelpName = "a|b" };
        cmd.Options.Add(domain);
        var (inputs, out_, accel) = Common(cmd);
        cmd.SetAction(p => MapImages(p, Checkpoint, inputs, out_, accel, NeedsAutoencoder,
            (m, x, h, w) => Decoded(m, m.Options.Model == "ae-swap" ? (p.GetValue(domain) == "b" ? "Dec_B" : "Dec_A") : "Dec", m.Apply("E", x, 1, m.Options.Channels, h, w), 1), "reconstructed"));
        return cmd;
    }

    private static Command Swap()
    {
        var cmd = new Command("swap", "ae-swap: encode with the shared encoder and decode with the other domain's decoder (a2b: Dec_B(E(a))).");
        var dir = new Option<string>("--direction") { Description = "a2b or b2a.", DefaultValueFactory = _ => "a2b", HelpName = "a2b|b2a" };
        cmd.Options.Add(dir);
        var (inputs, out_, accel) = Common(cmd);
        cmd.SetAction(p => MapImages(p, Checkpoint, inputs, out_, accel,
            m => m.Options.Model == "ae-swap" ? "" : $"swap needs an ae-swap checkpoint; this is {m.Options.Model}.",
            (m, x, h, w) => m.Apply(p.GetValue(dir) == "b2a" ? "Dec_A" : "Dec_B", m.Apply("E", x, 1, m.Options.Channels, h, w), 1, 1, 1, m.Options.Latent), "swapped"));
        return cmd;
    }

    private static Command Encode()
    {
        var cmd = new Command("encode", "Write the latent codes of images (an autoencoder checkpoint; the VAE's mean) as a safetensors file: 'z' (count, latent) and the file names.");
        var inputs = new Argument<string[]>("inputs") { Description = "Image files or folders.", Arity = ArgumentArity.OneOrMore };
        var out_ = new Option<string>("--out", "-o") { Description = "The safetensors file.", DefaultValueFactory = _ => "latents.safetensors", HelpName = "file" };
        var accel = Accel();
        cmd.Arguments.Add(Checkpoint); cmd.Arguments.Add(inputs); cmd.Options.Add(out_); cmd.Options.Add(accel);
        cmd.SetAction(p =>
        {
            string path = CheckpointPath(p.GetValue(Checkpoint)!);
            using var device = Device.Create(Device.ParseKind(p.GetValue(accel)), 0);
            using var m = TranslationRun.LoadModel(device, path);
            if (NeedsAutoencoder(m) is { Length: > 0 } bad) throw new CliException(bad);
            var files = Inputs(p.GetValue(inputs)!);
            var z = new List<float>();
            foreach (var f in files)
            {
                var (x, h, w) = ReadImage(f, m.Options.Channels);
                if (m.CheckSize(h, w) is { } why) throw new CliException($"{f}: {why}.");
                z.AddRange(m.Apply("E", x, 1, m.Options.Channels, h, w));
            }
            IO.SafeTensors.Write(p.GetValue(out_)!, [("z", new IO.HostTensor([files.Count, m.Options.Latent], z.ToArray()))],
                new Dictionary<string, string> { ["files"] = string.Join("\n", files.Select(Path.GetFileName)), ["model"] = m.Options.Model });
            Console.Out.WriteLine($"encoded {files.Count} image(s) to {Path.GetFullPath(p.GetValue(out_)!)} (latent {m.Options.Latent})");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Decode()
    {
        var cmd = new Command("decode", "Decode the latent codes of a safetensors file ('z', as encode writes it) into images (ae-swap: with the decoder of --domain).");
        var latents = new Argument<string>("latents") { Description = "The safetensors file with 'z' (count, latent)." };
        var out_ = new Option<string>("--out", "-o") { Description = "Output folder.", DefaultValueFactory = _ => "out/decoded", HelpName = "dir" };
        var domain = new Option<string>("--domain") { Description = "ae-swap: a or b.", DefaultValueFactory = _ => "a", HelpName = "a|b" };
        var accel = Accel();
        cmd.Arguments.Add(Checkpoint); cmd.Arguments.Add(latents); cmd.Options.Add(out_); cmd.Options.Add(domain); cmd.Options.Add(accel);
        cmd.SetAction(p =>
        {
            string path = CheckpointPath(p.GetValue(Checkpoint)!);
            using var device = Device.Create(Device.ParseKind(p.GetValue(accel)), 0);
            using var m = TranslationRun.LoadModel(device, path);
            if (NeedsAutoencoder(m) is { Length: > 0 } bad) throw new CliException(bad);
            var c = IO.SafeTensors.Read(p.GetValue(latents)!);
            if (!c.Tensors.TryGetValue("z", out var z) || z.Shape.Length != 2 || z.Shape[1] != m.Options.Latent)
                throw new CliException($"{p.GetValue(latents)}: needs a tensor 'z' of (count, {m.Options.Latent}).");
            int count = z.Shape[0], s = m.Options.Size, ch = m.Options.Channels;
            var images = Decoded(m, m.Options.Model == "ae-swap" ? (p.GetValue(domain) == "b" ? "Dec_B" : "Dec_A") : "Dec", z.Data, count);
            string dir = p.GetValue(out_)!;
            Directory.CreateDirectory(dir);
            for (int i = 0; i < count; i++) Write(Path.Combine(dir, $"decoded-{i:D4}.png"), images.AsSpan(i * ch * s * s, ch * s * s).ToArray(), ch, s, s);
            Console.Out.WriteLine($"decoded {count} code(s) into {Path.GetFullPath(dir)}");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary><c>sample</c> for a VAE checkpoint: a grid of decoded z ~ N(0, I).</summary>
    public static bool IsTranslationCheckpoint(string p)
    {
        string path = Directory.Exists(p) ? Path.Combine(p, "checkpoints", "latest.safetensors") : p;
        if (!File.Exists(path)) return false;
        try { return IO.SafeTensors.Read(path).Metadata.ContainsKey(TranslationModel.OptionsKey); }
        catch (InvalidDataException) { return false; }
    }

    public static int SampleVae(string checkpoint, int count, int seed, string? output, int nrow, string? accel)
    {
        string path = CheckpointPath(checkpoint);
        using var device = Device.Create(Device.ParseKind(accel), 0);
        using var m = TranslationRun.LoadModel(device, path);
        if (m is not Vae vae) throw new CliException($"sample needs a GAN or vae checkpoint; this is {m.Options.Model} (use reconstruct, translate or swap).");
        string file = output ?? $"sample-vae-step{m.Step}-seed{seed}.png";
        ImageGrid.SavePng(file, vae.Sample(count, seed), count, m.Options.Channels, m.Options.Size, m.Options.Size, nrow);
        Console.Out.WriteLine($"wrote {Path.GetFullPath(file)}: {count} samples of vae at step {m.Step:N0}, seed {seed}");
        return ExitCodes.Ok;
    }

    private static Command Eval()
    {
        var cmd = new Command("eval-translation", "The held-out figures of a checkpoint trained on the built-in digit pair (class kept by the shipped classifier, L1, MSE, VAE sample classes).");
        var accel = Accel();
        cmd.Arguments.Add(Checkpoint); cmd.Options.Add(accel);
        cmd.SetAction(p =>
        {
            string path = CheckpointPath(p.GetValue(Checkpoint)!);
            var o = TranslationRun.OptionsOf(path);
            var td = LoadData(o, null, null, null);
            using var device = Device.Create(Device.ParseKind(p.GetValue(accel)), 0);
            using var m = TranslationRun.LoadModel(device, path);
            using var classifier = Classifier.Load(device, Classifier.ShippedPath ?? throw new CliException("the shipped classifier (models/mnist-classifier.safetensors) is missing."));
            Console.Out.WriteLine($"{o.Model} at step {m.Step:N0} on {td.Description}");
            Console.Out.WriteLine(TranslationEval.Text(TranslationEval.Run(m, td, classifier)));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
