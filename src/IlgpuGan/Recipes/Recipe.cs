using System.Globalization;
using IlgpuGan.Nn;
using IlgpuGan.Optim;

namespace IlgpuGan.Recipes;

/// <summary>One trained part of a recipe: a module and the optimizer that updates it, under a name
/// (<c>G</c>, <c>D</c>; later <c>G_AB</c>, <c>E</c>, ...). Checkpoints store both under that name.</summary>
public sealed record Part(string Name, Module Module, Optimizer Optimizer) : IDisposable
{
    /// <summary>The optimizer's name in checkpoints: adam, rmsprop, sgd.</summary>
    public string OptimizerName => Optimizer switch { Adam => "adam", RmsProp => "rmsprop", Sgd => "sgd", _ => Optimizer.GetType().Name.ToLowerInvariant() };

    public void Dispose()
    {
        Optimizer.Dispose();
        Module.Dispose();
    }
}

/// <summary>A statistic a recipe reports: its name (<c>Loss_D</c>, <c>W</c>, ...) and the chart it is
/// drawn in (statistics of one chart share a scale).</summary>
public readonly record struct Statistic(string Name, string Chart);

/// <summary>The statistics of one step, read back from the device, by name.</summary>
public readonly record struct StepStats(long Step, IReadOnlyList<string> Names, IReadOnlyList<float> Values)
{
    public float this[string name]
    {
        get
        {
            for (int i = 0; i < Names.Count; i++)
                if (Names[i] == name) return Values[i];
            throw new KeyNotFoundException($"No statistic '{name}'; this recipe reports {string.Join(", ", Names)}.");
        }
    }

    /// <summary>Whether the recipe reports <paramref name="name"/>.</summary>
    public bool Has(string name) => Names.Contains(name);

    /// <summary><c>Loss_D 1.3842  Loss_G 0.6938  ...</c>, four decimals (huge or tiny values compactly: <c>5.1e+21</c>).</summary>
    public string Text()
    {
        var parts = new string[Names.Count];
        for (int i = 0; i < parts.Length; i++) parts[i] = $"{Names[i]} {Numbers.Compact(Values[i])}";
        return string.Join("  ", parts);
    }

    public override string ToString() => $"step {Step}: {Text()}";
}

/// <summary>A loss or a statistic that is NaN or infinite.</summary>
public sealed class NonFiniteLossException(string message) : Exception(message);

/// <summary>
/// A training recipe: named parts (each a module and its optimizer), one training step, and named
/// statistics. The statistics stay on the device (one small tensor the step copies them into);
/// <see cref="ReadStats"/> reads them back, and waits for the device, only when the caller reports.
/// A recipe's own counters (a critic schedule, ...) are <see cref="SaveState"/>d into checkpoints.
/// </summary>
public abstract class Recipe : IDisposable
{
    private readonly Tensor stats;
    private readonly Dictionary<string, Part> byName;

    protected Recipe(Device device, IReadOnlyList<Part> parts, IReadOnlyList<Statistic> statistics)
    {
        Device = device;
        Parts = parts;
        Statistics = statistics;
        byName = parts.ToDictionary(p => p.Name);
        stats = device.Persistent(new Shape(statistics.Count), 0f);
    }

    public Device Device { get; }
    public IReadOnlyList<Part> Parts { get; }
    public Part this[string name] => byName.TryGetValue(name, out var p) ? p
        : throw new KeyNotFoundException($"This recipe has no part '{name}'; its parts are {string.Join(", ", byName.Keys)}.");
    public IReadOnlyList<Statistic> Statistics { get; }

    /// <summary>Training steps done; set when resuming from a checkpoint.</summary>
    public long Step { get; set; }

    /// <summary>One training step; <paramref name="nextRealBatch"/> gives a real batch on the device
    /// (called once per batch the step consumes).</summary>
    public abstract void TrainStep(Func<Tensor> nextRealBatch);

    /// <summary>The recipe's counters, as text, for a checkpoint's metadata (none by default).</summary>
    public virtual IEnumerable<(string Key, string Value)> SaveState() => [];

    /// <summary>Puts back what <see cref="SaveState"/> gave (keys missing from an older checkpoint keep their defaults).</summary>
    public virtual void LoadState(IReadOnlyDictionary<string, string> state) { }

    /// <summary>Copies the scalar <paramref name="value"/> into statistic <paramref name="index"/> (on the device).</summary>
    protected void Report(int index, Tensor value) => Device.Kernels.Copy(value.View, stats.View.SubView(index, 1));

    /// <summary>The last step's statistics (waits for the device). A non-finite value is an error naming
    /// the step, the statistic and the value.</summary>
    public StepStats ReadStats()
    {
        float[] s = stats.ToArray();
        for (int i = 0; i < s.Length; i++)
            if (!float.IsFinite(s[i]))
                throw new NonFiniteLossException($"Training diverged at step {Step}: {Statistics[i].Name} is {s[i].ToString(CultureInfo.InvariantCulture)}. Try a lower learning rate.");
        return new StepStats(Step, Statistics.Select(x => x.Name).ToArray(), s);
    }

    public virtual void Dispose()
    {
        stats.Dispose();
        foreach (var p in Parts.Reverse()) p.Dispose();
        GC.SuppressFinalize(this);
    }
}
