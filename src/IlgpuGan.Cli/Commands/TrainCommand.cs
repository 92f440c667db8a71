using System.CommandLine;
using System.Globalization;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Recipes;
using Spectre.Console;

namespace IlgpuGan.Cli.Commands;

/// <summary><c>ilgpu-gan train</c>: trains a model, writing sample grids, checkpoints and report.html.</summary>
public static class TrainCommand
{
    private static readonly Option<string?> Model = new("--model", "-m")
    { Description = "The model: toy (1-D curves, seconds), mlp (W-MLP), dcgan28 (W-DCGAN28), dcgan64 (W-DCGAN64); conditional (label in, that class out): cgan-mlp, cdcgan28, acgan28. Default: mlp.", HelpName = "name" };
    private static readonly Option<string?> Data = new("--data", "-d")
    {
        Description = "The training data: mnist (the bundled 7,996 digits), fake (random images), curves (the toy GAN's), " +
                      "a folder with MNIST's IDX files, an IDX image file or an IDX pair IMAGES,LABELS, or a folder of images. Default: the model's (mnist for mlp, dcgan28 and the conditional models, which use its labels; " +
                      "a folder of images gives a conditional model one class per subfolder).",
        HelpName = "data",
    };
    private static readonly Option<string?> Loss = new("--loss")
    {
        Description = "The objective: bce (the default; cdcgan28's is hinge), wgan (weight clipping), wgan-gp (gradient penalty), hinge, lsgan (least squares). " +
                      "Each brings its paper's defaults (wgan: RMSProp 5e-5, clip 0.01, 5 critic updates, the original schedule; " +
                      "wgan-gp: Adam 1e-4 betas (0.5, 0.9) at 28x28, (0, 0.9) at 64x64, lambda 10, 5 critic updates).",
        HelpName = "name",
    };
    private static readonly Option<string?> OptimizerName = new("--optimizer") { Description = "adam or rmsprop, for G and D (default: the loss's: rmsprop for wgan, else adam).", HelpName = "name" };
    private static readonly Option<double?> Clip = new("--clip") { Description = "Clamp D's weights to [-c, c] after every D update (default: 0.01 for wgan, else none).", HelpName = "c" };
    private static readonly Option<string?> LrDecayFrom = new("--lr-decay-from")
    { Description = "Let both learning rates fall linearly to 0 from this step to the last: a step, 'half', or 0 for constant rates (default: the model's; cgan-mlp: half).", HelpName = "step" };
    private static readonly Option<double?> GpLambda = new("--gp-lambda") { Description = "The gradient penalty's weight (wgan-gp only; default 10).", HelpName = "lambda" };
    private static readonly Option<string?> CriticSchedule = new("--critic-schedule")
    { Description = "constant (--n-critic D updates every step) or original (WGAN's: 100 for the first 25 G updates and every 500th). Default: original for wgan, else constant.", HelpName = "name" };
    private static readonly Option<long?> Steps = new("--steps") { Description = "Training steps in all (each: --n-critic D updates, one G update). Default: the model's for the loss (mlp bce: 6000).", HelpName = "n" };
    private static readonly Option<double?> Epochs = new("--epochs") { Description = "Train for this many passes over the data instead of --steps.", HelpName = "n" };
    private static readonly Option<int?> Batch = new("--batch", "-b") { Description = "Batch size. Default: the model's (64; dcgan64: 128).", HelpName = "n" };
    private static readonly Option<double?> Lr = new("--lr") { Description = "Learning rate of both optimizers (default: the loss's: 2e-4 for bce, hinge, lsgan (toy 1e-3); 5e-5 wgan; 1e-4 wgan-gp).", HelpName = "rate" };
    private static readonly Option<double?> LrG = new("--lr-g") { Description = "Learning rate of G's optimizer (overrides --lr).", HelpName = "rate" };
    private static readonly Option<double?> LrD = new("--lr-d") { Description = "Learning rate of D's optimizer (overrides --lr).", HelpName = "rate" };
    private static readonly Option<double?> Beta1 = new("--beta1") { Description = "Adam beta1 (default 0.5; wgan-gp at 64x64: 0).", HelpName = "b" };
    private static readonly Option<double?> Beta2 = new("--beta2") { Description = "Adam beta2 (default 0.999; wgan-gp: 0.9).", HelpName = "b" };
    private static readonly Option<int?> DSteps = new("--n-critic", "--d-steps") { Description = "D (critic) updates per G update (default 1; wgan and wgan-gp: 5).", HelpName = "n" };
    private static readonly Option<int?> Seed = new("--seed", "-s") { Description = "Seed of the weights, noise and data order (default 1).", HelpName = "n" };
    private static readonly Option<string?> Accelerator = new("--accelerator", "-a") { Description = "cpu, opencl, cuda or auto (default: $ILGPUGAN_ACCELERATOR, else the best present).", HelpName = "kind" };
    private static readonly Option<string?> Out = new("--out", "-o") { Description = "Output folder (default out/<model>).", HelpName = "dir" };
    private static readonly Option<long?> SampleEvery = new("--sample-every") { Description = "Write a fixed-noise grid every n steps (default: the model's, 500 for mlp).", HelpName = "n" };
    private static readonly Option<long?> CheckpointEvery = new("--checkpoint-every") { Description = "Write a checkpoint every n steps (default: the model's, 500 for mlp).", HelpName = "n" };
    private static readonly Option<int?> Keep = new("--keep") { Description = "Checkpoints to keep, the newest (default 3).", HelpName = "n" };
    private static readonly Option<long?> LogEvery = new("--log-every") { Description = "Read and record the losses every n steps (default 10; the device is waited for then).", HelpName = "n" };
    private static readonly Option<string?> Resume = new("--resume", "-r")
    {
        Description = "Continue a run: from its latest checkpoint (no value: the --out folder's), or from a checkpoint file or run folder. " +
                      "The run keeps its configuration; --steps/--epochs, intervals, --keep and --accelerator may change.",
        HelpName = "checkpoint",
        Arity = ArgumentArity.ZeroOrOne,
    };
    private static readonly Option<string?> BadImages = new("--bad-images")
    { Description = "An unreadable file in an image folder: fail (an error naming it; the default) or skip (left out, with a warning).", HelpName = "fail|skip" };
    private static readonly Option<bool> StopOnDivergence = new("--stop-on-divergence")
    {
        Description = "Stop (exit code 3) when training explodes without a NaN (a loss or weight beyond the objective's bounds), " +
                      "a gradient norm spikes, or D's outputs stay pinned at 0 or 1 (bce), instead of warning. The latest checkpoint with sane values is kept.",
    };
    private static readonly Option<bool> LogMemory = new("--log-memory")
    { Description = "At every checkpoint, print the process's memory (RSS, GC heap) and the device pool's (reserved, in use, allocations): scripts/soak.sh reads it." };
    private static readonly Option<long?> EvalEvery = new("--eval-every")
    { Description = "Every n steps (and at the last), score G's samples with the shipped MNIST classifier (FID, KID, classes covered: charts in report.html) and keep the lowest-FID checkpoint as checkpoints/best.safetensors (28x28 grey models; default off).", HelpName = "n" };
    private static readonly Option<int?> EvalSamples = new("--eval-samples") { Description = "Samples scored at each --eval-every (default 2,000; at least 129).", HelpName = "n" };
    private static readonly Option<bool> DryRun = new("--dry-run") { Description = "Set everything up, train one step, print its losses and exit; writes nothing." };
    private static readonly Option<string> ProgressMode = new("--progress")
    {
        Description = "auto (a live bar on a terminal, plain lines otherwise), live, or plain.",
        DefaultValueFactory = _ => "auto",
        HelpName = "mode",
    };

