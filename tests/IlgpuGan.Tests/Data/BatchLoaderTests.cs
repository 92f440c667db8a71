using IlgpuGan.Data;

namespace IlgpuGan.Tests.Data;

public sealed class BatchLoaderTests
{
    // Sample i holds (i, i + 0.5, i + 0.25): the batch content tells which samples it holds.
    private static float[] MakeData(int count, int sampleSize = 3)
    {
        var data = new float[count * sampleSize];
        for (int i = 0; i < count; i++)
            for (int j = 0; j < sampleSize; j++)
                data[i * sampleSize + j] = i + j * 0.5f / (j + 1);
        return data;
    }

    private static List<int> Epochs(BatchLoader loader, int epochs)
    {
        var seen = new List<int>();
        var batch = new float[loader.BatchSize * loader.SampleSize];
        for (int e = 0; e < epochs; e++)
            while (loader.Next(batch))
                for (int i = 0; i < loader.CurrentBatchSize; i++)
                    seen.Add((int)batch[i * loader.SampleSize]);
        return seen;
    }

    [Fact]
    public void SameSeedGivesSameOrder()
    {
        float[] data = MakeData(100);
        var a = Epochs(new BatchLoader(data, 3, 100, 16, seed: 7), 3);
        var b = Epochs(new BatchLoader(data, 3, 100, 16, seed: 7), 3);
        Assert.Equal(3 * 96, a.Count);
        Assert.Equal(a, b);
    }

    [Fact]
    public void DifferentSeedGivesDifferentOrder()
    {
        float[] data = MakeData(100);
        var a = Epochs(new BatchLoader(data, 3, 100, 10, seed: 1), 1);
        var b = Epochs(new BatchLoader(data, 3, 100, 10, seed: 2), 1);
        Assert.NotEqual(a, b);
        Assert.Equal(a.Order(), b.Order()); // same samples, other order
    }

    [Fact]
    public void OrderIsPinnedAcrossMachines()
    {
        // The shuffle is SplitMix64 + Fisher-Yates, fully specified: this must never change.
        // (Expected values computed independently with a Python transcription of the algorithm.)
        int[] order = new int[10];
        BatchLoader.Shuffle(order, seed: 42, epoch: 0);
        Assert.Equal(Pinned, order);
        Assert.Equal(Enumerable.Range(0, 10), order.Order());
    }

    private static readonly int[] Pinned = [9, 7, 8, 1, 4, 2, 6, 5, 0, 3];

    [Fact]
    public void EverySampleOncePerEpochAndEpochsReshuffle()
    {
        const int count = 103, batchSize = 10;
        var loader = new BatchLoader(MakeData(count), 3, count, batchSize, seed: 123, dropLast: false);
        Assert.Equal(11, loader.BatchesPerEpoch);
        var batch = new float[batchSize * 3];
        var orders = new List<int[]>();
        for (int e = 0; e < 3; e++)
        {
            Assert.Equal(e, loader.Epoch);
            var seen = new List<int>();
            int batches = 0;
            while (loader.Next(batch))
            {
                batches++;
                Assert.Equal(batches == 11 ? 3 : 10, loader.CurrentBatchSize);
                Assert.Equal(loader.CurrentBatchSize, loader.CurrentIndices.Length);
                for (int i = 0; i < loader.CurrentBatchSize; i++)
                {
                    int sample = (int)batch[i * 3];
                    Assert.Equal(loader.CurrentIndices[i], sample);
                    Assert.Equal(sample + 0.25f, batch[i * 3 + 1]);
                    Assert.Equal(sample + 1f / 3f, batch[i * 3 + 2]);
                    seen.Add(sample);
                }
            }
            Assert.Equal(11, batches);
            Assert.Equal(Enumerable.Range(0, count), seen.Order());
            orders.Add([.. seen]);
        }
        Assert.Equal(3, loader.Epoch);
        Assert.NotEqual(orders[0], orders[1]);
        Assert.NotEqual(orders[1], orders[2]);

        // Reset goes back to the first epoch's order.
        loader.Reset();
        Assert.Equal(0, loader.Epoch);
        Assert.Equal(orders[0], Epochs(loader, 1));
    }

