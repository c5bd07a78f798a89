using LlmPruneFast.Capture;
using LlmPruneFast.Information;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Reports;

/// <summary>Bounds on what <see cref="ReportBuilder"/> computes per layer (its cost is linear in these).</summary>
public sealed record ReportBuilderOptions
{
    /// <summary>Distinct neuron pairs whose MI is estimated for the histogram (all pairs when N(N-1)/2 is smaller).</summary>
    public int PairsPerLayer { get; init; } = 2000;
    /// <summary>Shuffled pairs of the permutation null.</summary>
    public int NullPairs { get; init; } = 500;
    /// <summary>Quantile of the null drawn on every histogram.</summary>
    public double NullQuantile { get; init; } = 0.99;
    public int HistogramBins { get; init; } = 40;
    /// <summary>Neurons screened for the heatmap (all pairs among them are estimated: M(M-1)/2 pairs).</summary>
    public int HeatmapCandidates { get; init; } = 64;
    /// <summary>Side k of the heatmap.</summary>
    public int HeatmapSize { get; init; } = 16;
    /// <summary>Cards over the whole model.</summary>
    public int Cards { get; init; } = 8;
    /// <summary>Calibration positions subsampled for each card's scatter.</summary>
    public int ScatterPoints { get; init; } = 400;

    internal void Validate()
    {
        if (PairsPerLayer < 1) throw new BadArgumentException($"report: pairs per layer {PairsPerLayer} must be >= 1");
        if (NullPairs < 1) throw new BadArgumentException($"report: null pairs {NullPairs} must be >= 1");
        if (!(NullQuantile > 0 && NullQuantile < 1)) throw new BadArgumentException($"report: null quantile {NullQuantile} is outside (0, 1)");
        if (HistogramBins < 2) throw new BadArgumentException($"report: histogram bins {HistogramBins} must be >= 2");
        if (HeatmapSize < 2 || HeatmapCandidates < HeatmapSize)
            throw new BadArgumentException($"report: heatmap size {HeatmapSize} must be >= 2 and <= candidates {HeatmapCandidates}");
        if (Cards < 0 || ScatterPoints < 2) throw new BadArgumentException($"report: cards {Cards} must be >= 0 and scatter points {ScatterPoints} >= 2");
    }
}

/// <summary>Progress of <see cref="ReportBuilder.Build"/>: layers done out of all layers.</summary>
public readonly record struct ReportProgress(int LayersDone, int Layers);

/// <summary>
/// Computes the per-layer statistics and neuron cards of a report from a plan, each layer's calibration activations
/// Z [S x N] and an MI estimator. Per layer, with every random choice seeded from (seed, layer):
/// <list type="bullet">
/// <item>pair MI: P = min(<see cref="ReportBuilderOptions.PairsPerLayer"/>, N(N-1)/2) distinct pairs i &lt; j drawn
/// uniformly (all pairs when they fit), histogrammed on equal-width bins from min(0, smallest value) to the largest
/// value among pairs, null and threshold;</item>
/// <item>the permutation null of <see cref="PermutationNull.Compute(IMutualInformationEstimator, ActivationMatrix, int, int, IProgress{MiProgress}?, CancellationToken)"/>
/// on the same bins, and its q-quantile;</item>
/// <item>the threshold the method used, when the plan says (absolute "threshold"; or threshold_mode "null"/"quantile"
/// with "quantile" q, recomputed here on this report's null or pair sample);</item>
/// <item>the heatmap: a screen of M = min(<see cref="ReportBuilderOptions.HeatmapCandidates"/>, N) neurons (first the
/// plan's removed neurons of highest MI and their partners, up to M/2, then seeded random others), all M(M-1)/2 pair
/// MIs among them, each neuron scored by its largest MI with another screened neuron; the k of highest score
/// (ties to the lower id), ordered by score, form the k x k matrix.</item>
/// </list>
/// Cards: removed entries of the plan with a partner and high MI, spread over layers (see ChooseCards), each with MI, correlation and standard deviations re-estimated on all S positions and a seeded
/// subsample of <see cref="ReportBuilderOptions.ScatterPoints"/> positions for the scatter.
/// Cost per layer: P + NullPairs + M(M-1)/2 + cards pair estimates; nothing is O(N^2) in the layer width.
/// MI values are converted to nats when the estimator reports bits.
/// </summary>
public sealed class ReportBuilder
{
    private readonly IMutualInformationEstimator _estimator;
    private readonly ReportBuilderOptions _options;
    private readonly double _toNats;

    public ReportBuilder(IMutualInformationEstimator estimator, ReportBuilderOptions? options = null)
    {
        _estimator = estimator;
        _options = options ?? new ReportBuilderOptions();
        _options.Validate();
        _toNats = estimator.Units == MiUnits.Bits ? Math.Log(2) : 1.0;
    }

