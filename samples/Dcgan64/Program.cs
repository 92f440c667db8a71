// W-DCGAN64 (shared/bench/WORKLOADS.md: the classic DCGAN, 3 x 64 x 64, batch 128) on a folder of images, e.g. CelebA.
// Usage: dotnet run -c Release --project samples/Dcgan64 -- --data DIR|fake [--steps N] [--batch 128] [--lr 0.0002]
//        [--accelerator cpu|opencl|cuda|auto] [--out DIR] [--sample-every N] [--seed S] [--fake-count N] [--max-images N]
//        [--dry-run]  (2 steps, on fake data unless --data is given; writes one grid; exits 0 if all went well)
// Every image is resized (shorter side 64) and centre-cropped to 64 x 64 RGB; unreadable files are skipped with a warning.
// Writes real.png (64 training images) and, for a fixed noise batch, an 8 x 8 grid of G's faces every --sample-every
// steps to out/dcgan64/step_NNNNN.png, so the grids are comparable over time.
using System.Diagnostics;
using IlgpuGan;
using IlgpuGan.Data;
using IlgpuGan.Imaging;
using IlgpuGan.Recipes;
using IlgpuGan.Training;

const int Size = 64, Channels = 3, GridCount = 64;

try
{
    // --dry-run is a flag (no value); everything else is "--name value".
    bool dryRun = args.Contains("--dry-run", StringComparer.OrdinalIgnoreCase);
    var opts = Args.Parse(args.Where(a => !a.Equals("--dry-run", StringComparison.OrdinalIgnoreCase)).ToArray());
    string? data = opts.Get("data", null);
    int steps = opts.Int("steps", dryRun ? 2 : 8_000), batch = opts.Int("batch", 128), seed = opts.Int("seed", 1);
    int sampleEvery = opts.Int("sample-every", dryRun ? steps : 500);
    int fakeCount = opts.Int("fake-count", dryRun ? Math.Max(GridCount, batch) : Math.Max(10_000, batch));
    int maxImages = opts.Int("max-images", int.MaxValue);
    double lr = opts.Double("lr", 2e-4);
    string outDir = opts.Get("out", null) ?? Path.Combine("out", "dcgan64");
    var kind = Device.ParseKind(opts.Get("accelerator", null));
    if (opts.Unused.Any()) throw new ArgumentException($"Unknown option --{opts.Unused.First()}.");
    if (!(lr > 0 && double.IsFinite(lr))) throw new ArgumentException($"--lr must be a positive number; got {lr}.");
    if (data is null && !dryRun)
        throw new ArgumentException("Say where the images are: --data DIR (e.g. CelebA's img_align_celeba), or --data fake " +
                                    "for synthetic images; --dry-run tries 2 steps on fake data.");
    data ??= "fake";

    ImageFolderDataset images = LoadImages(data, fakeCount, maxImages, seed);
    var loader = BatchLoader.FromImages(images, batch, seed);   // an error if batch > the number of images
    using var device = Device.Create(kind, (ulong)seed);
    Console.WriteLine($"device: {device}; data: {Num(images.Count)} images ({images.ByteCount / 1e6:F0} MB); " +
                      $"{steps} steps of batch {batch}, lr {lr}{(dryRun ? " (dry run)" : "")}");

    // G: z (N, 100, 1, 1)
    //    ConvTranspose2d(100, 512, 4, 1, 0) BatchNorm2d ReLU     -> (N, 512, 4, 4)    state size. (ngf*8) x 4 x 4
    //    ConvTranspose2d(512, 256, 4, 2, 1) BatchNorm2d ReLU     -> (N, 256, 8, 8)    state size. (ngf*4) x 8 x 8
    //    ConvTranspose2d(256, 128, 4, 2, 1) BatchNorm2d ReLU     -> (N, 128, 16, 16)  state size. (ngf*2) x 16 x 16
    //    ConvTranspose2d(128, 64, 4, 2, 1)  BatchNorm2d ReLU     -> (N, 64, 32, 32)   state size. (ngf) x 32 x 32
    //    ConvTranspose2d(64, 3, 4, 2, 1)    Tanh                 -> (N, 3, 64, 64)    state size. (nc) x 64 x 64
    // D: image (N, 3, 64, 64)                                                         input is (nc) x 64 x 64
    //    Conv2d(3, 64, 4, 2, 1)                 LeakyReLU(0.2)   -> (N, 64, 32, 32)   state size. (ndf) x 32 x 32
    //    Conv2d(64, 128, 4, 2, 1)   BatchNorm2d LeakyReLU(0.2)   -> (N, 128, 16, 16)  state size. (ndf*2) x 16 x 16
    //    Conv2d(128, 256, 4, 2, 1)  BatchNorm2d LeakyReLU(0.2)   -> (N, 256, 8, 8)    state size. (ndf*4) x 8 x 8
    //    Conv2d(256, 512, 4, 2, 1)  BatchNorm2d LeakyReLU(0.2)   -> (N, 512, 4, 4)    state size. (ndf*8) x 4 x 4
    //    Conv2d(512, 1, 4, 1, 0)                                 -> (N, 1, 1, 1)      one logit per image (BCE with logits)
    // Adam(lr, beta1 0.5, beta2 0.999) for both; weights N(0, 0.02), BatchNorm weights N(1, 0.02).
    using var trainer = GanWorkload.Dcgan64.Create(device, batch, lr);

    // A fixed noise batch, so that the grids over time are comparable.
    using var fixedNoise = device.Persistent(ModelRegistry.Dcgan64.LatentShape(GridCount, ModelRegistry.LatentSize));
    device.Kernels.Normal(fixedNoise.View, device.Random.Next(fixedNoise.Length), 0, 1);
    using var real = device.Persistent(new Shape(batch, Channels, Size, Size));
    var host = new float[batch * Channels * Size * Size];
    Tensor NextReal()
    {
        if (!loader.Next(host)) loader.Next(host);      // a new epoch starts when one runs out
        real.CopyFrom(host);
        return real;
    }
    int shown = Math.Min(GridCount, images.Count);
    string realPath = Path.Combine(outDir, "real.png");
    ImageGrid.SavePng(realPath, images.ToFloats(0, shown), shown, Channels, Size, Size);
    Console.WriteLine($"wrote {realPath}");

    var clock = Stopwatch.StartNew();
    int reportEvery = Math.Max(1, Math.Min(50, steps / 20));
    for (int step = 1; step <= steps; step++)
    {
        // (1) D step: real batch labelled 1, G(z) (not back-propagated into G) labelled 0.
        // (2) G step: a fresh z, G's fakes labelled real through the updated D.
        trainer.TrainStep(NextReal);
        if (step % reportEvery == 0 || step == 1 || step == steps)
        {
            var s = trainer.ReadStats();   // waits for the device
            double rate = step / clock.Elapsed.TotalSeconds;
            Console.WriteLine($"[{step}/{steps}] epoch {loader.Epoch}  {s.Text()}  {1000 / rate:F0} ms/step  ETA {(steps - step) / rate:F0} s");
        }
        if (step % sampleEvery == 0 || step == steps)
        {
            string path = Path.Combine(outDir, $"step_{step:D5}.png");
            ImageGrid.SavePng(path, trainer.Sample(fixedNoise), GridCount, Channels, Size, Size);
            Console.WriteLine($"wrote {path}");
        }
    }
    Console.WriteLine($"done: {steps} steps in {clock.Elapsed.TotalSeconds:F1} s ({clock.Elapsed.TotalMilliseconds / steps:F0} ms/step)");
    return 0;
}
catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or InvalidOperationException
                              or NonFiniteLossException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

