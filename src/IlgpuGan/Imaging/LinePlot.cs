using IlgpuGan.IO;
namespace IlgpuGan.Imaging;

/// <summary>
/// A tiny rasterising line plot written as RGB PNG, with no text: a white background, a light grid
/// at "round" values (steps of 1, 2 or 5 times a power of ten, about <see cref="GridLines"/> per
/// axis), a black frame around the plot area, and polylines drawn in order of
/// <see cref="AddSeries"/> (later series on top). Axis ranges are taken from the data (with a 5%
/// margin) unless set with <see cref="SetXRange"/> / <see cref="SetYRange"/>. Points with a NaN or
/// infinite coordinate break a line; lines are clipped to the plot area.
/// </summary>
public sealed class LinePlot
{
    private readonly List<Series> _series = [];
    private (float Min, float Max)? _xRange;
    private (float Min, float Max)? _yRange;

    private sealed record Series(float[] X, float[] Y, (byte R, byte G, byte B) Color, int Thickness);

    /// <summary>Background colour; white by default.</summary>
    public (byte r, byte g, byte b) Background { get; set; } = (255, 255, 255);

    /// <summary>Grid colour; light grey by default.</summary>
    public (byte r, byte g, byte b) GridColor { get; set; } = (225, 225, 225);

    /// <summary>Frame colour; black by default.</summary>
    public (byte r, byte g, byte b) FrameColor { get; set; } = (0, 0, 0);

    /// <summary>About how many grid intervals per axis (0 = no grid); 8 by default.</summary>
    public int GridLines { get; set; } = 8;

    /// <summary>Empty pixels between the image border and the frame; 12 by default.</summary>
    public int Margin { get; set; } = 12;

    /// <summary>Number of series added.</summary>
    public int SeriesCount => _series.Count;

