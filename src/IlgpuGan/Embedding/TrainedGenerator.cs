using ILGPU;
using ILGPU.Runtime;
using IlgpuGan.Nn;
using IlgpuGan.Recipes;

namespace IlgpuGan.Embedding;

/// <summary>
/// A trained G as one stage of a host application's ILGPU pipeline: loaded from a checkpoint onto
/// a <see cref="Device"/> the host passes in (usually <see cref="Device.FromAccelerator"/> on its
/// own accelerator), it writes samples for latents (and labels) that live in the host's buffers
/// into a buffer the host owns. Nothing passes through host memory, and after the first call of a
/// batch size no call allocates device memory (the device's pool serves the intermediates again).
/// G runs in eval mode (running batch-norm statistics), without gradients. Work is enqueued on the
/// accelerator's default stream and not waited for, so the host's next kernel on that stream sees
/// the samples.
/// <code>
/// using var device = Device.FromAccelerator(accelerator);
/// using var g = TrainedGenerator.Load("out/cdcgan28/checkpoints/latest.safetensors", device);
/// g.Generate(latents.View, labels.View, images.View);   // (n, LatentSize), (n), (n, SampleSize) floats
/// </code>
/// </summary>
public sealed class TrainedGenerator : IDisposable
{
    private readonly Module g;
    private Tensor? hostLabels;            // for Generate(..., ReadOnlySpan<int> labels, ...): grown, never per call

    private TrainedGenerator(Device device, ModelSpec model, Module g, int classes, IReadOnlyList<string>? classNames, long step)
    {
        Device = device; Model = model; this.g = g; Classes = classes; ClassNames = classNames; Step = step;
    }

    public Device Device { get; }
    public ModelSpec Model { get; }
    /// <summary>The checkpoint's training step.</summary>
    public long Step { get; }
    /// <summary>Classes of a conditional G (0: unconditional).</summary>
    public int Classes { get; }
    public bool IsConditional => Classes > 0;
    /// <summary>The class names (label k is ClassNames[k]); null for an unconditional G.</summary>
    public IReadOnlyList<string>? ClassNames { get; }
    /// <summary>Floats per latent vector.</summary>
    public int LatentSize => Model.LatentSize;
    /// <summary>Floats per sample (C * H * W).</summary>
    public int SampleSize => Model.SampleSize;
    /// <summary>A sample's shape: (C, H, W) for images.</summary>
    public IReadOnlyList<int> SampleShape => Model.SampleShape;

    /// <summary>Loads G from a checkpoint written by <c>ilgpu-gan train</c> (or <see cref="CheckpointFile.Save"/>
    /// with a <c>model</c> entry in its metadata) onto <paramref name="device"/>. A missing, corrupt
    /// or foreign file is an exception naming it.</summary>
    public static TrainedGenerator Load(string checkpoint, Device device)
    {
        var c = CheckpointFile.Load(checkpoint);
        if (!c.Metadata.TryGetValue("model", out var name))
            throw new InvalidDataException($"Checkpoint {c.Path} does not say which model it holds (no 'model' in its metadata).");
        var model = ModelRegistry.Get(name);
        IReadOnlyList<string>? names = c.Metadata.TryGetValue("classes", out var json) ? System.Text.Json.JsonSerializer.Deserialize<string[]>(json) : null;
        int classes = model.IsConditional ? names?.Count ?? model.Classes : 0;
        var g = model.BuildGenerator(device, classes);
        try
        {
            c.LoadModule(g, "G");
            g.Eval();
            foreach (var p in g.Parameters()) p.RequiresGrad = false;
        }
        catch
        {
            g.Dispose();
            throw;
        }
        return new TrainedGenerator(device, model, g, classes, model.IsConditional ? names ?? Enumerable.Range(0, classes).Select(k => k.ToString()).ToArray() : null, c.Step);
    }

