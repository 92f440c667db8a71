// The CycleGAN training step of IlgpuGan's `cyclegan` model on the built-in digit pair (its defaults:
// ngf 8, 6 ResNet blocks, ndf 8, a 2-layer PatchGAN, 28x28 grey, batch 1, lsgan, cycle 10,
// identity 5, Adam 2e-4 (0.5, 0.999), 50-image pools) in TorchSharp/libtorch on the CPU, to time
// it beside `ilgpu-gan train-translation --bench N`. Random images stand in for digits (the time
// does not depend on the values). Usage: dotnet run -c Release -- [steps=200] [threads=2]
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

int steps = args.Length > 0 ? int.Parse(args[0]) : 200;
int threads = args.Length > 1 ? int.Parse(args[1]) : 2;
torch.set_num_threads(threads);
torch.manual_seed(1);
const int ngf = 8, ndf = 8, blocks = 6, size = 28;

Module<Tensor, Tensor> Resnet()
{
    var layers = new List<Module<Tensor, Tensor>> { ReflectionPad2d(3), Conv2d(1, ngf, 7), InstanceNorm2d(ngf), ReLU() };
    for (int i = 0, m = 1; i < 2; i++, m *= 2) layers.AddRange([Conv2d(ngf * m, ngf * m * 2, 3, stride: 2, padding: 1), InstanceNorm2d(ngf * m * 2), ReLU()]);
    for (int i = 0; i < blocks; i++) layers.Add(new Block(ngf * 4));
    for (int i = 0, m = 4; i < 2; i++, m /= 2) layers.AddRange([ConvTranspose2d(ngf * m, ngf * m / 2, 3, stride: 2, padding: 1, output_padding: 1), InstanceNorm2d(ngf * m / 2), ReLU()]);
    layers.AddRange([ReflectionPad2d(3), Conv2d(ngf, 1, 7), Tanh()]);
    return Sequential(layers);
}

Module<Tensor, Tensor> Patch() => Sequential(
    Conv2d(1, ndf, 4, stride: 2, padding: 1), LeakyReLU(0.2),
    Conv2d(ndf, ndf * 2, 4, stride: 2, padding: 1), InstanceNorm2d(ndf * 2), LeakyReLU(0.2),
    Conv2d(ndf * 2, ndf * 4, 4, stride: 1, padding: 1), InstanceNorm2d(ndf * 4), LeakyReLU(0.2),
    Conv2d(ndf * 4, 1, 4, stride: 1, padding: 1));

var gA = Resnet(); var gB = Resnet(); var dA = Patch(); var dB = Patch();
var optG = optim.Adam(gA.parameters().Concat(gB.parameters()), 2e-4, 0.5, 0.999);
var optD = optim.Adam(dA.parameters().Concat(dB.parameters()), 2e-4, 0.5, 0.999);
var poolA = new List<Tensor>(); var poolB = new List<Tensor>();
var rng = new Random(1);
var retired = new List<Tensor>();
Tensor Query(List<Tensor> pool, Tensor img)
{
    img = img.detach();
    if (pool.Count < 50) { pool.Add(img.clone().DetachFromDisposeScope()); return img; }
    if (rng.NextDouble() < 0.5) { int j = rng.Next(50); var old = pool[j]; pool[j] = img.clone().DetachFromDisposeScope(); retired.Add(old); return old; }
    return img;
}
Tensor Ls(Tensor x, float t) => functional.mse_loss(x, full_like(x, t));

void Step()
{
    foreach (var t in retired) t.Dispose();
    retired.Clear();
    using var scope = NewDisposeScope();
    var realA = rand(1, 1, size, size) * 2 - 1;
    var realB = rand(1, 1, size, size) * 2 - 1;
    foreach (var p in dA.parameters().Concat(dB.parameters())) p.requires_grad = false;
    optG.zero_grad();
    var fakeB = gA.forward(realA); var recA = gB.forward(fakeB);
    var fakeA = gB.forward(realB); var recB = gA.forward(fakeA);
    var idtA = gA.forward(realB); var idtB = gB.forward(realA);
    var lossG = Ls(dA.forward(fakeB), 1) + Ls(dB.forward(fakeA), 1)
        + functional.l1_loss(recA, realA) * 10 + functional.l1_loss(recB, realB) * 10
        + functional.l1_loss(idtA, realB) * 5 + functional.l1_loss(idtB, realA) * 5;
    lossG.backward();
    optG.step();
    foreach (var p in dA.parameters().Concat(dB.parameters())) p.requires_grad = true;
    optD.zero_grad();
    var lossDA = (Ls(dA.forward(realB), 1) + Ls(dA.forward(Query(poolB, fakeB)), 0)) * 0.5;
    lossDA.backward();
    var lossDB = (Ls(dB.forward(realA), 1) + Ls(dB.forward(Query(poolA, fakeA)), 0)) * 0.5;
    lossDB.backward();
    optD.step();
}

for (int i = 0; i < 20; i++) Step();
var times = new List<double>();
for (int i = 0; i < steps; i++)
{
    long t0 = Stopwatch.GetTimestamp();
    Step();
    times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
}
times.Sort();
Console.WriteLine($"CYCLEGAN-STEP torchsharp threads={threads} steps={steps} median_ms={times[steps / 2]:F2} min_ms={times[0]:F2} p90_ms={times[steps * 9 / 10]:F2}");

/// <summary>The reference code's ResnetBlock: x + [pad, conv, norm, relu, pad, conv, norm](x).</summary>
sealed class Block : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv_block;

    public Block(int dim) : base("ResnetBlock")
    {
        conv_block = Sequential(ReflectionPad2d(1), Conv2d(dim, dim, 3), InstanceNorm2d(dim), ReLU(),
            ReflectionPad2d(1), Conv2d(dim, dim, 3), InstanceNorm2d(dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x + conv_block.forward(x);
}
