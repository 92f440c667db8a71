using System.Runtime.CompilerServices;
namespace IlgpuGan.Data;

/// <summary>
/// Seeded shuffling and batching over an in-memory data set of <c>count</c> samples of
/// <c>sampleSize</c> floats each, stored one after another in <c>data</c>, or over an
/// <see cref="ImageFolderDataset"/> (<see cref="FromImages"/>), whose 8-bit pixels are scaled to
/// [-1, 1] as each batch is filled.
/// <para>
/// Each epoch visits every sample exactly once, in an order that is a deterministic function of
/// (seed, epoch) alone: a Fisher-Yates shuffle of 0..count-1 driven by a SplitMix64 generator, so it
/// is the same on every run, machine and runtime. <see cref="Next(Span{float})"/> copies the next
/// batch into the caller's buffer and returns true, or returns false when the epoch has no more
/// batches; that call also moves on to the next epoch (<see cref="Epoch"/> + 1, new order), so
/// <c>while (loader.Next(batch)) { ... }</c> is one epoch. Nothing is allocated per batch.
/// </para>
/// <para>
/// With <c>dropLast</c> (the default) every batch is full and the last count % batchSize samples of
/// each epoch's order are skipped; without it the last batch may be short, and
/// <see cref="CurrentBatchSize"/> says how many samples it holds (the rest of the buffer is left as
/// it was).
/// </para>
/// </summary>
public sealed class BatchLoader
{
    private readonly float[]? _data;
    private readonly ImageFolderDataset? _images;
    private readonly byte[]? _labels;
    private readonly int[] _order;
    private int _position;

    /// <param name="data">count * sampleSize floats (more is allowed; the rest is ignored).</param>
    /// <param name="sampleSize">Floats per sample.</param>
    /// <param name="count">Number of samples.</param>
    /// <param name="batchSize">Samples per batch; at most <paramref name="count"/>.</param>
    /// <param name="seed">Seed of the shuffles.</param>
    /// <param name="dropLast">Skip the incomplete last batch of each epoch.</param>
    /// <param name="labels">Optional: one label per sample, returned with each batch by
    /// <see cref="Next(Span{float}, Span{byte})"/>.</param>
    public BatchLoader(float[] data, int sampleSize, int count, int batchSize, int seed,
        bool dropLast = true, byte[]? labels = null)
        : this(data ?? throw new ArgumentNullException(nameof(data)), null, sampleSize, count, batchSize, seed, dropLast, labels)
    {
    }

    private BatchLoader(float[]? data, ImageFolderDataset? images, int sampleSize, int count, int batchSize, int seed,
        bool dropLast, byte[]? labels)
    {
        if (sampleSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(sampleSize), sampleSize, "The sample size must be at least 1.");
        if (count <= 0)
            throw new ArgumentOutOfRangeException(nameof(count), count, "The data set must hold at least one sample.");
        if (data is not null && (long)sampleSize * count > data.Length)
            throw new ArgumentException(
                $"The data holds {data.Length} floats, fewer than {count} samples of {sampleSize} need ({(long)sampleSize * count}).",
                nameof(data));
        if (batchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "The batch size must be at least 1.");
        if (batchSize > count)
            throw new ArgumentException(
                $"The batch size {batchSize} is larger than the data set ({count} samples).", nameof(batchSize));
        if (labels is not null && labels.Length < count)
            throw new ArgumentException(
                $"There are {labels.Length} labels for {count} samples; each sample needs one.", nameof(labels));

        _data = data;
        _images = images;
        _labels = labels;
        SampleSize = sampleSize;
        Count = count;
        BatchSize = batchSize;
        Seed = seed;
        DropLast = dropLast;
        _order = new int[count];
        Reset();
    }

