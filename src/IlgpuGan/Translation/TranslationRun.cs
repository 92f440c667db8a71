using System.Diagnostics;
using System.Globalization;
using IlgpuGan.Data;
using IlgpuGan.Imaging;
using IlgpuGan.Recipes;

namespace IlgpuGan.Translation;

/// <summary>
/// The translation and autoencoder models by name, their defaults, and a training run: batches of
/// A and B from <see cref="TranslationData"/> (paired: the same order for both; unpaired: independent
/// shuffles), checkpoints that resume exactly (parts, Adam, random stream, image pools, both loaders'
/// positions), and grids with input / translation / reconstruction rows.
/// </summary>
public sealed class TranslationRun : IDisposable
{
    /// <summary>The translation and autoencoder models' names (<see cref="ModelRegistry.Translation"/>).</summary>
    public static IReadOnlyList<string> Models => ModelRegistry.Translation.Select(m => m.Name).ToList();

    /// <summary>The model's defaults (<see cref="TranslationSpec.DefaultsFor"/>).</summary>
    public static TranslationOptions Defaults(string model, bool builtIn) => ModelRegistry.GetTranslation(model).DefaultsFor(builtIn);

    /// <summary>The model <paramref name="o"/> names, built on <paramref name="d"/>.</summary>
    public static TranslationModel Create(Device d, TranslationOptions o) => ModelRegistry.GetTranslation(o.Model).Create(d, o);

    public Device Device { get; }
    public TranslationModel Model { get; }
    public TranslationData Data { get; }
    public BatchLoader LoaderA { get; }
    public BatchLoader LoaderB { get; }
    private readonly Tensor a, b;
    private readonly float[] hostA, hostB;

    public TranslationRun(Device device, TranslationOptions o, TranslationData data)
    {
        if (data.Channels != o.Channels || data.Size != o.Size)
            throw new ArgumentException($"The data are {data.Channels}x{data.Size}x{data.Size} images but the model is set up for {o.Channels}x{o.Size}x{o.Size}.");
        Device = device; Data = data;
        Model = Create(device, o);
        if (Model.NeedsPairs && !data.Paired)
            throw new ArgumentException($"{o.Model} needs paired data (A|B side by side, or --data-a/--data-b with matching file names); {data.Description} is unpaired: use cyclegan.");
        int s = data.TrainA.SampleSize;
        LoaderA = new BatchLoader(data.TrainA.Images, s, data.TrainA.Count, o.Batch, o.Seed);
        // Paired data: the same seed and count give B the same order, so A[i] meets B[i].
        LoaderB = new BatchLoader(data.TrainB.Images, s, data.TrainB.Count, o.Batch, data.Paired ? o.Seed : o.Seed + 7919);
        hostA = new float[o.Batch * s]; hostB = new float[o.Batch * s];
        var shape = new Shape(o.Batch, o.Channels, o.Size, o.Size);
        a = device.Persistent(shape); b = device.Persistent(shape);
    }

    private static void Next(BatchLoader l, float[] buffer)
    {
        if (!l.Next(buffer)) l.Next(buffer);        // the call that ends an epoch returns nothing
    }

    /// <summary>One training step on the next batches.</summary>
    public void Step()
    {
        Next(LoaderA, hostA);
        a.CopyFrom(hostA);
        if (Model.UsesB) { Next(LoaderB, hostB); b.CopyFrom(hostB); }
        Model.TrainStep(a, b);
    }

