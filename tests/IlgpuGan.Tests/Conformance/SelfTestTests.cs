using System.Diagnostics;
using IlgpuGan.Conformance;
using IlgpuGan.IO;
using IlgpuGan.Tests.Support;
using Xunit.Abstractions;

namespace IlgpuGan.Tests.Conformance;

[Collection("devices")]
public sealed class SelfTestTests(ITestOutputHelper log)
{
    [Fact]
    public void SelfTestOnTheCpuPassesWithOneLinePerCheck()
    {
        using var device = Device.Create(AcceleratorKind.Cpu, seed: 5);
        var options = new SelfTestOptions();
        var output = new StringWriter();
        var clock = Stopwatch.StartNew();
        int failures = SelfTest.Run(device, output, options);
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s\n{output}");

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        int cases = ReferenceCases.Files().Count;
        Assert.True(cases >= 20, $"the shipped reference cases were not found: {cases}");
        Assert.Equal(0, failures);
        Assert.Equal(cases + options.Models.Count + 1, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^PASS \S.* \d+ ms$", l));
        Assert.Contains(lines, l => l.StartsWith("PASS conv2d-3 (max rel err ", StringComparison.Ordinal));
        foreach (var model in options.Models) Assert.Contains(lines, l => l.StartsWith($"PASS train {model} (", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("PASS agreement W-MLP-narrow (cpu/Host vs cpu/ClCpu, 5 steps, batch 8: max difference ", StringComparison.Ordinal));
        Assert.Equal(5UL, device.Random.Seed);    // the device's generator is put back
        Assert.Equal(0UL, device.Random.Offset);
    }

    [Fact]
    public void ACorruptedReferenceCaseFails()
    {
        using var temp = new TempFolder();
        string source = Path.Combine(ReferenceCases.ShippedDirectory!, "linear-0.safetensors");
        var c = SafeTensors.Read(source);
        c.Tensors["gw"].Data[0] += 1f;     // a wrong expected gradient
        SafeTensors.Write(temp.File("linear-0.safetensors"), c.Tensors.Select(kv => (kv.Key, kv.Value)), c.Metadata);
        var unknown = new Dictionary<string, string>(c.Metadata) { ["op"] = "no_such_op" };
        SafeTensors.Write(temp.File("no_such_op-0.safetensors"), c.Tensors.Select(kv => (kv.Key, kv.Value)), unknown);
        File.Copy(Path.Combine(ReferenceCases.ShippedDirectory!, "relu-0.safetensors"), temp.File("relu-0.safetensors"));

        var output = new StringWriter();
        int failures = SelfTest.Run(Backends.Get("cpu"), output,
            new SelfTestOptions { ReferenceDirectories = [temp.Path], Training = false, CrossBackend = false });
        log.WriteLine(output.ToString());

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, failures);
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^FAIL linear-0: gw rel err \S+ > tolerance \S+ \d+ ms$", lines[0]);
        Assert.StartsWith("FAIL no_such_op-0: op 'no_such_op' is not known to the runtime", lines[1]);
        Assert.StartsWith("PASS relu-0 (max rel err ", lines[2]);
    }

    [Fact]
    public void NoReferenceCaseFoundFails()
    {
        using var temp = new TempFolder();
        var output = new StringWriter();
        int failures = SelfTest.Run(Backends.Get("cpu"), output,
            new SelfTestOptions { ReferenceDirectories = [temp.Path, temp.File("missing")], Training = false, CrossBackend = false });
        Assert.Equal(1, failures);
        Assert.StartsWith("FAIL reference cases: no *.safetensors file in ", output.ToString());
    }
}
