using System.Globalization;
using static LlmPruneFast.Reports.HtmlText;

namespace LlmPruneFast.Reports;

/// <summary>
/// The report's charts as inline SVG, written directly. Why not a plotting library: the NuGet mirror has
/// ScottPlot 5.1.59, and its SVG export does run here, but (checked on this machine) it lays every glyph out against
/// the fonts installed where it runs (per-character x positions, so the output differs between machines), numbers its
/// clip paths with a process-wide counter (ids collide when several charts are inlined in one page), draws heatmaps
/// as embedded bitmaps, and brings SkiaSharp and HarfBuzz native libraries (about 540 MB of runtime assets) into
/// the engine library. Hand-written SVG is a few hundred lines, deterministic byte for byte, keeps text as text
/// (searchable, scalable, escaped by us) and needs nothing at run time.
/// Every chart: a title, axes with tick labels, axis labels with units, a legend where more than one thing is drawn,
/// and &lt;title&gt; tooltips on the marks.
/// </summary>
internal static class HtmlCharts
{
    /// <summary>Okabe-Ito colours (distinguishable with colour-vision deficiencies), without the yellow.</summary>
    internal static readonly string[] Palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#999999"];

    /// <summary>Stacked bars per layer: kept neurons (bottom) and removed neurons (top).</summary>
    public static string KeptRemoved(IReadOnlyList<LayerReport> layers, string id)
    {
        double width = Math.Clamp(100 + 30 * layers.Count, 560, 1040);
        var c = new SvgChart(id, "kept-removed", "FFN neurons kept and removed per layer", width, 320);
        var (_, hi) = Scale.NiceRange(0, Math.Max(1, layers.Max(l => l.Width)));
        var y = new Scale(0, hi, c.Bottom, c.Top);
        c.YAxis(y, "FFN neurons (count)", Count);
        double band = (c.Right - c.Left) / layers.Count, bar = Math.Max(2, band * 0.7);
        int every = Math.Max(1, (int)Math.Ceiling(layers.Count / 32.0));
        for (int i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            double x = c.Left + band * i + (band - bar) / 2;
            string tip = $"layer {l.Index}: {l.Kept} kept, {l.Removed} removed of {l.Width} ({Percent(l.Width == 0 ? 0 : (double)l.Removed / l.Width)} removed)";
            c.Rect(x, y[l.Kept], bar, y[0] - y[l.Kept], "kept", tip);
            c.Rect(x, y[l.Kept + l.Removed], bar, y[l.Kept] - y[l.Kept + l.Removed], "removed", tip);
            if (i % every == 0) c.Text(x + bar / 2, c.Bottom + 16, l.Index.ToString(CultureInfo.InvariantCulture), "tl", "middle");
        }
        c.Line(c.Left, c.Bottom, c.Right, c.Bottom, "ax");
        c.Text((c.Left + c.Right) / 2, c.Height - 8, "FFN layer (index)", "al", "middle");
        c.LegendLeft = c.Right - 110;
        c.Legend("kept", "kept");
        c.Legend("removed", "removed");
        return c.ToString();
    }

    /// <summary>
    /// Histogram of a layer's sampled pair MI as fractions of pairs, the permutation null on the same bins as an
    /// outlined step curve, the method's threshold (solid red line) and the null quantile (dashed line).
    /// </summary>
    public static string MiHistogram(LayerReport layer, string id)
    {
        var c = new SvgChart(id, "mi-histogram", $"Layer {layer.Index}: pair MI vs permutation null", 520, 300);
        c.LegendLeft = c.Right - 200;
        var h = layer.PairMi!;
        double[] pair = Fractions(h.Counts);
        double[] nul = layer.NullMi is { } n ? Fractions(n.Counts) : [];
        var x = new Scale(h.Edges[0], h.Edges[^1], c.Left, c.Right);
        var (_, top) = Scale.NiceRange(0, Math.Max(1e-9, pair.Concat(nul).Max()));
        var y = new Scale(0, top, c.Bottom, c.Top);
        c.YAxis(y, "fraction of pairs", v => v.ToString("0.##", CultureInfo.InvariantCulture));
        c.XAxis(x, "I(z_i; z_j)  [nats]");
        for (int b = 0; b < pair.Length; b++)
        {
            if (h.Counts[b] == 0) continue;
            c.Rect(x[h.Edges[b]], y[pair[b]], x[h.Edges[b + 1]] - x[h.Edges[b]], y[0] - y[pair[b]], "bar-mi",
                $"{Number(h.Edges[b])} to {Number(h.Edges[b + 1])} nats: {h.Counts[b]} sampled pairs");
        }
        if (nul.Length > 0)
        {
            var step = new List<(double, double)> { (x[h.Edges[0]], y[0]) };
            for (int b = 0; b < nul.Length; b++)
            {
                step.Add((x[h.Edges[b]], y[nul[b]]));
                step.Add((x[h.Edges[b + 1]], y[nul[b]]));
            }
            step.Add((x[h.Edges[^1]], y[0]));
            c.Path(step, "null");
        }
        c.Legend($"sampled pairs (P = {layer.SampledPairs})", "bar-mi");
        if (nul.Length > 0) c.Legend($"permutation null ({layer.NullPairs} pairs)", "null", "line");
        if (layer.NullQuantileValue is double q)
        {
            c.Line(x[q], c.Top, x[q], c.Bottom, "nq");
            c.Legend($"null q{Number(layer.NullQuantile ?? 0)} = {Number(q)} nats", "nq", "line");
        }
        if (layer.Threshold is { } t)
        {
            c.Line(x[t.Value], c.Top, x[t.Value], c.Bottom, "thr");
            c.Legend($"threshold Tr = {Number(t.Value)} nats", "thr", "line");
        }
        return c.ToString();
    }