    public static Command Create()
    {
        var cmd = new Command("train", "Train a GAN. Writes fixed-noise grids (samples/), checkpoints (checkpoints/), config.json and report.html to the output folder. " +
                                       "Ctrl-C or SIGTERM writes a checkpoint and exits (130/143); --resume continues exactly where it stopped.");
        foreach (Option o in new Option[] { Model, Loss, Data, Steps, Epochs, Batch, OptimizerName, Lr, LrG, LrD, Beta1, Beta2, DSteps, CriticSchedule, Clip, GpLambda, LrDecayFrom, Seed, Accelerator, Out,
                                            SampleEvery, CheckpointEvery, Keep, LogEvery, BadImages, StopOnDivergence, EvalEvery, EvalSamples, Resume, DryRun, ProgressMode, LogMemory })
            cmd.Options.Add(o);
        cmd.SetAction(Run);
        return cmd;
    }

    private static int Run(ParseResult p)
    {
        bool resume = p.GetResult(Resume) is { Implicit: false };
        string? resumePath = p.GetValue(Resume);
        LoadedCheckpoint? ck = null;
        string? outFolder = p.GetValue(Out);
        RunConfig config;

        if (resume)
        {
            string from = resumePath ?? outFolder ?? Path.Combine("out", p.GetValue(Model) ?? "mlp");
            ck = CheckpointStore.LoadForResume(from);
            outFolder ??= RunFolderOf(ck.Path);
            config = Merge(ck.Config, p, resuming: true);
        }
        else
        {
            var model = ModelRegistry.Get(p.GetValue(Model) ?? "mlp");
            var loss = p.GetValue(Loss) is { } named ? Objectives.Parse(named) : model.DefaultLoss;
            var d = model.DefaultsFor(loss);
            var o = d.Options;
            config = Merge(new RunConfig
            {
                Model = model.Name, Loss = loss.Name(), Optimizer = o.Optimizer, Data = model.DefaultData, Steps = d.Steps, Batch = d.Batch,
                LrG = o.LrG, LrD = o.LrD, Beta1 = o.Beta1, Beta2 = o.Beta2, DSteps = o.NCritic, CriticSchedule = o.Schedule.Name(),
                Clip = o.Clip, GpLambda = o.GpLambda, LrDecayFrom = d.DecayLastHalf ? -1 : 0, SampleEvery = d.SampleEvery, CheckpointEvery = d.CheckpointEvery, SampleCount = model.SampleCount,
            }, p, resuming: false);
            if (config.Data.Length == 0 && p.GetValue(DryRun)) config = config with { Data = Datasets.Fake };   // dcgan64 --dry-run
            outFolder ??= Path.Combine("out", model.Name);
        }

        string mode = p.GetValue(ProgressMode) ?? "auto";
        bool live = mode switch
        {
            "live" => true,
            "plain" => false,
            "auto" => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive,
            _ => throw new CliException($"Unknown --progress '{mode}': use auto, live or plain."),
        };
        using var stop = StopSignal.Listen();
        var run = new TrainRun
        {
            Config = config,
            OutFolder = outFolder,
            ResumeFrom = ck,
            DryRun = p.GetValue(DryRun),
            Progress = live ? new LiveProgress(mode == "live" && Console.IsOutputRedirected ? RedirectedLiveConsole() : AnsiConsole.Console)
                            : new PlainProgress(Console.Out, Math.Max(config.LogEvery, 100)),
            Log = Console.Out,
            Stop = stop,
            LogMemory = p.GetValue(LogMemory),
        };
        int code = run.Execute();
        if (code == ExitCodes.Ok && run.Trained)
            Console.Out.WriteLine($"done: report {Path.Combine(Path.GetFullPath(outFolder), Report.FileName)}");
        return code;
    }

