using IlgpuGan.Nn;
using IlgpuGan.Recipes;

namespace IlgpuGan.Translation;

/// <summary>
/// pix2pix (Isola et al. 2017, the reference code's pix2pix_model) for paired data: G a U-Net
/// (instance norm, no dropout), D a PatchGAN conditioned on the input, seeing cat(A, B) along the
/// channels; the vanilla GAN loss (BCE on the patch logits) plus L1(G(a), b) weighted 100. One
/// step: G, then D on (a, b) against (a, G(a)) with its loss halved.
/// </summary>
public sealed class Pix2Pix : TranslationModel
{
    private Pix2Pix(Device d, TranslationOptions o, Part[] parts) : base(d, o, parts, [.. Stats("Losses", "Loss_D", "Loss_G_GAN", "Loss_G_L1"), .. Stats("D outputs", "D_real", "D_fake")]) { }

    public static Pix2Pix Create(Device d, TranslationOptions o)
    {
        var g = new UnetGenerator(d, o.Channels, o.Channels, o.UnetDowns, o.Ngf);
        if (g.CheckSize(o.Size, o.Size) is { } bad) { g.Dispose(); throw new ArgumentException(bad); }
        if (PatchDiscriminator.GridSide(o.Size, o.DLayers) < 1)
        {
            g.Dispose();
            throw new ArgumentException($"A {o.DLayers}-layer PatchGAN needs larger images than {o.Size}x{o.Size}; use fewer --d-layers.");
        }
        var dd = new PatchDiscriminator(d, 2 * o.Channels, o.Ndf, o.DLayers);
        return new Pix2Pix(d, o, [Part("G", g, o), Part("D", dd, o)]);
    }

    public override bool NeedsPairs => true;

    public override string? CheckSize(int h, int w) => ((UnetGenerator)Net("G")).CheckSize(h, w);

    private Tensor Run(string part, Tensor x)
    {
        using (Device.Tape.Layer(part)) return Net(part).Forward(x);
    }

    public override void TrainStep(Tensor a, Tensor b)
    {
        Schedule();
        var tape = Device.Tape;
        foreach (var p in Parts) p.Optimizer.ZeroGrad();
        var fake = Run("G", a);

        // G first: Tape.Backward drops the recorded graph, so G's update must come before D's
        // backward (the reference updates D first and then G through the updated D).
        using (Net("D").Freeze())
        {
            var pred = Run("D", Ops.Cat(a, fake));
            var gan = Ops.BceWithLogits(pred, Constant(pred.Shape, 1f));
            var l1 = Ops.L1Loss(fake, b);
            tape.Backward(Ops.Combine(gan, 1f, l1, Options.LambdaL1));
            Report(1, gan); Report(2, l1);
        }
        Parts[0].Optimizer.Step();

        var predFake = Run("D", Ops.Cat(a, fake.Detach()));
        var predReal = Run("D", Ops.Cat(a, b));
        var lossD = Ops.Scale(Ops.Add(Ops.BceWithLogits(predFake, Constant(predFake.Shape, 0f)), Ops.BceWithLogits(predReal, Constant(predReal.Shape, 1f))), 0.5f);
        tape.Backward(lossD);
        Report(0, lossD);
        Parts[1].Optimizer.Step();
        Report(3, Ops.Mean(Ops.Sigmoid(predReal.Detach())));
        Report(4, Ops.Mean(Ops.Sigmoid(predFake.Detach())));
        tape.EndStep();
        Step++;
    }
}
