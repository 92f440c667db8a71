using ILGPU;
using ILGPU.Runtime;

namespace IlgpuGan.Kernels;

/// <summary>One part of a concatenation along dim 1: a tensor of <see cref="Rows"/> rows (N) of
/// <see cref="Block"/> values (its C_k * H * W) placed at <see cref="Offset"/> in rows of
/// <see cref="Row"/> values (the sum of the parts' blocks).</summary>
public readonly record struct BlockShape(int Rows, int Block, int Row, int Offset)
{
    public long Length => (long)Rows * Block;
    public long At(long i) => i / Block * Row + Offset + i % Block;
}

// Concatenation along dim 1 (torch.cat(xs, 1)) one part at a time, and its adjoint, the slice:
// Place writes part x into its block of y; Take reads the block of y back (the part's gradient).
// Host row copies and barrier-free grid-stride ILGPU kernels (GPU-style and OpenCL-CPU variants).
public sealed partial class Kernels
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, BlockShape, float>? placeBlock, takeBlock;

    /// <summary>y's block of part s = beta*(that block) + x; the rest of y is untouched.</summary>
    public void PlaceBlock(BlockShape s, ArrayView<float> x, ArrayView<float> y, float beta = 0f)
    {
        CheckBlock(s, x, y, nameof(PlaceBlock));
        if (IsHost) { HostBlocks(s, x, y, beta, place: true); return; }
        (placeBlock ??= Load<ArrayView<float>, ArrayView<float>, BlockShape, float>(PlaceBlockKernel))(Stride(s.Length), x, y, s, beta);
    }

    /// <summary>x = beta*x + y's block of part s.</summary>
    public void TakeBlock(BlockShape s, ArrayView<float> y, ArrayView<float> x, float beta = 0f)
    {
        CheckBlock(s, x, y, nameof(TakeBlock));
        if (IsHost) { HostBlocks(s, x, y, beta, place: false); return; }
        (takeBlock ??= Load<ArrayView<float>, ArrayView<float>, BlockShape, float>(TakeBlockKernel))(Stride(s.Length), y, x, s, beta);
    }

    private static void CheckBlock(BlockShape s, ArrayView<float> part, ArrayView<float> whole, string op)
    {
        if (s.Offset < 0 || s.Block < 0 || s.Offset + s.Block > s.Row)
            throw new ArgumentException($"{op}: a block of {s.Block} at {s.Offset} does not fit rows of {s.Row}.");
        Check.Length(part, s.Length, op, "the part");
        Check.Length(whole, (long)s.Rows * s.Row, op, "the whole");
    }

    private unsafe void HostBlocks(BlockShape s, ArrayView<float> x, ArrayView<float> y, float beta, bool place)
    {
        float* px = HostMemory.Ptr(x), py = HostMemory.Ptr(y);
        HostForItems(s.Rows, s.Block, (from, to) =>
        {
            for (int n = from; n < to; n++)
            {
                float* part = px + (long)n * s.Block, block = py + (long)n * s.Row + s.Offset;
                var src = new Span<float>(place ? part : block, s.Block);
                var dst = new Span<float>(place ? block : part, s.Block);
                if (beta == 0f) src.CopyTo(dst);
                else for (int i = 0; i < s.Block; i++) dst[i] = beta * dst[i] + src[i];
            }
        });
    }

    private static void PlaceBlockKernel(ArrayView<float> x, ArrayView<float> y, BlockShape s, float beta)
    {
        for (int i = Grid.GlobalIndex.X; i < x.Length; i += GridStride)
        {
            long at = s.At(i);
            y[at] = beta == 0f ? x[i] : beta * y[at] + x[i];
        }
    }

    private static void TakeBlockKernel(ArrayView<float> y, ArrayView<float> x, BlockShape s, float beta)
    {
        for (int i = Grid.GlobalIndex.X; i < x.Length; i += GridStride)
        {
            float v = y[s.At(i)];
            x[i] = beta == 0f ? v : beta * x[i] + v;
        }
    }
}
