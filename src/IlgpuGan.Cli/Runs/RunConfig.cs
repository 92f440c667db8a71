using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using IlgpuGan.Recipes;

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
    /// <summary>The objective: bce, wgan, wgan-gp, hinge, lsgan (<see cref="Objectives"/>). Configurations written
    /// before the recipes have none: bce.</summary>
    public string Loss { get; init; } = "bce";
    /// <summary>adam or rmsprop, for G and D.</summary>
    public string Optimizer { get; init; } = "adam";
    /// <summary>Training steps in all (one step = DSteps D updates + one G update).</summary>
    public long Steps { get; init; }
    /// <summary>When above 0, Steps is set from it: enough steps to pass over the data this many times.</summary>
    public double Epochs { get; init; }
    public int Batch { get; init; }
    public double LrG { get; init; }
    public double LrD { get; init; }
    public double Beta1 { get; init; }
    public double Beta2 { get; init; }
    /// <summary>D (critic) updates per G update (--n-critic, also --d-steps).</summary>
    public int DSteps { get; init; } = 1;
    /// <summary>constant, or original (WGAN: 100 critic updates for the first 25 G updates and every 500th).</summary>
    public string CriticSchedule { get; init; } = "constant";
    /// <summary>Above 0: D's weights clamped to [-Clip, Clip] after every D update (WGAN).</summary>
    public double Clip { get; init; }
    /// <summary>WGAN-GP's lambda (0 for the other objectives).</summary>
    public double GpLambda { get; init; }
    /// <summary>Above 0: the learning rates fall linearly to 0 from this G update to the last step; -1: from half the
    /// steps (cgan-mlp's default); 0: constant.</summary>
    public long LrDecayFrom { get; init; }
    public int Seed { get; init; } = 1;
    public string Accelerator { get; init; } = "auto";
    public long SampleEvery { get; init; }
    public long CheckpointEvery { get; init; }
    public int Keep { get; init; } = 3;
    public long LogEvery { get; init; } = 10;
    /// <summary>An unreadable file in an image folder: "fail" (an error naming it) or "skip" (left out, with a warning).</summary>
    public string BadImages { get; init; } = "fail";
    /// <summary>Stop (exit code 3) when the divergence guard finds an explosion, a gradient spike or a pinned D,
    /// instead of warning (<c>--stop-on-divergence</c>; a resumed run may change it).</summary>
    public bool StopOnDivergence { get; init; }
    /// <summary>Above 0: every this many steps (and at the last), score <see cref="EvalSamples"/> samples of G with the
    /// shipped classifier (FID, KID, classes covered: charts in report.html) and keep the lowest-FID checkpoint as
    /// <c>checkpoints/best.safetensors</c> (<c>--eval-every</c>).</summary>
    public long EvalEvery { get; init; }
    /// <summary>Samples scored at each <see cref="EvalEvery"/> (<c>--eval-samples</c>, default 2,000).</summary>
    public int EvalSamples { get; init; } = 2000;
    /// <summary>Samples in each fixed-noise grid.</summary>
    public int SampleCount { get; init; } = 64;

    /// <summary>The recipe's options this configuration gives.</summary>
    public TrainingOptions ToOptions() => new()
    {
        Loss = Objectives.Parse(Loss), Optimizer = Optimizer, LrG = LrG, LrD = LrD, Beta1 = Beta1, Beta2 = Beta2, NCritic = DSteps,
        Schedule = Objectives.ParseSchedule(CriticSchedule), Clip = (float)Clip, GpLambda = (float)GpLambda,
        LrDecayFrom = LrDecayFrom < 0 ? Steps / 2 : LrDecayFrom, LrDecayTo = LrDecayFrom != 0 ? Steps : 0,
    };

    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(this, indented ? CliJson.Indented.RunConfig : CliJson.Default.RunConfig);

    /// <summary>Reads a configuration. A setting it lacks (one written by an earlier version) takes this version's
    /// default: the source-generated reader sets every init-only property, so without the merge a missing
    /// --eval-samples or --keep would read as 0. One written before the recipes (no loss, optimizer or critic
    /// schedule) is a BCE run with Adam and a constant number of D updates, as those versions trained.</summary>
    public static RunConfig FromJson(string json)
    {
        var given = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("the configuration is not a JSON object");
        var merged = (JsonObject)JsonNode.Parse(new RunConfig().ToJson())!;
        foreach (var (key, value) in given) merged[key] = value?.DeepClone();
        var c = merged.Deserialize(CliJson.Default.RunConfig) ?? throw new JsonException("the configuration is null");
        return c with { Loss = c.Loss ?? "bce", Optimizer = c.Optimizer ?? "adam", CriticSchedule = c.CriticSchedule ?? "constant" };
    }

    /// <summary>The settings that decide which numbers a step computes: a resumed run must not change them.</summary>
    public IEnumerable<(string Option, string Value)> Fixed()
    {
        yield return ("--model", Model);
        yield return ("--loss", Loss);
        yield return ("--optimizer", Optimizer);
        yield return ("--data", Data);
        yield return ("--batch", Batch.ToString());
        yield return ("--lr-g", Num(LrG));
        yield return ("--lr-d", Num(LrD));
        yield return ("--beta1", Num(Beta1));
        yield return ("--beta2", Num(Beta2));
        yield return ("--n-critic", DSteps.ToString());
        yield return ("--critic-schedule", CriticSchedule);
        yield return ("--clip", Num(Clip));
        yield return ("--gp-lambda", Num(GpLambda));
        yield return ("--lr-decay-from", LrDecayFrom < 0 ? "half" : LrDecayFrom.ToString(CultureInfo.InvariantCulture));
        yield return ("--seed", Seed.ToString());
    }

    private static string Num(double v) => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One point of the training curves: the statistics of one step, by name.</summary>
