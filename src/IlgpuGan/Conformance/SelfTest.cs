using System.Diagnostics;
using IlgpuGan.Kernels;
using IlgpuGan.Models;
using IlgpuGan.Recipes;
using IlgpuGan.Training;

namespace IlgpuGan.Conformance;

/// <summary>What <see cref="SelfTest.Run"/> checks; the defaults are the full self-test.</summary>
public sealed record SelfTestOptions
{
    /// <summary>Run the reference cases.</summary>
    public bool ReferenceCases { get; init; } = true;
    /// <summary>Folders searched for reference cases; null: <see cref="Conformance.ReferenceCases.DefaultDirectories"/>
    /// (the shipped copy and ILGPUGAN_REFERENCE_DIRS).</summary>
    public IReadOnlyList<string>? ReferenceDirectories { get; init; }

    /// <summary>Train each model of <see cref="Models"/> for a few steps; the losses must be finite.</summary>
    public bool Training { get; init; } = true;
    /// <summary>GanWorkload names (W-MLP, W-DCGAN28, W-DCGAN64, W-WGANGP28: its double backward) and <see cref="SelfTest.Toy"/>.</summary>
    public IReadOnlyList<string> Models { get; init; } = [.. GanWorkload.All.Select(w => w.Name), SelfTest.Toy];
    public int TrainingSteps { get; init; } = 3;
    public int TrainingBatch { get; init; } = 4;

    /// <summary>Compare the first training steps with another backend's (<see cref="SelfTest.Agreement"/>).</summary>
    public bool CrossBackend { get; init; } = true;
    public int AgreementSteps { get; init; } = 5;
    /// <summary>null: the batch of the compared workload (W-MLP 64, the narrow W-MLP 8).</summary>
    public int? AgreementBatch { get; init; }
    public double AgreementTolerance { get; init; } = SelfTest.AgreementTolerance;

    /// <summary>The seed of every check's random numbers (weights, noise, real batches).</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>The first training steps of two devices from the same seed (<see cref="SelfTest.Agreement"/>).</summary>
public sealed record AgreementResult(string Workload, string Device, string Reference, int Batch,
    IReadOnlyList<StepStats> Steps, IReadOnlyList<StepStats> ReferenceSteps, double Tolerance)
{
    public static readonly string[] Quantities = ["Loss_D", "Loss_G", "D(x)", "D(G(z))"];

    private static float Get(StepStats s, int q) => s[Quantities[q]];

    /// <summary>The largest |value - reference value| / max(1, |reference value|) over the
    /// <see cref="Quantities"/> of every step, and where it is (step from 1).</summary>
    public (double Difference, int Step, string Quantity, float Value, float ReferenceValue) Worst
    {
        get
        {
            (double, int, string, float, float) worst = (-1, 0, "", 0, 0);
            for (int i = 0; i < Steps.Count; i++)
                for (int q = 0; q < Quantities.Length; q++)
                {
                    float a = Get(Steps[i], q), b = Get(ReferenceSteps[i], q);
                    double diff = Math.Abs((double)a - b) / Math.Max(1, Math.Abs((double)b));
                    if (double.IsNaN(diff)) diff = double.PositiveInfinity;
                    if (diff > worst.Item1) worst = (diff, i + 1, Quantities[q], a, b);
                }
            return worst;
        }
    }

    public bool Passed => Steps.Count == ReferenceSteps.Count && Worst.Difference <= Tolerance;
}

/// <summary>
/// Checks that IlgpuGan works on a device, printing one line per check (<c>PASS name (detail) 12 ms</c>
/// or <c>FAIL name: reason 12 ms</c>): every reference case found, a few training steps of each
/// model with finite losses, and the first training steps against another backend's from the same
/// seed (<see cref="Agreement"/>). Returns the number of failed checks.
/// </summary>
public static class SelfTest
{
    /// <summary>The name of the 1-D toy GAN in <see cref="SelfTestOptions.Models"/>.</summary>
    public const string Toy = "toy";

    /// <summary>
    /// The cross-backend tolerance: |value - reference value| &lt;= 1e-4 * max(1, |reference value|)
    /// for Loss_D, Loss_G, D(x) and D(G(z)) after each of the first 5 steps. The backends start
    /// from bit-identical weights, noise and real batch (the random numbers are counter-based), so
    /// they differ only in the order of float32 sums (the host's SIMD blocks and per-core chunks, the
    /// ClCpu kernels' sequential loops, a GPU's tiles and tree reductions) and in the last bits of
    /// exp and log: a sum of K terms in another order moves by about sqrt(K) * 6e-8 relative
    /// (~2e-6 for K = 1024), the losses and D outputs are batch means that average this down, and 5
    /// Adam steps of lr 2e-4 give it no time to grow. Measured (2026-11-23, 2-core EPYC): W-MLP
    /// batch 64, OpenCL (PoCL 6) vs the host kernels 2.4e-7, the ClCpu kernels on the CPU
    /// accelerator 8.3e-7, at batch 8 6e-8; <see cref="NarrowMlp"/> at batch 8 and lr 2e-4 against
    /// the host kernels: the ClCpu kernels 1.4e-7, the GPU-style kernels 1.0e-7 (4 steps; about 2
    /// minutes a step on the simulated threads); at its agreement lr 2e-3, the ClCpu kernels 1.8e-7.
    /// AgreementTests prints the figure of each backend. 1e-4 leaves ~100x margin for approximate transcendentals on GPUs and is far below
    /// what a wrong kernel gives (1e-2 and more from the first step).
    /// </summary>
    public const double AgreementTolerance = 1e-4;

