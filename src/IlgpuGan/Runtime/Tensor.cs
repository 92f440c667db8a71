using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan;

/// <summary>
/// A float32 tensor on a device: a shape and a view of device memory, plus what autograd needs
/// (RequiresGrad, Grad). Step tensors (made by ops) go back to the pool when the step ends;
/// persistent ones (parameters, optimizer state) live until disposed; wrapped ones belong to
/// the host application.
/// </summary>
public sealed class Tensor : IDisposable
{
    private MemoryBuffer1D<float, Stride1D.Dense>? buffer;   // null for wrapped memory and views

    public Device Device { get; }
    public Shape Shape { get; }
    public ArrayView<float> View { get; private set; }
    public bool IsPersistent { get; }

    /// <summary>Set on leaves (parameters) by the user; on op outputs by the tape.</summary>
    public bool RequiresGrad { get; set; }

    /// <summary>The gradient's storage, allocated on first use and kept (for parameters) across steps.</summary>
    public Tensor? Grad { get; private set; }

    /// <summary>Whether Grad holds a value. ZeroGrad clears this flag instead of writing zeros:
    /// the next backward then writes the gradient (beta 0) instead of adding to it.</summary>
    public bool HasGrad { get; internal set; }

    /// <summary>Whether a recorded op made this tensor (false for leaves: parameters, inputs).</summary>
    public bool IsOpOutput { get; internal set; }

    internal Tensor(Device device, Shape shape, MemoryBuffer1D<float, Stride1D.Dense> buffer, bool persistent)
    {
        Device = device; Shape = shape; this.buffer = buffer; IsPersistent = persistent;
        View = buffer.View.SubView(0, shape.Length);
    }

    internal Tensor(Device device, Shape shape, ArrayView<float> view, bool persistent = true)
    {
        Device = device; Shape = shape; View = view; IsPersistent = persistent;
    }

    public long Length => Shape.Length;

    /// <summary>The same memory under another shape of the same length (no copy; no gradient flows
    /// through this call — use <see cref="Ops.Reshape"/> inside a graph).</summary>
    public Tensor ViewAs(Shape shape)
    {
        if (shape.Length != Length) throw new ArgumentException($"Cannot view {Shape} as {shape}.");
        return new Tensor(Device, shape, View, IsPersistent);
    }

    /// <summary>The same values, cut from the graph: no gradient flows into this tensor.</summary>
    public Tensor Detach() => new(Device, Shape, View, IsPersistent);

    /// <summary>Copies to the host; waits for the device.</summary>
    public float[] ToArray()
    {
        var result = new float[Length];
        View.CopyToCPU(Device.Accelerator.DefaultStream, result);
        Device.Accelerator.DefaultStream.Synchronize();
        return result;
    }

    /// <summary>Copies to a host span of exactly <see cref="Length"/> values; waits for the device.</summary>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length != Length)
            throw new ArgumentException($"Tensor {Shape} holds {Length} values; the destination has room for {destination.Length}.");
        View.CopyToCPU(Device.Accelerator.DefaultStream, destination);
        Device.Accelerator.DefaultStream.Synchronize();
    }

    public void CopyFrom(ReadOnlySpan<float> values)
    {
        if (values.Length != Length)
            throw new ArgumentException($"Tensor {Shape} holds {Length} values; {values.Length} were given.");
        View.CopyFromCPU(Device.Accelerator.DefaultStream, values);
    }

    /// <summary>Where backward writes this tensor's gradient, and whether to add (beta 1) or write (beta 0).</summary>
    internal (ArrayView<float> View, float Beta) GradSlot()
    {
        Grad ??= IsPersistent ? Device.Persistent(Shape) : Device.Empty(Shape);
        float beta = HasGrad ? 1f : 0f;
        HasGrad = true;
        return (Grad.View, beta);
    }

    /// <summary>Clears the gradient (PyTorch's zero_grad(set_to_none=True)).</summary>
    public void ZeroGrad() => HasGrad = false;

    /// <summary>Returns the memory to the pool (step tensors: done by the tape at the end of a step).</summary>
    public void Dispose()
    {
        if (buffer != null) Device.Pool.Return(buffer);
        buffer = null;
        View = default;
        if (IsPersistent) Grad?.Dispose();
        Grad = null;
    }

    public override string ToString() => $"Tensor{Shape}";
}
