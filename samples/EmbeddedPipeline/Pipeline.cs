using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using IlgpuGan;
using IlgpuGan.Data;
using IlgpuGan.Embedding;
using IlgpuGan.Recipes;

namespace EmbeddedPipeline;

/// <summary>What the pipeline run does.</summary>
public sealed record PipelineOptions
{
    /// <summary>Training steps of the conditional GAN (cgan-mlp).</summary>
    public int Steps { get; init; } = 300;
    public int Batch { get; init; } = 64;
    /// <summary>Training images copied into the host's buffer.</summary>
    public int Images { get; init; } = 2048;
    /// <summary>Samples generated per class.</summary>
    public int PerClass { get; init; } = 8;
    public int Seed { get; init; } = 1;
    /// <summary>A folder with MNIST's IDX files (default: the bundled digits beside the program).</summary>
    public string? Data { get; init; }
    /// <summary>Where the trained G's checkpoint goes (default: a temporary file, deleted at the end).</summary>
    public string? Checkpoint { get; init; }
    public TextWriter Log { get; init; } = TextWriter.Null;
}

/// <summary>What the run observed: where the host's buffers were, what IlgpuGan saw, and the host's
/// own kernel's figures on the generated samples.</summary>
public sealed record PipelineReport
{
    public required long[] BufferAddressesBefore { get; init; }
    public required long[] BufferAddressesAfter { get; init; }
    /// <summary>Whether every real batch IlgpuGan trained on was a view of the host's image and label buffers (no copy).</summary>
    public required bool BatchesWereHostMemory { get; init; }
    public required float[] FirstLosses { get; init; }
    public required float[] LastLosses { get; init; }
    /// <summary>Per generated sample: its mean pixel value, computed by the host's own kernel.</summary>
    public required float[] SampleMeans { get; init; }
    /// <summary>Whether the samples changed when the host's kernel changed the latents on the device in place.</summary>
    public required bool ReadLatentsInPlace { get; init; }
    /// <summary>IlgpuGan's device allocations during the second and third Generate calls.</summary>
    public required long AllocationsPerLaterCall { get; init; }
    /// <summary>After IlgpuGan was disposed: the host's kernel ran again on its buffers and gave the same figures.</summary>
    public required bool HostUsableAfterDispose { get; init; }
}

/// <summary>
/// A host application's compute pipeline with IlgpuGan as one stage: the host owns the ILGPU
/// context, the accelerator and every buffer; its own kernels compute the labels and latents on the
/// device and post-process the samples; IlgpuGan trains a conditional GAN on the host's buffers
/// (<see cref="IlgpuGan.Device.FromAccelerator"/> + <see cref="IlgpuGan.Device.Wrap"/>) and generates into the host's
/// output buffer (<see cref="TrainedGenerator"/>). No sample passes through host memory.
/// </summary>
public static class Pipeline
{
    public const int Classes = 10, Latent = ModelRegistry.LatentSize, Pixels = 28 * 28;

    // ---- the host's own kernels ----------------------------------------------------------------

    /// <summary>labels[i] = i / perClass (a row of the grid per class); latents z ~ N(0, 1) from a
    /// hash of (seed, index) by Box-Muller: computed on the device, never on the host.</summary>
    private static void FillKernel(Index1D i, ArrayView<float> latents, ArrayView<float> labels, int perClass, int seed)
    {
        if (i < labels.Length) labels[i] = i / perClass;
        for (int k = 0; k < Latent; k++)
        {
            int at = i * Latent + k;
            if (at >= latents.Length) return;
            float u1 = (Hash(at * 2 + seed * 7919) + 1f) / 16777218f, u2 = Hash(at * 2 + 1 + seed * 7919) / 16777217f;
            latents[at] = XMath.Sqrt(-2f * XMath.Log(u1)) * XMath.Cos(2f * XMath.PI * u2);
        }
    }

    private static float Hash(int x)
    {
        uint h = (uint)x * 0x9E3779B1u;
        h ^= h >> 15; h *= 0x85EBCA77u; h ^= h >> 13; h *= 0xC2B2AE3Du; h ^= h >> 16;
        return h >> 8;                                                  // 24 bits
    }

    /// <summary>The host's post-processing: mean[i] = the mean pixel of sample i.</summary>
    private static void MeanKernel(Index1D i, ArrayView<float> samples, ArrayView<float> means)
    {
        float s = 0f;
        for (int p = 0; p < Pixels; p++) s += samples[i * Pixels + p];
        means[i] = s / Pixels;
    }

    /// <summary>The host's in-place change of its latents (negated), to show G reads them where they are.</summary>
    private static void NegateKernel(Index1D i, ArrayView<float> x) => x[i] = -x[i];

    // ---- the pipeline --------------------------------------------------------------------------

