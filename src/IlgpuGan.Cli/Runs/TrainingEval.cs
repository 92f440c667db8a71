using IlgpuGan.Cli.Commands;
using IlgpuGan.Evaluation;
using IlgpuGan.Recipes;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// <c>train --eval-every N</c>: scores G during training with the shipped MNIST classifier, as <c>eval</c> does
/// (G in eval mode, <see cref="RunConfig.EvalSamples"/> latents from the fixed stream (seed 0, all classes in turn
/// for a conditional model), against the run's training images): FID, KID and classes covered become
/// statistics of the run (charts in report.html, kept in the checkpoints' history), and the checkpoint of
/// the lowest FID so far is linked as <c>checkpoints/best.safetensors</c>.
/// </summary>
public sealed class TrainingEval : IDisposable
{
    public const string Fid = "FID", Kid = "KID", Covered = "Classes covered";

    /// <summary>The statistics it adds to a run's (each its own chart).</summary>
    public static IReadOnlyList<Statistic> Statistics { get; } =
        [new(Fid, "FID (shipped classifier, lower is better)"), new(Kid, "KID"), new(Covered, "Classes covered")];

    private readonly Session session;
    private readonly Classifier classifier;
    private readonly Evaluator evaluator;
    private readonly int samples;

    /// <summary>Why a model cannot be scored this way (null: it can): the shipped classifier reads 28x28 grey digits.</summary>
    public static string? Unsupported(ModelSpec model) =>
        model.SampleShape is [1, 28, 28] ? null
        : $"--eval-every scores 28x28 grey digits with the shipped MNIST classifier; {model.Name} makes ({string.Join("x", model.SampleShape)}) samples.";

    public TrainingEval(Session session, int samples)
    {
        this.session = session;
        this.samples = samples;
        string path = Classifier.ShippedPath ?? throw new CliException("--eval-every needs the shipped classifier (models/mnist-classifier.safetensors), which this build lacks.");
        classifier = Classifier.Load(session.Device, path);
        var data = session.Data;
        evaluator = new Evaluator(classifier, data.First(data.Count), data.Count);
    }

    /// <summary>Scores G as it is now (the distribution figures only: no memorisation or duplicate search on the training path).</summary>
    public DistributionFigures Run()
    {
        var model = session.Model;
        float[]? labels = model.IsConditional ? Enumerable.Range(0, samples).Select(i => (float)(i % model.Classes)).ToArray() : null;
        var images = SampleCommand.Generate(session.Device, session.Recipe.G.Module, model, samples, seed: 0, labels);
        return evaluator.Distribution($"step {session.Recipe.Step}", images, samples, kidSubsets: 20);
    }

    /// <summary>The samples scored at each evaluation.</summary>
    public int Samples => samples;

    /// <summary>The figures as statistic values.</summary>
    public static IEnumerable<(string Name, float Value)> Values(DistributionFigures f) =>
        [(Fid, (float)f.Fid), (Kid, (float)f.Kid.Mean), (Covered, f.Classes.Covered)];

    /// <summary>The lowest FID in a run's history (infinity when none was measured).</summary>
    public static double BestFid(RunHistory history) =>
        history.Points.Select(p => (double)p[Fid]).Where(double.IsFinite).DefaultIfEmpty(double.PositiveInfinity).Min();

    public void Dispose() => classifier.Dispose();
}