    /// <summary>The k x k MI matrix as coloured cells (viridis, 0 to the largest value), with a colour bar.</summary>
    public static string Heatmap(int layerIndex, MiHeatmap map, string id)
    {
        int k = map.Neurons.Length;
        double cell = Math.Min(22, 352.0 / k);
        double left = 78, top = 40, size = cell * k;
        var c = new SvgChart(id, "heatmap", $"Layer {layerIndex}: MI of the {k} most redundant neurons",
            left + size + 84, top + size + 56, left, top, 84, 56);
        double max = Math.Max(1e-12, map.Values.Max());
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
            {
                double v = map.Values[a * k + b];
                string tip = a == b ? $"neuron {map.Neurons[a]} (diagonal, not estimated)"
                    : $"I(z_{map.Neurons[a]}; z_{map.Neurons[b]}) = {Number(v)} nats";
                c.Rect(left + b * cell, top + a * cell, cell, cell, a == b ? "diag" : "cell", tip, a == b ? null : $"fill:{Viridis(v / max)}");
            }
        for (int a = 0; a < k; a++)
        {
            string label = map.Neurons[a].ToString(CultureInfo.InvariantCulture) + (map.Removed[a] ? " ×" : "");
            string cls = map.Removed[a] ? "tl rm" : "tl";
            c.Text(left - 4, top + a * cell + cell / 2 + 4, label, cls, "end");
            c.Text(left + a * cell + cell / 2 + 4, top + size + 6, label, cls, "end", -60);
        }
        c.Text(16, top + size / 2, "neuron id (× = removed by the plan)", "al", "middle", -90);
        // Colour bar: 24 stacked bands from 0 (bottom) to max (top).
        double bx = left + size + 12, bands = 24, bh = size / bands;
        for (int i = 0; i < bands; i++)
            c.Rect(bx, top + size - (i + 1) * bh, 14, bh + 0.3, "cb", style: $"fill:{Viridis((i + 0.5) / bands)}");
        c.Text(bx + 18, top + 8, Number(max), "tl");
        c.Text(bx + 18, top + size, "0", "tl");
        c.Text(bx + 62, top + size / 2, "MI  [nats]", "al", "middle", -90);
        return c.ToString();
    }

    /// <summary>Scatter of z_neuron against z_partner on the card's subsample of calibration positions.</summary>
    public static string Scatter(NeuronCard card, string id)
    {
        var c = new SvgChart(id, "scatter", $"Layer {card.Layer}: neuron {card.Neuron} vs partner {card.Partner}", 308, 290, 58, 30, 12, 46);
        if (card.X.Length == 0) return c.ToString();
        var (x0, x1) = Scale.NiceRange(card.X.Min(), card.X.Max());
        var (y0, y1) = Scale.NiceRange(card.Y.Min(), card.Y.Max());
        var x = new Scale(x0, x1, c.Left, c.Right);
        var y = new Scale(y0, y1, c.Bottom, c.Top);
        c.XAxis(x, $"z_{card.Neuron} (removed)  [activation]");
        c.YAxis(y, $"z_{card.Partner} (partner)  [activation]");
        for (int i = 0; i < card.X.Length; i++) c.Circle(x[card.X[i]], y[card.Y[i]], 1.8, "pt");
        return c.ToString();
    }