    /// <summary>The median and minimum time of a training step in ms over <paramref name="steps"/>
    /// steps after <paramref name="warmup"/> (the device synchronised before each clock read).</summary>
    public (double Median, double Min) Bench(int warmup, int steps)
    {
        for (int i = 0; i < warmup; i++) Step();
        Device.Synchronize();
        var t = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Step();
            Device.Synchronize();
            t[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(t);
        return (t[steps / 2], t[0]);
    }

    /// <summary>Writes a checkpoint: the model's (<see cref="TranslationModel.Save"/>), both loaders' positions, the
    /// data's description and the caller's <paramref name="metadata"/> (the tool's history of statistics, say).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var m = new Dictionary<string, string>
        {
            ["loader_A"] = $"{LoaderA.Epoch},{LoaderA.BatchIndex}",
            ["loader_B"] = $"{LoaderB.Epoch},{LoaderB.BatchIndex}",
            ["data"] = Data.Description,
        };
        foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) m.TryAdd(k, v);
        Model.Save(path, m);
    }

    /// <summary>What each row of <see cref="Grid"/> shows, top to bottom.</summary>
    public string GridRows => Model.Options.Model switch
    {
        "cyclegan" => "real A / G_A(A) / G_B(G_A(A)) / real B / G_B(B) / G_A(G_B(B))",
        "pix2pix" => "input A / G(A) / target B",
        "ae" => "input / reconstruction",
        "ae-swap" => "A / Dec_A(E(A)) / Dec_B(E(A)), the swap / B / Dec_B(E(B)) / Dec_A(E(B)), the swap",
        "vae" => "input / reconstruction / new samples / new samples",
        _ => "",
    };

    public void Load(string path)
    {
        var c = CheckpointFile.Load(path);
        Model.Load(c);
        foreach (var (l, key) in new[] { (LoaderA, "loader_A"), (LoaderB, "loader_B") })
        {
            var parts = c.Get(key).Split(',');
            l.Seek(int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Reads a checkpoint's options (to build the model it holds).</summary>
    public static TranslationOptions OptionsOf(string path)
    {
        var c = CheckpointFile.Load(path);
        if (!c.Metadata.TryGetValue(TranslationModel.OptionsKey, out var json))
            throw new InvalidDataException($"{path}: not a translation or autoencoder checkpoint (no {TranslationModel.OptionsKey} in its metadata); GAN checkpoints go to sample, eval or train --resume.");
        return TranslationOptions.FromJson(json);
    }

    /// <summary>Builds the model a checkpoint holds and loads it.</summary>
    public static TranslationModel LoadModel(Device d, string path)
    {
        var o = OptionsOf(path);
        var m = Create(d, o);
        m.Load(CheckpointFile.Load(path));
        return m;
    }

    /// <summary>
    /// The training grid (8 columns): for cyclegan, rows real A / G_A(A) / G_B(G_A(A)) / real B /
    /// G_B(B) / G_A(G_B(B)); pix2pix: input A / G(A) / target B; ae and ae-swap: input / reconstruction
    /// (ae-swap adds the crossing Dec_B(E(A)) and the B rows); vae: input / reconstruction / new samples.
    /// Held-out images where the data have them.
    /// </summary>
    public void Grid(string path, int columns = 8)
    {
        var setA = Data.TestA ?? Data.TrainA;
        var setB = Data.TestB ?? Data.TrainB;
        int n = Math.Min(columns, Math.Min(setA.Count, setB.Count)), c = Model.Options.Channels, z = Model.Options.Size;
        float[] Take(DomainImages d) => d.Images.AsSpan(0, n * d.SampleSize).ToArray();
        float[] Ap(string part, float[] x) => Model.Apply(part, x, n, c, z, z);
        var ia = Take(setA);
        var ib = Take(setB);
        var rows = new List<float[]>();
        switch (Model.Options.Model)
        {
            case "cyclegan":
            {
                var fb = Ap("G_A", ia);
                var fa = Ap("G_B", ib);
                rows.AddRange([ia, fb, Ap("G_B", fb), ib, fa, Ap("G_A", fa)]);
                break;
            }
            case "pix2pix": rows.AddRange([ia, Ap("G", ia), ib]); break;
            case "ae": rows.AddRange([ia, Model.Apply("Dec", Ap("E", ia), n, 1, 1, Model.Options.Latent)]); break;
            case "ae-swap":
            {
                var za = Ap("E", ia);
                var zb = Ap("E", ib);
                rows.AddRange([ia, Model.Apply("Dec_A", za, n, 1, 1, Model.Options.Latent), Model.Apply("Dec_B", za, n, 1, 1, Model.Options.Latent),
                    ib, Model.Apply("Dec_B", zb, n, 1, 1, Model.Options.Latent), Model.Apply("Dec_A", zb, n, 1, 1, Model.Options.Latent)]);
                break;
            }
            case "vae":
            {
                var vae = (Vae)Model;
                var mu = Ap("E", ia);
                rows.AddRange([ia, vae.Decode(mu, n), vae.Sample(n, 1), vae.Sample(n, 2)]);
                break;
            }
        }
        var all = rows.SelectMany(r => r).ToArray();
        ImageGrid.SavePng(path, all, rows.Count * n, c, z, z, n);
    }

    public void Dispose()
    {
        a.Dispose(); b.Dispose();
        Model.Dispose();
    }
}