    /// <summary>
    /// Layer reports (ascending index, every layer of the model) and cards. <paramref name="activations"/>(l) gives
    /// layer l's Z or null (that layer then shows its kept/removed counts only); it is called once per layer, in
    /// order, so a caller may capture or load one layer at a time.
    /// </summary>
    public (IReadOnlyList<LayerReport> Layers, IReadOnlyList<NeuronCard> Cards) Build(PruningPlan plan,
        Func<int, LayerActivations?> activations, long seed, IProgress<ReportProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        plan.Validate();
        var chosen = ChooseCards(plan, _options.Cards);
        var layers = new LayerReport[plan.Model.Layers];
        var cards = new List<NeuronCard>();
        for (int l = 0; l < layers.Length; l++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var lp = plan.Layer(l) ?? new LayerPlan(l, Enumerable.Range(0, plan.Model.Widths[l]).ToArray(), []);
            var z = activations(l);
            if (z != null && (z.Columns != lp.Width || z.Index != l))
                throw new BadDataException($"report: activations of layer {z.Index} have {z.Columns} columns, layer {l} of the plan has {lp.Width} neurons");
            var m = z == null ? null : ActivationMatrix.FromRowMajor(z.Rows, z.Columns, z.Data.Span);
            layers[l] = m == null
                ? new LayerReport { Index = l, Width = lp.Width, Kept = lp.Kept.Count, Removed = lp.Removed.Count }
                : BuildLayer(plan, lp, m, Mix(seed, l), cancellationToken);
            foreach (var (entry, rank) in chosen.Where(c => c.Layer == l).Select(c => (c.Entry, c.Rank)))
                cards.Add(m == null ? PlanCard(l, entry, rank) : Card(l, entry, rank, m, Mix(seed, l) ^ entry.Neuron));
            progress?.Report(new ReportProgress(l + 1, layers.Length));
        }
        // Highest MI first, the order ChooseCards ranked them in.
        var order = chosen.Select((c, i) => (c.Layer, c.Entry.Neuron, i)).ToDictionary(t => (t.Layer, t.Neuron), t => t.i);
        return (layers, cards.OrderBy(c => order[(c.Layer, c.Neuron)]).ToArray());
    }

    /// <summary><see cref="Build(PruningPlan, Func{int, LayerActivations?}, long, IProgress{ReportProgress}?, CancellationToken)"/> over activations in memory.</summary>
    public (IReadOnlyList<LayerReport> Layers, IReadOnlyList<NeuronCard> Cards) Build(PruningPlan plan,
        IReadOnlyList<LayerActivations> activations, long seed, IProgress<ReportProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (activations.Count != plan.Model.Layers)
            throw new BadDataException($"report: {activations.Count} activation matrices for a plan of {plan.Model.Layers} layers");
        return Build(plan, l => activations[l], seed, progress, cancellationToken);
    }

    private LayerReport BuildLayer(PruningPlan plan, LayerPlan lp, ActivationMatrix z, int seed, CancellationToken ct)
    {
        int n = z.Columns;
        var pairs = SamplePairs(n, _options.PairsPerLayer, new Random(seed));
        var mi = new double[pairs.Length];
        if (pairs.Length > 0) _estimator.EstimatePairs(z, pairs, mi, null, ct);
        for (int p = 0; p < mi.Length; p++) mi[p] *= _toNats;
        NullDistribution? nul = n > 1 ? PermutationNull.Compute(_estimator, z, _options.NullPairs, seed + 1, null, ct) : null;
        double[] nullNats = nul?.Values.Select(v => v * _toNats).ToArray() ?? [];
        double? nullQ = nul == null ? null : nul.Quantile(_options.NullQuantile) * _toNats;
        var threshold = Threshold(plan.MethodParameters, mi, nul);

        var all = mi.Concat(nullNats).Append(threshold?.Value ?? 0).ToArray();
        double lo = Math.Min(0, all.Min()), hi = all.Max();
        if (!(hi > lo)) hi = lo + 1e-3;
        hi += (hi - lo) * 1e-9; // keep the largest value inside the last bin edge exactly
        var edges = new double[_options.HistogramBins + 1];
        for (int b = 0; b < edges.Length; b++) edges[b] = lo + (hi - lo) * b / _options.HistogramBins;

        var sorted = (double[])mi.Clone();
        Array.Sort(sorted);
        return new LayerReport
        {
            Index = lp.Index,
            Width = lp.Width,
            Kept = lp.Kept.Count,
            Removed = lp.Removed.Count,
            Samples = z.Rows,
            SampledPairs = pairs.Length,
            PairMi = pairs.Length > 0 ? Histogram(edges, mi) : null,
            NullMi = nul != null ? Histogram(edges, nullNats) : null,
            NullPairs = nullNats.Length,
            NullQuantile = nul != null ? _options.NullQuantile : null,
            NullQuantileValue = nullQ,
            PairMiMedian = sorted.Length > 0 ? Quantile(sorted, 0.5) : null,
            Threshold = threshold,
            Heatmap = n > 1 ? Heatmap(lp, z, seed + 2, ct) : null,
        };
    }