    /// <summary>
    /// W-MLP's layers at 1/16 of its widths (G 100-16-32-64-784, D 784-64-32-16-1), batch 8: what
    /// the CPU accelerator's simulated GPU threads can train in seconds (W-MLP itself takes them
    /// minutes per step: the weight gradients and Adam cover 3M parameters whatever the batch).
    /// </summary>
    public static readonly GanWorkload NarrowMlp = new("W-MLP-narrow",
        ModelRegistry.Mlp with { Name = "mlp-narrow", Generator = d => Mlp.Generator(d, width: 16), Discriminator = d => Mlp.Discriminator(d, width: 16) },
        Objective.Bce, 8, 0);

    /// <summary>The toy GAN with its defaults (Adam 1e-3, betas (0.5, 0.999)) as a workload, for the training check.</summary>
    private static readonly GanWorkload ToyWorkload = new(Toy, ModelRegistry.Toy, Objective.Bce, 64, 0);

    /// <summary>Adam's learning rate for the narrow W-MLP in the agreement check: 10x W-MLP's 2e-4,
    /// so that its 5 steps move the losses by ~1e-3 to 6e-3 (at 2e-4 they move by ~1e-4, no more than
    /// the tolerance, and a wrong update could hide below it).</summary>
    public const double NarrowMlpLearningRate = 2e-3;

    /// <summary>The learning rate the agreement check uses for a workload (WORKLOADS.md's 2e-4, or
    /// <see cref="NarrowMlpLearningRate"/>).</summary>
    public static double AgreementLearningRate(GanWorkload workload) => workload == NarrowMlp ? NarrowMlpLearningRate : 2e-4;

    public static int Run(Device device, TextWriter output, SelfTestOptions? options = null)
    {
        options ??= new SelfTestOptions();
        var saved = (device.Random.Seed, device.Random.Offset);
        int failures = 0;
        void Report(string line)
        {
            if (line.StartsWith("FAIL", StringComparison.Ordinal)) failures++;
            output.WriteLine(line);
            output.Flush();
        }
        try
        {
            if (options.ReferenceCases) RunReferenceCases(device, options, Report);
            if (options.Training)
                foreach (var model in options.Models)
                    Report(Check($"train {model}", () => TrainSteps(device, model, options)));
            if (options.CrossBackend)
                Report(Check($"agreement {AgreementWorkloadFor(device).Name}", () => CrossBackend(device, options)));
        }
        finally
        {
            device.Tape.EndStep();
            device.Random.Restore(saved.Seed, saved.Offset);
        }
        return failures;
    }

    private static void RunReferenceCases(Device device, SelfTestOptions options, Action<string> report)
    {
        var dirs = options.ReferenceDirectories ?? Conformance.ReferenceCases.DefaultDirectories();
        var files = Conformance.ReferenceCases.Files(dirs);
        if (files.Count == 0)
        {
            report($"FAIL reference cases: no *.safetensors file in {(dirs.Count == 0 ? "(no folder: the shipped reference/ is missing)" : string.Join(", ", dirs))}");
            return;
        }
        foreach (var file in files)
        {
            device.Tape.EndStep();
            report(Conformance.ReferenceCases.Run(device, file).ToString());
        }
    }

    /// <summary>Runs a check that returns its detail or throws; formats its line.</summary>
    private static string Check(string name, Func<string> run)
    {
        long t0 = Stopwatch.GetTimestamp();
        string line;
        try { line = $"PASS {name} ({run()})"; }
        catch (CheckFailed e) { line = $"FAIL {name}: {e.Message}"; }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            line = $"FAIL {name}: {e.GetType().Name}: {e.Message}";
        }
        return $"{line} {Stopwatch.GetElapsedTime(t0).TotalMilliseconds:F0} ms";
    }

    private sealed class CheckFailed(string message) : Exception(message);

