using ILGPU;

namespace IlgpuGan.Autograd;

/// <summary>
/// Reverse-mode autograd, append-only (micrograd's design on device tensors). Each op whose input
/// needs a gradient appends a node: the op's name, the layer it ran in, its output and its
/// backward in up to two forms:
/// <list type="bullet">
/// <item><b>Raw</b>: kernels that read the output's gradient and write (beta 0) or add (beta 1)
/// into the inputs' gradients: the fast path every first-order step takes.</item>
/// <item><b>Graph</b>: the same gradients built out of recorded ops, so that they are part of the
/// graph and can be differentiated again (double backward, the WGAN-GP penalty). Null for an op
/// without a second derivative (batch norm): a pass that creates a graph through it fails,
/// naming the op and the layer.</item>
/// </list>
/// Nodes run in reverse order of recording, a valid topological order since ops append after
/// their inputs exist. <see cref="Backward"/> accumulates into each tensor's <see cref="Tensor.Grad"/>
/// (parameters keep theirs across the step); <see cref="Grad"/> returns gradients as new tensors
/// and touches no tensor's Grad (torch.autograd.grad). The tape owns the step's intermediates:
/// <see cref="EndStep"/> returns them to the pool.
/// </summary>
public sealed class Tape(Device device) : IDisposable
{
    private readonly List<Node> nodes = new();
    private readonly List<Tensor> stepTensors = new();
    private readonly GradPass accumulating = new(device, null, createGraph: false);
    private LayerPath? layer;
    private int noGradDepth;

    /// <summary>One recorded op.</summary>
    /// <param name="Op">Its name, as the reference cases name it ("conv2d").</param>
    /// <param name="Path">The layer it ran in, or null outside any (<see cref="Layer"/> spells it).</param>
    /// <param name="Inputs">The tensors it read that may carry a gradient (null: unknown, then
    /// every <see cref="Grad"/> pass that reaches its output runs it).</param>
    public sealed record Node(string Op, LayerPath? Path, Tensor Output, Tensor?[]? Inputs, Action<GradPass> Raw, Action<GradPass>? Graph)
    {
        /// <summary>The layer path ("D.4"), or null.</summary>
        public string? Layer => Path?.ToString();

        public override string ToString() => Layer is null ? Op : $"{Op} (layer {Layer})";
    }

    /// <summary>False inside a <see cref="NoGrad"/> scope.</summary>
    public bool IsRecording => noGradDepth == 0;

    /// <summary>The recorded nodes, oldest first (for errors and debugging).</summary>
    public IReadOnlyList<Node> Nodes => nodes;

    /// <summary>Ops inside this scope record nothing and their outputs need no gradient.</summary>
    public IDisposable NoGrad() { noGradDepth++; return new Scope(() => noGradDepth--); }

    /// <summary>Names the layer that the ops inside this scope belong to; scopes nest ("D" then
    /// "4" gives "D.4"). Sequential opens one per child; a recipe opens one per part.</summary>
    public IDisposable Layer(string name)
    {
        var outer = layer;
        layer = new LayerPath(outer, name);
        return new Scope(() => layer = outer);
    }

    /// <summary>The current layer path, or null.</summary>
    public string? CurrentLayer => layer?.ToString();

    internal Tensor Track(Tensor t) { stepTensors.Add(t); return t; }

    /// <summary>Whether an op with these inputs must record its backward.</summary>
    public bool NeedsGrad(Tensor a) => IsRecording && a.RequiresGrad;
    public bool NeedsGrad(Tensor a, Tensor? b) => IsRecording && (a.RequiresGrad || b?.RequiresGrad == true);
    public bool NeedsGrad(Tensor a, Tensor? b, Tensor? c) => NeedsGrad(a, b) || (IsRecording && c?.RequiresGrad == true);

    /// <summary>Marks <paramref name="output"/> as needing a gradient and records how to pass it
    /// back: <paramref name="raw"/> with kernels, <paramref name="graph"/> (when the op has a
    /// second derivative) with recorded ops.</summary>
    public void Record(string op, Tensor output, Tensor?[] inputs, Action<GradPass> raw, Action<GradPass>? graph = null)
    {
        output.RequiresGrad = true;
        output.IsOpOutput = true;
        nodes.Add(new Node(op, layer, output, inputs, raw, graph));
    }

