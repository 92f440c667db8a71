using System.Globalization;
using System.Runtime.InteropServices;
using IlgpuGan.Nn;
using IlgpuGan.Recipes;

namespace IlgpuGan.Translation;

/// <summary>
/// The pool of generated images that a CycleGAN discriminator sees (Shrivastava et al.; the
/// reference code's ImagePool): while it holds fewer than <c>size</c> images each new one is kept
/// and returned; after that, with probability 1/2 a random stored image is returned and the new
/// one stored in its place, else the new one is returned. The images stay on the device (copies,
/// no waiting); the coin flips come from a counter-based stream whose position is saved with the
/// contents, so a resumed run draws exactly what an uninterrupted one would.
/// </summary>
public sealed class ImagePool : IDisposable
{
    private readonly Device device;
    private readonly int size, sampleSize;
    private readonly ulong seed;
    private Tensor? images;

    public ImagePool(Device device, int size, int sampleSize, ulong seed)
    {
        this.device = device; this.size = size; this.sampleSize = sampleSize; this.seed = seed;
        if (size > 0) images = device.Persistent(new Shape(size, sampleSize), 0f);
    }

    public int Count { get; private set; }
    public ulong Draws { get; private set; }
    public Tensor? Images => images;

    /// <summary>The batch the discriminator sees for a batch of generated images (detached).</summary>
    public Tensor Query(Tensor fake)
    {
        if (size == 0) return fake.Detach();
        int n = fake.Shape[0];
        var result = device.Empty(fake.Shape);
        var k = device.Kernels;
        for (int i = 0; i < n; i++)
        {
            var img = fake.View.SubView((long)i * sampleSize, sampleSize);
            var dst = result.View.SubView((long)i * sampleSize, sampleSize);
            if (Count < size)
            {
                k.Copy(img, images!.View.SubView((long)Count * sampleSize, sampleSize));
                Count++;
                k.Copy(img, dst);
                continue;
            }
            ulong r = Mix(seed, Draws++);
            if ((r & 1) == 0)
            {
                int j = (int)((r >> 1) % (ulong)size);
                var slot = images!.View.SubView((long)j * sampleSize, sampleSize);
                k.Copy(slot, dst);
                k.Copy(img, slot);
            }
            else k.Copy(img, dst);
        }
        return result;
    }

    private static ulong Mix(ulong seed, ulong counter)
    {
        ulong z = seed * 0x9E3779B97F4A7C15UL + counter + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public void Restore(int count, ulong draws, float[]? contents)
    {
        Count = count; Draws = draws;
        if (contents != null && images != null) images.CopyFrom(contents);
    }

    public void Dispose() => images?.Dispose();
}

/// <summary>
/// CycleGAN (Zhu et al. 2017, the reference code's cycle_gan_model): G_A: A -> B and G_B: B -> A,
/// ResNet generators with reflection padding and instance norm; D_A judges B-domain images and D_B
/// A-domain ones, PatchGANs; least-squares GAN loss against targets of the patch grid's shape;
/// cycle losses L1(G_B(G_A(a)), a) and L1(G_A(G_B(b)), b) weighted lambda (10); identity losses
/// L1(G_A(b), b) and L1(G_B(a), a) weighted lambda * 0.5; each discriminator's loss halved and fed
/// from a 50-image pool of generated images. One step: both generators, then D_A, then D_B.
/// </summary>
public sealed class CycleGan : TranslationModel
{
    private readonly ImagePool poolA, poolB;     // generated A images (for D_B), generated B images (for D_A)

    private CycleGan(Device d, TranslationOptions o, Part[] parts) : base(d, o, parts,
        [.. Stats("GAN losses", "Loss_D_A", "Loss_G_A"), .. Stats("Cycle and identity L1", "Cycle_A", "Idt_A"),
         .. Stats("GAN losses", "Loss_D_B", "Loss_G_B"), .. Stats("Cycle and identity L1", "Cycle_B", "Idt_B")])
    {
        int sample = o.Channels * o.Size * o.Size;
        poolA = new ImagePool(d, o.PoolSize, sample, (ulong)o.Seed * 2 + 1);
        poolB = new ImagePool(d, o.PoolSize, sample, (ulong)o.Seed * 2 + 2);
    }

    /// <summary>Builds the four parts (weights drawn in the order G_A, G_B, D_A, D_B).</summary>
    public static CycleGan Create(Device d, TranslationOptions o)
    {
        if (ResnetGenerator.CheckSize(o.Size, o.Size) is { } bad) throw new ArgumentException(bad);
        if (PatchDiscriminator.GridSide(o.Size, o.DLayers) < 1)
            throw new ArgumentException($"A {o.DLayers}-layer PatchGAN needs larger images than {o.Size}x{o.Size}; use fewer --d-layers.");
        var ga = new ResnetGenerator(d, o.Channels, o.Channels, o.Ngf, o.Blocks);
        var gb = new ResnetGenerator(d, o.Channels, o.Channels, o.Ngf, o.Blocks);
        var da = new PatchDiscriminator(d, o.Channels, o.Ndf, o.DLayers);
        var db = new PatchDiscriminator(d, o.Channels, o.Ndf, o.DLayers);
        return new CycleGan(d, o, [Part("G_A", ga, o), Part("G_B", gb, o), Part("D_A", da, o), Part("D_B", db, o)]);
    }

