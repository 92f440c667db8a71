using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using IlgpuGan.IO;
using IlgpuGan.Kernels;
using IlgpuGan.Optim;

namespace IlgpuGan.Conformance;

/// <summary>The outcome of one reference case on one device.</summary>
/// <param name="File">The case's path.</param>
/// <param name="Op">The case's op, or null when the file could not be read.</param>
/// <param name="WorstTensor">The expected tensor with the largest relative error (null when none was compared).</param>
/// <param name="WorstError">Its relative error (NaN when a computed value is NaN or infinite).</param>
/// <param name="Failure">Why the case failed; null when it passed.</param>
public sealed record CaseResult(string File, string? Op, double Tolerance, string? WorstTensor, double WorstError, TimeSpan Elapsed, string? Failure)
{
    public bool Passed => Failure is null;
    public string Name => Path.GetFileNameWithoutExtension(File);

    /// <summary><c>PASS conv2d-3 (max rel err 2.1e-06 &lt;= 1e-04) 12 ms</c> or <c>FAIL conv2d-3: reason 12 ms</c>.</summary>
    public override string ToString() => Passed
        ? $"PASS {Name} (max rel err {WorstError:0.0e+00} <= {Tolerance:0e+00}) {Elapsed.TotalMilliseconds:F0} ms"
        : $"FAIL {Name}: {Failure} {Elapsed.TotalMilliseconds:F0} ms";
}

/// <summary>
/// Runs the PyTorch reference cases (reference/FORMAT.md: one op per safetensors file, its inputs,
/// PyTorch's float64 outputs and gradients, a tolerance) on a device. Ops run through the tape,
/// seeded with the case's gy by back-propagating the scalar sum(y * gy), so the tape and every
/// backward are checked as training uses them. The project ships its own copy of the cases
/// (<see cref="ShippedDirectory"/>); <see cref="DirsVariable"/> adds folders.
/// </summary>
public static class ReferenceCases
{
    /// <summary>Extra folders of cases, ':'-separated.</summary>
    public const string DirsVariable = "ILGPUGAN_REFERENCE_DIRS";

    /// <summary>The ops the runtime knows; a case of any other op fails (FORMAT.md: a new op is never skipped silently).</summary>
    public static readonly IReadOnlySet<string> Known = new HashSet<string>
    {
        "linear", "conv2d", "conv_transpose2d", "relu", "leaky_relu", "tanh", "sigmoid", "batch_norm", "bce_with_logits", "adam",
        "layer_norm", "clamp", "rmsprop", "grad2", "wgan_gp",
        "max_pool2d", "avg_pool2d", "cross_entropy", "metrics", "inception_score",
        "embedding",
        "instance_norm", "reflection_pad2d", "l1_loss", "mse_loss", "cat",
    };

    /// <summary>Tensor names that are inputs (FORMAT.md); every other tensor of a case is an expected output.</summary>
    public static bool IsInput(string name) =>
        name is "x" or "w" or "b" or "gamma" or "beta" or "target" or "gy" or "param" or "ggx" or "real" or "fake" or "alpha" or "idx"
        || name is "a" or "p"      // metrics: the real and generated features; inception_score: the class probabilities
        || Numbered(name, "grad") || Numbered(name, "p") || Numbered(name, "x");

    private static bool Numbered(string name, string prefix) =>
        name.StartsWith(prefix, StringComparison.Ordinal) && name.Length > prefix.Length && name[prefix.Length..].All(char.IsAsciiDigit);

    // ---- finding the cases --------------------------------------------------------------------