    /// <summary>
    /// Writes G's samples for <paramref name="latents"/> (n * <see cref="LatentSize"/> floats, e.g.
    /// z ~ N(0, 1)) and, for a conditional G, <paramref name="labels"/> (n floats holding whole
    /// numbers in [0, <see cref="Classes"/>)) into <paramref name="output"/> (n * <see cref="SampleSize"/>
    /// floats, in [-1, 1] for images), all on the device. Labels on the device cannot be checked
    /// without a round trip: an out-of-range label gives that sample a zero class embedding (use the
    /// overload with host labels to have them checked). n is taken from the latents.
    /// </summary>
    public void Generate(ArrayView<float> latents, ArrayView<float> labels, ArrayView<float> output)
    {
        int n = Count(latents, output);
        if (IsConditional && labels.Length != n)
            throw new ArgumentException($"{n} latent vectors need {n} labels; got {labels.Length}.");
        if (!IsConditional && labels.Length != 0)
            throw new ArgumentException($"This {Model.Name} generator is not conditional: it takes no labels (pass default).");
        Run(latents, IsConditional ? labels : default, output, n);
    }

    /// <summary>As above, for an unconditional G.</summary>
    public void Generate(ArrayView<float> latents, ArrayView<float> output) => Generate(latents, default(ArrayView<float>), output);

    /// <summary>As above, with labels from the host, checked first: a label outside [0, Classes) is an
    /// <see cref="ArgumentException"/> of one line naming it. They are copied into a device buffer
    /// kept for the next calls.</summary>
    public void Generate(ArrayView<float> latents, ReadOnlySpan<int> labels, ArrayView<float> output)
    {
        if (!IsConditional) throw new ArgumentException($"This {Model.Name} generator is not conditional: it takes no labels.");
        int n = Count(latents, output);
        if (labels.Length != n) throw new ArgumentException($"{n} latent vectors need {n} labels; got {labels.Length}.");
        Span<float> floats = n <= 1024 ? stackalloc float[n] : new float[n];
        for (int i = 0; i < n; i++) floats[i] = labels[i];
        Ops.CheckLabels(floats, Classes);
        if (hostLabels is null || hostLabels.Length < n)
        {
            hostLabels?.Dispose();
            hostLabels = Device.Persistent(new Shape(n));
        }
        var view = hostLabels.View.SubView(0, n);
        view.CopyFromCPU(Device.Accelerator.DefaultStream, floats);
        Run(latents, view, output, n);
    }

    /// <summary>The label of a class name (or number), for folder-trained generators.</summary>
    public int LabelOf(string classNameOrNumber)
    {
        if (!IsConditional) throw new ArgumentException($"This {Model.Name} generator is not conditional: it has no classes.");
        return new Data.ClassLabels(ClassNames!, []).Resolve(classNameOrNumber);
    }

    private int Count(ArrayView<float> latents, ArrayView<float> output)
    {
        if (latents.Length == 0 || latents.Length % LatentSize != 0)
            throw new ArgumentException($"The latents hold {latents.Length} floats: a whole number of vectors of {LatentSize} is needed.");
        int n = checked((int)(latents.Length / LatentSize));
        if (output.Length != (long)n * SampleSize)
            throw new ArgumentException($"{n} samples of {Model.ShapeText} need an output of {(long)n * SampleSize} floats; it holds {output.Length}.");
        return n;
    }

    private void Run(ArrayView<float> latents, ArrayView<float> labels, ArrayView<float> output, int n)
    {
        var tape = Device.Tape;
        using (tape.NoGrad())
        {
            var z = Device.Wrap(latents, Model.LatentShape(n, LatentSize));
            var y = g is ConditionalModule c ? c.Forward(z, Device.Wrap(labels, new Shape(n))) : g.Forward(z);
            Device.Kernels.Copy(y.View, output);
        }
        tape.EndStep();
    }

    public void Dispose()
    {
        hostLabels?.Dispose();
        g.Dispose();
    }
}