public sealed record HistoryPoint(long Step, IReadOnlyDictionary<string, float> Values)
{
    public HistoryPoint(StepStats stats) : this(stats.Step, stats.Names.Select((n, i) => (n, stats.Values[i])).ToDictionary(x => x.n, x => x.Item2)) { }

    /// <summary>The statistic, or NaN where this step did not report it.</summary>
    public float this[string name] => Values.TryGetValue(name, out var v) ? v : float.NaN;

    public bool Equals(HistoryPoint? other) =>
        other is not null && Step == other.Step && Values.Count == other.Values.Count &&
        Values.All(kv => other.Values.TryGetValue(kv.Key, out var v) && BitConverter.SingleToInt32Bits(v) == BitConverter.SingleToInt32Bits(kv.Value));

    public override int GetHashCode() => Step.GetHashCode();

    public override string ToString() =>
        $"step {Step}: " + string.Join("  ", Values.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:R}")));
}

/// <summary>What the report shows over time; saved in each checkpoint so a resumed run's report goes on
/// from where it stopped. JSON: <c>{"points":[{"step":1,"values":{"Loss_D":1.38,...}}],"sampleSteps":[...]}</c>;
/// the history of a format-1 checkpoint (<c>lossD</c>, <c>lossG</c>, <c>dReal</c>, <c>dFake</c> per point) is read as
/// Loss_D, Loss_G, D(x) and D(G(z)).</summary>
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

    private static readonly (string Json, string Name)[] Format1Names = [("lossD", "Loss_D"), ("lossG", "Loss_G"), ("dReal", "D(x)"), ("dFake", "D(G(z))")];

    public string ToJson()
    {
        var points = new JsonArray();
        foreach (var p in Points)
        {
            var values = new JsonObject();
            foreach (var (k, v) in p.Values) values[k] = float.IsFinite(v) ? JsonValue.Create(v) : JsonValue.Create(v.ToString(CultureInfo.InvariantCulture));
            points.Add(new JsonObject { ["step"] = p.Step, ["values"] = values });
        }
        return new JsonObject { ["points"] = points, ["sampleSteps"] = new JsonArray([.. SampleSteps.Select(s => (JsonNode?)JsonValue.Create(s))]) }
            .ToJsonString();
    }

    public static RunHistory FromJson(string json)
    {
        var root = JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("the history is null");
        var history = new RunHistory();
        foreach (var node in root["points"]?.AsArray() ?? [])
        {
            var o = node!.AsObject();
            long step = o["step"]!.GetValue<long>();
            var values = new Dictionary<string, float>();
            if (o["values"] is JsonObject named)
                foreach (var (k, v) in named) values[k] = Float(v!);
            else
                foreach (var (j, name) in Format1Names)
                    if (o[j] is { } v) values[name] = Float(v);
            history.Points.Add(new HistoryPoint(step, values));
        }
        foreach (var s in root["sampleSteps"]?.AsArray() ?? []) history.SampleSteps.Add(s!.GetValue<long>());
        return history;
    }

    /// <summary>A number, or "NaN"/"Infinity" as a string (JsonNumberHandling.AllowNamedFloatingPointLiterals).</summary>
    private static float Float(JsonNode v) => v.GetValueKind() == JsonValueKind.String
        ? float.Parse(v.GetValue<string>(), CultureInfo.InvariantCulture)
        : v.GetValue<float>();
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(RunConfig))]
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