    /// <summary>The threshold the plan's method used, recomputed for a layer where it depends on the layer.</summary>
    private MiThreshold? Threshold(PlanParameters p, double[] pairMi, NullDistribution? nul)
    {
        if (p.Contains("threshold")) return new MiThreshold(p.GetDouble("threshold", 0), "method parameter 'threshold' (absolute, nats)");
        string mode = p.Contains("threshold_mode") ? p.GetString("threshold_mode", "") : "";
        if (!p.Contains("quantile")) return null;
        double q = p.GetDouble("quantile", 0.99);
        if (mode == "null" && nul != null)
            return new MiThreshold(nul.Quantile(q) * _toNats, FormattableString.Invariant($"{q:R} quantile of this layer's permutation null, re-estimated for the report on {nul.Values.Count} shuffled pairs"));
        if (mode == "quantile" && pairMi.Length > 0)
        {
            var s = (double[])pairMi.Clone();
            Array.Sort(s);
            return new MiThreshold(Quantile(s, q), FormattableString.Invariant($"{q:R} quantile of this layer's pair MI, re-estimated for the report on {s.Length} sampled pairs"));
        }
        return null;
    }

    private MiHeatmap Heatmap(LayerPlan lp, ActivationMatrix z, int seed, CancellationToken ct)
    {
        int n = z.Columns, m = Math.Min(_options.HeatmapCandidates, n), k = Math.Min(_options.HeatmapSize, m);
        var screen = new List<int>(m);
        var taken = new HashSet<int>();
        void Take(int j) { if (screen.Count < m && taken.Add(j)) screen.Add(j); }
        foreach (var r in lp.Removed.Where(r => r.Mi != null && r.Partner != null).OrderByDescending(r => r.Mi).ThenBy(r => r.Neuron))
        {
            if (screen.Count + 2 > m / 2) break;
            Take(r.Neuron);
            Take(r.Partner!.Value);
        }
        var rng = new Random(seed);
        var rest = Enumerable.Range(0, n).Where(j => !taken.Contains(j)).ToArray();
        rng.Shuffle(rest);
        foreach (int j in rest) Take(j);

        var sub = z.SelectColumns(screen.ToArray());
        var sink = new DenseMiSink(m);
        _estimator.EstimateAllPairs(sub, sink, null, ct);
        var best = new double[m];
        for (int a = 0; a < m; a++)
        {
            best[a] = double.NegativeInfinity;
            for (int b = 0; b < m; b++) if (a != b) best[a] = Math.Max(best[a], sink.Matrix[a * m + b] * _toNats);
        }
        var top = Enumerable.Range(0, m).OrderByDescending(a => best[a]).ThenBy(a => screen[a]).Take(k).ToArray();
        var values = new double[k * k];
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                values[a * k + b] = a == b ? 0 : sink.Matrix[top[a] * m + top[b]] * _toNats;
        var removed = lp.Removed.Select(r => r.Neuron).ToHashSet();
        string how = $"{k} of {m} screened neurons with the largest MI to another screened neuron" +
            (m < n ? $" (screen: up to {m / 2} from the plan's highest-MI removals and their partners, the rest drawn at random from {n})" : $" (all {n} neurons screened)");
        return new MiHeatmap(top.Select(a => screen[a]).ToArray(), values, top.Select(a => removed.Contains(screen[a])).ToArray(), how);
    }

    /// <summary>A card from the plan alone (no activations: no re-estimate, no points).</summary>
    private static NeuronCard PlanCard(int layer, RemovedNeuron r, int rank) => new()
    {
        Layer = layer, Neuron = r.Neuron, Partner = r.Partner!.Value, Mi = r.Mi, Score = r.Score, Reason = r.Reason, RemovalRank = rank,
    };