    public ImagePool PoolA => poolA;
    public ImagePool PoolB => poolB;

    public override string? CheckSize(int h, int w) => ResnetGenerator.CheckSize(h, w);

    private Tensor Run(string part, Tensor x)
    {
        using (Device.Tape.Layer(part)) return Net(part).Forward(x);
    }

    /// <summary>The least-squares loss of logits against a constant target of their shape.</summary>
    private Tensor Ls(Tensor logits, float target) => Ops.MseLoss(logits, Constant(logits.Shape, target));

    public override void TrainStep(Tensor realA, Tensor realB)
    {
        Schedule();
        var o = Options;
        var tape = Device.Tape;
        float lc = o.LambdaCycle, li = o.LambdaCycle * o.LambdaIdentity;
        foreach (var p in Parts) p.Optimizer.ZeroGrad();

        // Generators (the discriminators frozen: gradients pass through them, not into them).
        Tensor fakeB, fakeA;
        using (Net("D_A").Freeze())
        using (Net("D_B").Freeze())
        {
            fakeB = Run("G_A", realA);
            var recA = Run("G_B", fakeB);
            fakeA = Run("G_B", realB);
            var recB = Run("G_A", fakeA);
            var lossGA = Ls(Run("D_A", fakeB), 1f);
            var lossGB = Ls(Run("D_B", fakeA), 1f);
            var cycA = Ops.L1Loss(recA, realA);
            var cycB = Ops.L1Loss(recB, realB);
            var total = Ops.Add(Ops.Add(lossGA, lossGB), Ops.Combine(cycA, lc, cycB, lc));
            if (li > 0)
            {
                var idtA = Ops.L1Loss(Run("G_A", realB), realB);
                var idtB = Ops.L1Loss(Run("G_B", realA), realA);
                total = Ops.Add(total, Ops.Combine(idtA, li, idtB, li));
                Report(3, idtA); Report(7, idtB);
            }
            tape.Backward(total);
            Report(1, lossGA); Report(2, cycA); Report(5, lossGB); Report(6, cycB);
        }
        Parts[0].Optimizer.Step();
        Parts[1].Optimizer.Step();

        // Discriminators: real images against generated ones from the pools, each loss halved.
        using (Net("G_A").Freeze())
        using (Net("G_B").Freeze())
        {
            var lossDA = Ops.Scale(Ops.Add(Ls(Run("D_A", realB), 1f), Ls(Run("D_A", poolB.Query(fakeB)), 0f)), 0.5f);
            tape.Backward(lossDA);
            var lossDB = Ops.Scale(Ops.Add(Ls(Run("D_B", realA), 1f), Ls(Run("D_B", poolA.Query(fakeA)), 0f)), 0.5f);
            tape.Backward(lossDB);
            Report(0, lossDA); Report(4, lossDB);
        }
        Parts[2].Optimizer.Step();
        Parts[3].Optimizer.Step();
        tape.EndStep();
        Step++;
    }

    /// <summary>The pools' counts, draws and contents (base64 of the float32 images) as recipe counters.</summary>
    public override IEnumerable<(string Key, string Value)> SaveState()
    {
        foreach (var (name, pool) in new[] { ("pool_A", poolA), ("pool_B", poolB) })
        {
            yield return ($"{name}.count", pool.Count.ToString(CultureInfo.InvariantCulture));
            yield return ($"{name}.draws", pool.Draws.ToString(CultureInfo.InvariantCulture));
            if (pool.Images is { } t) yield return ($"{name}.images", Convert.ToBase64String(MemoryMarshal.AsBytes(t.ToArray().AsSpan())));
        }
    }

    public override void LoadState(IReadOnlyDictionary<string, string> state)
    {
        foreach (var (name, pool) in new[] { ("pool_A", poolA), ("pool_B", poolB) })
        {
            if (!state.TryGetValue($"{name}.count", out var count)) continue;
            float[]? images = state.TryGetValue($"{name}.images", out var b64) ? MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(b64)).ToArray() : null;
            pool.Restore(int.Parse(count, CultureInfo.InvariantCulture), ulong.Parse(state[$"{name}.draws"], CultureInfo.InvariantCulture), images);
        }
    }

    public override void Dispose()
    {
        poolA.Dispose(); poolB.Dispose();
        base.Dispose();
    }
}
