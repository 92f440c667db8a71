using System.Globalization;
using IlgpuGan.Recipes;

namespace IlgpuGan.Cli.Runs;

/// <summary>
/// A training run's checkpoint: the recipe's state in the library's format
/// (<see cref="CheckpointFile"/>: parts under their names, <c>G.0.weight</c>, <c>D.3.running_mean</c>, ...,
/// optimizer state under <c>optimizer.G.state.{i}.{name}</c>, the recipe's counters), plus what the
/// run adds to the metadata: the model, the random stream (seed, offset), the loader's epoch and batch,
/// the run configuration (JSON), the report's history (JSON), the device and the time.
/// Checkpoints of format 1 (before the recipes) load and resume too.
/// </summary>
public static class Checkpoint
{
    /// <summary>Writes the session's state atomically. A NaN or infinite parameter is a
    /// <see cref="NonFiniteLossException"/> and nothing is written, so the last good checkpoint stays the latest.</summary>
    public static void Save(string path, Session s, RunHistory history)
    {
        var meta = new Dictionary<string, string>
        {
            ["model"] = s.Config.Model,
            ["rng.seed"] = Num(s.Device.Random.Seed),
            ["rng.offset"] = Num(s.Device.Random.Offset),
            ["loader.epoch"] = Num(s.Loader.Epoch),
            ["loader.batch"] = Num(s.Loader.BatchIndex),
            ["config"] = s.Config.ToJson(),
            ["history"] = history.ToJson(),
            ["device"] = s.Device.ToString(),
            ["created"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        if (s.ClassNames is { } names) meta["classes"] = System.Text.Json.JsonSerializer.Serialize(names);
        CheckpointFile.Save(path, s.Recipe, meta);     // atomic, folder synced
    }

    /// <summary>Reads and checks a checkpoint: a missing, truncated or corrupt file, or one that is not an
    /// ilgpu-gan checkpoint, is an <see cref="InvalidDataException"/> (FileNotFound when absent) naming it.</summary>
    public static LoadedCheckpoint Load(string path)
    {
        var c = CheckpointFile.Load(path);
        try
        {
            return new LoadedCheckpoint(c,
                Config: RunConfig.FromJson(c.Get("config")),
                History: RunHistory.FromJson(c.Get("history")),
                RngSeed: c.ParseNumber("rng.seed", v => ulong.Parse(v, CultureInfo.InvariantCulture)),
                RngOffset: c.ParseNumber("rng.offset", v => ulong.Parse(v, CultureInfo.InvariantCulture)),
                LoaderEpoch: c.ParseNumber("loader.epoch", v => int.Parse(v, CultureInfo.InvariantCulture)),
                LoaderBatch: c.ParseNumber("loader.batch", v => int.Parse(v, CultureInfo.InvariantCulture)),
                Device: c.Get("device"))
            {
                ClassNames = c.Metadata.TryGetValue("classes", out var classes) ? System.Text.Json.JsonSerializer.Deserialize<string[]>(classes) : null,
            };
        }
        catch (Exception e) when (e is FormatException or OverflowException or System.Text.Json.JsonException or InvalidOperationException or NullReferenceException)
        {
            throw new InvalidDataException($"Checkpoint {c.Path} has unreadable metadata: {e.Message}", e);
        }
    }

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);
    private static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A run's checkpoint read from disk and checked.</summary>
public sealed record LoadedCheckpoint(CheckpointContents Contents, RunConfig Config, RunHistory History,
    ulong RngSeed, ulong RngOffset, int LoaderEpoch, int LoaderBatch, string Device)
{
    public string Path => Contents.Path;

    /// <summary>A conditional model's class names, by label (null for an unconditional one).</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }
    public long Step => Contents.Step;

    /// <summary>Puts the whole training state back, so the next step is the one an uninterrupted run would take.</summary>
    public void Restore(Session s)
    {
        Contents.Restore(s.Recipe);
        s.Device.Random.Restore(RngSeed, RngOffset);
        s.Loader.Seek(LoaderEpoch, LoaderBatch);
    }
}
