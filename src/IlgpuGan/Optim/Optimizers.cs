using IlgpuGan.Kernels;

namespace IlgpuGan.Optim;

/// <summary>
/// Updates a list of parameters from their gradients, one kernel per parameter tensor. A
/// parameter without a gradient (HasGrad false, as after ZeroGrad with nothing back-propagated,
/// or frozen) is skipped, as PyTorch skips a None grad. State tensors are made on first use.
/// </summary>
public abstract class Optimizer : IDisposable
{
    protected readonly IReadOnlyList<Tensor> Params;
    private readonly Dictionary<(Tensor, string), Tensor> state = new();

    protected Optimizer(IEnumerable<Tensor> parameters)
    {
        Params = parameters.ToList();
        if (Params.Count == 0) throw new ArgumentException("The optimizer was given no parameters.");
    }

    /// <summary>The step size; a schedule may change it between steps.</summary>
    public abstract double LearningRate { get; set; }

    /// <summary>The step count (Adam's t): how many times Step ran.</summary>
    public long Steps { get; protected set; }

    public void ZeroGrad() { foreach (var p in Params) p.ZeroGrad(); }

    public void Step()
    {
        Steps++;
        foreach (var p in Params)
            if (p.HasGrad) Update(p, p.Grad!);
    }

    protected abstract void Update(Tensor p, Tensor grad);

    /// <summary>Whether the state tensor exists yet (it is made on the parameter's first update).</summary>
    protected bool HasState(Tensor p, string name) => state.ContainsKey((p, name));

    /// <summary>Per-parameter state, zero-initialised on first use.</summary>
    protected Tensor State(Tensor p, string name)
    {
        if (!state.TryGetValue((p, name), out var t)) state[(p, name)] = t = p.Device.Persistent(p.Shape, 0f);
        return t;
    }

    /// <summary>The state by parameter index and name (for checkpoints).</summary>
    public IEnumerable<(int Index, string Name, Tensor Tensor)> NamedState()
    {
        var index = Params.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i);
        return state.Select(kv => (index[kv.Key.Item1], kv.Key.Item2, kv.Value)).OrderBy(s => s.Item1).ThenBy(s => s.Item2);
    }

    /// <summary>Puts back what a checkpoint saved: the step count and the state tensors (by parameter
    /// index and name, as <see cref="NamedState"/> gives them), so the next Step continues exactly.</summary>
    public void LoadState(long steps, IEnumerable<(int Index, string Name, float[] Values)> saved)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        foreach (var (index, name, values) in saved)
        {
            if (index < 0 || index >= Params.Count)
                throw new ArgumentException($"Optimizer state for parameter {index}, but there are {Params.Count} parameters.");
            State(Params[index], name).CopyFrom(values);
        }
        Steps = steps;
    }

    public void Dispose()
    {
        foreach (var t in state.Values) t.Dispose();
        state.Clear();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Adam (Kingma and Ba), bias-corrected, as torch.optim.Adam.</summary>
public sealed class Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
    double eps = 1e-8, double weightDecay = 0) : Optimizer(parameters)
{
    public override double LearningRate { get; set; } = lr;

    protected override void Update(Tensor p, Tensor grad)
    {
        var a = AdamArgs.ForStep(LearningRate, beta1, beta2, eps, weightDecay, Steps);
        p.Device.Kernels.AdamStep(p.View, grad.View, State(p, "exp_avg").View, State(p, "exp_avg_sq").View, a);
    }
}

/// <summary>SGD with optional momentum (dampening, Nesterov) and weight decay, as torch.optim.SGD.</summary>
public sealed class Sgd(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0,
    double weightDecay = 0, bool nesterov = false) : Optimizer(parameters)
{
    public override double LearningRate { get; set; } = lr;

    protected override void Update(Tensor p, Tensor grad)
    {
        bool first = momentum != 0 && !HasState(p, "momentum_buffer");
        var buf = momentum != 0 ? State(p, "momentum_buffer").View : default;
        p.Device.Kernels.SgdStep(p.View, grad.View, buf, new SgdArgs((float)LearningRate, (float)momentum, (float)(1 - dampening),
            (float)weightDecay, nesterov, first));
    }
}

/// <summary>RMSProp, as torch.optim.RMSprop (alpha 0.99, eps 1e-8 by default).</summary>
public sealed class RmsProp(IEnumerable<Tensor> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8,
    double weightDecay = 0, double momentum = 0, bool centered = false) : Optimizer(parameters)
{
    public override double LearningRate { get; set; } = lr;

    protected override void Update(Tensor p, Tensor grad) =>
        p.Device.Kernels.RmsPropStep(p.View, grad.View, State(p, "square_avg").View,
            centered ? State(p, "grad_avg").View : default, momentum != 0 ? State(p, "momentum_buffer").View : default,
            new RmsPropArgs((float)LearningRate, (float)alpha, (float)(1 - alpha), (float)eps, (float)weightDecay, (float)momentum, centered));
}