    /// <summary>
    /// The copy of the cases that ships with the library: <c>reference/</c> next to the executable
    /// (the build copies it there), else the <c>reference/</c> folder of the source tree above it
    /// (a build that has not copied it yet); null when neither exists.
    /// </summary>
    public static string? ShippedDirectory
    {
        get
        {
            string beside = Path.Combine(AppContext.BaseDirectory, "reference");
            if (Directory.Exists(beside)) return beside;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "IlgpuGan.sln")))
                {
                    string repo = Path.Combine(dir.FullName, "reference");
                    return Directory.Exists(repo) ? repo : null;
                }
            return null;
        }
    }

    /// <summary>The folders of <see cref="DirsVariable"/>, as full paths.</summary>
    public static IReadOnlyList<string> EnvironmentDirectories() =>
        Environment.GetEnvironmentVariable(DirsVariable) is { } v && !string.IsNullOrWhiteSpace(v)
            ? v.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Path.GetFullPath).ToList()
            : [];

    /// <summary>The default search: the shipped copy, then every folder of <see cref="DirsVariable"/>.</summary>
    public static IReadOnlyList<string> DefaultDirectories() =>
        (ShippedDirectory is { } s ? [s] : Array.Empty<string>()).Concat(EnvironmentDirectories()).ToList();

    /// <summary>
    /// Every <c>*.safetensors</c> file in the folders (missing folders are skipped), in folder order
    /// and then ordinal name order. A file with the same name and the same bytes as one found
    /// earlier is left out: the shipped copy and the folder it was copied from hold the same cases,
    /// which need not run twice. A same-named file whose bytes differ (a newer or older version of a
    /// case) is kept, so neither version goes unchecked.
    /// </summary>
    public static IReadOnlyList<string> Files(IEnumerable<string> directories)
    {
        var seen = new HashSet<(string Name, string Hash)>();
        var files = new List<string>();
        foreach (var dir in directories.Select(Path.GetFullPath).Distinct())
        {
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.EnumerateFiles(dir, "*.safetensors").Order(StringComparer.Ordinal))
            {
                string hash;
                using (var stream = File.OpenRead(file)) hash = Convert.ToHexString(SHA256.HashData(stream));
                if (seen.Add((Path.GetFileName(file), hash))) files.Add(file);
            }
        }
        return files;
    }

    /// <summary>The files of <see cref="DefaultDirectories"/>.</summary>
    public static IReadOnlyList<string> Files() => Files(DefaultDirectories());

    public static string OpOf(string file) => OpOf(SafeTensors.Read(file), file);

    public static string OpOf(SafeTensors.Contents contents, string file) =>
        contents.Metadata.TryGetValue("op", out var op) ? op : throw new InvalidDataException($"{file}: no 'op' in the metadata.");

    // ---- running and comparing ----------------------------------------------------------------

    /// <summary>Reads the case and runs it; an unreadable file is a failed result, not an exception.</summary>
    public static CaseResult Run(Device device, string file)
    {
        SafeTensors.Contents contents;
        try { contents = SafeTensors.Read(file); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return new CaseResult(file, null, double.NaN, null, double.NaN, TimeSpan.Zero, e.Message);
        }
        return Run(device, contents, file);
    }

    /// <summary>
    /// Runs the case and compares every expected tensor by FORMAT.md's rule: relative error
    /// ||C - E||_2 / max(||E||_2, 1e-12) &lt;= the case's tolerance, and no computed value NaN or
    /// infinite. An unknown op, a missing attribute or a runtime error is a failure with its reason.
    /// </summary>
    public static CaseResult Run(Device device, SafeTensors.Contents contents, string file)
    {
        long t0 = Stopwatch.GetTimestamp();
        string? op = contents.Metadata.GetValueOrDefault("op");
        double tolerance = double.NaN;
        string? worst = null;
        double worstError = double.NaN;
        CaseResult Result(string? failure) => new(file, op, tolerance, worst, worstError, Stopwatch.GetElapsedTime(t0), failure);

        if (op is null) return Result("no 'op' in the metadata");
        if (!Known.Contains(op)) return Result($"op '{op}' is not known to the runtime");
        if (!contents.Metadata.TryGetValue("tolerance", out var tol)
            || !double.TryParse(tol, NumberStyles.Float, CultureInfo.InvariantCulture, out tolerance) || !(tolerance >= 0))
            return Result("no valid 'tolerance' in the metadata");
        var expected = contents.Tensors.Keys.Where(k => !IsInput(k)).Order(StringComparer.Ordinal).ToList();
        if (expected.Count == 0) return Result("the case has no expected tensors");

        Dictionary<string, float[]> computed;
        try { computed = Compute(device, contents); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Result($"{e.GetType().Name}: {e.Message}");
        }

        worstError = 0;
        foreach (var name in expected)
        {
            if (!computed.TryGetValue(name, out var c)) return Result($"the runner does not produce '{name}'");
            var e = contents.Tensors[name].Data;
            if (c.Length != e.Length) return Result($"{name} has {c.Length} values; expected {e.Length}");
            int bad = c.Count(v => !float.IsFinite(v));
            if (bad > 0)
            {
                (worst, worstError) = (name, double.NaN);
                return Result($"{name} has {bad} NaN or infinite value(s)");
            }
            double err = RelativeError(c, e);
            if (worst is null || err > worstError) (worst, worstError) = (name, err);
        }
        return worstError <= tolerance
            ? Result(null)
            : Result($"{worst} rel err {worstError:0.0e+00} > tolerance {tolerance:0e+00}");
    }

    /// <summary>||C - E||_2 / max(||E||_2, 1e-12), summed in double (FORMAT.md).</summary>
    public static double RelativeError(ReadOnlySpan<float> computed, ReadOnlySpan<float> expected)
    {
        if (computed.Length != expected.Length)
            throw new ArgumentException($"{computed.Length} computed values for {expected.Length} expected.");
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = computed[i] - (double)expected[i];
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), 1e-12);
    }

    /// <summary>Runs the case on the device and returns the computed value of every output it produces.</summary>
    public static Dictionary<string, float[]> Compute(Device d, SafeTensors.Contents c)
    {
        var t = c.Tensors;
        var md = c.Metadata;
        string Attr(string name) => md.TryGetValue(name, out var v) ? v : throw new InvalidDataException($"no '{name}' attribute in the metadata");
        int Int(string name) => int.Parse(Attr(name), CultureInfo.InvariantCulture);
        float Float(string name) => float.Parse(Attr(name), CultureInfo.InvariantCulture);
        double Double(string name) => double.Parse(Attr(name), CultureInfo.InvariantCulture);
        HostTensor HostInput(string name) => t.TryGetValue(name, out var v) ? v : throw new InvalidDataException($"no input tensor '{name}'");

        var owned = new List<Tensor>();
        Tensor In(string name, bool grad = true)
        {
            var h = HostInput(name);
            var x = d.Persistent(new Shape(h.Shape), h.Data);
            owned.Add(x);
            x.RequiresGrad = grad;
            return x;
        }
        var result = new Dictionary<string, float[]>();
        try
        {
            switch (Attr("op"))
            {
                case "linear":
                {
                    Tensor x = In("x"), w = In("w"), b = In("b");
                    var y = Ops.Linear(x, w, b);
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray(); result["gw"] = w.Grad!.ToArray(); result["gb"] = b.Grad!.ToArray();
                    break;
                }
                case "conv2d" or "conv_transpose2d":
                {
                    Tensor x = In("x"), w = In("w");
                    Tensor? b = t.ContainsKey("b") ? In("b") : null;
                    int stride = Int("stride"), padding = Int("padding");
                    var y = md["op"] == "conv2d"
                        ? Ops.Conv2d(x, w, b, stride, padding)
                        : Ops.ConvTranspose2d(x, w, b, stride, padding, Int("output_padding"));
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray(); result["gw"] = w.Grad!.ToArray();
                    if (b != null) result["gb"] = b.Grad!.ToArray();
                    break;
                }
                case "relu" or "leaky_relu" or "tanh" or "sigmoid":
                {
                    var f = md["op"] switch { "relu" => Activation.Relu, "leaky_relu" => Activation.LeakyRelu, "tanh" => Activation.Tanh, _ => Activation.Sigmoid };
                    float slope = md.ContainsKey("slope") ? Float("slope") : 0f;
                    var x = In("x");
                    var y = Ops.Activate(x, f, slope);
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "batch_norm":
                {
                    var x = In("x");
                    var gamma = HostInput("gamma");
                    using var bn = new Nn.BatchNorm(d, gamma.Shape[0], Float("eps"), Float("momentum"));
                    bn.Weight.CopyFrom(gamma.Data);
                    bn.Bias.CopyFrom(HostInput("beta").Data);
                    var y = bn.Forward(x);
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    result["ggamma"] = bn.Weight.Grad!.ToArray(); result["gbeta"] = bn.Bias.Grad!.ToArray();
                    result["running_mean"] = bn.RunningMean.ToArray(); result["running_var"] = bn.RunningVar.ToArray();
                    break;
                }
                case "bce_with_logits":
                {
                    var x = In("x");
                    var y = Ops.BceWithLogits(x, In("target", false));
                    d.Tape.Backward(y);
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "adam":
                {
                    var p = In("param");
                    using var adam = new Adam([p], Double("lr"), Double("beta1"), Double("beta2"), Double("eps"));
                    int steps = Int("steps");
                    for (int i = 1; i <= steps; i++)
                    {
                        adam.ZeroGrad();
                        BackwardWith(d, p, In($"grad{i}", false));     // d/dp sum(p * g) = g
                        adam.Step();
                        d.Tape.EndStep();
                    }
                    var state = adam.NamedState().ToDictionary(s => s.Name, s => s.Tensor);
                    result["y"] = p.ToArray(); result["m"] = state["exp_avg"].ToArray(); result["v"] = state["exp_avg_sq"].ToArray();
                    break;
                }
                case "layer_norm":
                {
                    Tensor x = In("x"), gamma = In("gamma"), beta = In("beta");
                    var y = Ops.LayerNorm(x, gamma, beta, Float("eps"));
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    result["ggamma"] = gamma.Grad!.ToArray(); result["gbeta"] = beta.Grad!.ToArray();
                    break;
                }
                case "clamp":
                {
                    var x = In("x");
                    var y = Ops.Clamp(x, Float("min"), Float("max"));
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "max_pool2d" or "avg_pool2d":
                {
                    var x = In("x");
                    int kernel = Int("kernel"), stride = Int("stride"), padding = Int("padding");
                    var y = md["op"] == "max_pool2d" ? Ops.MaxPool2d(x, kernel, stride, padding) : Ops.AvgPool2d(x, kernel, stride, padding);
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "rmsprop":
                {
                    var p = In("param");
                    using var rms = new RmsProp([p], Double("lr"), Double("alpha"), Double("eps"));
                    int steps = Int("steps");
                    for (int i = 1; i <= steps; i++)
                    {
                        rms.ZeroGrad();
                        BackwardWith(d, p, In($"grad{i}", false));
                        rms.Step();
                        d.Tape.EndStep();
                    }
                    result["y"] = p.ToArray();
                    result["square_avg"] = rms.NamedState().Single(s => s.Name == "square_avg").Tensor.ToArray();
                    break;
                }
                case "embedding":
                {
                    Tensor idx = In("idx", false), w = In("w");
                    var y = Ops.Embedding(idx, w);
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gw"] = w.Grad!.ToArray();
                    break;
                }
                case "instance_norm":
                {
                    var x = In("x");
                    bool affine = Int("affine") != 0;
                    Tensor? gamma = affine ? In("gamma") : null, beta = affine ? In("beta") : null;
                    var y = Ops.InstanceNorm(x, gamma, beta, Float("eps"));
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    if (affine) { result["ggamma"] = gamma!.Grad!.ToArray(); result["gbeta"] = beta!.Grad!.ToArray(); }
                    break;
                }
                case "reflection_pad2d":
                {
                    var x = In("x");
                    var y = Ops.ReflectionPad2d(x, Int("padding"));
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "l1_loss" or "mse_loss":
                {
                    if (md.TryGetValue("reduction", out var reduction) && reduction != "mean")
                        throw new NotSupportedException($"{md["op"]} with reduction '{reduction}' (only 'mean')");
                    var x = In("x");
                    var y = md["op"] == "l1_loss" ? Ops.L1Loss(x, In("target", false)) : Ops.MseLoss(x, In("target", false));
                    d.Tape.Backward(y);
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "cat":
                {
                    if (Int("dim") != 1) throw new NotSupportedException($"cat along dim {Attr("dim")} (only 1)");
                    var xs = Enumerable.Range(0, t.Count).Select(i => $"x{i}").TakeWhile(t.ContainsKey).Select(n => In(n)).ToArray();
                    var y = Ops.Cat(xs);
                    BackwardWith(d, y, In("gy", false));
                    result["y"] = y.ToArray();
                    for (int i = 0; i < xs.Length; i++) result[$"gx{i}"] = xs[i].Grad!.ToArray();
                    break;
                }
                case "grad2":
                    SecondOrder(d, Attr("of"), t.Keys, (name, grad) => In(name, grad), Int, Float, result);
                    break;
                case "wgan_gp":
                {
                    var ps = Enumerable.Range(0, t.Count).Select(i => $"p{i}").TakeWhile(t.ContainsKey).Select(n => In(n)).ToArray();
                    var critic = Critic(Attr("critic"), ps);
                    var (gp, norm) = Training.GradientPenalty.Compute(critic, In("real", false), In("fake", false), Float("lambda"), In("alpha", false));
                    d.Tape.Backward(gp);
                    result["gp"] = gp.ToArray(); result["grad_norm"] = norm.ToArray();
                    for (int i = 0; i < ps.Length; i++) result[$"gp{i}"] = GradOrZeros(ps[i]);
                    break;
                }
                case "cross_entropy":
                {
                    if (md.TryGetValue("reduction", out var reduction) && reduction != "mean")
                        throw new NotSupportedException($"cross_entropy: reduction '{reduction}' (only 'mean')");
                    var x = In("x");
                    var y = Ops.CrossEntropy(x, In("target", false));
                    d.Tape.Backward(y);
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "metrics":
                {
                    // Through the evaluation code (host float64; the device's GEMM for large sets).
                    HostTensor a = HostInput("a"), b = HostInput("b");
                    var fa = new Evaluation.FeatureSet(a.Data, a.Shape[0], a.Shape[1]);
                    var fb = new Evaluation.FeatureSet(b.Data, b.Shape[0], b.Shape[1]);
                    var pr = Evaluation.Metrics.PrecisionRecall(d, fa, fb, Int("k"));
                    result["fid"] = [(float)Evaluation.Metrics.Fid(fa, fb)];
                    result["kid"] = [(float)Evaluation.Metrics.KidOnce(d, fa, fb)];
                    result["precision"] = [(float)pr.Precision];
                    result["recall"] = [(float)pr.Recall];
                    break;
                }
                case "inception_score":
                {
                    var p = HostInput("p");
                    var score = Evaluation.Metrics.InceptionScore(p.Data, p.Shape[0], p.Shape[1], Int("splits"));
                    result["y"] = [(float)score.Mean, (float)score.Std];
                    break;
                }
                default:
                    throw new NotSupportedException($"op '{md["op"]}' is not known to the runtime");
            }
            return result;
        }
        finally
        {
            d.Tape.EndStep();
            foreach (var x in owned) x.Dispose();
        }
    }

    /// <summary>
    /// A grad2 case (FORMAT-next.md): y = op(x, ...); gx = d&lt;y, gy&gt;/dx taken with a graph
    /// (create_graph); L = &lt;gx, ggx&gt; back-propagated into x (g2x), gy (ggy) and the op's other
    /// inputs (g2w, g2b, g2gamma, g2beta). An input that L does not depend on gets zeros.
    /// </summary>
    private static void SecondOrder(Device d, string of, IEnumerable<string> names, Func<string, bool, Tensor> input,
        Func<string, int> intAttr, Func<string, float> floatAttr, Dictionary<string, float[]> result)
    {
        var has = names.ToHashSet();
        Tensor x = input("x", true), gy = input("gy", true);
        Tensor? Opt(string name) => has.Contains(name) ? input(name, true) : null;
        Tensor? w = Opt("w"), b = Opt("b"), gamma = Opt("gamma"), beta = Opt("beta");
        var y = of switch
        {
            "linear" => Ops.Linear(x, w!, b),
            "conv2d" => Ops.Conv2d(x, w!, b, intAttr("stride"), intAttr("padding")),
            "conv_transpose2d" => Ops.ConvTranspose2d(x, w!, b, intAttr("stride"), intAttr("padding"), intAttr("output_padding")),
            "relu" => Ops.Relu(x),
            "leaky_relu" => Ops.LeakyRelu(x, floatAttr("slope")),
            "tanh" => Ops.Tanh(x),
            "sigmoid" => Ops.Sigmoid(x),
            "layer_norm" => Ops.LayerNorm(x, gamma!, beta!, floatAttr("eps")),
            _ => throw new NotSupportedException($"grad2 of '{of}' is not known to the runtime"),
        };
        var gx = d.Tape.Grad([y], [x], [gy.Shape == y.Shape ? gy : Ops.Reshape(gy, y.Shape)], createGraph: true)[0];
        result["gx"] = gx.ToArray();
        d.Tape.Backward(Ops.Sum(Ops.Mul(gx, input("ggx", false).ViewAs(gx.Shape))));
        result["ggy"] = GradOrZeros(gy);
        result["g2x"] = GradOrZeros(x);
        foreach (var (name, p) in new[] { ("g2w", w), ("g2b", b), ("g2gamma", gamma), ("g2beta", beta) })
            if (p != null) result[name] = GradOrZeros(p);
    }

    /// <summary>The critics of the wgan_gp cases (FORMAT-next.md), over parameters p0, p1, ...</summary>
    private static Func<Tensor, Tensor> Critic(string name, Tensor[] p) => name switch
    {
        "conv_critic" => x => Ops.Linear(Ops.LeakyRelu(Ops.Conv2d(x, p[0], p[1], 2, 1), 0.2f), p[2], p[3]),
        "mlp_critic" => x => Ops.Linear(Ops.LeakyRelu(Ops.Linear(Ops.LeakyRelu(Ops.Linear(x, p[0], p[1]), 0.2f), p[2], p[3]), 0.2f), p[4], p[5]),
        "ln_critic" => x => Ops.Linear(Ops.LeakyRelu(Ops.LayerNorm(Ops.Conv2d(x, p[0], p[1], 2, 1), p[2], p[3], 1e-5f), 0.2f), p[4], p[5]),
        _ => throw new NotSupportedException($"wgan_gp critic '{name}' is not known to the runtime"),
    };

    private static float[] GradOrZeros(Tensor t) => t.HasGrad ? t.Grad!.ToArray() : new float[t.Length];

    /// <summary>Back-propagates sum(y * gy), so that y's gradient is gy.</summary>
    public static void BackwardWith(Device d, Tensor y, Tensor gy) =>
        d.Tape.Backward(Ops.Sum(Ops.Mul(y, gy.ViewAs(y.Shape))));
}
