using IlgpuGan.Kernels;

namespace IlgpuGan;

// The ops of image-to-image translation and the autoencoders: instance norm, reflection padding,
// concatenation along dim 1 (U-Net skips, conditional inputs) and the L1 and MSE losses. Each has
// its raw backward (kernels: InstanceNorm.cs, ReflectionPad.cs, Concat.cs, RegressionLosses.cs)
// and, except l1_loss, a graph form (second derivative built from ops).
public static partial class Ops
{
    /// <summary>
    /// Instance norm of x (N, C, H, W) (PyTorch's F.instance_norm without running statistics, as
    /// nn.InstanceNorm2d with track_running_stats=False uses in training and eval alike): each
    /// plane (n, c) normalised over H, W with its biased variance, then times gamma[c] plus
    /// beta[c] when they are given (affine). Its graph form recomputes the forward from ops.
    /// </summary>
    public static Tensor InstanceNorm(Tensor x, Tensor? gamma, Tensor? beta, float eps = 1e-5f)
    {
        var d = x.Device;
        if (x.Shape.Rank < 3)
            throw new ArgumentException($"InstanceNorm: expected (N, C, H, W); got {x.Shape}.");
        var sh = new ChannelShape(x.Shape[0], x.Shape[1], checked((int)(x.Length / ((long)x.Shape[0] * x.Shape[1]))));
        if ((gamma is null) != (beta is null))
            throw new ArgumentException("InstanceNorm: give both gamma and beta (affine) or neither.");
        if (gamma != null && (gamma.Length != sh.C || beta!.Length != sh.C))
            throw new ArgumentException($"InstanceNorm: input {x.Shape} has {sh.C} channels but gamma is {gamma.Shape} and beta {beta!.Shape}.");
        if (sh.S < 2)
            throw new ArgumentException($"InstanceNorm: each plane needs more than one value; got input {x.Shape}.");
        var y = d.Empty(x.Shape);
        var mean = d.Empty(new Shape(sh.N * sh.C));
        var rstd = d.Empty(new Shape(sh.N * sh.C));
        d.Kernels.InstanceNormForward(sh, new InstanceNormViews(x.View, gamma?.View ?? default, beta?.View ?? default,
            mean.View, rstd.View, y.View, default, default, default, default), eps);
        if (d.Tape.NeedsGrad(x, gamma, beta))
            d.Tape.Record("instance_norm", y, [x, gamma, beta], g =>
            {
                bool wantX = g.Wants(x), wantG = gamma != null && g.Wants(gamma), wantB = beta != null && g.Wants(beta);
                var (gx, betaX) = wantX ? g.Slot(x) : (default, 0f);
                var (gg, betaG) = wantG ? g.Slot(gamma!) : (default, 0f);
                var (gb, betaB) = wantB ? g.Slot(beta!) : (default, 0f);
                if (wantG && wantB && betaG != betaB)
                    throw new InvalidOperationException("InstanceNorm: gamma and beta must be zeroed together (ZeroGrad on the module).");
                d.Kernels.InstanceNormBackward(sh, new InstanceNormViews(x.View, gamma?.View ?? default, beta?.View ?? default,
                    mean.View, rstd.View, y.View, g.GradOf(y), gx, gg, gb), betaX, wantG ? betaG : betaB);
            }, g =>
            {
                var wanted = new[] { x, gamma, beta }.Where(t => t != null && g.Wants(t)).Select(t => t!).ToList();
                if (wanted.Count == 0) return;
                var again = InstanceNormFromOps(x, gamma, beta, sh, eps);
                var grads = d.Tape.Grad([again], wanted, [g.GradTensor(y)], createGraph: true);
                for (int i = 0; i < wanted.Count; i++) g.Accumulate(wanted[i], grads[i]);
            });
        return y;
    }