    private static string TrainSteps(Device device, string model, SelfTestOptions o)
    {
        if (o.TrainingSteps < 1) throw new ArgumentOutOfRangeException(nameof(o), "TrainingSteps must be at least 1.");
        device.Tape.EndStep();
        device.Random.Restore(o.Seed, 0);
        var workload = string.Equals(model, Toy, StringComparison.OrdinalIgnoreCase) ? ToyWorkload : GanWorkload.Find(model);
        StepStats s = FirstSteps(device, workload, o.TrainingSteps, o.TrainingBatch, o.Seed, workload.Options.LrG)[^1];   // throws on NaN or infinity
        if (workload.Loss == Objective.Bce && (s["D(x)"] is < 0 or > 1 || s["D(G(z))"] is < 0 or > 1))
            throw new CheckFailed($"D's mean output is not a probability: D(x) {s["D(x)"]}, D(G(z)) {s["D(G(z))"]}");
        return $"{o.TrainingSteps} steps, batch {o.TrainingBatch}: {s.Text()}, finite";
    }

    private static string CrossBackend(Device device, SelfTestOptions o)
    {
        var workload = AgreementWorkloadFor(device);
        using var reference = ReferenceDeviceFor(device, o.Seed);
        var r = Agreement(device, reference, workload, o.AgreementSteps, o.AgreementBatch ?? workload.Batch, o.Seed, o.AgreementTolerance);
        var (diff, step, quantity, value, expected) = r.Worst;
        string where = $"{r.Device} vs {r.Reference}, {r.Steps.Count} steps, batch {r.Batch}";
        if (!r.Passed)
            throw new CheckFailed($"{where}: step {step} {quantity} {value:G7} vs {expected:G7}, difference {diff:0.0e+00} > {r.Tolerance:0e+00}");
        return $"{where}: max difference {diff:0.0e+00} <= {r.Tolerance:0e+00}";
    }

    /// <summary>A short name of the device: backend and kernel variant, e.g. <c>cuda/Gpu</c>, <c>cpu/Host</c>.</summary>
    public static string ShortName(Device device) => $"{device.Kind.ToString().ToLowerInvariant()}/{device.Kernels.Variant}";

    /// <summary>
    /// The device a device's first training steps are compared with: the CPU accelerator with the
    /// host kernels; for that device itself, the ClCpu kernels on a CPU accelerator, so that two
    /// different implementations of every op are still compared. (Those are barrier-free; the
    /// GPU-style kernels there agree as well, but their simulated barriers take minutes a step.)
    /// </summary>
    public static Device ReferenceDeviceFor(Device device, ulong seed = 0) =>
        device.Kind == AcceleratorKind.Cpu && device.Kernels.Variant == KernelVariant.Host
            ? Device.CreateClCpuStyleCpu(seed)
            : Device.Create(AcceleratorKind.Cpu, seed);

    /// <summary>The workload compared: W-MLP on OpenCL and CUDA; the narrow W-MLP whenever the CPU
    /// accelerator simulates GPU threads on either side (any CPU-accelerator device).</summary>
    public static GanWorkload AgreementWorkloadFor(Device device) =>
        device.Kind == AcceleratorKind.Cpu ? NarrowMlp : GanWorkload.Mlp;

    /// <summary>
    /// The statistics (<see cref="Recipe.ReadStats"/>) after each of the first
    /// <paramref name="steps"/> training steps of the workload, with its settings (lr as given),
    /// from weights, noise and one real batch (uniform in [-1, 1]) drawn from <paramref name="seed"/>.
    /// The device's generator is put back afterwards. A NaN or infinity is a NonFiniteLossException.
    /// </summary>
    public static IReadOnlyList<StepStats> FirstSteps(Device device, GanWorkload workload, int steps, int batch, ulong seed, double lr = 2e-4)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), "Run at least one step.");
        var saved = (device.Random.Seed, device.Random.Offset);
        device.Tape.EndStep();
        device.Random.Restore(seed, 0);
        try
        {
            using var recipe = workload.Create(device, batch, lr);
            using var real = device.Persistent(new Shape([batch, .. workload.Model.SampleShape]));
            device.Kernels.Uniform(real.View, device.Random.Next(real.Length), -1, 1);
            var stats = new List<StepStats>(steps);
            for (int i = 0; i < steps; i++)
            {
                recipe.TrainStep(() => real);
                stats.Add(recipe.ReadStats());
            }
            return stats;
        }
        finally
        {
            device.Tape.EndStep();
            device.Random.Restore(saved.Seed, saved.Offset);
        }
    }

    /// <summary>The first training steps of the workload on both devices from the same seed,
    /// compared within <paramref name="tolerance"/> (see <see cref="AgreementTolerance"/>).</summary>
    public static AgreementResult Agreement(Device device, Device reference, GanWorkload workload, int steps = 5, int? batch = null,
        ulong seed = 1, double tolerance = AgreementTolerance)
    {
        int n = batch ?? workload.Batch;
        double lr = AgreementLearningRate(workload);
        return new(workload.Name, ShortName(device), ShortName(reference), n,
            FirstSteps(device, workload, steps, n, seed, lr), FirstSteps(reference, workload, steps, n, seed, lr), tolerance);
    }
}