// "fake": synthetic images; anything else: a folder, loaded on all cores with progress lines and a warning per bad file.
static ImageFolderDataset LoadImages(string data, int fakeCount, int maxImages, int seed)
{
    if (data.Equals("fake", StringComparison.OrdinalIgnoreCase))
    {
        var fake = ImageFolderDataset.Fake(fakeCount, Channels, Size, seed);
        Console.WriteLine($"data: {Num(fake.Count)} fake images (smooth gradients with blobs)");
        return fake;
    }
    string folder = Path.GetFullPath(data);
    int total = Math.Min(maxImages, ImageFolderDataset.FindImageFiles(folder).Length);   // the count for the progress lines
    Console.WriteLine($"loading {Num(total)} image files from {folder} (resize + centre crop to {Size}x{Size} RGB)");
    var clock = Stopwatch.StartNew();
    var progress = new LoadProgress(total, clock);
    ImageFolderDataset images = ImageFolderDataset.Load(folder, Size, new ImageFolderOptions
    {
        Channels = Channels,
        Progress = progress,
        MaxImages = maxImages == int.MaxValue ? 0 : maxImages,
    });
    foreach (SkippedFile bad in images.Skipped)
        Console.Error.WriteLine($"warning: skipped {bad}");
    double seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"loaded {Num(images.Count)} images in {seconds:F1} s ({total / Math.Max(seconds, 1e-3):F0} files/s)" +
                      (images.Skipped.Count > 0 ? $"; skipped {Num(images.Skipped.Count)} unreadable files" : ""));
    return images;
}

/// <summary>Prints "loading: n / total files" at most every 2 s (reports come from the decoding threads, maybe out of order).</summary>
sealed class LoadProgress(int total, Stopwatch clock) : IProgress<int>
{
    private readonly Lock _gate = new();
    private int _best;
    private double _lastPrint;

    public void Report(int value)
    {
        lock (_gate)
        {
            if (value <= _best) return;
            _best = value;
            double now = clock.Elapsed.TotalSeconds;
            if (now - _lastPrint < 2 || value == total) return;   // the caller prints the summary
            _lastPrint = now;
            double rate = value / now;
            Console.WriteLine($"loading: {Program.Num(value)} / {Program.Num(total)} files ({value * 100.0 / total:F0}%, {rate:F0} files/s, " +
                              $"ETA {(total - value) / rate:F0} s)");
        }
    }
}

static partial class Program
{
    /// <summary>12,345 (thousands separators, invariant culture).</summary>
    internal static string Num(long value) => value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
}
