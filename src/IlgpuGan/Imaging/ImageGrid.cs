using IlgpuGan.IO;
using StbImageWriteSharp;

namespace IlgpuGan.Imaging;

/// <summary>
/// Tiles a batch of images into one picture and writes it as PNG, like torchvision's
/// <c>make_grid</c> + <c>save_image</c>: <c>nrow</c> images per row, <c>padding</c> pixels between
/// images and around the border, background 0 (black). Values are clamped to [low, high] and mapped
/// linearly to 0..255 (rounded to nearest; NaN becomes 0). Input is NCHW with 1 (grey) or 3 (RGB)
/// channels. Unlike torchvision, a single image also gets the padding border.
/// </summary>
public static class ImageGrid
{
    /// <summary>Writes the grid as a PNG file, atomically (temporary file in the same folder, flushed,
    /// then moved over <paramref name="path"/>). Creates the folder if needed.</summary>
    public static void SavePng(string path, ReadOnlySpan<float> images, int count, int channels, int height, int width,
        int nrow = 8, int padding = 2, float low = -1, float high = 1)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] png = Encode(images, count, channels, height, width, nrow, padding, low, high);
        AtomicFile.WriteAllBytes(path, png);
    }

    /// <summary>The PNG file's bytes for the grid (see <see cref="SavePng"/>).</summary>
    public static byte[] Encode(ReadOnlySpan<float> images, int count, int channels, int height, int width,
        int nrow = 8, int padding = 2, float low = -1, float high = 1)
    {
        byte[] pixels = Compose(images, count, channels, height, width, out int gridWidth, out int gridHeight,
            nrow, padding, low, high);
        return EncodePng(pixels, gridWidth, gridHeight, channels);
    }

    /// <summary>
    /// The grid's raw pixels: gridHeight rows of gridWidth pixels of <paramref name="channels"/> bytes
    /// (interleaved, HWC). Columns = min(nrow, count), rows = ceil(count / columns);
    /// gridWidth = columns * (width + padding) + padding, gridHeight = rows * (height + padding) + padding;
    /// image k sits at column k % columns, row k / columns.
    /// </summary>
    public static byte[] Compose(ReadOnlySpan<float> images, int count, int channels, int height, int width,
        out int gridWidth, out int gridHeight, int nrow = 8, int padding = 2, float low = -1, float high = 1)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "At least one image is needed.");
        if (channels is not (1 or 3))
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "Only 1 (grey) or 3 (RGB) channels are supported.");
        if (height < 1) throw new ArgumentOutOfRangeException(nameof(height), height, "The height must be at least 1.");
        if (width < 1) throw new ArgumentOutOfRangeException(nameof(width), width, "The width must be at least 1.");
        if (nrow < 1) throw new ArgumentOutOfRangeException(nameof(nrow), nrow, "nrow must be at least 1.");
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "The padding cannot be negative.");
        if (!float.IsFinite(low) || !float.IsFinite(high) || !(low < high))
            throw new ArgumentException($"The value range [{low}, {high}] must be finite with low < high.", nameof(low));

        long imageSize = (long)channels * height * width;
        if (images.Length < count * imageSize)
            throw new ArgumentException(
                $"{count} images of {channels}x{height}x{width} need {count * imageSize} floats, the span holds {images.Length}.",
                nameof(images));

        int columns = Math.Min(nrow, count);
        int rows = (count + columns - 1) / columns;
        long gw = (long)columns * (width + padding) + padding;
        long gh = (long)rows * (height + padding) + padding;
        if (gw * gh * channels > Array.MaxLength)
            throw new ArgumentException($"The grid ({gw}x{gh}) is too large for one image.", nameof(count));
        gridWidth = (int)gw;
        gridHeight = (int)gh;

        var pixels = new byte[gw * gh * channels];
        float scale = 255f / (high - low);
        int plane = height * width;
        for (int k = 0; k < count; k++)
        {
            int x0 = (k % columns) * (width + padding) + padding;
            int y0 = (k / columns) * (height + padding) + padding;
            ReadOnlySpan<float> image = images.Slice((int)(k * imageSize), (int)imageSize);
            for (int c = 0; c < channels; c++)
            {
                for (int y = 0; y < height; y++)
                {
                    ReadOnlySpan<float> src = image.Slice(c * plane + y * width, width);
                    int dst = ((y0 + y) * gridWidth + x0) * channels + c;
                    for (int x = 0; x < width; x++, dst += channels)
                        pixels[dst] = ToByte(src[x], low, scale);
                }
            }
        }
        return pixels;
    }

    /// <summary>Maps v from [low, low + 255/scale] to 0..255, clamped, rounded to nearest; NaN -> 0.</summary>
    internal static byte ToByte(float v, float low, float scale)
    {
        float t = (v - low) * scale + 0.5f;
        if (!(t > 0f)) return 0; // also NaN
        if (t >= 255f) return 255;
        return (byte)t;
    }

    /// <summary>Encodes interleaved 8-bit pixels (1 = grey, 3 = RGB, 4 = RGBA channels) as PNG.</summary>
    internal static byte[] EncodePng(byte[] pixels, int width, int height, int channels)
    {
        ColorComponents components = channels switch
        {
            1 => ColorComponents.Grey,
            2 => ColorComponents.GreyAlpha,
            3 => ColorComponents.RedGreenBlue,
            4 => ColorComponents.RedGreenBlueAlpha,
            _ => throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 to 4 channels."),
        };
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(pixels, width, height, components, stream);
        return stream.ToArray();
    }
}
