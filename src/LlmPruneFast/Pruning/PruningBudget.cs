namespace LlmPruneFast.Pruning;

/// <summary>Uniform: the same fraction of every layer. Global: one ranking across layers with a per-layer floor.</summary>
public enum BudgetKind { Uniform, Global }

/// <summary>
/// How many neurons each layer loses.
/// <list type="bullet">
/// <item>Uniform: layer l loses r_l = round(Ratio * N_l) (half away from zero).</item>
/// <item>Global: R = round(Ratio * sum N_l) in all. Each layer keeps at least
/// f_l = max(1, ceil(MinKeptFraction * N_l)), so its selector produces an order of N_l - f_l removals. Costs are
/// made comparable across layers by (1) a running maximum along each layer's order (a later removal never ranks
/// before an earlier one of the same layer, since orders are prefixes) and (2) division by the mean of that
/// layer's costs over its whole order (a scale-free per-layer normalisation, as FLAP standardises its scores per
/// layer). The R lowest normalised costs are taken, ties by (layer, position).</item>
/// </list>
/// A ratio outside (0, 1), or one that would empty a layer or exceed the floors, is a <see cref="BadArgumentException"/>.
/// </summary>
public sealed record PruningBudget
{
    public PruningBudget(BudgetKind kind, double ratio, double minKeptFraction = DefaultMinKeptFraction)
    {
        if (!(ratio > 0 && ratio < 1)) throw new BadArgumentException($"--ratio {ratio} is outside (0, 1)");
        if (!(minKeptFraction >= 0 && minKeptFraction < 1))
            throw new BadArgumentException($"minimum kept fraction {minKeptFraction} is outside [0, 1)");
        if (kind == BudgetKind.Global && minKeptFraction > 1 - ratio)
            throw new BadArgumentException($"minimum kept fraction {minKeptFraction} leaves no room for ratio {ratio} (needs <= {1 - ratio})");
        (Kind, Ratio, MinKeptFraction) = (kind, ratio, minKeptFraction);
    }

    public const double DefaultMinKeptFraction = 0.05;

    public BudgetKind Kind { get; }
    public double Ratio { get; }
    public double MinKeptFraction { get; }

    public static BudgetKind ParseKind(string name) => name switch
    {
        "uniform" => BudgetKind.Uniform,
        "global" => BudgetKind.Global,
        _ => throw new BadArgumentException($"unknown budget '{name}' (expected uniform or global)"),
    };

    public BudgetInfo ToInfo() => new(Kind == BudgetKind.Uniform ? "uniform" : "global", MinKeptFraction);

    /// <summary>Removals each layer's selector must produce (the exact count for uniform, the most for global).</summary>
    public int[] OrderLengths(IReadOnlyList<int> widths)
    {
        var r = new int[widths.Count];
        for (int l = 0; l < r.Length; l++)
        {
            int n = widths[l];
            if (Kind == BudgetKind.Uniform)
            {
                r[l] = (int)Math.Round(Ratio * n, MidpointRounding.AwayFromZero);
                if (r[l] >= n) throw new BadArgumentException($"--ratio {Ratio} would empty layer {l} ({n} neurons)");
            }
            else r[l] = n - Floor(n);
        }
        if (Kind == BudgetKind.Global)
        {
            long total = Total(widths), room = r.Sum(x => (long)x);
            if (total > room)
                throw new BadArgumentException($"--ratio {Ratio} removes {total} neurons but the per-layer floor ({MinKeptFraction}) allows only {room}");
        }
        return r;
    }

    /// <summary>
    /// Refuses a ratio that rounds to no removal at all (e.g. 0.001 of 172 neurons): a user asking to prune must not
    /// get an unchanged model with exit 0. The library itself allows it (an empty plan is well defined).
    /// </summary>
    public void RequireSomeRemoval(IReadOnlyList<int> widths)
    {
        long removals = Kind == BudgetKind.Uniform ? widths.Sum(n => (long)Math.Round(Ratio * n, MidpointRounding.AwayFromZero)) : Total(widths);
        if (removals == 0)
            throw new BadArgumentException($"--ratio {Ratio} removes no neuron from FFN widths {string.Join("/", widths.Distinct())}; " +
                $"the smallest ratio that removes one is about {0.5 / (Kind == BudgetKind.Uniform ? widths.Max() : widths.Sum(w => (long)w)):G2}");
    }

    /// <summary>Neurons a layer of width n keeps at least under the global budget.</summary>
    public static int Floor(int n, double minKeptFraction) => Math.Max(1, (int)Math.Ceiling(minKeptFraction * n - 1e-9));

    private int Floor(int n) => Floor(n, MinKeptFraction);

    private long Total(IReadOnlyList<int> widths) =>
        (long)Math.Round(Ratio * widths.Sum(w => (long)w), MidpointRounding.AwayFromZero);

    /// <summary>
    /// How many removals of each layer's order to take. <paramref name="costs"/>[l] are the scores of layer l's
    /// order (length <see cref="OrderLengths"/>[l]).
    /// </summary>
    public int[] Allocate(IReadOnlyList<int> widths, IReadOnlyList<IReadOnlyList<double>> costs)
    {
        var lengths = OrderLengths(widths);
        for (int l = 0; l < lengths.Length; l++)
            if (costs[l].Count != lengths[l])
                throw new ArgumentException($"layer {l}: order of {costs[l].Count} removals, expected {lengths[l]}");
        if (Kind == BudgetKind.Uniform) return lengths;
        var entries = new List<(double Key, int Layer, int Position)>();
        for (int l = 0; l < lengths.Length; l++)
        {
            var c = costs[l];
            if (c.Count == 0) continue;
            double running = double.NegativeInfinity, sum = 0;
            var keys = new double[c.Count];
            for (int p = 0; p < c.Count; p++) { running = Math.Max(running, c[p]); keys[p] = running; sum += c[p]; }
            double mean = sum / c.Count;
            double scale = mean > 0 && double.IsFinite(mean) ? mean : 1.0;
            for (int p = 0; p < c.Count; p++) entries.Add((keys[p] / scale, l, p));
        }
        entries.Sort((a, b) => a.Key != b.Key ? a.Key.CompareTo(b.Key) : a.Layer != b.Layer ? a.Layer.CompareTo(b.Layer) : a.Position.CompareTo(b.Position));
        var take = new int[lengths.Length];
        long total = Total(widths);
        for (int e = 0; e < total; e++) take[entries[e].Layer]++;
        return take;
    }
}