    /// <summary>Instance norm composed of differentiable ops (its graph form's forward).</summary>
    private static Tensor InstanceNormFromOps(Tensor x, Tensor? gamma, Tensor? beta, ChannelShape sh, float eps)
    {
        var d = x.Device;
        var perPlane = new ChannelShape(1, sh.N * sh.C, sh.S);
        var mean = SumChannels(x, perPlane);
        var centred = Add(x, BroadcastChannels(mean, perPlane, x.Shape, -1f / sh.S));
        var variance = Scale(SumChannels(Square(centred), perPlane), 1f / sh.S);
        var ones = d.Empty(new Shape(sh.N * sh.C));
        d.Kernels.Fill(ones.View, 1f);
        var normed = ScaleChannels(centred, Div(ones, Sqrt(variance, eps)), perPlane);
        if (gamma is null) return normed;
        return Add(ScaleChannels(normed, gamma, sh), BroadcastChannels(beta!, sh, x.Shape));
    }

    /// <summary>Reflection padding of x (N, C, H, W) by <paramref name="padding"/> on all four sides
    /// (PyTorch's F.pad(x, [p] * 4, mode="reflect")); padding must be less than H and W.</summary>
    public static Tensor ReflectionPad2d(Tensor x, int padding)
    {
        if (x.Shape.Rank != 4) throw new ArgumentException($"ReflectionPad2d: expected (N, C, H, W); got {x.Shape}.");
        var s = new PadShape(x.Shape[0] * x.Shape[1], x.Shape[2], x.Shape[3], padding);
        if (padding < 0 || padding >= s.H || padding >= s.W)
            throw new ArgumentException($"ReflectionPad2d: padding {padding} must be less than the input's height and width; got {x.Shape}.");
        if (padding == 0) return x;
        return Pad(s, x, new Shape(x.Shape[0], x.Shape[1], s.Ho, s.Wo), adjoint: false);
    }

    /// <summary>The padding (or, adjoint, its backward) as an op; each is the other's gradient.</summary>
    private static Tensor Pad(PadShape s, Tensor x, Shape outShape, bool adjoint)
    {
        var d = x.Device;
        var y = d.Empty(outShape);
        if (adjoint) d.Kernels.ReflectionPadBackward(s, x.View, y.View);
        else d.Kernels.ReflectionPad(s, x.View, y.View);
        if (d.Tape.NeedsGrad(x))
            d.Tape.Record(adjoint ? "reflection_pad2d_backward" : "reflection_pad2d", y, [x], g =>
            {
                var (gx, beta) = g.Slot(x);
                if (adjoint) d.Kernels.ReflectionPad(s, g.GradOf(y), gx, beta);
                else d.Kernels.ReflectionPadBackward(s, g.GradOf(y), gx, beta);
            }, g => g.Accumulate(x, Pad(s, g.GradTensor(y), x.Shape, !adjoint)));
        return y;
    }

    /// <summary>Concatenation along dim 1 (torch.cat(xs, 1)): tensors (N, C_k, ...) with the same N
    /// and the same trailing dims give (N, sum C_k, ...). Its gradient slices; a graph form too.</summary>
    public static Tensor Cat(params Tensor[] xs)
    {
        if (xs.Length == 0) throw new ArgumentException("Cat: no tensors.");
        var d = xs[0].Device;
        var first = xs[0].Shape;
        if (first.Rank < 2) throw new ArgumentException($"Cat: dim 1 needs tensors of rank 2 or more; got {first}.");
        int channels = 0;
        foreach (var x in xs)
        {
            var sh = x.Shape;
            bool fits = sh.Rank == first.Rank && sh[0] == first[0];
            for (int i = 2; fits && i < sh.Rank; i++) fits = sh[i] == first[i];
            if (!fits)
                throw new ArgumentException($"Cat: along dim 1 every tensor must match in the other dims; got {string.Join(", ", xs.Select(t => t.Shape.ToString()))}.");
            channels += sh[1];
        }
        int[] dims = Enumerable.Range(0, first.Rank).Select(i => first[i]).ToArray();
        dims[1] = channels;
        var y = d.Empty(new Shape(dims));
        int n = first[0], row = checked((int)(y.Length / n));
        var blocks = new BlockShape[xs.Length];
        for (int k = 0, offset = 0; k < xs.Length; k++)
        {
            int block = checked((int)(xs[k].Length / n));
            blocks[k] = new BlockShape(n, block, row, offset);
            offset += block;
            d.Kernels.PlaceBlock(blocks[k], xs[k].View, y.View);
        }
        if (xs.Any(x => d.Tape.NeedsGrad(x)))
            d.Tape.Record("cat", y, xs, g =>
            {
                var gy = g.GradOf(y);
                for (int k = 0; k < xs.Length; k++)
                    if (g.Wants(xs[k])) { var (gx, beta) = g.Slot(xs[k]); d.Kernels.TakeBlock(blocks[k], gy, gx, beta); }
            }, g =>
            {
                var gy = g.GradTensor(y);
                for (int k = 0; k < xs.Length; k++)
                    if (g.Wants(xs[k])) g.Accumulate(xs[k], Block(gy, blocks[k], xs[k].Shape, take: true));
            });
        return y;
    }

