using System.Text;
using static LlmPruneFast.Reports.HtmlText;

namespace LlmPruneFast.Reports;

/// <summary>A linear or base-10 logarithmic map from data values to pixels.</summary>
internal sealed class Scale(double lo, double hi, double pixelLo, double pixelHi, bool log = false)
{
    public double Lo { get; } = lo;
    public double Hi { get; } = hi;
    public bool Log { get; } = log;

    public double this[double v]
    {
        get
        {
            double a = Log ? Math.Log10(Lo) : Lo, b = Log ? Math.Log10(Hi) : Hi;
            double t = ((Log ? Math.Log10(Math.Max(v, 1e-300)) : v) - a) / (b - a);
            return pixelLo + t * (pixelHi - pixelLo);
        }
    }

    /// <summary>Tick values: 1-2-5 steps (about <paramref name="target"/> of them) or, on a log scale, 1-2-5 per decade.</summary>
    public IReadOnlyList<double> Ticks(int target = 5)
    {
        var ticks = new List<double>();
        if (Log)
        {
            int e0 = (int)Math.Floor(Math.Log10(Lo)), e1 = (int)Math.Ceiling(Math.Log10(Hi));
            double[] mantissas = e1 - e0 > 3 ? [1] : [1, 2, 5];
            for (int e = e0; e <= e1; e++)
                foreach (double m in mantissas)
                {
                    double v = m * Math.Pow(10, e);
                    if (v >= Lo * (1 - 1e-9) && v <= Hi * (1 + 1e-9)) ticks.Add(v);
                }
            return ticks;
        }
        double step = NiceStep((Hi - Lo) / target);
        for (double v = Math.Ceiling(Lo / step - 1e-9) * step; v <= Hi + step * 1e-9; v += step)
            ticks.Add(Math.Abs(v) < step * 1e-9 ? 0 : v);
        return ticks;
    }

    /// <summary>The 1, 2 or 5 times a power of ten nearest above <paramref name="raw"/>.</summary>
    public static double NiceStep(double raw)
    {
        if (!(raw > 0)) return 1;
        double p = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double m = raw / p;
        return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
    }

    /// <summary>Lower and upper bounds widened to whole ticks of a linear axis.</summary>
    public static (double Lo, double Hi) NiceRange(double lo, double hi, int target = 5)
    {
        if (!(hi > lo)) { hi = lo + (lo == 0 ? 1 : Math.Abs(lo) * 0.1); }
        double step = NiceStep((hi - lo) / target);
        return (Math.Floor(lo / step + 1e-9) * step, Math.Ceiling(hi / step - 1e-9) * step);
    }

    /// <summary>Decade bounds of a log axis around positive values.</summary>
    public static (double Lo, double Hi) LogRange(double lo, double hi)
    {
        lo = Math.Max(lo, 1e-12);
        hi = Math.Max(hi, lo * 1.0001);
        double a = Math.Pow(10, Math.Floor(Math.Log10(lo))), b = Math.Pow(10, Math.Ceiling(Math.Log10(hi)));
        // Tighten to 1-2-5 steps inside the decades so a narrow range is not mostly empty.
        foreach (double m in new[] { 5.0, 2.0 }) if (a * m <= lo) { a *= m; break; }
        foreach (double m in new[] { 0.2, 0.5 }) if (b * m >= hi) { b *= m; break; }
        return (a, b);
    }
}

/// <summary>
/// Builds one inline SVG chart as text: a plot area with margins, axes with ticks and unit labels, a title and a
/// legend. Every text goes through <see cref="HtmlText.Escape"/>; the output is well-formed XML. No xmlns attribute
/// is written: inline SVG in HTML needs none, and the page then holds no URL at all.
/// </summary>
internal sealed class SvgChart
{
    private readonly StringBuilder _sb = new();
    private int _legendRow;

    public double Width { get; }
    public double Height { get; }
    public double Left { get; }
    public double Top { get; }
    public double Right => Width - _marginRight;
    public double Bottom => Height - _marginBottom;
    private readonly double _marginRight, _marginBottom;

    public SvgChart(string id, string kind, string title, double width = 560, double height = 300,
        double left = 64, double top = 34, double right = 16, double bottom = 50)
    {
        (Width, Height, Left, Top, _marginRight, _marginBottom) = (width, height, left, top, right, bottom);
        _sb.Append($"<svg class=\"chart\" id=\"{Escape(id)}\" data-chart=\"{Escape(kind)}\" viewBox=\"0 0 {Coord(width)} {Coord(height)}\" ")
           .Append($"width=\"{Coord(width)}\" height=\"{Coord(height)}\" role=\"img\" aria-labelledby=\"{Escape(id)}-t\">")
           .Append($"<title id=\"{Escape(id)}-t\">{Escape(title)}</title>")
           .Append($"<text class=\"ct\" x=\"{Coord(left)}\" y=\"18\">{Escape(title)}</text>");
    }

