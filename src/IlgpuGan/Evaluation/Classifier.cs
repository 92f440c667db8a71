using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ILGPU;
using ILGPU.Runtime;
using IlgpuGan.Data;
using IlgpuGan.IO;
using IlgpuGan.Nn;
using IlgpuGan.Optim;

namespace IlgpuGan.Evaluation;

/// <summary>What a classifier run reports after each epoch.</summary>
public readonly record struct ClassifierEpoch(int Epoch, int Epochs, double TrainLoss, double HeldOutAccuracy, TimeSpan Elapsed);

/// <summary>How to train the classifier (the defaults give the shipped one).</summary>
public sealed record ClassifierOptions
{
    public int Epochs { get; init; } = 12;
    public int Batch { get; init; } = 64;
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Random shifts of up to this many pixels (augmentation; 0: none).</summary>
    public int MaxShift { get; init; } = 2;
    public int Seed { get; init; } = 1;
}

/// <summary>
/// The evaluation classifier: a LeNet-style network for 28 x 28 grey digits in [-1, 1],
/// conv 5x5 (1 -> 32, pad 2) ReLU maxpool 2 | conv 5x5 (32 -> 64, pad 2) ReLU maxpool 2 | flatten
/// 3136 | linear 128 ReLU (the 128 features that FID, KID and precision/recall use) | linear 10 (logits).
/// Trained by IlgpuGan itself (<see cref="Train"/>, the <c>train-classifier</c> command); the tool ships
/// one as <c>models/mnist-classifier.safetensors</c> with its held-out accuracy in the metadata.
/// </summary>
public sealed class Classifier : IDisposable
{
    public const int FeatureSize = 128, ImageSize = 28;
    public const string ShippedFileName = "mnist-classifier.safetensors";

    private readonly Sequential features, head;

    public Device Device { get; }
    public int Classes { get; }
    /// <summary>The file's metadata (empty for a new classifier).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; private set; } = new Dictionary<string, string>();

    public Classifier(Device device, int classes = 10, int seed = 1)
    {
        Device = device; Classes = classes;
        features = new Sequential(
            new Conv2d(device, 1, 32, 5, padding: 2, bias: true), new Relu(), new MaxPool2d(2),
            new Conv2d(device, 32, 64, 5, padding: 2, bias: true), new Relu(), new MaxPool2d(2),
            new Flatten(), new Linear(device, 64 * 7 * 7, FeatureSize), new Relu());
        head = new Sequential(new Linear(device, FeatureSize, classes));
        // PyTorch's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases.
        var r = new Random(seed);
        foreach (var (_, t) in NamedParameters())
        {
            long fanIn = t.Shape.Rank == 1 ? 0 : t.Length / t.Shape[0];
            if (t.Shape.Rank == 1) fanIn = FanInOfBias(t);
            float bound = (float)(1 / Math.Sqrt(fanIn));
            t.CopyFrom(Enumerable.Range(0, (int)t.Length).Select(_ => (float)(r.NextDouble() * 2 - 1) * bound).ToArray());
        }
    }

    private long FanInOfBias(Tensor bias)
    {
        // The weight that goes with a bias is the parameter just before it.
        Tensor? previous = null;
        foreach (var (_, t) in NamedParameters())
        {
            if (ReferenceEquals(t, bias)) return previous!.Length / previous.Shape[0];
            previous = t;
        }
        throw new InvalidOperationException("bias without a weight");
    }