    /// <summary>As above, for an op that does not list its inputs: a <see cref="Grad"/> pass then
    /// runs it whenever its output has a gradient, needed or not.</summary>
    public void Record(string op, Tensor output, Action<GradPass> raw, Action<GradPass>? graph = null)
    {
        output.RequiresGrad = true;
        output.IsOpOutput = true;
        nodes.Add(new Node(op, layer, output, null, raw, graph));
    }

    /// <summary>Back-propagates from a scalar loss into every tensor that requires a gradient
    /// (adding to parameters' gradients), then drops the recorded graph (the intermediates stay
    /// until <see cref="EndStep"/>).</summary>
    public void Backward(Tensor loss)
    {
        if (loss.Length != 1) throw new ArgumentException($"Backward needs a scalar loss; got {loss.Shape}.");
        if (!loss.RequiresGrad) throw new InvalidOperationException("The loss does not depend on anything that requires a gradient.");
        var (seed, _) = loss.GradSlot();
        device.Kernels.Fill(seed, 1f);
        for (int i = nodes.Count - 1; i >= 0; i--)
            if (nodes[i].Output.HasGrad) nodes[i].Raw(accumulating);
        nodes.Clear();
    }

    /// <summary>
    /// The gradients of <paramref name="outputs"/> (weighted by <paramref name="gradOutputs"/>, ones
    /// when null) with respect to <paramref name="inputs"/>, as new step tensors; no tensor's Grad
    /// is touched and the graph is kept. With <paramref name="createGraph"/> every backward runs in
    /// its graph form, so the returned gradients are themselves differentiable (a loss made of them
    /// back-propagates into the parameters). An input that the outputs do not depend on gets zeros.
    /// </summary>
    public IReadOnlyList<Tensor> Grad(IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor> inputs,
        IReadOnlyList<Tensor>? gradOutputs = null, bool createGraph = false)
    {
        if (gradOutputs != null && gradOutputs.Count != outputs.Count)
            throw new ArgumentException($"Grad: {outputs.Count} outputs but {gradOutputs.Count} output gradients.");
        foreach (var x in inputs)
            if (!x.RequiresGrad) throw new ArgumentException($"Grad: an input {x.Shape} does not require a gradient.");
        var pass = new GradPass(device, inputs, createGraph, Reaching(inputs));
        for (int k = 0; k < outputs.Count; k++)
        {
            var y = outputs[k];
            if (!y.RequiresGrad) continue;
            var g = gradOutputs?[k];
            if (g != null && g.Length != y.Length)
                throw new ArgumentException($"Grad: the gradient of output {k} is {g.Shape}; the output is {y.Shape}.");
            if (g == null) { g = device.Empty(y.Shape); device.Kernels.Fill(g.View, 1f); }
            pass.Seed(y, g);
        }
        int count = nodes.Count;        // nodes a graph pass records are not part of this pass
        for (int i = count - 1; i >= 0; i--)
        {
            var node = nodes[i];
            if (!pass.Has(node.Output) || !pass.Reaches(node.Output)) continue;
            if (!createGraph) { node.Raw(pass); continue; }
            if (node.Graph is null)
                throw new NotSupportedException(
                    $"{node} has no second derivative, so a gradient of its gradient (create_graph; e.g. a WGAN-GP penalty) cannot pass through it. " +
                    (node.Op == "batch_norm" ? "Use layer norm or no normalisation in that network." : "Leave it out of that network."));
            node.Graph(pass);
        }
        return inputs.Select(x => pass.Result(x)).ToList();
    }

    /// <summary>The op outputs that depend on one of <paramref name="inputs"/> (a node with
    /// unknown inputs counts as depending on them): only those nodes lead to the inputs, so a Grad
    /// pass runs no other node and stops at the inputs unless one input depends on another.</summary>
    private HashSet<Tensor> Reaching(IReadOnlyList<Tensor> inputs)
    {
        var reach = new HashSet<Tensor>(inputs, ReferenceEqualityComparer.Instance);
        var needed = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var node in nodes)
            if (node.Inputs is null || node.Inputs.Any(x => x != null && reach.Contains(x)))
            {
                reach.Add(node.Output);
                needed.Add(node.Output);
            }
        return needed;
    }

    /// <summary>Ends a step: forgets the graph and returns every step tensor (and gradient) to the pool.</summary>
    public void EndStep()
    {
        nodes.Clear();
        foreach (var t in stepTensors) t.Dispose();
        stepTensors.Clear();
    }

    public void Dispose() => EndStep();

    /// <summary>A layer scope: its name inside the scope around it.</summary>
    public sealed record LayerPath(LayerPath? Outer, string Name)
    {
        public override string ToString() => Outer is null ? Name : $"{Outer}.{Name}";
    }

    private sealed class Scope(Action onDispose) : IDisposable
    {
        private Action? onDispose = onDispose;
        public void Dispose() { onDispose?.Invoke(); onDispose = null; }
    }
}

