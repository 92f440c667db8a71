using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace IlgpuGan.Kernels;

/// <summary>
/// The threads that run the host kernels' parallel passes, owned by one <see cref="Kernels"/>: the
/// calling thread and <c>ProcessorCount - 1</c> dedicated workers take the parts of each pass from a
/// shared counter. A training step issues hundreds of short passes back to back (a W-MLP step:
/// GEMMs of 20 to 700 microseconds, batch norms, activations, Adam), and waking a sleeping
/// thread-pool thread costs tens of microseconds each time, so between passes the workers spin for
/// <see cref="SpinTime"/> before they sleep (OpenMP runtimes do the same).
/// A pass started from inside a pass (or while another thread's pass runs) runs inline, serially.
/// </summary>
internal sealed class HostPool : IDisposable
{
    /// <summary>How long an idle worker spins before it sleeps.</summary>
    public static readonly TimeSpan SpinTime = TimeSpan.FromMilliseconds(0.2);

    /// <summary>Threads a pass can use, the caller included.</summary>
    public int Threads { get; }

    private readonly Thread[] workers;
    private readonly SemaphoreSlim wake = new(0);
    private Job? current;
    private int sleepers, busy;
    private volatile bool disposed;

    /// <summary>One pass: its parts are taken from <see cref="next"/>; a stale worker that still holds
    /// a finished job finds no part left, so jobs are never mixed up.</summary>
    private sealed class Job(Action<int> body, int parts)
    {
        public readonly Action<int> Body = body;
        public readonly int Parts = parts;
        public int Next, Done;
        public Exception? Error;

        public void Work()
        {
            for (int i; (i = Interlocked.Increment(ref Next) - 1) < Parts;)
            {
                try { Body(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref Error, e, null); }
                Interlocked.Increment(ref Done);
            }
        }
    }

    public HostPool(int threads)
    {
        Threads = Math.Max(1, threads);
        workers = new Thread[Threads - 1];
        for (int t = 0; t < workers.Length; t++)
        {
            workers[t] = new Thread(WorkerLoop) { IsBackground = true, Name = $"IlgpuGan host worker {t + 1}" };
            workers[t].Start();
        }
    }

    /// <summary>Runs body(0) .. body(count - 1), each once, on the caller and the workers; returns
    /// when all are done. The first exception a part throws is rethrown here.</summary>
    public void Run(int count, Action<int> body)
    {
        if (count <= 0)
            return;
        if (count == 1 || workers.Length == 0 || Interlocked.Exchange(ref busy, 1) == 1)
        {
            for (int i = 0; i < count; i++)
                body(i);
            return;
        }
        var job = new Job(body, count);
        try
        {
            Volatile.Write(ref current, job);
            int asleep = Volatile.Read(ref sleepers);
            if (asleep > 0)
                wake.Release(Math.Min(asleep, count - 1));
            job.Work();
            var spin = new SpinWait();
            while (Volatile.Read(ref job.Done) < count)
                spin.SpinOnce(sleep1Threshold: -1);
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
        if (job.Error != null)
            ExceptionDispatchInfo.Capture(job.Error).Throw();
    }

    private void WorkerLoop()
    {
        Job? seen = null;
        long spinTicks = (long)(SpinTime.TotalSeconds * Stopwatch.Frequency);
        while (!disposed)
        {
            var job = Volatile.Read(ref current);
            if (job != seen && job != null)
            {
                seen = job;
                job.Work();
                continue;
            }
            long start = Stopwatch.GetTimestamp();
            while (Volatile.Read(ref current) == seen && !disposed && Stopwatch.GetTimestamp() - start < spinTicks)
                Thread.SpinWait(20);
            if (Volatile.Read(ref current) != seen || disposed)
                continue;
            Interlocked.Increment(ref sleepers);
            if (Volatile.Read(ref current) == seen && !disposed)
                wake.Wait();
            Interlocked.Decrement(ref sleepers);
        }
    }

    public void Dispose()
    {
        if (disposed)
            return;
        disposed = true;
        if (workers.Length > 0) wake.Release(workers.Length);     // Release(0) throws: a 1-core machine has no workers
        foreach (var w in workers)
            w.Join();
        wake.Dispose();
    }
}

public sealed partial class Kernels : IDisposable
{
    private HostPool? hostPool;

    /// <summary>The host variant's threads (created on first use).</summary>
    internal HostPool Pool => hostPool ??= new HostPool(Environment.ProcessorCount);

    /// <summary>Below this many elements one thread does a host pass.</summary>
    internal const long MinParallel = 1 << 13;

    /// <summary>Splits a host pass over n elements into one contiguous part per core (memory-bound
    /// passes gain from a second core); small passes run on the calling thread.</summary>
    internal void HostFor(long n, Action<long, long> range)
    {
        int parts = (int)Math.Min(Pool.Threads, Math.Max(1, n / MinParallel));
        if (parts <= 1)
        {
            range(0, n);
            return;
        }
        Pool.Run(parts, p =>
        {
            // Part boundaries on multiples of 16 floats (64 bytes): whole vectors, whole cache lines.
            long from = n * p / parts & ~15L, to = p == parts - 1 ? n : n * (p + 1) / parts & ~15L;
            range(from, to);
        });
    }

    /// <summary>Splits <paramref name="count"/> independent items (e.g. channels) of
    /// <paramref name="costPerItem"/> elements each into one contiguous range per core.</summary>
    internal void HostForItems(int count, long costPerItem, Action<int, int> range)
    {
        int parts = (int)Math.Min(Math.Min(Pool.Threads, count), Math.Max(1, count * costPerItem / MinParallel));
        if (parts <= 1)
        {
            range(0, count);
            return;
        }
        Pool.Run(parts, p => range((int)((long)count * p / parts), (int)((long)count * (p + 1) / parts)));
    }

    /// <summary>Stops the host variant's worker threads (they are background threads, so a process
    /// that never calls this still exits).</summary>
    public void Dispose() => hostPool?.Dispose();
}