    /// <summary>Parameters by name: features.0.weight, ..., head.0.bias.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters() =>
        features.NamedParameters().Select(p => ("features." + p.Name, p.Tensor))
            .Concat(head.NamedParameters().Select(p => ("head." + p.Name, p.Tensor)));

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Tensor);

    /// <summary>The 128 features of each image (N, 1, 28, 28) and the logits.</summary>
    public (Tensor Features, Tensor Logits) Forward(Tensor images)
    {
        var f = features.Forward(images);
        return (f, head.Forward(f));
    }

    /// <summary>
    /// Features (count x 128) and class probabilities (count x classes) of images (count x 784 floats
    /// in [-1, 1]), in batches of 500, without gradients.
    /// </summary>
    public (float[] Features, float[] Probabilities) Evaluate(ReadOnlySpan<float> images, int count)
    {
        const int pixels = ImageSize * ImageSize;
        if (images.Length != (long)count * pixels)
            throw new ArgumentException($"The classifier takes 28x28 grey images: {count} of them are {count * pixels} values; got {images.Length}.");
        var feats = new float[(long)count * FeatureSize];
        var logits = new float[(long)count * Classes];
        const int chunk = 500;
        using var input = Device.Persistent(new Shape(Math.Min(chunk, Math.Max(count, 1)), 1, ImageSize, ImageSize));
        for (int start = 0; start < count; start += chunk)
        {
            int n = Math.Min(chunk, count - start);
            input.View.SubView(0, (long)n * pixels).CopyFromCPU(Device.Accelerator.DefaultStream, images.Slice(start * pixels, n * pixels));
            using (Device.Tape.NoGrad())
            {
                var x = Device.Wrap(input.View.SubView(0, (long)n * pixels), new Shape(n, 1, ImageSize, ImageSize));
                var (f, l) = Forward(x);
                f.ToArray().CopyTo(feats, (long)start * FeatureSize);
                l.ToArray().CopyTo(logits, (long)start * Classes);
            }
            Device.Tape.EndStep();
        }
        return (feats, Metrics.Softmax(logits, count, Classes));
    }

    /// <summary>The share of images whose most likely class is their label.</summary>
    public double Accuracy(MnistDataset data)
    {
        var (_, p) = Evaluate(data.Images, data.Count);
        var predicted = Metrics.ArgMax(p, data.Count, Classes);
        int right = 0;
        for (int i = 0; i < data.Count; i++) if (predicted[i] == data.Labels[i]) right++;
        return (double)right / data.Count;
    }

    // ---- training ------------------------------------------------------------------------------

    /// <summary>
    /// Trains a new classifier on <paramref name="train"/> (Adam, cross-entropy, random shifts of up to
    /// <see cref="ClassifierOptions.MaxShift"/> pixels, the learning rate divided by 10 for the last
    /// quarter of the epochs) and reports the accuracy on <paramref name="heldOut"/> after each epoch.
    /// </summary>
    public static Classifier Train(Device device, MnistDataset train, MnistDataset heldOut, ClassifierOptions options,
        Action<ClassifierEpoch>? progress = null)
    {
        if (train.Height != ImageSize || train.Width != ImageSize)
            throw new ArgumentException($"The classifier takes 28x28 images; the training set holds {train.Height}x{train.Width}.");
        int classes = Math.Max(train.ClassCount, heldOut.ClassCount);
        var model = new Classifier(device, classes, options.Seed);
        var clock = Stopwatch.StartNew();
        try
        {
            using var adam = new Adam(model.Parameters(), options.LearningRate);
            int batch = options.Batch, pixels = ImageSize * ImageSize;
            var rng = new Random(options.Seed);
            var order = Enumerable.Range(0, train.Count).ToArray();
            var images = new float[batch * pixels];
            var labels = new float[batch];
            using var x = device.Persistent(new Shape(batch, 1, ImageSize, ImageSize));
            using var t = device.Persistent(new Shape(batch));
            double accuracy = 0;
            for (int epoch = 1; epoch <= options.Epochs; epoch++)
            {
                if (epoch > options.Epochs * 3 / 4) adam.LearningRate = options.LearningRate / 10;
                rng.Shuffle(order);
                double lossSum = 0; int steps = 0;
                using var lossAcc = device.Persistent(new Shape(1));
                for (int b = 0; b + batch <= train.Count; b += batch)
                {
                    for (int i = 0; i < batch; i++)
                    {
                        int k = order[b + i];
                        Shift(train.Images.AsSpan(k * pixels, pixels), images.AsSpan(i * pixels, pixels),
                            rng.Next(-options.MaxShift, options.MaxShift + 1), rng.Next(-options.MaxShift, options.MaxShift + 1));
                        labels[i] = train.Labels[k];
                    }
                    x.CopyFrom(images);
                    t.CopyFrom(labels);
                    adam.ZeroGrad();
                    var (_, logits) = model.Forward(x);
                    var loss = Ops.CrossEntropy(logits, t);
                    device.Tape.Backward(loss);
                    adam.Step();
                    device.Kernels.Axpby(loss.View, lossAcc.View, 1f, steps == 0 ? 0f : 1f);   // summed on the device: no wait per step
                    device.Tape.EndStep();
                    steps++;
                }
                lossSum = lossAcc.ToArray()[0];
                accuracy = model.Accuracy(heldOut);
                progress?.Invoke(new ClassifierEpoch(epoch, options.Epochs, lossSum / Math.Max(steps, 1), accuracy, clock.Elapsed));
            }
            model.Metadata = new Dictionary<string, string>
            {
                ["format"] = "ilgpu-gan-classifier",
                ["architecture"] = "lenet-128",
                ["classes"] = classes.ToString(CultureInfo.InvariantCulture),
                ["feature_size"] = FeatureSize.ToString(CultureInfo.InvariantCulture),
                ["image_size"] = ImageSize.ToString(CultureInfo.InvariantCulture),
                ["held_out_accuracy"] = accuracy.ToString("R", CultureInfo.InvariantCulture),
                ["held_out_count"] = heldOut.Count.ToString(CultureInfo.InvariantCulture),
                ["train_count"] = train.Count.ToString(CultureInfo.InvariantCulture),
                ["training"] = JsonSerializer.Serialize(options),
                ["trained_seconds"] = clock.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture),
                ["device"] = device.ToString(),
                ["created"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            };
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>dst = src moved by (dx, dy) pixels, background -1 (black).</summary>
    private static void Shift(ReadOnlySpan<float> src, Span<float> dst, int dx, int dy)
    {
        if (dx == 0 && dy == 0) { src.CopyTo(dst); return; }
        dst.Fill(-1f);
        for (int y = 0; y < ImageSize; y++)
        {
            int sy = y - dy;
            if (sy < 0 || sy >= ImageSize) continue;
            for (int xx = 0; xx < ImageSize; xx++)
            {
                int sx = xx - dx;
                if (sx >= 0 && sx < ImageSize) dst[y * ImageSize + xx] = src[sy * ImageSize + sx];
            }
        }
    }

    // ---- files ---------------------------------------------------------------------------------

    /// <summary>Writes the weights and metadata as one safetensors file (atomically).</summary>
    public void Save(string path)
    {
        var tensors = NamedParameters().Select(p => (p.Name, new HostTensor(p.Tensor.Shape.Dims.ToArray(), p.Tensor.ToArray()))).ToList();
        SafeTensors.Write(path, tensors, new Dictionary<string, string>(Metadata));
    }

    /// <summary>Loads a classifier file written by <see cref="Save"/>; a file of another kind is an error naming it.</summary>
    public static Classifier Load(Device device, string path)
    {
        var contents = SafeTensors.Read(path);
        if (contents.Metadata.GetValueOrDefault("format") != "ilgpu-gan-classifier")
            throw new InvalidDataException($"{path} is not an IlgpuGan classifier (its metadata has no format 'ilgpu-gan-classifier').");
        int classes = int.Parse(contents.Metadata.GetValueOrDefault("classes", "10"), CultureInfo.InvariantCulture);
        var model = new Classifier(device, classes);
        try
        {
            foreach (var (name, t) in model.NamedParameters())
            {
                if (!contents.Tensors.TryGetValue(name, out var h))
                    throw new InvalidDataException($"{path} has no tensor '{name}'.");
                if (h.Length != t.Length)
                    throw new InvalidDataException($"{path}: '{name}' has {h.Length} values; the classifier needs {t.Length}.");
                t.CopyFrom(h.Data);
            }
            model.Metadata = contents.Metadata;
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The classifier that ships with IlgpuGan: <c>models/mnist-classifier.safetensors</c> beside the
    /// program (the build copies it there), else in the source tree above it; null when neither exists.
    /// </summary>
    public static string? ShippedPath
    {
        get
        {
            string beside = Path.Combine(AppContext.BaseDirectory, "models", ShippedFileName);
            if (File.Exists(beside)) return beside;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "IlgpuGan.sln")))
                {
                    string repo = Path.Combine(dir.FullName, "models", ShippedFileName);
                    return File.Exists(repo) ? repo : null;
                }
            return null;
        }
    }

    public void Dispose()
    {
        features.Dispose();
        head.Dispose();
    }
}
