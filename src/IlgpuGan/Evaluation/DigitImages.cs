using StbImageSharp;

namespace IlgpuGan.Evaluation;

/// <summary>
/// Brings images to what the classifier takes, 28x28 grey in [-1, 1], saying what was changed:
/// RGB becomes grey (BT.601 luma), another size is resized by area averaging (each output pixel the
/// mean of the input area it covers, with fractional edges). Other channel counts are refused.
/// </summary>
public static class DigitImages
{
    public const int Size = Classifier.ImageSize;

    /// <summary>count images (C, H, W) in [-1, 1] to count x 784; <paramref name="note"/> says what was changed (null: nothing).</summary>
    public static float[] Prepare(float[] data, int count, int channels, int height, int width, out string? note)
    {
        if (channels is not (1 or 3))
            throw new ArgumentException($"The classifier takes grey or RGB images; these have {channels} channels (refused).");
        if (data.Length < (long)count * channels * height * width)
            throw new ArgumentException($"{count} images of {channels}x{height}x{width} need {(long)count * channels * height * width} values; got {data.Length}.");
        if (channels == 1 && height == Size && width == Size) { note = null; return data.Length == count * Size * Size ? data : data[..(count * Size * Size)]; }
        var changes = new List<string>();
        if (channels == 3) changes.Add("RGB turned grey (BT.601 luma)");
        if (height != Size || width != Size) changes.Add($"resized from {height}x{width} to {Size}x{Size} by area averaging");
        note = $"the images are {channels}x{height}x{width}; the classifier takes 1x{Size}x{Size}: " + string.Join(", ", changes) +
               ". Figures of resized images are not comparable with those of native 28x28 digits.";
        var result = new float[count * Size * Size];
        Parallel.For(0, count, i =>
        {
            var grey = new float[height * width];
            int plane = height * width;
            var src = data.AsSpan(i * channels * plane, channels * plane);
            if (channels == 1) src.CopyTo(grey);
            else for (int k = 0; k < plane; k++) grey[k] = 0.299f * src[k] + 0.587f * src[plane + k] + 0.114f * src[2 * plane + k];
            Resize(grey, height, width, result.AsSpan(i * Size * Size, Size * Size));
        });
        return result;
    }

    /// <summary>Area-averaging resize of one grey image to 28x28.</summary>
    private static void Resize(float[] src, int h, int w, Span<float> dst)
    {
        if (h == Size && w == Size) { src.CopyTo(dst); return; }
        double sy = (double)h / Size, sx = (double)w / Size;
        for (int oy = 0; oy < Size; oy++)
        {
            double y0 = oy * sy, y1 = y0 + sy;
            for (int ox = 0; ox < Size; ox++)
            {
                double x0 = ox * sx, x1 = x0 + sx;
                double sum = 0, weight = 0;
                for (int y = (int)y0; y < Math.Min(h, (int)Math.Ceiling(y1)); y++)
                {
                    double wy = Math.Min(y1, y + 1) - Math.Max(y0, y);
                    if (wy <= 0) continue;
                    for (int x = (int)x0; x < Math.Min(w, (int)Math.Ceiling(x1)); x++)
                    {
                        double wx = Math.Min(x1, x + 1) - Math.Max(x0, x);
                        if (wx <= 0) continue;
                        sum += wy * wx * src[y * w + x];
                        weight += wy * wx;
                    }
                }
                dst[oy * Size + ox] = (float)(sum / weight);
            }
        }
    }

    /// <summary>
    /// The cells of a PNG grid as <c>sample</c> and <c>train</c> write it (torchvision's make_grid: cells
    /// of 28 (or 64 or 32) pixels, 2 pixels of padding between and around them), as grey images in
    /// [-1, 1]; cells that are wholly background (black) at the end of the grid are left out.
    /// </summary>
    public static (float[] Images, int Count, int CellSize, int Channels) ReadGrid(string path, int padding = 2)
    {
        var bytes = File.ReadAllBytes(path);
        ImageResult image;
        try { image = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue); }
        catch (Exception e) { throw new InvalidDataException($"{path}: not a readable PNG ({e.Message})."); }
        int W = image.Width, H = image.Height;
        int cell = new[] { 28, 64, 32 }.FirstOrDefault(c => (W - padding) % (c + padding) == 0 && (H - padding) % (c + padding) == 0);
        if (cell == 0)
            throw new InvalidDataException(
                $"{path}: a {W}x{H} picture is not a grid of 28x28 (or 64x64 or 32x32) cells with {padding}-pixel padding, the layout that 'sample' and 'train' write (refused).");
        int cols = (W - padding) / (cell + padding), rows = (H - padding) / (cell + padding);
        bool grey = true;
        for (int i = 0; i < W * H && grey; i++)
            grey = image.Data[3 * i] == image.Data[3 * i + 1] && image.Data[3 * i] == image.Data[3 * i + 2];
        int channels = grey ? 1 : 3, plane = cell * cell;
        var cells = new List<float[]>();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                var v = new float[channels * plane];
                for (int y = 0; y < cell; y++)
                    for (int x = 0; x < cell; x++)
                    {
                        int at = 3 * ((padding + r * (cell + padding) + y) * W + padding + c * (cell + padding) + x);
                        for (int ch = 0; ch < channels; ch++) v[ch * plane + y * cell + x] = image.Data[at + ch] / 127.5f - 1f;
                    }
                cells.Add(v);
            }
        while (cells.Count > 1 && cells[^1].All(x => x == -1f)) cells.RemoveAt(cells.Count - 1);
        return (cells.SelectMany(c => c).ToArray(), cells.Count, cell, channels);
    }
}
