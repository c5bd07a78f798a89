using System.Globalization;

namespace LlmPruneFast.Pruning;

/// <summary>How <c>mi-random-pairs</c> sets its per-layer threshold Tr.</summary>
public enum ThresholdMode
{
    /// <summary>Tr = the given value in nats.</summary>
    Absolute,
    /// <summary>Tr = q-quantile of the MI of random pairs of the layer.</summary>
    Quantile,
    /// <summary>Tr = q-quantile of the layer's permutation null (MI of the same neurons with rows shuffled).</summary>
    Null,
}

/// <summary>
/// <c>mi-random-pairs</c>, the paper's loop, per layer: draw a random pair (i, j) of distinct kept neurons
/// (uniform, seeded; a pair already found below Tr is not estimated again); if I(z_i; z_j) &gt; Tr remove the
/// less important (importance ||W_down[:, j]|| std(z_j), ties to the higher id), partner = the other. Stop at the
/// target or after <see cref="MaxDraws"/> draws. If the loop stalls there, the rest of the target is filled by
/// lowest importance among the kept neurons (reason "fill"), so the budget is always met and the plan says which
/// removals the loop did not justify. Score: exp(-2 I) for loop removals (in (0, 1]); 1 + importance / mean
/// importance for fill removals (always after the loop's). Different seeds give different plans: the pruner
/// runs <see cref="Candidates"/> seeds and keeps the one with the lowest KL(original || pruned) when a scorer is given.
/// </summary>
public sealed class MiRandomPairsSelector : IPruningSelector
{
    public MiRandomPairsSelector(ThresholdMode mode = ThresholdMode.Null, double threshold = double.NaN,
        double quantile = 0.99, int samples = 2048, long maxDraws = 0, int candidates = 4)
    {
        if (mode == ThresholdMode.Absolute && !double.IsFinite(threshold))
            throw new BadArgumentException("mi-random-pairs: threshold mode 'absolute' needs a threshold in nats");
        if (mode != ThresholdMode.Absolute && !(quantile > 0 && quantile < 1))
            throw new BadArgumentException($"mi-random-pairs: quantile {quantile} is outside (0, 1)");
        if (samples < 16) throw new BadArgumentException($"mi-random-pairs: samples {samples} must be >= 16");
        if (maxDraws < 0) throw new BadArgumentException($"mi-random-pairs: max_draws {maxDraws} must be >= 0 (0 = default)");
        if (candidates < 1) throw new BadArgumentException($"mi-random-pairs: candidates {candidates} must be >= 1");
        (Mode, Threshold, Quantile, Samples, MaxDraws, Candidates) = (mode, threshold, quantile, samples, maxDraws, candidates);
        Parameters = new PlanParameters()
            .Set("threshold_mode", mode.ToString().ToLowerInvariant())
            .Set("max_draws", maxDraws)
            .Set("candidates", candidates);
        if (mode == ThresholdMode.Absolute) Parameters.Set("threshold", threshold);
        else Parameters.Set("quantile", quantile).Set("samples", samples);
    }

    public ThresholdMode Mode { get; }
    public double Threshold { get; }
    public double Quantile { get; }
    /// <summary>Pairs (quantile mode) or null values (null mode) sampled to place the threshold.</summary>
    public int Samples { get; }
    /// <summary>Draw cap per layer; 0 means min(4 * N(N-1)/2, 200 N): about 98% of pairs seen at small N, linear cost at large N.</summary>
    public long MaxDraws { get; }
    public string Name => "mi-random-pairs";
    public CompensationKind DefaultCompensation => CompensationKind.Partner;
    public bool UsesInformation => true;
    public int Candidates { get; }
    public PlanParameters Parameters { get; }

