namespace IlgpuGan.Autograd;

/// <summary>
/// Reverse-mode autograd, append-only: each op that has an input needing a gradient appends its
/// backward closure; <see cref="Backward"/> seeds d(loss)/d(loss) = 1 and runs the closures in
/// reverse order (a valid topological order, since ops append after their inputs exist). Each
/// closure reads its output's Grad and adds into its inputs' Grad slots.
/// The tape owns the step's intermediates: <see cref="EndStep"/> returns them to the pool.
/// Double backward (WGAN-GP) fits here later: a backward closure that builds its gradients out of
/// recorded ops (instead of raw kernels) when asked to create a graph.
/// </summary>
public sealed class Tape(Device device) : IDisposable
{
    private readonly List<(Tensor Output, Action Backward)> nodes = new();
    private readonly List<Tensor> stepTensors = new();
    private int noGradDepth;

    /// <summary>False inside a <see cref="NoGrad"/> scope.</summary>
    public bool IsRecording => noGradDepth == 0;

    /// <summary>Ops inside this scope record nothing and their outputs need no gradient.</summary>
    public IDisposable NoGrad() { noGradDepth++; return new Scope(() => noGradDepth--); }

    internal Tensor Track(Tensor t) { stepTensors.Add(t); return t; }

    /// <summary>Whether an op with these inputs must record its backward.</summary>
    public bool NeedsGrad(Tensor a) => IsRecording && a.RequiresGrad;
    public bool NeedsGrad(Tensor a, Tensor? b) => IsRecording && (a.RequiresGrad || b?.RequiresGrad == true);
    public bool NeedsGrad(Tensor a, Tensor? b, Tensor? c) => NeedsGrad(a, b) || (IsRecording && c?.RequiresGrad == true);

    /// <summary>Marks <paramref name="output"/> as needing a gradient and records how to pass it back.</summary>
    public void Record(Tensor output, Action backward)
    {
        output.RequiresGrad = true;
        nodes.Add((output, backward));
    }

    /// <summary>Back-propagates from a scalar loss into every tensor that requires a gradient, then
    /// drops the recorded graph (the intermediates stay until <see cref="EndStep"/>).</summary>
    public void Backward(Tensor loss)
    {
        if (loss.Length != 1) throw new ArgumentException($"Backward needs a scalar loss; got {loss.Shape}.");
        if (!loss.RequiresGrad) throw new InvalidOperationException("The loss does not depend on anything that requires a gradient.");
        var (seed, _) = loss.GradSlot();
        device.Kernels.Fill(seed, 1f);
        for (int i = nodes.Count - 1; i >= 0; i--)
            if (nodes[i].Output.HasGrad) nodes[i].Backward();
        nodes.Clear();
    }

    /// <summary>Ends a step: forgets the graph and returns every step tensor (and gradient) to the pool.</summary>
    public void EndStep()
    {
        nodes.Clear();
        foreach (var t in stepTensors) t.Dispose();
        stepTensors.Clear();
    }

    public void Dispose() => EndStep();

    private sealed class Scope(Action onDispose) : IDisposable
    {
        private Action? onDispose = onDispose;
        public void Dispose() { onDispose?.Invoke(); onDispose = null; }
    }
}
