using IlgpuGan.Nn;

namespace IlgpuGan.Models;

/// <summary>[flatten(x), e] (N, F + k): each sample's values (z or an image, flattened) followed by its label
/// embedding e (N, k), the input of cgan-mlp's G and D and of cdcgan28's G.</summary>
internal static class LabelledInput
{
    public static Tensor Cat(Tensor x, Tensor e) => Ops.Cat(Ops.Reshape(x, new Shape(x.Shape[0], (int)(x.Length / x.Shape[0]))), e);
}

/// <summary>
/// The classic conditional GAN (Mirza & Osindero 2014, as the GAN tutorials write it): G's input is
/// z concatenated with a learned label embedding, D's input is the flattened image concatenated
/// with a label embedding; W-MLP's layer sizes, dropout in D.
/// </summary>
public static class CganMlp
{
    /// <summary>The label embedding's size (PyTorch-GAN's cgan: one float per class).</summary>
    public const int EmbeddingSize = 10;

    /// <summary>G: (z (N, nz), y) -> image (N, 1, size, size).</summary>
    public sealed class Generator : ConditionalModule
    {
        private readonly int classes;
        private readonly Nn.Embedding label;
        private readonly Linear input;
        private readonly Sequential body;

        public Generator(Device d, int classes = 10, int nz = 100, int imageSize = 28, int width = 256)
        {
            this.classes = classes;
            label = new Nn.Embedding(d, classes, EmbeddingSize);
            input = new Linear(d, nz + EmbeddingSize, width);                                         // [z, e] -> 256
            body = new Sequential(
                new LeakyRelu(0.2f), new BatchNorm1d(d, width),
                new Linear(d, width, 2 * width), new LeakyRelu(0.2f), new BatchNorm1d(d, 2 * width),     // (N, 512)
                new Linear(d, 2 * width, 4 * width), new LeakyRelu(0.2f), new BatchNorm1d(d, 4 * width), // (N, 1024)
                new Linear(d, 4 * width, imageSize * imageSize), new Tanh(),                             // (N, 784)
                new Reshape(1, imageSize, imageSize));
        }

        public override int Classes => classes;

        public override Tensor Forward(Tensor z, Tensor labels)
        {
            RequireLabels(z, labels, "cgan-mlp G");
            var tape = z.Device.Tape;
            Tensor e, h;
            using (tape.Layer("label")) e = label.Forward(labels);
            using (tape.Layer("input")) h = input.Forward(LabelledInput.Cat(z, e));
            using (tape.Layer("body")) return body.Forward(h);
        }

        protected override IEnumerable<(string, Module)> Children() { yield return ("label", label); yield return ("input", input); yield return ("body", body); }
    }

    /// <summary>D: (image (N, 1, size, size), y) -> logit (N, 1).</summary>
    public sealed class Discriminator : ConditionalModule
    {
        private readonly int classes;
        private readonly Nn.Embedding label;
        private readonly Linear input;
        private readonly Sequential body;

        public Discriminator(Device d, int classes = 10, int imageSize = 28, int width = 256, float dropout = 0.3f)
        {
            this.classes = classes;
            label = new Nn.Embedding(d, classes, EmbeddingSize);
            input = new Linear(d, imageSize * imageSize + EmbeddingSize, 4 * width);                // [x, e] -> 1024
            body = new Sequential(
                new LeakyRelu(0.2f), new Dropout(dropout),
                new Linear(d, 4 * width, 2 * width), new LeakyRelu(0.2f), new Dropout(dropout),        // (N, 512)
                new Linear(d, 2 * width, width), new LeakyRelu(0.2f), new Dropout(dropout),            // (N, 256)
                new Linear(d, width, 1));                                                              // (N, 1)
        }

        public override int Classes => classes;

        public override Tensor Forward(Tensor x, Tensor labels)
        {
            RequireLabels(x, labels, "cgan-mlp D");
            var tape = x.Device.Tape;
            Tensor e, h;
            using (tape.Layer("label")) e = label.Forward(labels);
            using (tape.Layer("input")) h = input.Forward(LabelledInput.Cat(x, e));
            using (tape.Layer("body")) return body.Forward(h);
        }

        protected override IEnumerable<(string, Module)> Children() { yield return ("label", label); yield return ("input", input); yield return ("body", body); }
    }
}

