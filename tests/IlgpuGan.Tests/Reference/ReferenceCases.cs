using IlgpuGan.IO;
using IlgpuGan.Kernels;
using IlgpuGan.Optim;
using IlgpuGan.Tests.Support;

namespace IlgpuGan.Tests.Reference;

/// <summary>
/// Runs one PyTorch reference case (shared/reference/FORMAT.md) on a device. Ops run through the
/// tape, seeded with the case's gy by back-propagating the scalar sum(y * gy), so the tape and
/// every backward are checked as training uses them.
/// </summary>
public static class ReferenceCases
{
    /// <summary>Ops that later issues add; a case of any other unknown op fails the run.</summary>
    public static readonly IReadOnlyDictionary<string, string> ExpectedUnknown = new Dictionary<string, string>();

    public static readonly IReadOnlySet<string> Known = new HashSet<string>
        { "linear", "conv2d", "conv_transpose2d", "relu", "leaky_relu", "tanh", "sigmoid", "batch_norm", "bce_with_logits", "adam" };

    public static IEnumerable<string> Files() =>
        Paths.ReferenceDirs().Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d, "*.safetensors")).OrderBy(f => f, StringComparer.Ordinal);

    public static string OpOf(string file) => OpOf(SafeTensors.Read(file), file);

    public static string OpOf(SafeTensors.Contents contents, string file) =>
        contents.Metadata.TryGetValue("op", out var op) ? op : throw new InvalidDataException($"{file}: no 'op' in the metadata.");

    /// <summary>Runs the case and returns the computed value of every expected tensor.</summary>
    public static Dictionary<string, float[]> Run(Device d, SafeTensors.Contents c)
    {
        var t = c.Tensors;
        var md = c.Metadata;
        Tensor In(string name, bool grad = true)
        {
            var x = d.Persistent(new Shape(t[name].Shape), t[name].Data);
            x.RequiresGrad = grad;
            return x;
        }
        var owned = new List<Tensor>();
        Tensor Own(Tensor x) { owned.Add(x); return x; }
        var result = new Dictionary<string, float[]>();
        try
        {
            switch (md["op"])
            {
                case "linear":
                {
                    Tensor x = Own(In("x")), w = Own(In("w")), b = Own(In("b"));
                    var y = Ops.Linear(x, w, b);
                    BackwardWith(d, y, Own(In("gy", false)));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray(); result["gw"] = w.Grad!.ToArray(); result["gb"] = b.Grad!.ToArray();
                    break;
                }
                case "conv2d" or "conv_transpose2d":
                {
                    Tensor x = Own(In("x")), w = Own(In("w"));
                    Tensor? b = t.ContainsKey("b") ? Own(In("b")) : null;
                    int stride = int.Parse(md["stride"]), padding = int.Parse(md["padding"]);
                    var y = md["op"] == "conv2d"
                        ? Ops.Conv2d(x, w, b, stride, padding)
                        : Ops.ConvTranspose2d(x, w, b, stride, padding, int.Parse(md["output_padding"]));
                    BackwardWith(d, y, Own(In("gy", false)));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray(); result["gw"] = w.Grad!.ToArray();
                    if (b != null) result["gb"] = b.Grad!.ToArray();
                    break;
                }
                case "relu" or "leaky_relu" or "tanh" or "sigmoid":
                {
                    var f = md["op"] switch { "relu" => Activation.Relu, "leaky_relu" => Activation.LeakyRelu, "tanh" => Activation.Tanh, _ => Activation.Sigmoid };
                    float slope = md.TryGetValue("slope", out var s) ? float.Parse(s) : 0f;
                    var x = Own(In("x"));
                    var y = Ops.Activate(x, f, slope);
                    BackwardWith(d, y, Own(In("gy", false)));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "batch_norm":
                {
                    var x = Own(In("x"));
                    int ch = t["gamma"].Shape[0];
                    using var bn = new Nn.BatchNorm(d, ch, float.Parse(md["eps"]), float.Parse(md["momentum"]));
                    bn.Weight.CopyFrom(t["gamma"].Data);
                    bn.Bias.CopyFrom(t["beta"].Data);
                    var y = bn.Forward(x);
                    BackwardWith(d, y, Own(In("gy", false)));
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    result["ggamma"] = bn.Weight.Grad!.ToArray(); result["gbeta"] = bn.Bias.Grad!.ToArray();
                    result["running_mean"] = bn.RunningMean.ToArray(); result["running_var"] = bn.RunningVar.ToArray();
                    break;
                }
                case "bce_with_logits":
                {
                    var x = Own(In("x"));
                    var y = Ops.BceWithLogits(x, Own(In("target", false)));
                    d.Tape.Backward(y);
                    result["y"] = y.ToArray(); result["gx"] = x.Grad!.ToArray();
                    break;
                }
                case "adam":
                {
                    var p = Own(In("param"));
                    using var adam = new Adam([p], double.Parse(md["lr"]), double.Parse(md["beta1"]), double.Parse(md["beta2"]), double.Parse(md["eps"]));
                    int steps = int.Parse(md["steps"]);
                    for (int i = 1; i <= steps; i++)
                    {
                        adam.ZeroGrad();
                        BackwardWith(d, p, Own(In($"grad{i}", false)));     // d/dp sum(p * g) = g
                        adam.Step();
                        d.Tape.EndStep();
                    }
                    var state = adam.NamedState().ToDictionary(s => s.Name, s => s.Tensor);
                    result["y"] = p.ToArray(); result["m"] = state["exp_avg"].ToArray(); result["v"] = state["exp_avg_sq"].ToArray();
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

    /// <summary>Back-propagates sum(y * gy), so that y's gradient is gy.</summary>
    public static void BackwardWith(Device d, Tensor y, Tensor gy) =>
        d.Tape.Backward(Ops.Sum(Ops.Mul(y, gy.ViewAs(y.Shape))));
}