    /// <summary>
    /// One line per (method, compensation) of a sweep: <paramref name="metric"/> "perplexity" or "kl" against
    /// sparsity. Log y axis when every value is positive (the values span decades).
    /// </summary>
    public static string Sweep(IReadOnlyList<SweepPoint> sweep, string metric, string id)
    {
        bool ppl = metric == "perplexity";
        Func<SweepPoint, double> value = ppl ? p => p.Perplexity : p => p.Kl;
        var points = sweep.Select(p => new SeriesPoint(p.Method, p.Compensation, p.Sparsity, value(p),
            $"{p.Method}, compensation {p.Compensation}, sparsity {Percent(p.Sparsity)}: perplexity {Number(p.Perplexity)}, KL {Number(p.Kl)} nats")).ToArray();
        bool log = points.All(p => p.Value > 0);
        return SparsityChart(points, id, ppl ? "sweep-perplexity" : "sweep-kl",
            ppl ? "Perplexity against FFN sparsity" : "KL(original || pruned) against FFN sparsity",
            ppl ? "perplexity (log scale)" : log ? "mean KL per token [nats] (log scale)" : "mean KL per token [nats]", log);
    }

    /// <summary>An encoder's sweep: fidelity (mean cosine of pruned to dense sentence embeddings) against FFN sparsity.</summary>
    public static string FidelitySweep(IReadOnlyList<(string Method, string Compensation, double Sparsity, double Fidelity, double Sts)> sweep, string id) =>
        SparsityChart(sweep.Select(p => new SeriesPoint(p.Method, p.Compensation, p.Sparsity, p.Fidelity,
                $"{p.Method}, compensation {p.Compensation}, sparsity {Percent(p.Sparsity)}: fidelity {Number(p.Fidelity)}" +
                (double.IsFinite(p.Sts) ? $", STS {Number(p.Sts)}" : ""))).ToArray(),
            id, "sweep-fidelity", "Fidelity against FFN sparsity", "fidelity (mean cosine to the dense embeddings)", log: false);

    private sealed record SeriesPoint(string Method, string Compensation, double Sparsity, double Value, string Tooltip);

    /// <summary>One line per (method, compensation) of a value against FFN sparsity in %.</summary>
    private static string SparsityChart(IReadOnlyList<SeriesPoint> points, string id, string cssClass, string title, string yLabel, bool log)
    {
        var c = new SvgChart(id, cssClass, title, 760, 340, 70, 34, 236, 50);
        var values = points.Select(p => p.Value).ToArray();
        var (ylo, yhi) = log ? Scale.LogRange(values.Min(), values.Max()) : Scale.NiceRange(Math.Min(0, values.Min()), values.Max());
        var (_, xhi) = Scale.NiceRange(0, points.Max(p => p.Sparsity) * 100);
        var x = new Scale(0, xhi, c.Left, c.Right);
        var y = new Scale(ylo, yhi, c.Bottom, c.Top, log);
        c.YAxis(y, yLabel);
        c.XAxis(x, "FFN sparsity  [% of neurons removed]", v => v.ToString("0", CultureInfo.InvariantCulture));
        c.LegendLeft = c.Right + 16;
        var series = points.GroupBy(p => (p.Method, p.Compensation)).OrderBy(g => g.Key.Method, StringComparer.Ordinal)
            .ThenBy(g => g.Key.Compensation, StringComparer.Ordinal).ToArray();
        for (int s = 0; s < series.Length; s++)
        {
            string colour = Palette[s % Palette.Length];
            string dash = s >= Palette.Length ? ";stroke-dasharray:5 3" : "";
            var pts = series[s].OrderBy(p => p.Sparsity).ToArray();
            c.Path(pts.Select(p => (x[p.Sparsity * 100], y[p.Value])), "series", $"stroke:{colour}{dash}");
            foreach (var p in pts)
                c.Circle(x[p.Sparsity * 100], y[p.Value], 3, "mk", $"fill:{colour}", p.Tooltip);
            c.Legend($"{series[s].Key.Method} ({series[s].Key.Compensation})", "series", "line", $"stroke:{colour}{dash}");
        }
        return c.ToString();
    }

    private static double[] Fractions(long[] counts)
    {
        double total = Math.Max(1, counts.Sum());
        return counts.Select(n => n / total).ToArray();
    }

    /// <summary>Viridis colour at t in [0, 1], linear between 9 sampled stops of the matplotlib map.</summary>
    internal static string Viridis(double t)
    {
        int[] stops = [0x440154, 0x472D7B, 0x3B528B, 0x2C728E, 0x21918C, 0x28AE80, 0x5EC962, 0xADDC30, 0xFDE725];
        t = double.IsFinite(t) ? Math.Clamp(t, 0, 1) : 0;
        double pos = t * (stops.Length - 1);
        int i = Math.Min((int)pos, stops.Length - 2);
        double f = pos - i;
        int Mix(int shift) => (int)Math.Round(((stops[i] >> shift) & 0xFF) * (1 - f) + ((stops[i + 1] >> shift) & 0xFF) * f);
        return $"#{Mix(16):X2}{Mix(8):X2}{Mix(0):X2}";
    }
}
