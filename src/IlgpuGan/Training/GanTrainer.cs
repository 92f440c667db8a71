using IlgpuGan.Nn;
using IlgpuGan.Optim;

namespace IlgpuGan.Training;

/// <summary>The GAN objective: binary cross-entropy on logits (non-saturating G loss) or Wasserstein.</summary>
public enum GanLoss { Bce, Wasserstein }

public sealed record TrainerOptions
{
    /// <summary>Latent size nz.</summary>
    public int LatentSize { get; init; } = 100;
    /// <summary>Shape of a latent batch: (N, nz) for MLPs; (N, nz, 1, 1) for conv models.</summary>
    public Func<int, int, Shape> LatentShape { get; init; } = (n, nz) => new Shape(n, nz);
    /// <summary>Discriminator (critic) updates per generator update.</summary>
    public int DSteps { get; init; } = 1;
    public GanLoss Loss { get; init; } = GanLoss.Bce;
}

/// <summary>What one training step reported, read back from the device.</summary>
public readonly record struct StepStats(long Step, float LossD, float LossG, float DReal, float DFake, float DFakeAfter)
{
    public override string ToString() =>
        $"step {Step}: Loss_D {LossD:F4}  Loss_G {LossG:F4}  D(x) {DReal:F4}  D(G(z)) {DFake:F4} / {DFakeAfter:F4}";
}

/// <summary>A loss or D output that is NaN or infinite.</summary>
public sealed class NonFiniteLossException(string message) : Exception(message);

/// <summary>
/// Alternates D and G updates exactly as WORKLOADS.md defines one training step. The step's
/// statistics stay on the device; <see cref="ReadStats"/> fetches them (and waits) only when the
/// caller wants to report, so training never synchronises per op or per step.
/// </summary>
public sealed class GanTrainer : IDisposable
{
    private readonly Device device;
    private readonly int batch;
    private readonly Tensor ones, zeros, stats;    // labels, and [Loss_D, Loss_G, D(x), D(G(z)) before, after]

    public Module G { get; }
    public Module D { get; }
    public Optimizer OptG { get; }
    public Optimizer OptD { get; }
    public TrainerOptions Options { get; }
    /// <summary>Training steps done; set it when resuming from a checkpoint.</summary>
    public long Step { get; set; }

    public GanTrainer(Device device, Module g, Module d, Optimizer optG, Optimizer optD, int batchSize, TrainerOptions? options = null)
    {
        if (batchSize < 2) throw new ArgumentOutOfRangeException(nameof(batchSize), "A batch needs at least 2 samples (batch norm).");
        this.device = device; G = g; D = d; OptG = optG; OptD = optD; batch = batchSize;
        Options = options ?? new TrainerOptions();
        if (Options.DSteps < 1) throw new ArgumentOutOfRangeException(nameof(options), "DSteps must be at least 1.");
        ones = device.Persistent(new Shape(batchSize, 1), 1f);
        zeros = device.Persistent(new Shape(batchSize, 1), 0f);
        stats = device.Persistent(new Shape(5), 0f);
    }

    /// <summary>A latent batch z ~ N(0, 1) from the device's generator (a step tensor).</summary>
    public Tensor Noise(int n)
    {
        var z = device.Empty(Options.LatentShape(n, Options.LatentSize));
        device.Kernels.Normal(z.View, device.Random.Next(z.Length), 0f, 1f);
        return z;
    }

    /// <summary>One training step; <paramref name="nextRealBatch"/> gives a real batch on the device
    /// (called DSteps times).</summary>
    public void TrainStep(Func<Tensor> nextRealBatch)
    {
        var tape = device.Tape;
        bool bce = Options.Loss == GanLoss.Bce;

        // (1) Update D: maximise log D(x) + log(1 - D(G(z)))  (Wasserstein: E[D(x)] - E[D(G(z))])
        for (int k = 0; k < Options.DSteps; k++)
        {
            var real = nextRealBatch();
            if (real.Shape[0] != batch)
                throw new ArgumentException($"The real batch is {real.Shape}; the trainer was set up for batches of {batch}.");
            OptD.ZeroGrad();
            Tensor fake;
            using (tape.NoGrad()) fake = G.Forward(Noise(batch));    // G in training mode, not back-propagated
            var outReal = D.Forward(real);                           // (N, 1)
            var outFake = D.Forward(fake);                           // (N, 1)
            var lossD = bce
                ? Ops.Add(Ops.BceWithLogits(outReal, ones), Ops.BceWithLogits(outFake, zeros))
                : Ops.Sub(Ops.Mean(outFake), Ops.Mean(outReal));
            tape.Backward(lossD);
            OptD.Step();
            if (k == Options.DSteps - 1) Record(lossD, 0, outReal, 2, outFake, 3);
            tape.EndStep();
        }

        // (2) Update G: maximise log D(G(z))  (Wasserstein: E[D(G(z))]); D is frozen
        OptG.ZeroGrad();
        var generated = G.Forward(Noise(batch));
        using (D.Freeze())
        {
            var output = D.Forward(generated);
            var lossG = bce ? Ops.BceWithLogits(output, ones) : Ops.Scale(Ops.Mean(output), -1f);
            tape.Backward(lossG);
            Record(lossG, 1, output, 4, null, 0);
        }
        OptG.Step();
        tape.EndStep();
        Step++;
    }

    /// <summary>Copies a loss and the mean D outputs (probabilities for BCE) into the stats tensor.</summary>
    private void Record(Tensor loss, int lossSlot, Tensor outA, int slotA, Tensor? outB, int slotB)
    {
        var k = device.Kernels;
        using var _ = device.Tape.NoGrad();
        k.Copy(loss.View, stats.View.SubView(lossSlot, 1));
        k.Copy(MeanOutput(outA).View, stats.View.SubView(slotA, 1));
        if (outB != null) k.Copy(MeanOutput(outB).View, stats.View.SubView(slotB, 1));
    }

    private Tensor MeanOutput(Tensor logits) =>
        Ops.Mean(Options.Loss == GanLoss.Bce ? Ops.Sigmoid(logits) : logits);

    /// <summary>The last step's statistics (waits for the device). A non-finite value is an error
    /// naming the step and the value.</summary>
    public StepStats ReadStats()
    {
        float[] s = stats.ToArray();
        var result = new StepStats(Step, s[0], s[1], s[2], s[3], s[4]);
        string[] names = ["Loss_D", "Loss_G", "D(x)", "D(G(z))", "D(G(z))"];
        for (int i = 0; i < s.Length; i++)
            if (!float.IsFinite(s[i]))
                throw new NonFiniteLossException($"Training diverged at step {Step}: {names[i]} is {s[i]}. Try a lower learning rate.");
        return result;
    }

    /// <summary>G's images for a fixed latent batch, in eval mode (running batch-norm statistics), to the host.</summary>
    public float[] Sample(Tensor fixedNoise)
    {
        using var _ = device.Tape.NoGrad();
        G.Eval();
        try { return G.Forward(fixedNoise).ToArray(); }
        finally { G.Train(); device.Tape.EndStep(); }
    }

    public void Dispose()
    {
        ones.Dispose(); zeros.Dispose(); stats.Dispose();
    }
}
