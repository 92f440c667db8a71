using IlgpuGan.Data;
using IlgpuGan.Imaging;
using StbImageSharp;

namespace IlgpuGan.Tests.Imaging;

public sealed class ImageGridTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static ImageResult Decode(byte[] png, StbImageSharp.ColorComponents components) =>
        ImageResult.FromMemory(png, components);

    private static byte Grey(ImageResult image, int x, int y) => image.Data[y * image.Width + x];

    private static (byte, byte, byte) Rgb(ImageResult image, int x, int y)
    {
        int i = (y * image.Width + x) * 3;
        return (image.Data[i], image.Data[i + 1], image.Data[i + 2]);
    }

    [Fact]
    public void GreyGridHasTheExpectedLayoutAndValues()
    {
        // 10 images of 4x5 (H x W), image k filled with a value that depends on k; 4 per row.
        const int count = 10, h = 4, w = 5;
        var images = new float[count * h * w];
        float[] values = [-1f, 1f, 0f, 3f, -5f, float.NaN, -0.5f, 0.5f, 0.999f, -0.999f];
        for (int k = 0; k < count; k++)
            images.AsSpan(k * h * w, h * w).Fill(values[k]);
        images[2 * h * w + 1 * w + 3] = 1f; // image 2, row 1, column 3

        byte[] png = ImageGrid.Encode(images, count, 1, h, w, nrow: 4);
        ImageResult img = Decode(png, StbImageSharp.ColorComponents.Grey);
        Assert.Equal(4 * (w + 2) + 2, img.Width);  // 30
        Assert.Equal(3 * (h + 2) + 2, img.Height); // 20
        Assert.Equal(StbImageSharp.ColorComponents.Grey, img.SourceComp);

        byte[] expected = [0, 255, 128, 255, 0, 0, 64, 191, 255, 0];
        for (int k = 0; k < count; k++)
        {
            int x0 = (k % 4) * (w + 2) + 2, y0 = (k / 4) * (h + 2) + 2;
            Assert.Equal(expected[k], Grey(img, x0, y0));
            Assert.Equal(expected[k], Grey(img, x0 + w - 1, y0 + h - 1));
            Assert.Equal(0, Grey(img, x0 - 1, y0)); // padding left of the image
            Assert.Equal(0, Grey(img, x0, y0 - 1)); // padding above
        }
        Assert.Equal(255, Grey(img, 2 * (w + 2) + 2 + 3, 2 + 1)); // the single bright pixel
        Assert.Equal(128, Grey(img, 2 * (w + 2) + 2 + 2, 2 + 1)); // its neighbour
        // The two empty cells of the last row stay background.
        Assert.Equal(0, Grey(img, 2 * (w + 2) + 2, 2 * (h + 2) + 2));
        Assert.Equal(0, Grey(img, 3 * (w + 2) + 4, 2 * (h + 2) + 3));
    }

    [Fact]
    public void RgbGridKeepsChannelsApart()
    {
        // 2 images of 3x2x2 (C, H, W): image 0 red, image 1 has green/blue planes and one white pixel.
        const int h = 2, w = 2;
        var images = new float[2 * 3 * h * w];
        images.AsSpan().Fill(-1f);
        images.AsSpan(0, h * w).Fill(1f);               // image 0, R plane
        images.AsSpan(12 + 4, h * w).Fill(0f);          // image 1, G plane
        images.AsSpan(12 + 8, h * w).Fill(1f);          // image 1, B plane
        images[12 + 0 + 3] = 1f;                        // image 1, R at (1, 1)

        byte[] png = ImageGrid.Encode(images, 2, 3, h, w, nrow: 8, padding: 1);
        ImageResult img = Decode(png, StbImageSharp.ColorComponents.RedGreenBlue);
        Assert.Equal(2 * (w + 1) + 1, img.Width);
        Assert.Equal(1 * (h + 1) + 1, img.Height);
        Assert.Equal(StbImageSharp.ColorComponents.RedGreenBlue, img.SourceComp);
        Assert.Equal(((byte)255, (byte)0, (byte)0), Rgb(img, 1, 1));
        Assert.Equal(((byte)255, (byte)0, (byte)0), Rgb(img, 2, 2));
        Assert.Equal(((byte)0, (byte)128, (byte)255), Rgb(img, 4, 1));
        Assert.Equal(((byte)255, (byte)128, (byte)255), Rgb(img, 5, 2));
        Assert.Equal(((byte)0, (byte)0, (byte)0), Rgb(img, 0, 0));
        Assert.Equal(((byte)0, (byte)0, (byte)0), Rgb(img, 3, 1));
    }

    [Fact]
    public void CustomRangeAndNoPadding()
    {
        float[] images = [0f, 0.5f, 1f, 2f];
        byte[] pixels = ImageGrid.Compose(images, 1, 1, 2, 2, out int gw, out int gh, padding: 0, low: 0, high: 1);
        Assert.Equal(2, gw);
        Assert.Equal(2, gh);
        Assert.Equal(new byte[] { 0, 128, 255, 255 }, pixels);
    }

    [Fact]
    public void SavePngWritesAtomicallyIntoANewFolder()
    {
        MnistDataset test = MnistDataset.Load(MnistDataset.DefaultFolder, train: false);
        string path = Path.Combine(_temp.Path, "samples", "epoch-001", "grid.png");
        ImageGrid.SavePng(path, test.Images, 64, 1, 28, 28);

        ImageResult img = Decode(File.ReadAllBytes(path), StbImageSharp.ColorComponents.Grey);
        Assert.Equal(8 * 30 + 2, img.Width);
        Assert.Equal(8 * 30 + 2, img.Height);
        // Digit 9 of the batch sits in row 1, column 1; compare a few of its pixels with the data.
        for (int y = 0; y < 28; y += 3)
            for (int x = 0; x < 28; x += 3)
            {
                float v = test.Images[9 * 784 + y * 28 + x];
                byte expected = (byte)Math.Clamp((int)((v + 1f) * 127.5f + 0.5f), 0, 255);
                Assert.Equal(expected, Grey(img, 32 + x, 32 + y));
            }

        // Overwrite in place; no temporary file is left behind.
        ImageGrid.SavePng(path, test.Images, 4, 1, 28, 28, nrow: 2);
        ImageResult again = Decode(File.ReadAllBytes(path), StbImageSharp.ColorComponents.Grey);
        Assert.Equal(2 * 30 + 2, again.Width);
        Assert.Equal(["grid.png"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void BadArgumentsAreErrors()
    {
        var images = new float[2 * 3 * 4 * 4];
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageGrid.Encode(images, 2, 2, 4, 4));
        Assert.Throws<ArgumentException>(() => ImageGrid.Encode(images, 3, 3, 4, 4)); // too few floats
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageGrid.Encode(images, 0, 3, 4, 4));
        Assert.Throws<ArgumentException>(() => ImageGrid.Encode(images, 2, 3, 4, 4, low: 1, high: 1));
    }

    [Fact]
    public void LinePlotWritesADecodablePng()
    {
        int n = 200;
        float[] x = new float[n], y = new float[n], lo = new float[n], hi = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = i / (n - 1f) * 2f - 1f;
            y[i] = MathF.Sin(x[i] * 3f) * 0.5f;
            lo[i] = -1f;
            hi[i] = 1f;
        }
        var plot = new LinePlot()
            .AddSeries(x, lo, (0, 0, 255), thickness: 2)
            .AddSeries(x, hi, (0, 0, 255), thickness: 2)
            .AddSeries(x, y, (255, 0, 0), thickness: 3);
        string path = Path.Combine(_temp.Path, "plots", "curves.png");
        plot.SavePng(path);

        ImageResult img = Decode(File.ReadAllBytes(path), StbImageSharp.ColorComponents.RedGreenBlue);
        Assert.Equal(640, img.Width);
        Assert.Equal(480, img.Height);
        Assert.Equal(((byte)255, (byte)255, (byte)255), Rgb(img, 2, 2));     // background
        Assert.Equal(((byte)0, (byte)0, (byte)0), Rgb(img, 12, 240));        // left frame
        Assert.Equal(((byte)0, (byte)0, (byte)0), Rgb(img, 320, 467));      // bottom frame

        // Auto range: y in [-1.1, 1.1]. The red curve crosses the middle column near y = 0.
        var (_, _, yMin, yMax) = plot.GetRanges();
        Assert.Equal(-1.1f, yMin, 1e-5f);
        Assert.Equal(1.1f, yMax, 1e-5f);
        bool red = false, blue = false, grid = false;
        for (int row = 13; row < 467; row++)
        {
            var c = Rgb(img, 320, row);
            red |= c == (255, 0, 0);
            blue |= c == (0, 0, 255);
        }
        for (int col = 13; col < 627; col++)
            grid |= Rgb(img, col, 100) == (225, 225, 225);
        Assert.True(red);
        Assert.True(blue);
        Assert.True(grid);
        Assert.Equal(((byte)255, (byte)0, (byte)0), Rgb(img, 320, 240)); // sin(0) = 0 at the centre
    }

    [Fact]
    public void LinePlotClipsToASetRangeAndSkipsNaN()
    {
        var plot = new LinePlot { GridLines = 0 }
            .AddSeries([-10f, 10f], [0f, 0f], (0, 200, 0))
            .AddSeries([0f, float.NaN, 0.5f], [5f, 5f, float.NaN], (255, 0, 0))
            .SetXRange(-1, 1)
            .SetYRange(-1, 1);
        byte[] rgb = plot.Render(100, 100);
        int margin = 12, bottom = 100 - 1 - margin;
        int midRow = (int)Math.Round(bottom - (bottom - margin) / 2.0);
        int greens = 0;
        for (int col = 0; col < 100; col++)
            if (rgb[(midRow * 100 + col) * 3 + 1] == 200) greens++;
        Assert.Equal(100 - 2 * margin - 2, greens); // inside the frame only
        // The isolated point at y = 5 is outside the range: no red anywhere.
        for (int i = 0; i < rgb.Length; i += 3)
            Assert.False(rgb[i] == 255 && rgb[i + 1] == 0 && rgb[i + 2] == 0);

        Assert.Throws<ArgumentException>(() => plot.AddSeries([1f], [1f, 2f], (0, 0, 0)));
        Assert.Throws<ArgumentException>(() => plot.SetXRange(1, 1));
    }
}