    /// <summary>Take: the block of y (a slice along dim 1); place: x put into zeros of y's shape.
    /// Each is the other's adjoint and gradient.</summary>
    private static Tensor Block(Tensor from, BlockShape s, Shape outShape, bool take)
    {
        var d = from.Device;
        var y = d.Empty(outShape);
        if (take) d.Kernels.TakeBlock(s, from.View, y.View);
        else { d.Kernels.Fill(y.View, 0f); d.Kernels.PlaceBlock(s, from.View, y.View); }
        if (d.Tape.NeedsGrad(from))
            d.Tape.Record(take ? "slice" : "embed", y, [from], g =>
            {
                var (gf, beta) = g.Slot(from);
                if (take)       // the gradient of a slice: gy in its block, zeros elsewhere
                {
                    if (beta == 0f) d.Kernels.Fill(gf, 0f);
                    d.Kernels.PlaceBlock(s, g.GradOf(y), gf, 1f);
                }
                else d.Kernels.TakeBlock(s, g.GradOf(y), gf, beta);
            }, g => g.Accumulate(from, Block(g.GradTensor(y), s, from.Shape, !take)));
        return y;
    }

    /// <summary>mean |x - target| (F.l1_loss); a scalar. The target gets a gradient too when it needs one.</summary>
    public static Tensor L1Loss(Tensor x, Tensor target) => Regression(RegressionLoss.L1, "l1_loss", x, target);

    /// <summary>mean (x - target)^2 (F.mse_loss); a scalar. Its graph form recomputes it from ops.</summary>
    public static Tensor MseLoss(Tensor x, Tensor target) => Regression(RegressionLoss.Mse, "mse_loss", x, target);

    private static Tensor Regression(RegressionLoss kind, string name, Tensor x, Tensor target)
    {
        var d = x.Device;
        if (x.Length != target.Length)
            throw new ArgumentException($"{name}: input {x.Shape} and target {target.Shape} differ in size.");
        var terms = d.Empty(x.Shape);
        d.Kernels.RegressionTerms(kind, x.View, target.View, terms.View);
        var loss = d.Empty(new Shape(1));
        float k = 1f / x.Length;
        d.Kernels.Sum(terms.View, loss.View, k);
        if (d.Tape.NeedsGrad(x, target))
            d.Tape.Record(name, loss, [x, target], g =>
            {
                var gl = g.GradOf(loss);
                if (g.Wants(x)) { var (gx, beta) = g.Slot(x); d.Kernels.RegressionBackward(kind, x.View, target.View, gl, gx, k, beta); }
                if (g.Wants(target)) { var (gt, beta) = g.Slot(target); d.Kernels.RegressionBackward(kind, x.View, target.View, gl, gt, -k, beta); }
            }, kind == RegressionLoss.L1 ? null : g =>
            {
                var wanted = new[] { x, target }.Where(g.Wants).ToList();
                if (wanted.Count == 0) return;
                var again = Mean(Square(Sub(x, target.Shape == x.Shape ? target : Reshape(target, x.Shape))));
                var grads = d.Tape.Grad([again], wanted, [g.GradTensor(loss)], createGraph: true);
                for (int i = 0; i < wanted.Count; i++) g.Accumulate(wanted[i], grads[i]);
            });
        return loss;
    }
}