/// <summary>
/// cdcgan28: W-DCGAN28 made conditional the way modern conditional GANs are: conditional batch
/// norm in G (a per-class scale and shift, StudioGAN's ConditionalBatchNorm2d) and a projection
/// discriminator (Miyato &amp; Koyama 2018): logit = linear(h) + &lt;embed(y), h&gt;, h the
/// features summed over the pixels. Trained with the hinge loss by default.
/// </summary>
public static class Cdcgan28
{
    /// <summary>The size of the class embedding concatenated to z at G's input (cgan-mlp's).</summary>
    public const int EmbeddingSize = CganMlp.EmbeddingSize;

    /// <summary>G: (z (N, nz, 1, 1), y) -> image (N, channels, 28, 28). The class enters twice: embedded and
    /// concatenated to z at the input (as cgan-mlp's G, and BigGAN's class-and-noise input), and as the
    /// per-class scale and shift of each conditional batch norm. The input path is learned at the speed
    /// of the first layer's weights; the per-class tables start at 0 and Adam moves them by about lr per
    /// step against a gain of 1, so with them alone the rows of a by-class grid were still the same
    /// digit at step 1,000 (2026-11-24) and only 26 % of samples were of the asked-for class at 3,000.</summary>
    public sealed class Generator : ConditionalModule
    {
        private readonly int classes;
        private readonly Nn.Embedding label;
        private readonly ConvTranspose2d up1, up2, up3;
        private readonly ConditionalBatchNorm2d bn1, bn2;

        public Generator(Device d, int classes = 10, int nz = 100, int channels = 1)
        {
            this.classes = classes;
            label = new Nn.Embedding(d, classes, EmbeddingSize);                                                       // y -> (N, 10)
            up1 = new ConvTranspose2d(d, nz + EmbeddingSize, 256, 7, 1, 0); bn1 = new ConditionalBatchNorm2d(d, 256, classes); // (N, 256, 7, 7)
            up2 = new ConvTranspose2d(d, 256, 128, 4, 2, 1); bn2 = new ConditionalBatchNorm2d(d, 128, classes);         // (N, 128, 14, 14)
            up3 = new ConvTranspose2d(d, 128, channels, 4, 2, 1);                                                      // (N, 1, 28, 28)
        }

        public override int Classes => classes;

        public override Tensor Forward(Tensor z, Tensor labels)
        {
            RequireLabels(z, labels, "cdcgan28 G");
            var tape = z.Device.Tape;
            Tensor h;
            using (tape.Layer("label"))
            {
                h = LabelledInput.Cat(z, label.Forward(labels));
                h = Ops.Reshape(h, new Shape(h.Shape[0], h.Shape[1], 1, 1));                                           // [z, e] (N, 110, 1, 1)
            }
            using (tape.Layer("0")) h = up1.Forward(h);
            using (tape.Layer("1")) h = Ops.Relu(bn1.Forward(h, labels));
            using (tape.Layer("2")) h = up2.Forward(h);
            using (tape.Layer("3")) h = Ops.Relu(bn2.Forward(h, labels));
            using (tape.Layer("4")) return Ops.Tanh(up3.Forward(h));
        }

        protected override IEnumerable<(string, Module)> Children()
        {
            yield return ("label", label); yield return ("0", up1); yield return ("1", bn1); yield return ("2", up2); yield return ("3", bn2); yield return ("4", up3);
        }
    }

    /// <summary>D: (image (N, channels, 28, 28), y) -> logit (N, 1): W-DCGAN28's convolutions (with its
    /// batch norm), the features (N, 128, 7, 7) summed over the pixels to h (N, 128), then
    /// linear(h) + &lt;embed(y), h&gt;. Spectral normalisation in every layer instead of the batch norm (as
    /// Miyato &amp; Koyama's has it; <see cref="SnConv2d"/>) was tried on 2026-11-24: at step 1,500 of 3,000 every
    /// row of the by-class grid was still the same and the backgrounds grey, worse than with batch norm. The class vectors
    /// start at 0 (not DCGAN's N(0, 0.02)): with h summed over 49 pixels, N(0, 0.02) vectors gave every class a random
    /// offset of several units at the start (0.02 x sqrt(128) x |h|), beyond the hinge margins, before D had learned
    /// anything of the classes; at 0, D's class term starts neutral and grows from the real digits of each class.</summary>
    public sealed class Discriminator : ConditionalModule
    {
        private readonly int classes;
        private readonly Sequential features;
        private readonly Linear head;
        private readonly Nn.Embedding projection;