    /// <summary>Adds a polyline through (x[i], y[i]). The arrays are copied.</summary>
    public LinePlot AddSeries(float[] x, float[] y, (byte r, byte g, byte b) color, int thickness = 1)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Length != y.Length)
            throw new ArgumentException($"x has {x.Length} values but y has {y.Length}; they must match.", nameof(y));
        if (thickness < 1 || thickness > 64)
            throw new ArgumentOutOfRangeException(nameof(thickness), thickness, "The thickness must be 1 to 64 pixels.");
        _series.Add(new Series((float[])x.Clone(), (float[])y.Clone(), color, thickness));
        return this;
    }

    /// <summary>Fixes the x axis to [min, max].</summary>
    public LinePlot SetXRange(float min, float max)
    {
        _xRange = CheckRange(min, max, nameof(min));
        return this;
    }

    /// <summary>Fixes the y axis to [min, max].</summary>
    public LinePlot SetYRange(float min, float max)
    {
        _yRange = CheckRange(min, max, nameof(min));
        return this;
    }

    /// <summary>Goes back to ranges taken from the data.</summary>
    public LinePlot AutoRange()
    {
        _xRange = null;
        _yRange = null;
        return this;
    }

    /// <summary>The axis ranges the next render will use.</summary>
    public (float xMin, float xMax, float yMin, float yMax) GetRanges()
    {
        var (x0, x1) = _xRange ?? AutoAxis(xAxis: true);
        var (y0, y1) = _yRange ?? AutoAxis(xAxis: false);
        return (x0, x1, y0, y1);
    }

    /// <summary>Writes the plot as PNG, atomically (temporary file in the same folder, flushed, then
    /// moved over <paramref name="path"/>). Creates the folder if needed.</summary>
    public void SavePng(string path, int width = 640, int height = 480)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.WriteAllBytes(path, EncodePng(width, height));
    }

    /// <summary>The PNG file's bytes.</summary>
    public byte[] EncodePng(int width = 640, int height = 480) =>
        ImageGrid.EncodePng(Render(width, height), width, height, 3);

    /// <summary>The plot's raw RGB pixels, row-major, width * height * 3 bytes.</summary>
    public byte[] Render(int width = 640, int height = 480)
    {
        if (width < 16 || width > 16384) throw new ArgumentOutOfRangeException(nameof(width), width, "The width must be 16 to 16384 pixels.");
        if (height < 16 || height > 16384) throw new ArgumentOutOfRangeException(nameof(height), height, "The height must be 16 to 16384 pixels.");
        int margin = Math.Clamp(Margin, 0, Math.Min(width, height) / 4);

        var canvas = new Canvas(width, height);
        canvas.Fill(Background);

        // Plot area: inside the frame, [left, right] x [top, bottom] in pixels.
        int left = margin, top = margin, right = width - 1 - margin, bottom = height - 1 - margin;
        var (xMin, xMax, yMin, yMax) = GetRanges();
        double sx = (right - left) / ((double)xMax - xMin);
        double sy = (bottom - top) / ((double)yMax - yMin);
        double Px(double x) => left + (x - xMin) * sx;
        double Py(double y) => bottom - (y - yMin) * sy;

        var clip = new Clip(left, top, right, bottom);
        if (GridLines > 0)
        {
            foreach (double gx in Ticks(xMin, xMax, GridLines))
            {
                int px = (int)Math.Round(Px(gx));
                canvas.Line(px, top, px, bottom, GridColor, 1, clip);
            }
            foreach (double gy in Ticks(yMin, yMax, GridLines))
            {
                int py = (int)Math.Round(Py(gy));
                canvas.Line(left, py, right, py, GridColor, 1, clip);
            }
        }

        foreach (Series s in _series)
        {
            bool havePrevious = false;
            double prevX = 0, prevY = 0;
            for (int i = 0; i < s.X.Length; i++)
            {
                if (!float.IsFinite(s.X[i]) || !float.IsFinite(s.Y[i]))
                {
                    havePrevious = false;
                    continue;
                }
                double px = Px(s.X[i]), py = Py(s.Y[i]);
                bool isolated = !havePrevious && (i + 1 >= s.X.Length || !float.IsFinite(s.X[i + 1]) || !float.IsFinite(s.Y[i + 1]));
                if (havePrevious)
                    canvas.Segment(prevX, prevY, px, py, s.Color, s.Thickness, clip);
                else if (isolated)
                    canvas.Segment(px, py, px, py, s.Color, s.Thickness, clip);
                prevX = px;
                prevY = py;
                havePrevious = true;
            }
        }

        var all = new Clip(0, 0, width - 1, height - 1);
        canvas.Line(left, top, right, top, FrameColor, 1, all);
        canvas.Line(left, bottom, right, bottom, FrameColor, 1, all);
        canvas.Line(left, top, left, bottom, FrameColor, 1, all);
        canvas.Line(right, top, right, bottom, FrameColor, 1, all);
        return canvas.Pixels;
    }

    private static (float, float) CheckRange(float min, float max, string name)
    {
        if (!float.IsFinite(min) || !float.IsFinite(max) || !(min < max))
            throw new ArgumentException($"The range [{min}, {max}] must be finite with min < max.", name);
        return (min, max);
    }

    private (float, float) AutoAxis(bool xAxis)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (Series s in _series)
        {
            float[] a = xAxis ? s.X : s.Y, other = xAxis ? s.Y : s.X;
            for (int i = 0; i < a.Length; i++)
            {
                if (!float.IsFinite(a[i]) || !float.IsFinite(other[i])) continue;
                if (a[i] < min) min = a[i];
                if (a[i] > max) max = a[i];
            }
        }
        if (min > max) return (0f, 1f); // no finite points
        if (min == max)
        {
            float half = Math.Abs(min) > 0 ? Math.Abs(min) * 0.5f : 0.5f;
            return (min - half, max + half);
        }
        float pad = (max - min) * 0.05f;
        return (min - pad, max + pad);
    }

    /// <summary>Multiples of a round step (1, 2 or 5 x 10^k) strictly inside (min, max).</summary>
    private static IEnumerable<double> Ticks(double min, double max, int approximateCount)
    {
        double raw = (max - min) / approximateCount;
        double power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = (raw / power) switch { < 1.5 => power, < 3.5 => 2 * power, < 7.5 => 5 * power, _ => 10 * power };
        if (!(step > 0) || !double.IsFinite(step)) yield break;
        double first = Math.Ceiling(min / step) * step;
        for (int i = 0; i < 1000; i++)
        {
            double v = first + i * step;
            if (v >= max) yield break;
            if (v > min) yield return v;
        }
    }

    private readonly record struct Clip(int Left, int Top, int Right, int Bottom);

    private sealed class Canvas(int width, int height)
    {
        public byte[] Pixels { get; } = new byte[width * height * 3];

        public void Fill((byte r, byte g, byte b) c)
        {
            for (int i = 0; i < Pixels.Length; i += 3)
            {
                Pixels[i] = c.r;
                Pixels[i + 1] = c.g;
                Pixels[i + 2] = c.b;
            }
        }

        /// <summary>A segment between real pixel positions: clipped (Liang-Barsky) to the clip
        /// rectangle grown by the brush radius, then rasterised.</summary>
        public void Segment(double x0, double y0, double x1, double y1, (byte r, byte g, byte b) c, int thickness, Clip clip)
        {
            int grow = thickness / 2 + 1;
            double minX = clip.Left - grow, maxX = clip.Right + grow, minY = clip.Top - grow, maxY = clip.Bottom + grow;
            double dx = x1 - x0, dy = y1 - y0, t0 = 0, t1 = 1;
            if (!ClipTest(-dx, x0 - minX, ref t0, ref t1) || !ClipTest(dx, maxX - x0, ref t0, ref t1) ||
                !ClipTest(-dy, y0 - minY, ref t0, ref t1) || !ClipTest(dy, maxY - y0, ref t0, ref t1))
                return;
            Line((int)Math.Round(x0 + t0 * dx), (int)Math.Round(y0 + t0 * dy),
                 (int)Math.Round(x0 + t1 * dx), (int)Math.Round(y0 + t1 * dy), c, thickness, clip);
        }

        private static bool ClipTest(double p, double q, ref double t0, ref double t1)
        {
            if (p == 0) return q >= 0;
            double r = q / p;
            if (p < 0)
            {
                if (r > t1) return false;
                if (r > t0) t0 = r;
            }
            else
            {
                if (r < t0) return false;
                if (r < t1) t1 = r;
            }
            return true;
        }

        /// <summary>Bresenham between integer pixels, stamping a square (thickness 1-2) or round brush.</summary>
        public void Line(int x0, int y0, int x1, int y1, (byte r, byte g, byte b) c, int thickness, Clip clip)
        {
            int dx = Math.Abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
            int dy = -Math.Abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
            int err = dx + dy;
            while (true)
            {
                Stamp(x0, y0, c, thickness, clip);
                if (x0 == x1 && y0 == y1) break;
                int e2 = 2 * err;
                if (e2 >= dy) { err += dy; x0 += sx; }
                if (e2 <= dx) { err += dx; y0 += sy; }
            }
        }

        private void Stamp(int cx, int cy, (byte r, byte g, byte b) c, int thickness, Clip clip)
        {
            int lo = -(thickness - 1) / 2, hi = thickness / 2;
            double r = thickness / 2.0;
            double center = (lo + hi) / 2.0;
            for (int oy = lo; oy <= hi; oy++)
            {
                int y = cy + oy;
                if (y < clip.Top || y > clip.Bottom) continue;
                for (int ox = lo; ox <= hi; ox++)
                {
                    int x = cx + ox;
                    if (x < clip.Left || x > clip.Right) continue;
                    if (thickness > 2)
                    {
                        double ddx = ox - center, ddy = oy - center;
                        if (ddx * ddx + ddy * ddy > r * r) continue;
                    }
                    int i = (y * width + x) * 3;
                    Pixels[i] = c.r;
                    Pixels[i + 1] = c.g;
                    Pixels[i + 2] = c.b;
                }
            }
        }
    }
}