    /// <summary><c>--progress live</c> asked for with the output redirected (a pipe to tee, a file): Spectre would detect a
    /// non-interactive console and print no progress at all, so the bar is drawn with ANSI codes anyway, $COLUMNS wide (80 if unset).</summary>
    private static IAnsiConsole RedirectedLiveConsole()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Standard,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(Console.Out),
        });
        console.Profile.Width = int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out int columns) && columns > 20 ? columns : 80;
        return console;
    }

    /// <summary>A checkpoint in &lt;run&gt;/checkpoints/ belongs to &lt;run&gt;; elsewhere, to its own folder.</summary>
    private static string RunFolderOf(string checkpoint)
    {
        string folder = Path.GetDirectoryName(checkpoint)!;
        return Path.GetFileName(folder) == TrainRun.CheckpointsFolder ? Path.GetDirectoryName(folder)! : folder;
    }

    /// <summary>The options given on the command line applied to <paramref name="c"/>. A resumed run may not change
    /// what decides the numbers (model, loss, optimizer, data, batch, rates, betas, critic updates and schedule, clip, lambda, seed).</summary>
    private static RunConfig Merge(RunConfig c, ParseResult p, bool resuming)
    {
        T? Given<T>(Option<T?> o) where T : struct => p.GetResult(o) is { Implicit: false } ? p.GetValue(o) : null;
        string? GivenS(Option<string?> o) => p.GetResult(o) is { Implicit: false } ? p.GetValue(o) : null;

        // A number given on the command line is checked under the name it was given as (--lr nan is --lr's fault, not --lr-g's).
        foreach (var o in new[] { Lr, LrG, LrD })
            if (Given(o) is double v && !(v > 0 && double.IsFinite(v)))
                throw new CliException($"{o.Name} must be a positive number; got {v.ToString(CultureInfo.InvariantCulture)}.");
        if (Given(Epochs) is double ep && !(ep > 0 && double.IsFinite(ep)))
            throw new CliException($"--epochs must be a positive number; got {ep.ToString(CultureInfo.InvariantCulture)}.");

        var fixedOptions = new RunConfig
        {
            Model = GivenS(Model) is { } m ? ModelRegistry.Get(m).Name : c.Model,
            Loss = GivenS(Loss) is { } l ? Objectives.Parse(l).Name() : c.Loss,
            Optimizer = GivenS(OptimizerName)?.ToLowerInvariant() ?? c.Optimizer,
            Data = GivenS(Data) ?? c.Data,
            Batch = Given(Batch) ?? c.Batch,
            LrG = Given(LrG) ?? Given(Lr) ?? c.LrG,
            LrD = Given(LrD) ?? Given(Lr) ?? c.LrD,
            Beta1 = Given(Beta1) ?? c.Beta1,
            Beta2 = Given(Beta2) ?? c.Beta2,
            DSteps = Given(DSteps) ?? c.DSteps,
            CriticSchedule = GivenS(CriticSchedule) is { } cs ? Objectives.ParseSchedule(cs).Name() : c.CriticSchedule,
            Clip = Given(Clip) ?? c.Clip,
            GpLambda = Given(GpLambda) ?? c.GpLambda,
            LrDecayFrom = GivenS(LrDecayFrom) is { } decay ? ParseDecay(decay) : c.LrDecayFrom,
            Seed = Given(Seed) ?? c.Seed,
        };
        if (resuming)
        {
            var before = c.Fixed().ToDictionary(x => x.Option, x => x.Value);
            foreach (var (option, value) in fixedOptions.Fixed())
                if (before[option] != value)
                    throw new CliException($"{option} {value} differs from the resumed run's {before[option]}: a resumed run keeps its configuration " +
                                           "(start a new run with another --out to change it).");
        }
        long? steps = Given(Steps);
        double? epochs = Given(Epochs);
        if (steps is not null && epochs is not null) throw new CliException("Give --steps or --epochs, not both.");
        return c with
        {
            Model = fixedOptions.Model, Loss = fixedOptions.Loss, Optimizer = fixedOptions.Optimizer, Data = fixedOptions.Data, Batch = fixedOptions.Batch,
            LrG = fixedOptions.LrG, LrD = fixedOptions.LrD, Beta1 = fixedOptions.Beta1, Beta2 = fixedOptions.Beta2, DSteps = fixedOptions.DSteps,
            CriticSchedule = fixedOptions.CriticSchedule, Clip = fixedOptions.Clip, GpLambda = fixedOptions.GpLambda, LrDecayFrom = fixedOptions.LrDecayFrom, Seed = fixedOptions.Seed,
            Steps = steps ?? c.Steps,
            Epochs = steps is not null ? 0 : epochs ?? c.Epochs,
            Accelerator = GivenS(Accelerator) ?? (resuming ? c.Accelerator : "auto"),
            SampleEvery = Given(SampleEvery) ?? c.SampleEvery,
            CheckpointEvery = Given(CheckpointEvery) ?? c.CheckpointEvery,
            Keep = Given(Keep) ?? c.Keep,
            LogEvery = Given(LogEvery) ?? c.LogEvery,
            BadImages = GivenS(BadImages) ?? c.BadImages,
            StopOnDivergence = p.GetResult(StopOnDivergence) is { Implicit: false } ? p.GetValue(StopOnDivergence) : !resuming ? false : c.StopOnDivergence,
            EvalEvery = Given(EvalEvery) ?? c.EvalEvery,
            EvalSamples = Given(EvalSamples) ?? c.EvalSamples,
        };
    }

    /// <summary>--lr-decay-from: a step (0: constant rates) or "half" (-1: half of the run's steps).</summary>
    private static long ParseDecay(string value) =>
        value.Equals("half", StringComparison.OrdinalIgnoreCase) ? -1
        : long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long step) ? step
        : throw new CliException($"--lr-decay-from must be a step, 'half' or 0; got '{value}'.");
}