    [Fact]
    public void DropLastSkipsTheShortBatch()
    {
        var loader = new BatchLoader(MakeData(25), 3, 25, 8, seed: 5);
        Assert.Equal(3, loader.BatchesPerEpoch);
        var seen = Epochs(loader, 1);
        Assert.Equal(24, seen.Count);
        Assert.Equal(24, seen.Distinct().Count());
        Assert.Equal(1, loader.Epoch);
    }

    [Fact]
    public void LabelsFollowTheirSamples()
    {
        const int count = 50;
        byte[] labels = new byte[count];
        for (int i = 0; i < count; i++) labels[i] = (byte)(i % 10);
        var loader = new BatchLoader(MakeData(count), 3, count, 7, seed: 9, labels: labels);
        Assert.True(loader.HasLabels);
        var batch = new float[7 * 3];
        var batchLabels = new byte[7];
        int n = 0;
        while (loader.Next(batch, batchLabels))
        {
            for (int i = 0; i < 7; i++)
                Assert.Equal((byte)((int)batch[i * 3] % 10), batchLabels[i]);
            n++;
        }
        Assert.Equal(7, n);
    }

    [Fact]
    public void MnistLoaderWorks()
    {
        MnistDataset test = MnistDataset.Load(MnistDataset.DefaultFolder, train: false);
        var loader = BatchLoader.FromMnist(test, 64, seed: 0);
        var batch = new float[64 * 784];
        var labels = new byte[64];
        Assert.True(loader.Next(batch, labels));
        int first = loader.CurrentIndices[0];
        Assert.Equal(test.Images.AsSpan(first * 784, 784).ToArray(), batch.AsSpan(0, 784).ToArray());
        Assert.Equal(test.Labels[first], labels[0]);
        Assert.Equal(2004 / 64, loader.BatchesPerEpoch);
    }

    // Fully optimised from the start: tiered compilation promoting this loop (OSR) mid-measurement
    // may allocate on this thread, which is the runtime's allocation, not the loader's.
    [Fact]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void NoAllocationPerBatch()
    {
        const int count = 1000;
        var loader = new BatchLoader(MakeData(count), 3, count, 32, seed: 3, labels: new byte[count]);
        var batch = new float[32 * 3];
        var labels = new byte[32];
        Epochs(loader, 2); // warm up, including the end-of-epoch path
        while (loader.Next(batch, labels)) { }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int e = 0; e < 5; e++)
        {
            while (loader.Next(batch)) { }
            while (loader.Next(batch, labels)) { }
        }
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
    }

    // As above, for an image-folder data set: its bytes are scaled to floats into the caller's batch.
    [Fact]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void NoAllocationPerBatchFromImages()
    {
        var images = ImageFolderDataset.Fake(100, 3, 16, seed: 4, maxBlockBytes: 30 * 768);
        var loader = BatchLoader.FromImages(images, 8, seed: 3);
        var batch = new float[8 * 768];
        Epochs(loader, 2);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int e = 0; e < 5; e++)
            while (loader.Next(batch)) { }
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
        Assert.True(loader.Next(batch));
        Assert.Equal(images.ToFloats(loader.CurrentIndices[7], 1), batch.AsSpan(7 * 768, 768).ToArray());
    }

    [Fact]
    public void BatchLargerThanDataSetIsAnError()
    {
        var e = Assert.Throws<ArgumentException>(() => new BatchLoader(MakeData(10), 3, 10, 11, seed: 0));
        Assert.Equal("batchSize", e.ParamName);
        Assert.Contains("batch size 11 is larger than the data set (10 samples)", e.Message);
    }

    [Fact]
    public void BadArgumentsAreErrors()
    {
        float[] data = MakeData(10);
        Assert.Throws<ArgumentException>(() => new BatchLoader(data, 3, 11, 2, seed: 0)); // data too short
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchLoader(data, 0, 10, 2, seed: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchLoader(data, 3, 10, 0, seed: 0));
        Assert.Throws<ArgumentException>(() => new BatchLoader(data, 3, 10, 2, seed: 0, labels: new byte[9]));
        var loader = new BatchLoader(data, 3, 10, 2, seed: 0);
        Assert.Throws<ArgumentException>(() => loader.Next(new float[5]));
        Assert.Throws<InvalidOperationException>(() => loader.Next(new float[6], new byte[2]));
    }
}