    /// <summary>The threshold Tr (nats) this selector uses on a layer.</summary>
    public double LayerThreshold(LayerInputs inputs, long seed, CancellationToken ct)
    {
        switch (Mode)
        {
            case ThresholdMode.Absolute: return Threshold;
            case ThresholdMode.Null:
                // The null depends on the layer only; a fixed seed keeps Tr equal across candidates.
                return SelectorMath.Quantile(inputs.NullSamples(Name, Samples, SelectorMath.Seed32(seed), ct), Quantile);
            default:
                var info = inputs.Information(Name, ct);
                int n = inputs.Neurons;
                var rng = new Random(SelectorMath.Seed32(seed));
                var v = new double[Samples];
                for (int s = 0; s < v.Length; s++)
                {
                    int i = rng.Next(n), j = rng.Next(n - 1);
                    if (j >= i) j++;
                    v[s] = info.Pair(i, j);
                }
                Array.Sort(v);
                return SelectorMath.Quantile(v, Quantile);
        }
    }

    public IReadOnlyList<RemovedNeuron> Select(SelectionRequest request)
    {
        var inputs = request.Inputs;
        var ct = request.Cancellation;
        int n = inputs.Neurons;
        if (n < 2) throw new BadArgumentException($"mi-random-pairs: layer {inputs.Layer.Index} has fewer than 2 neurons");
        var info = inputs.Information(Name, ct);
        var importance = inputs.Importance;
        double tr = LayerThreshold(inputs, SelectorMath.Mix(inputs.Layer.Index + 7919L), ct);
        long pairs = (long)n * (n - 1) / 2;
        long cap = MaxDraws > 0 ? MaxDraws : Math.Min(4 * pairs, 200L * n);
        var rng = new Random(SelectorMath.Seed32(request.Seed));
        var kept = Enumerable.Range(0, n).ToList();   // unordered pool; swap-remove keeps draws O(1)
        var position = Enumerable.Range(0, n).ToArray();
        var below = new HashSet<long>();
        var removed = new List<RemovedNeuron>(request.MaxRemovals);
        long draws = 0;
        for (; draws < cap && removed.Count < request.MaxRemovals; draws++)
        {
            if ((draws & 1023) == 0) ct.ThrowIfCancellationRequested();
            int a = rng.Next(kept.Count), b = rng.Next(kept.Count - 1);
            if (b >= a) b++;
            int i = kept[a], j = kept[b];
            long key = (long)Math.Min(i, j) * n + Math.Max(i, j);
            if (below.Contains(key)) continue;
            double mi = info.Pair(i, j);
            if (!(mi > tr)) { below.Add(key); continue; }
            bool iGoes = importance[i] < importance[j] || (importance[i] == importance[j] && i > j);
            int gone = iGoes ? i : j, partner = iGoes ? j : i;
            removed.Add(new RemovedNeuron(gone, partner, mi, SelectorMath.Unexplained(mi),
                string.Create(CultureInfo.InvariantCulture,
                    $"mi-random-pairs: I = {mi:G4} nats > Tr = {tr:G4} with {partner}, less important ({importance[gone]:G4} vs {importance[partner]:G4}); draw {draws + 1}")));
            int pos = position[gone], last = kept[^1];
            kept[pos] = last; position[last] = pos;
            kept.RemoveAt(kept.Count - 1);
            request.Progress?.Report((double)removed.Count / request.MaxRemovals);
        }
        if (removed.Count < request.MaxRemovals)
        {
            double meanImportance = importance.Average();
            if (!(meanImportance > 0)) meanImportance = 1.0;
            int loopRemovals = removed.Count;
            var rest = kept.OrderBy(k => importance[k]).ThenBy(k => k).Take(request.MaxRemovals - removed.Count);
            foreach (int k in rest)
                removed.Add(new RemovedNeuron(k, null, null, 1.0 + importance[k] / meanImportance,
                    string.Create(CultureInfo.InvariantCulture,
                        $"mi-random-pairs fill: loop stalled after {draws} draws with {loopRemovals} removals above Tr = {tr:G4}; lowest importance {importance[k]:G4}")));
        }
        return removed;
    }
}