    /// <summary>A loader over all images (and labels) of an MNIST-style data set.</summary>
    public static BatchLoader FromMnist(MnistDataset dataset, int batchSize, int seed, bool dropLast = true)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        return new BatchLoader(dataset.Images, dataset.SampleSize, dataset.Count, batchSize, seed, dropLast, dataset.Labels);
    }

    /// <summary>A loader over all images of an image-folder (or fake) data set, with optional labels
    /// (e.g. <see cref="ClassLabels.FromSubfolders"/>). Each batch
    /// is filled with the images' 8-bit pixels scaled to [-1, 1] (<see cref="ImageFolderDataset.PixelsToFloats"/>),
    /// so the data set stays at 1 byte per value.</summary>
    public static BatchLoader FromImages(ImageFolderDataset dataset, int batchSize, int seed, bool dropLast = true, byte[]? labels = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        return new BatchLoader(null, dataset, dataset.SampleSize, dataset.Count, batchSize, seed, dropLast, labels);
    }

    public int SampleSize { get; }
    public int Count { get; }
    public int BatchSize { get; }
    public int Seed { get; }
    public bool DropLast { get; }
    public bool HasLabels => _labels is not null;

    /// <summary>Batches per epoch: count / batchSize, rounded down with dropLast, up without.</summary>
    public int BatchesPerEpoch => DropLast ? Count / BatchSize : (Count + BatchSize - 1) / BatchSize;

    /// <summary>The current epoch, from 0; advanced by the <see cref="Next(Span{float})"/> call that
    /// returns false.</summary>
    public int Epoch { get; private set; }

    /// <summary>Batches returned so far in the current epoch.</summary>
    public int BatchIndex { get; private set; }

    /// <summary>Samples in the batch last returned (BatchSize except for a short last batch; 0 before the first).</summary>
    public int CurrentBatchSize { get; private set; }

    /// <summary>The data-set indices of the samples in the batch last returned, in batch order.</summary>
    public ReadOnlySpan<int> CurrentIndices => _order.AsSpan(_position - CurrentBatchSize, CurrentBatchSize);

    /// <summary>The sample order of the current epoch (a permutation of 0..Count-1).</summary>
    public ReadOnlySpan<int> EpochOrder => _order;

    /// <summary>Back to epoch 0, batch 0, with the same order as after construction.</summary>
    public void Reset() => StartEpoch(0);

    /// <summary>Moves to batch <paramref name="batchIndex"/> of <paramref name="epoch"/> (the state
    /// <see cref="Epoch"/> and <see cref="BatchIndex"/> reported), so that a resumed run sees the same
    /// batches in the same order as an uninterrupted one.</summary>
    public void Seek(int epoch, int batchIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (batchIndex < 0 || batchIndex > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(batchIndex), batchIndex, $"An epoch has {BatchesPerEpoch} batches.");
        StartEpoch(epoch);
        BatchIndex = batchIndex;
        _position = Math.Min(batchIndex * BatchSize, Count);
        CurrentBatchSize = 0;
    }

    /// <summary>Copies the next batch (BatchSize * SampleSize floats) into <paramref name="batch"/>;
    /// false when the epoch is over (the loader then moves on to the next epoch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot every step: no tiering or OSR mid-training
    public bool Next(Span<float> batch) => NextCore(batch, Span<byte>.Empty, wantLabels: false);

    /// <summary>As <see cref="Next(Span{float})"/>, and copies the batch's labels (BatchSize bytes) into
    /// <paramref name="labels"/>. The loader must have been given labels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Next(Span<float> batch, Span<byte> labels)
    {
        if (_labels is null)
            throw new InvalidOperationException("This BatchLoader was created without labels.");
        return NextCore(batch, labels, wantLabels: true);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool NextCore(Span<float> batch, Span<byte> labels, bool wantLabels)
    {
        if (batch.Length < BatchSize * SampleSize)
            throw new ArgumentException(
                $"The batch buffer holds {batch.Length} floats; a batch needs {BatchSize} x {SampleSize} = {BatchSize * SampleSize}.",
                nameof(batch));
        if (wantLabels && labels.Length < BatchSize)
            throw new ArgumentException(
                $"The label buffer holds {labels.Length} bytes; a batch needs {BatchSize}.", nameof(labels));

        int remaining = Count - _position;
        int n = Math.Min(BatchSize, remaining);
        if (n == 0 || (DropLast && n < BatchSize))
        {
            StartEpoch(Epoch + 1);
            return false;
        }

        if (_images is not null)
        {
            for (int i = 0; i < n; i++)
            {
                int sample = _order[_position + i];
                _images.CopySample(sample, batch.Slice(i * SampleSize, SampleSize));
                if (wantLabels)
                    labels[i] = _labels![sample];
            }
        }
        else
        {
            ReadOnlySpan<float> data = _data;
            for (int i = 0; i < n; i++)
            {
                int sample = _order[_position + i];
                data.Slice(sample * SampleSize, SampleSize).CopyTo(batch.Slice(i * SampleSize, SampleSize));
                if (wantLabels)
                    labels[i] = _labels![sample];
            }
        }
        _position += n;
        CurrentBatchSize = n;
        BatchIndex++;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void StartEpoch(int epoch)
    {
        Epoch = epoch;
        BatchIndex = 0;
        CurrentBatchSize = 0;
        _position = 0;
        Shuffle(_order, Seed, epoch);
    }

    /// <summary>Fills <paramref name="order"/> with the permutation of 0..Length-1 for (seed, epoch).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Shuffle(Span<int> order, int seed, int epoch)
    {
        for (int i = 0; i < order.Length; i++)
            order[i] = i;
        var rng = new SplitMix64(((ulong)(uint)seed << 32) ^ (uint)epoch ^ 0x5DEECE66DUL);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = rng.NextBelow(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
    }

    /// <summary>SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, fully specified, so its output does
    /// not depend on the runtime.</summary>
    private struct SplitMix64(ulong state)
    {
        private ulong _state = state;

        public ulong NextUInt64()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [0, bound), bound >= 1, without modulo bias (Lemire's method).</summary>
        public int NextBelow(int bound)
        {
            uint b = (uint)bound;
            ulong m = (ulong)(uint)(NextUInt64() >> 32) * b;
            uint low = (uint)m;
            if (low < b)
            {
                uint threshold = (uint)(-(int)b) % b;
                while (low < threshold)
                {
                    m = (ulong)(uint)(NextUInt64() >> 32) * b;
                    low = (uint)m;
                }
            }
            return (int)(m >> 32);
        }
    }
}
