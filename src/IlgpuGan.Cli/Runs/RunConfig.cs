using System.Text.Json;
using System.Text.Json.Serialization;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// Everything that defines a training run. It is written to <c>config.json</c> in the output folder
/// and into every checkpoint's metadata; <c>--resume</c> reads it back, so a resumed run trains the
/// same model on the same data with the same hyper-parameters and seed.
/// </summary>
public sealed record RunConfig
{
    public string Model { get; init; } = "mlp";
    /// <summary>mnist, fake, curves, or a path (IDX file, IDX pair "images,labels", MNIST folder, image folder).</summary>
    public string Data { get; init; } = "mnist";
    /// <summary>Training steps in all (one step = DSteps D updates + one G update).</summary>
    public long Steps { get; init; }
    /// <summary>When above 0, Steps is set from it: enough steps to pass over the data this many times.</summary>
    public double Epochs { get; init; }
    public int Batch { get; init; }
    public double LrG { get; init; }
    public double LrD { get; init; }
    public double Beta1 { get; init; }
    public double Beta2 { get; init; }
    public int DSteps { get; init; } = 1;
    public int Seed { get; init; } = 1;
    public string Accelerator { get; init; } = "auto";
    public long SampleEvery { get; init; }
    public long CheckpointEvery { get; init; }
    public int Keep { get; init; } = 3;
    public long LogEvery { get; init; } = 10;
    /// <summary>An unreadable file in an image folder: "fail" (an error naming it) or "skip" (left out, with a warning).</summary>
    public string BadImages { get; init; } = "fail";
    /// <summary>Samples in each fixed-noise grid.</summary>
    public int SampleCount { get; init; } = 64;

    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(this, indented ? CliJson.Indented.RunConfig : CliJson.Default.RunConfig);

    public static RunConfig FromJson(string json) =>
        JsonSerializer.Deserialize(json, CliJson.Default.RunConfig) ?? throw new JsonException("the configuration is null");

    /// <summary>The settings that decide which numbers a step computes: a resumed run must not change them.</summary>
    public IEnumerable<(string Option, string Value)> Fixed()
    {
        yield return ("--model", Model);
        yield return ("--data", Data);
        yield return ("--batch", Batch.ToString());
        yield return ("--lr-g", Num(LrG));
        yield return ("--lr-d", Num(LrD));
        yield return ("--beta1", Num(Beta1));
        yield return ("--beta2", Num(Beta2));
        yield return ("--d-steps", DSteps.ToString());
        yield return ("--seed", Seed.ToString());
    }

    private static string Num(double v) => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One point of the training curves: the statistics of one step.</summary>
public readonly record struct HistoryPoint(long Step, float LossD, float LossG, float DReal, float DFake);

/// <summary>What the report shows over time; saved in each checkpoint so a resumed run's report goes on
/// from where it stopped.</summary>
public sealed class RunHistory
{
    public List<HistoryPoint> Points { get; init; } = [];
    /// <summary>Steps at which a fixed-noise grid was written (samples/step-NNNNNN.png).</summary>
    public List<long> SampleSteps { get; init; } = [];

    /// <summary>Drops what lies after <paramref name="step"/> (a resumed run recomputes it).</summary>
    public void TruncateAfter(long step)
    {
        Points.RemoveAll(p => p.Step > step);
        SampleSteps.RemoveAll(s => s > step);
    }

    public string ToJson() => JsonSerializer.Serialize(this, CliJson.Default.RunHistory);
    public static RunHistory FromJson(string json) =>
        JsonSerializer.Deserialize(json, CliJson.Default.RunHistory) ?? throw new JsonException("the history is null");
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(RunConfig))]
[JsonSerializable(typeof(RunHistory))]
internal sealed partial class CliJson : JsonSerializerContext
{
    private static CliJson? indented;

    /// <summary>As <see cref="JsonSerializerContext"/>'s Default, written with indentation (config.json).</summary>
    public static CliJson Indented => indented ??= new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = true,
    });
}
