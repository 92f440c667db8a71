namespace IlgpuGan.Nn;

/// <summary>
/// A layer or a model: Forward, its parameters (named as PyTorch names them: "0.weight"), its
/// buffers ("2.running_mean"), Train/Eval mode, ZeroGrad and Freeze. Disposing a module frees
/// its parameters and buffers.
/// </summary>
public abstract class Module : IDisposable
{
    public bool Training { get; private set; } = true;

    public abstract Tensor Forward(Tensor x);

    /// <summary>Direct children, with the names PyTorch gives them.</summary>
    protected virtual IEnumerable<(string Name, Module Module)> Children() => [];
    protected virtual IEnumerable<(string Name, Tensor Tensor)> OwnParameters() => [];
    protected virtual IEnumerable<(string Name, Tensor Tensor)> OwnBuffers() => [];

    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters() => Walk(m => m.OwnParameters());
    public IEnumerable<(string Name, Tensor Tensor)> NamedBuffers() => Walk(m => m.OwnBuffers());
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Tensor);

    /// <summary>Parameters and buffers by name, as PyTorch's state_dict (without num_batches_tracked).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> StateDict() => NamedParameters().Concat(NamedBuffers());

    private IEnumerable<(string, Tensor)> Walk(Func<Module, IEnumerable<(string, Tensor)>> own)
    {
        foreach (var p in own(this)) yield return p;
        foreach (var (name, child) in Children())
            foreach (var (n, t) in child.Walk(own)) yield return ($"{name}.{n}", t);
    }

    public void Train(bool on = true)
    {
        Training = on;
        foreach (var (_, c) in Children()) c.Train(on);
    }

    public void Eval() => Train(false);

    public void ZeroGrad() { foreach (var p in Parameters()) p.ZeroGrad(); }

    /// <summary>Stops gradients into this module's parameters until the scope ends (gradients still
    /// flow through it into earlier layers): e.g. D during the generator's update.</summary>
    public IDisposable Freeze()
    {
        var frozen = Parameters().Where(p => p.RequiresGrad).ToList();
        foreach (var p in frozen) p.RequiresGrad = false;
        return new Unfreeze(frozen);
    }

    public long ParameterCount() => Parameters().Sum(p => p.Length);

    public virtual void Dispose()
    {
        foreach (var (_, t) in StateDict()) t.Dispose();
        GC.SuppressFinalize(this);
    }

    private sealed class Unfreeze(List<Tensor> frozen) : IDisposable
    {
        public void Dispose() { foreach (var p in frozen) p.RequiresGrad = true; frozen.Clear(); }
    }
}