    private NeuronCard Card(int layer, RemovedNeuron r, int rank, ActivationMatrix z, int seed)
    {
        var x = z.Column(r.Neuron);
        var y = z.Column(r.Partner!.Value);
        int s = z.Rows, points = Math.Min(_options.ScatterPoints, s);
        var rows = Enumerable.Range(0, s).ToArray();
        new Random(seed).Shuffle(rows);
        var pick = rows.AsSpan(0, points).ToArray();
        Array.Sort(pick);
        var (sx, sy, r2) = Moments(x, y);
        var xs = new float[points];
        var ys = new float[points];
        for (int p = 0; p < points; p++) (xs[p], ys[p]) = (x[pick[p]], y[pick[p]]);
        return new NeuronCard
        {
            Layer = layer,
            Neuron = r.Neuron,
            Partner = r.Partner.Value,
            Mi = r.Mi,
            Score = r.Score,
            Reason = r.Reason,
            RemovalRank = rank,
            ReportMi = _estimator.Estimate(x, y) * _toNats,
            Correlation = r2,
            StdNeuron = sx,
            StdPartner = sy,
            Samples = s,
            X = xs,
            Y = ys,
        };
    }

    /// <summary>Standard deviations (ddof 0) and Pearson correlation (0 when either is constant), in float64.</summary>
    internal static (double Sx, double Sy, double R) Moments(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double mx = 0, my = 0;
        for (int i = 0; i < x.Length; i++) { mx += x[i]; my += y[i]; }
        mx /= x.Length; my /= y.Length;
        double vx = 0, vy = 0, c = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            vx += dx * dx; vy += dy * dy; c += dx * dy;
        }
        double r = vx > 0 && vy > 0 ? c / Math.Sqrt(vx * vy) : 0;
        return (Math.Sqrt(vx / x.Length), Math.Sqrt(vy / y.Length), r);
    }

    /// <summary>
    /// Up to <paramref name="count"/> of the plan's removed entries with a partner, spread over layers: each layer's
    /// entries ranked by MI (entries without MI last, by removal order), then taken round-robin by rank across layers
    /// (layer order within a round), and the chosen ones ordered by MI, highest first.
    /// </summary>
    private static List<(int Layer, RemovedNeuron Entry, int Rank)> ChooseCards(PruningPlan plan, int count)
    {
        var perLayer = plan.Layers.Select(lp => lp.Removed.Select((r, rank) => (Layer: lp.Index, Entry: r, Rank: rank))
            .Where(c => c.Entry.Partner != null)
            .OrderByDescending(c => c.Entry.Mi ?? double.NegativeInfinity).ThenBy(c => c.Rank).ToArray()).ToArray();
        var chosen = new List<(int Layer, RemovedNeuron Entry, int Rank)>();
        for (int round = 0; chosen.Count < count && perLayer.Any(l => l.Length > round); round++)
            foreach (var layer in perLayer)
                if (round < layer.Length && chosen.Count < count) chosen.Add(layer[round]);
        return chosen.OrderByDescending(c => c.Entry.Mi ?? double.NegativeInfinity).ThenBy(c => c.Rank)
            .ThenBy(c => c.Layer).ThenBy(c => c.Entry.Neuron).ToList();
    }

    /// <summary>min(count, N(N-1)/2) distinct pairs i &lt; j: all of them when they fit, else drawn uniformly without repetition.</summary>
    internal static (int I, int J)[] SamplePairs(int n, int count, Random rng)
    {
        long all = (long)n * (n - 1) / 2;
        if (all <= count)
        {
            var every = new (int, int)[all];
            int p = 0;
            for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) every[p++] = (i, j);
            return every;
        }
        var seen = new HashSet<long>();
        var pairs = new (int, int)[count];
        for (int p = 0; p < count;)
        {
            int i = rng.Next(n), j = rng.Next(n - 1);
            if (j >= i) j++;
            if (i > j) (i, j) = (j, i);
            if (seen.Add((long)i * n + j)) pairs[p++] = (i, j);
        }
        return pairs;
    }

    internal static ReportHistogram Histogram(double[] edges, IReadOnlyList<double> values)
    {
        int bins = edges.Length - 1;
        var counts = new long[bins];
        double lo = edges[0], width = edges[^1] - edges[0];
        foreach (double v in values)
        {
            int b = (int)Math.Floor((v - lo) / width * bins);
            // Floating point may put a value one bin off its edges; settle it against the edges themselves.
            b = Math.Clamp(b, 0, bins - 1);
            while (b > 0 && v < edges[b]) b--;
            while (b < bins - 1 && v >= edges[b + 1]) b++;
            counts[b]++;
        }
        return new ReportHistogram(edges, counts);
    }

    /// <summary>Linear-interpolation quantile of sorted values (numpy's default).</summary>
    internal static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>A 31-bit seed from (seed, layer) by SplitMix64 finalisation.</summary>
    private static int Mix(long seed, int layer)
    {
        ulong x = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)layer + 1);
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return (int)((x ^ (x >> 31)) & 0x3FFFFFFF);
    }
}
