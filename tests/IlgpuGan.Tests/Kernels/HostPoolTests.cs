using IlgpuGan.Kernels;

namespace IlgpuGan.Tests.Kernels;

/// <summary>The host thread team on a machine with one core (no workers): passes run on the
/// caller, and disposing it does not throw (it did: Release(0) on the wake semaphore).</summary>
public sealed class HostPoolTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void RunsEveryPartAndDisposes(int threads)
    {
        var pool = new HostPool(threads);
        var done = new int[10];
        pool.Run(done.Length, i => Interlocked.Increment(ref done[i]));
        Assert.All(done, v => Assert.Equal(1, v));
        pool.Dispose();
        pool.Dispose();
    }
}
