using System.Text.Json;
using IlgpuGan.Cli.Runs;
using IlgpuGan.Recipes;

namespace IlgpuGan.Tests.Training;

/// <summary>
/// IlgpuGan's training step against libtorch's, step by step (issue 13, item 7). The first steps of
/// <c>ilgpu-gan train --model mlp --seed 1</c> (W-MLP, BCE, Adam 2e-4 (0.5, 0.999), batch 64, the
/// bundled MNIST) were written out: G's and D's initial weights, the z batch of each D and G update and
/// each real batch. libtorch (TorchSharp-cpu 0.107.0, libtorch 2.10.0, float32, the peer of
/// shared/bench/torchsharp with WORKLOADS.md's <c>Gan.Step</c>) loaded them and ran the same steps from the
/// same inputs. <c>TestData/trajectories/wmlp-seed1-peer.json</c> holds what libtorch computed: the
/// statistics of the first 10 steps (Loss_D, Loss_G, D(x), D(G(z)), D(G(z))_after) and, for the initial
/// weights and those after steps 1, 5 and 10, every tensor's L2 norm and its first 32 values.
/// <para>The two agree to float32 noise (losses within 1e-7 relative for 5 steps, 7e-6 at step 10; weights
/// after 5 steps within 3e-5 relative); the test allows 10x that. A wrong op, optimizer rule, running
/// statistic, random stream reuse or update order moves them by orders of magnitude more (a biased
/// running variance alone moves D.. no: G's running_var by 1/63 after one step). Beyond ~50 steps the
/// two runs part as any two float32 runs of a GAN do (libtorch against itself with weights perturbed
/// by 1e-6 relative parts as fast), so only the first steps are compared.</para>
/// <para>The recorded initial weights also pin IlgpuGan's initialisation stream: if it changes on
/// purpose, the file must be recorded again (write the trace with the new code, replay it in the peer).</para>
/// </summary>
public sealed class PeerTrajectoryTests
{
    private static readonly string File = Path.Combine(AppContext.BaseDirectory, "TestData", "trajectories", "wmlp-seed1-peer.json");

    [Fact]
    public void WmlpStepsMatchLibtorchFromTheSameInputs()
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(File));
        var root = doc.RootElement;
        var model = ModelRegistry.Mlp;
        var d = model.DefaultsFor(Objective.Bce);
        var o = d.Options;
        var config = new RunConfig
        {
            Model = model.Name, Loss = "bce", Optimizer = o.Optimizer, Data = "mnist", Steps = d.Steps, Batch = d.Batch,
            LrG = o.LrG, LrD = o.LrD, Beta1 = o.Beta1, Beta2 = o.Beta2, DSteps = 1, Seed = 1, Accelerator = "cpu",
            SampleEvery = d.SampleEvery, CheckpointEvery = d.CheckpointEvery,
        };
        var data = Datasets.Load(config.Data, model, config.Seed);
        using var s = new Session(config, model, data);

        CheckWeights(s, root.GetProperty("init"), "init", relTol: 1e-7, rmsTol: 0);
        var stats = root.GetProperty("stats").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        string[] names = ["Loss_D", "Loss_G", "D(x)", "D(G(z))", "D(G(z))_after"];
        for (int k = 1; k <= stats.Length; k++)
        {
            s.Step();
            var st = s.Recipe.ReadStats();
            for (int j = 0; j < names.Length; j++)
            {
                double mine = st[names[j]], peer = stats[k - 1][j];
                Assert.True(Math.Abs(mine - peer) <= 1e-4 * Math.Abs(peer) + 1e-7,
                    $"step {k}: {names[j]} is {mine:R} in IlgpuGan, {peer:R} in libtorch (same weights, z and real batches)");
            }
            if (k is 1 or 5)
                CheckWeights(s, root.GetProperty($"after{k}"), $"after step {k}", relTol: 3e-4, rmsTol: 2e-3);
        }
    }

    /// <summary>Every tensor's norm within relTol, and its first values within rmsTol of the tensor's RMS (at least 1e-3).</summary>
    private static void CheckWeights(Session s, JsonElement expected, string when, double relTol, double rmsTol)
    {
        int count = 0;
        foreach (var part in s.Recipe.Parts)
            foreach (var (name, t) in part.Module.StateDict())
            {
                if (!expected.TryGetProperty($"{part.Name}.{name}", out var e)) continue;
                count++;
                float[] v = t.ToArray();
                double norm = Math.Sqrt(v.Sum(x => (double)x * x)), peerNorm = e.GetProperty("norm").GetDouble();
                Assert.True(Math.Abs(norm - peerNorm) <= relTol * peerNorm + 1e-12,
                    $"{when}: |{part.Name}.{name}| is {norm:R} in IlgpuGan, {peerNorm:R} in libtorch");
                double tol = rmsTol * Math.Max(peerNorm / Math.Sqrt(v.Length), 1e-3);
                int i = 0;
                foreach (var x in e.GetProperty("head").EnumerateArray())
                {
                    double peer = (float)x.GetDouble();   // written as the shortest text of a float32
                    Assert.True(Math.Abs(v[i] - peer) <= tol,
                        $"{when}: {part.Name}.{name}[{i}] is {v[i]:R} in IlgpuGan, {peer:R} in libtorch");
                    i++;
                }
            }
        Assert.True(count >= 20, $"{when}: only {count} tensors matched the recorded names");
    }
}