/// <summary>
/// Where one backward pass keeps its gradients. <see cref="Tape.Backward"/> uses the tensors' own
/// Grad slots (the first-order fast path, as before); <see cref="Tape.Grad"/> keeps a map of its
/// own. Raw backwards use <see cref="GradOf"/>, <see cref="Wants"/> and <see cref="Slot"/>; graph
/// backwards use <see cref="GradTensor"/> and <see cref="Accumulate"/>.
/// </summary>
public sealed class GradPass
{
    private readonly Device device;
    private readonly Dictionary<Tensor, Tensor>? grads;      // null: the tensors' own Grad
    private readonly HashSet<Tensor>? targets;

    private readonly HashSet<Tensor>? needed;

    internal GradPass(Device device, IReadOnlyList<Tensor>? inputs, bool createGraph, HashSet<Tensor>? needed = null)
    {
        this.device = device;
        this.needed = needed;
        CreatesGraph = createGraph;
        if (inputs != null)
        {
            grads = new(ReferenceEqualityComparer.Instance);
            targets = new(inputs, ReferenceEqualityComparer.Instance);
        }
    }

    /// <summary>Whether this pass records its gradients as ops.</summary>
    public bool CreatesGraph { get; }

    /// <summary>Whether the pass wants <paramref name="x"/>'s gradient: it requires one and (in a
    /// <see cref="Tape.Grad"/> pass) is an asked-for input or an op's output on a path to one;
    /// other leaves (parameters not asked for) are skipped.</summary>
    public bool Wants(Tensor x) => x.RequiresGrad && (targets is null || targets.Contains(x) || needed!.Contains(x));

    internal bool Has(Tensor y) => grads is null ? y.HasGrad : grads.ContainsKey(y);

    /// <summary>Whether the op that made <paramref name="y"/> lies on a path to an asked-for input.</summary>
    internal bool Reaches(Tensor y) => needed is null || needed.Contains(y);

    internal void Seed(Tensor y, Tensor g)
    {
        if (grads!.TryGetValue(y, out var old))
            grads[y] = CreatesGraph ? Ops.Add(old, g.Shape == old.Shape ? g : Ops.Reshape(g, old.Shape)) : AddRaw(old, g);
        else grads[y] = g;
    }

    /// <summary>y's gradient (raw form).</summary>
    public ArrayView<float> GradOf(Tensor y) => grads is null ? y.Grad!.View : grads[y].View;

    /// <summary>Where a raw backward writes x's gradient, and whether to write (beta 0) or add (beta 1).</summary>
    public (ArrayView<float> View, float Beta) Slot(Tensor x)
    {
        if (grads is null) return x.GradSlot();
        if (grads.TryGetValue(x, out var t)) return (t.View, 1f);
        grads[x] = t = device.Empty(x.Shape);
        return (t.View, 0f);
    }

    /// <summary>y's gradient as a tensor in the graph (graph form).</summary>
    public Tensor GradTensor(Tensor y) => grads![y];

    /// <summary>Adds <paramref name="g"/> (a recorded op's output, x's shape or x's length) to x's
    /// gradient (graph form); ignored when the pass does not want x.</summary>
    public void Accumulate(Tensor x, Tensor g)
    {
        if (!Wants(x)) return;
        if (g.Length != x.Length) throw new InvalidOperationException($"A gradient of {g.Shape} for a tensor of {x.Shape}.");
        if (g.Shape != x.Shape) g = Ops.Reshape(g, x.Shape);
        grads![x] = grads.TryGetValue(x, out var old) ? Ops.Add(old, g) : g;
    }

    /// <summary>The gradient found for an input; zeros when nothing reached it.</summary>
    internal Tensor Result(Tensor x)
    {
        if (grads!.TryGetValue(x, out var g)) return g.Shape == x.Shape ? g : g.ViewAs(x.Shape);
        var z = device.Empty(x.Shape);
        device.Kernels.Fill(z.View, 0f);
        return z;
    }

    private Tensor AddRaw(Tensor a, Tensor b)
    {
        var s = device.Empty(a.Shape);
        device.Kernels.Copy(a.View, s.View);
        device.Kernels.Axpby(b.View, s.View, 1f, 1f);
        return s;
    }
}
