using IlgpuGan.Nn;
using IlgpuGan.Optim;

namespace IlgpuGan.Tests.Runtime;

public sealed class TapeAndModuleTests
{
    private static float[] Grad(Tensor t) => t.Grad!.ToArray();

    [Fact]
    public void GradientsAccumulateUntilZeroGrad()
    {
        using var device = Device.Create(AcceleratorKind.Cpu);
        using var lin = new Linear(device, 3, 2);
        using var x = device.Persistent(new Shape(4, 3), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        device.Tape.Backward(Ops.Sum(lin.Forward(x)));
        float[] once = Grad(lin.Weight);
        device.Tape.EndStep();
        device.Tape.Backward(Ops.Sum(lin.Forward(x)));
        float[] twice = Grad(lin.Weight);
        device.Tape.EndStep();
        Assert.Equal(once.Select(v => 2 * v), twice);
        lin.ZeroGrad();
        Assert.False(lin.Weight.HasGrad);
        device.Tape.Backward(Ops.Sum(lin.Forward(x)));
        Assert.Equal(once, Grad(lin.Weight));
        Assert.Equal([22f, 26f, 30f], once.Take(3));     // d sum(x w^T) / d w[0, :] = column sums of x
    }

    [Fact]
    public void FrozenModulePassesGradientsButKeepsNone()
    {
        using var device = Device.Create(AcceleratorKind.Cpu);
        using var a = new Linear(device, 3, 3);
        using var b = new Linear(device, 3, 1);
        using var x = device.Persistent(new Shape(2, 3), 0.5f);
        using (b.Freeze())
        {
            device.Tape.Backward(Ops.Sum(b.Forward(a.Forward(x))));
            Assert.All(b.Parameters(), p => Assert.False(p.HasGrad));
        }
        Assert.All(a.Parameters(), p => Assert.True(p.HasGrad));
        Assert.All(b.Parameters(), p => Assert.True(p.RequiresGrad));   // unfrozen again
        device.Tape.EndStep();
    }

    [Fact]
    public void NoGradAndDetachRecordNothing()
    {
        using var device = Device.Create(AcceleratorKind.Cpu);
        using var lin = new Linear(device, 2, 2);
        using var x = device.Persistent(new Shape(1, 2), 1f);
        using (device.Tape.NoGrad())
            Assert.False(lin.Forward(x).RequiresGrad);
        var y = lin.Forward(x);
        Assert.True(y.RequiresGrad);
        Assert.False(y.Detach().RequiresGrad);
        var e = Assert.Throws<InvalidOperationException>(() => device.Tape.Backward(Ops.Sum(Ops.Tanh(y.Detach()))));
        Assert.Contains("requires a gradient", e.Message);
        device.Tape.EndStep();
    }

    [Fact]
    public void StepTensorsGoBackToThePool()
    {
        using var device = Device.Create(AcceleratorKind.Cpu);
        using var lin = new Linear(device, 8, 8);
        using var x = device.Persistent(new Shape(4, 8), 1f);
        long idle = device.Pool.InUseBytes;
        device.Tape.Backward(Ops.Sum(Ops.Relu(lin.Forward(x))));
        Assert.True(device.Pool.InUseBytes > idle);
        long grads = lin.Parameters().Sum(p => (p.Length + 63) / 64 * 64 * 4);
        device.Tape.EndStep();
        Assert.Equal(idle + grads, device.Pool.InUseBytes);   // only the parameters' gradients remain
    }

    [Fact]
    public void SgdAndRmsPropFollowPyTorchsFormulas()
    {
        using var device = Device.Create(AcceleratorKind.Cpu);
        double[] g = [0.5, -1.5, 2.0];
        double[] p0 = [1.0, 2.0, -3.0];

        // SGD, momentum 0.9, dampening 0.1, weight decay 0.01, Nesterov; RMSProp centered with momentum.
        double[] ps = (double[])p0.Clone(), buf = new double[3];
        double[] pr = (double[])p0.Clone(), sq = new double[3], ga = new double[3], rb = new double[3];
        using var tS = device.Persistent(new Shape(3), p0.Select(v => (float)v).ToArray());
        using var tR = device.Persistent(new Shape(3), p0.Select(v => (float)v).ToArray());
        using var grad = device.Persistent(new Shape(3), g.Select(v => (float)v).ToArray());
        tS.RequiresGrad = tR.RequiresGrad = true;
        using var sgd = new Sgd([tS], lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01, nesterov: true);
        using var rms = new RmsProp([tR], lr: 0.01, alpha: 0.9, eps: 1e-8, weightDecay: 0.01, momentum: 0.5, centered: true);
        for (int step = 1; step <= 3; step++)
        {
            device.Tape.Backward(Ops.Sum(Ops.Add(Ops.Mul(tS, grad), Ops.Mul(tR, grad))));
            sgd.Step(); rms.Step(); sgd.ZeroGrad(); rms.ZeroGrad();
            device.Tape.EndStep();
            for (int i = 0; i < 3; i++)
            {
                double gi = g[i] + 0.01 * ps[i];
                buf[i] = step == 1 ? gi : 0.9 * buf[i] + 0.9 * gi;
                ps[i] -= 0.1 * (gi + 0.9 * buf[i]);
                double gr = g[i] + 0.01 * pr[i];
                sq[i] = 0.9 * sq[i] + 0.1 * gr * gr;
                ga[i] = 0.9 * ga[i] + 0.1 * gr;
                rb[i] = 0.5 * rb[i] + gr / (Math.Sqrt(sq[i] - ga[i] * ga[i]) + 1e-8);
                pr[i] -= 0.01 * rb[i];
            }
        }
        Support.Compare.Close(tS.ToArray(), ps.Select(v => (float)v).ToArray(), 1e-6, "sgd");
        Support.Compare.Close(tR.ToArray(), pr.Select(v => (float)v).ToArray(), 1e-5, "rmsprop");
    }
}