        public Discriminator(Device d, int classes = 10, int channels = 1)
        {
            this.classes = classes;
            features = new Sequential(
                new Conv2d(d, channels, 64, 4, 2, 1), new LeakyRelu(0.2f),                    // (N, 64, 14, 14)
                new Conv2d(d, 64, 128, 4, 2, 1), new BatchNorm2d(d, 128), new LeakyRelu(0.2f)); // (N, 128, 7, 7)
            head = new Linear(d, 128, 1);
            projection = new Nn.Embedding(d, classes, 128, std: 0f);
        }

        public override int Classes => classes;

        public override Tensor Forward(Tensor x, Tensor labels)
        {
            RequireLabels(x, labels, "cdcgan28 D");
            var tape = x.Device.Tape;
            Tensor h, logit, proj;
            using (tape.Layer("features")) h = Ops.SumPixels(features.Forward(x));    // (N, 128)
            using (tape.Layer("head")) logit = head.Forward(h);                       // (N, 1)
            using (tape.Layer("projection")) proj = Ops.RowDot(projection.Forward(labels), h);
            return Ops.Add(logit, proj);
        }

        protected override IEnumerable<(string, Module)> Children()
        {
            yield return ("features", features); yield return ("head", head); yield return ("projection", projection);
        }
    }
}

/// <summary>
/// acgan28: the auxiliary-classifier GAN (Odena et al. 2017) at 28x28: G is W-DCGAN28's G fed
/// z * embed(y) (PyTorch-GAN's acgan); D is W-DCGAN28's convolutions with two heads on the
/// flattened features: the real/fake logit and the class logits, trained with cross-entropy on the
/// logits (no softmax layer).
/// </summary>
public static class Acgan28
{
    public sealed class Generator : ConditionalModule
    {
        private readonly int classes;
        private readonly Nn.Embedding label;
        private readonly Sequential body;

        public Generator(Device d, int classes = 10, int nz = 100, int channels = 1)
        {
            this.classes = classes;
            label = new Nn.Embedding(d, classes, nz);
            body = Dcgan.Generator28(d, nz, channels);
        }

        public override int Classes => classes;

        public override Tensor Forward(Tensor z, Tensor labels)
        {
            RequireLabels(z, labels, "acgan28 G");
            var tape = z.Device.Tape;
            Tensor h;
            using (tape.Layer("label")) h = Ops.Mul(Ops.Reshape(label.Forward(labels), z.Shape), z);
            using (tape.Layer("body")) return body.Forward(h);
        }

        protected override IEnumerable<(string, Module)> Children() { yield return ("label", label); yield return ("body", body); }
    }

    /// <summary>D: image -> (logit (N, 1), class logits (N, classes)). As a conditional module,
    /// Forward(x, y) gives the real/fake logit (the label is not an input of an ACGAN's D).</summary>
    public sealed class Discriminator : ConditionalModule, IAuxiliaryClassifier
    {
        private readonly int classes;
        private readonly Sequential features;
        private readonly Linear adversarial, classifier;

        public Discriminator(Device d, int classes = 10, int channels = 1)
        {
            this.classes = classes;
            features = new Sequential(
                new Conv2d(d, channels, 64, 4, 2, 1), new LeakyRelu(0.2f),                             // (N, 64, 14, 14)
                new Conv2d(d, 64, 128, 4, 2, 1), new BatchNorm2d(d, 128), new LeakyRelu(0.2f),         // (N, 128, 7, 7)
                new Flatten());                                                                         // (N, 6272)
            adversarial = new Linear(d, 128 * 7 * 7, 1);
            classifier = new Linear(d, 128 * 7 * 7, classes);
        }

        public override int Classes => classes;

        public (Tensor Adversarial, Tensor ClassLogits) Classify(Tensor x)
        {
            var tape = x.Device.Tape;
            Tensor h, adv, cls;
            using (tape.Layer("features")) h = features.Forward(x);
            using (tape.Layer("adversarial")) adv = adversarial.Forward(h);
            using (tape.Layer("classifier")) cls = classifier.Forward(h);
            return (adv, cls);
        }

        public override Tensor Forward(Tensor x, Tensor labels) => Classify(x).Adversarial;

        protected override IEnumerable<(string, Module)> Children()
        {
            yield return ("features", features); yield return ("adversarial", adversarial); yield return ("classifier", classifier);
        }
    }
}