    /// <summary>Left edge of the legend; NaN (default) puts it inside the plot, 170 px from its right edge.</summary>
    public double LegendLeft { get; set; } = double.NaN;

    public void Raw(string svg) => _sb.Append(svg);

    public void Rect(double x, double y, double w, double h, string cssClass, string? tooltip = null, string? style = null)
    {
        _sb.Append($"<rect class=\"{cssClass}\" x=\"{Coord(x)}\" y=\"{Coord(y)}\" width=\"{Coord(Math.Max(w, 0))}\" height=\"{Coord(Math.Max(h, 0))}\"");
        if (style != null) _sb.Append($" style=\"{Escape(style)}\"");
        if (tooltip == null) _sb.Append("/>");
        else _sb.Append($"><title>{Escape(tooltip)}</title></rect>");
    }

    public void Line(double x1, double y1, double x2, double y2, string cssClass, string? style = null) =>
        _sb.Append($"<line class=\"{cssClass}\" x1=\"{Coord(x1)}\" y1=\"{Coord(y1)}\" x2=\"{Coord(x2)}\" y2=\"{Coord(y2)}\"")
           .Append(style != null ? $" style=\"{Escape(style)}\"/>" : "/>");

    public void Path(IEnumerable<(double X, double Y)> points, string cssClass, string? style = null)
    {
        var d = string.Join(" ", points.Select((p, i) => (i == 0 ? "M" : "L") + Coord(p.X) + " " + Coord(p.Y)));
        if (d.Length == 0) return;
        _sb.Append($"<path class=\"{cssClass}\" d=\"{d}\"");
        _sb.Append(style != null ? $" style=\"{Escape(style)}\"/>" : "/>");
    }

    public void Circle(double x, double y, double r, string cssClass, string? style = null, string? tooltip = null)
    {
        _sb.Append($"<circle class=\"{cssClass}\" cx=\"{Coord(x)}\" cy=\"{Coord(y)}\" r=\"{Coord(r)}\"");
        if (style != null) _sb.Append($" style=\"{Escape(style)}\"");
        _sb.Append(tooltip == null ? "/>" : $"><title>{Escape(tooltip)}</title></circle>");
    }

    public void Text(double x, double y, string text, string cssClass = "tl", string anchor = "start", double rotate = 0)
    {
        _sb.Append($"<text class=\"{cssClass}\" x=\"{Coord(x)}\" y=\"{Coord(y)}\" text-anchor=\"{anchor}\"");
        if (rotate != 0) _sb.Append($" transform=\"rotate({Coord(rotate)} {Coord(x)} {Coord(y)})\"");
        _sb.Append($">{Escape(text)}</text>");
    }

    /// <summary>Bottom axis of a numeric scale with ticks, tick labels and the axis label (with unit).</summary>
    public void XAxis(Scale x, string label, Func<double, string>? format = null)
    {
        Line(Left, Bottom, Right, Bottom, "ax");
        foreach (double t in x.Ticks())
        {
            double px = x[t];
            Line(px, Bottom, px, Bottom + 4, "ax");
            Text(px, Bottom + 16, (format ?? Number)(t), "tl", "middle");
        }
        Text((Left + Right) / 2, Height - 8, label, "al", "middle");
    }

    /// <summary>Left axis with light grid lines across the plot.</summary>
    public void YAxis(Scale y, string label, Func<double, string>? format = null)
    {
        Line(Left, Top, Left, Bottom, "ax");
        foreach (double t in y.Ticks())
        {
            double py = y[t];
            Line(Left, py, Right, py, "grid");
            Line(Left - 4, py, Left, py, "ax");
            Text(Left - 7, py + 4, (format ?? Number)(t), "tl", "end");
        }
        Text(14, (Top + Bottom) / 2, label, "al", "middle", -90);
    }

    /// <summary>One legend entry at the top right of the plot: a swatch (rect, line or dashed line) and its label.</summary>
    public void Legend(string label, string swatchClass, string swatch = "rect", string? style = null)
    {
        double x = double.IsNaN(LegendLeft) ? Right - 170 : LegendLeft, y = Top + 6 + 16 * _legendRow++;
        if (swatch == "rect") Rect(x, y, 12, 10, swatchClass, style: style);
        else Line(x, y + 5, x + 14, y + 5, swatchClass, style);
        Text(x + 18, y + 9, label, "lg");
    }

    public override string ToString() => _sb + "</svg>";
}