    public static PipelineReport Run(Accelerator accelerator, PipelineOptions o)
    {
        var log = o.Log;
        int n = Classes * o.PerClass;
        var data = MnistDataset.Load(o.Data ?? MnistDataset.DefaultFolder);
        int count = Math.Min(o.Images, data.Count) / o.Batch * o.Batch;
        if (count < o.Batch) throw new ArgumentException($"Fewer than {o.Batch} training images.");

        // The host's buffers (IlgpuGan never allocates, copies or frees them).
        using var images = accelerator.Allocate1D<float>((long)count * Pixels);
        using var labels = accelerator.Allocate1D<float>(count);
        using var latents = accelerator.Allocate1D<float>((long)n * Latent);
        using var genLabels = accelerator.Allocate1D<float>(n);
        using var samples = accelerator.Allocate1D<float>((long)n * Pixels);
        using var means = accelerator.Allocate1D<float>(n);
        MemoryBuffer[] buffers = [images, labels, latents, genLabels, samples, means];
        long[] before = buffers.Select(b => (long)b.NativePtr).ToArray();
        images.View.AsContiguous().CopyFromCPU(data.Images.AsSpan(0, count * Pixels));
        labels.View.AsContiguous().CopyFromCPU(data.Labels.AsSpan(0, count).ToArray().Select(l => (float)l).ToArray());

        var fill = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(FillKernel);
        var mean = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(MeanKernel);
        var negate = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>>(NegateKernel);
        fill(n, latents.View, genLabels.View, o.PerClass, o.Seed);     // labels and latents computed on the device
        samples.View.MemSetToZero();

        string checkpoint = o.Checkpoint ?? Path.Combine(Path.GetTempPath(), $"embedded-pipeline-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors");
        bool inPlace = true;
        float[] first, last, means1, means2, means3;
        bool latentsInPlace;
        long allocations;
        try
        {
            using (var device = IlgpuGan.Device.FromAccelerator(accelerator, (ulong)o.Seed))
            {
                // (1) Train a few steps of cgan-mlp on the host's buffers.
                var model = ModelRegistry.CganMlp;
                var options = model.DefaultsFor(model.DefaultLoss).Options;
                using var recipe = GanRecipe.Create(device, model, options, o.Batch);
                int batches = count / o.Batch, next = 0;
                (Tensor, Tensor?) Batch()
                {
                    int b = next++ % batches;
                    var x = device.Wrap(images.View.SubView((long)b * o.Batch * Pixels, (long)o.Batch * Pixels), new Shape(o.Batch, 1, 28, 28));
                    var y = device.Wrap(labels.View.SubView((long)b * o.Batch, o.Batch), new Shape(o.Batch));
                    inPlace &= Address(x.View) == Address(images.View) + (long)b * o.Batch * Pixels * sizeof(float)
                             && Address(y.View) == Address(labels.View) + (long)b * o.Batch * sizeof(float);
                    return (x, y);
                }
                first = last = [];
                for (int step = 1; step <= o.Steps; step++)
                {
                    recipe.TrainStep(Batch);
                    if (step == 1 || step == o.Steps || step % 100 == 0)
                    {
                        var s = recipe.ReadStats();
                        if (step == 1) first = [.. s.Values];
                        last = [.. s.Values];
                        log.WriteLine($"step {step}: {s.Text()}");
                    }
                }
                CheckpointFile.Save(checkpoint, recipe, new Dictionary<string, string> { ["model"] = model.Name });

                // (2) The trained G as a stage of the pipeline: the host's latents and labels in, the host's buffer out.
                using var g = TrainedGenerator.Load(checkpoint, device);
                g.Generate(latents.View, genLabels.View, samples.View);
                mean(n, samples.View, means.View);                        // the host's kernel on the result
                means1 = means.GetAsArray1D();
                long before2 = device.Pool.Allocations;
                negate((int)latents.Length, latents.View);                // the host changes its latents in place
                g.Generate(latents.View, genLabels.View, samples.View);
                mean(n, samples.View, means.View);
                means2 = means.GetAsArray1D();
                negate((int)latents.Length, latents.View);                // back
                g.Generate(latents.View, genLabels.View, samples.View);
                allocations = device.Pool.Allocations - before2;
                mean(n, samples.View, means.View);
                means3 = means.GetAsArray1D();
                latentsInPlace = !means1.SequenceEqual(means2) && means1.SequenceEqual(means3);
                log.WriteLine($"generated {n} samples ({o.PerClass} per class) into the host's buffer; {allocations} IlgpuGan allocations in the later calls");
            }

            // (3) IlgpuGan is gone; the host's accelerator and buffers are still its own.
            means.View.MemSetToZero();
            mean(n, samples.View, means.View);
            accelerator.Synchronize();
            bool usable = means.GetAsArray1D().SequenceEqual(means3);
            using (var extra = accelerator.Allocate1D<float>(16)) { negate(16, extra.View); accelerator.Synchronize(); }
            return new PipelineReport
            {
                BufferAddressesBefore = before,
                BufferAddressesAfter = buffers.Select(b => (long)b.NativePtr).ToArray(),
                BatchesWereHostMemory = inPlace,
                FirstLosses = first,
                LastLosses = last,
                SampleMeans = means3,
                ReadLatentsInPlace = latentsInPlace,
                AllocationsPerLaterCall = allocations,
                HostUsableAfterDispose = usable,
            };
        }
        finally
        {
            if (o.Checkpoint is null) File.Delete(checkpoint);
        }
    }

    private static long Address(ArrayView<float> v) => (long)v.LoadEffectiveAddressAsPtr();
}
