namespace LlmPruneFast.Pruning;

/// <summary>
/// What one layer's selection and compensation hold beyond the activation store and the layer's weights, and their
/// rough multiply-adds, per method and compensation as the code computes them (float64 unless said): the memory
/// plan's per-method terms. Only obs, mi-conditional and the all-pairs MI methods build N x N matrices; refit and
/// partner compensation share the activation covariance (cached in <see cref="LayerStatistics"/>); flap, magnitude,
/// wanda-sp and random keep N-vectors only.
/// </summary>
public sealed class MethodFootprint
{
    public required IReadOnlyList<(string Part, long Bytes)> Parts { get; init; }
    /// <summary>Rough multiply-adds per layer (selection of every candidate, then compensation), flop.</summary>
    public required double FlopsPerLayer { get; init; }

    public long Bytes => Parts.Sum(p => p.Bytes);

    /// <summary>
    /// The footprint of <paramref name="options"/> (selector, estimator, resolved compensation) on a layer of
    /// <paramref name="n"/> neurons, hidden size <paramref name="d"/> and <paramref name="s"/> calibration rows.
    /// </summary>
    public static MethodFootprint Of(PruningOptions options, long n, long d, long s)
    {
        var selector = options.Selector;
        var compensation = Pruner.ResolveCompensation(options).Kind;
        double ratio = options.Budget.Ratio;
        long removed = (long)Math.Ceiling(ratio * n), kept = n - removed;
        long nn = n * n * sizeof(double);
        var parts = new List<(string, long)>();
        double flops = 0;
        bool covariance = compensation is CompensationKind.Partner or CompensationKind.Refit;
        bool copula = options.Estimator?.Name == "copula";
        switch (selector)
        {
            case MiConditionalSelector mc:
                covariance |= mc.Space == "pearson";
                if (mc.CostFor != CostTarget.Kept)
                {
                    parts.Add((mc.Space == "copula"
                        ? "mi-conditional cost_for: normal scores (N x S), correlation, down Gram G times S, leading-position moment T (N x N)"
                        : "mi-conditional cost_for: correlation, down Gram G times S, leading-position moment T (N x N)", (mc.Space == "copula" ? n * s * sizeof(double) : 0) + 3 * nn));
                    flops += (double)d * n * n + removed * (double)n + (mc.Space == "copula" ? (double)s * n * n : 0);
                    break;
                }
                parts.Add(mc.Space == "copula"
                    ? ("mi-conditional: normal scores (N x S) and correlation, H, H^-1 (N x N)", n * s * sizeof(double) + 3 * nn)
                    : ("mi-conditional: correlation, H, H^-1 (N x N)", 3 * nn));
                if (mc.Update) parts.Add(("mi-conditional update: down Gram G (N x N) and W_down twice (D x N)", nn + 2 * d * n * sizeof(double)));
                flops += Math.Pow(n, 3) + removed * (mc.Update ? 6.0 : 2.0) * n * n + (mc.Space == "copula" ? (double)s * n * n : 0) + (mc.Update ? (double)d * n * n : 0);
                break;
            case ObsSelector:
                covariance = true;
                parts.Add(("obs: H, H^-1, down Gram G (N x N) and W_down twice (D x N)", 3 * nn + 2 * d * n * sizeof(double)));
                flops += Math.Pow(n, 3) + (double)d * n * n + removed * 6.0 * n * n;
                break;
            case MiWeightedSelector or MiGreedySelector or MiClusterSelector:
            {
                long pairs = n * (n - 1) / 2;
                long cluster = selector is MiClusterSelector ? pairs * (sizeof(double) + sizeof(int)) : 0;
                parts.Add(($"{selector.Name}: activations by column (S x N float32), all-pairs MI (N x N, float32 and float64)" +
                    (cluster > 0 ? ", sorted pairs" : ""), s * n * sizeof(float) + n * n * (sizeof(float) + sizeof(double)) + cluster));
                flops += (copula ? 1.0 : PairCost) * s * n * n;
                if (selector is MiWeightedSelector { CostFor: not CostTarget.Kept })
                {
                    covariance = true;   // the sign of each interaction
                    parts.Add(("mi-weighted cost_for: down Gram G times S, leading-position moment T (N x N)", 2 * nn));
                    flops += (double)d * n * n;
                }
                break;
            }
            case MiRandomPairsSelector rp:
            {
                long pairs = n * (n - 1) / 2;
                long draws = rp.MaxDraws > 0 ? rp.MaxDraws : Math.Min(4 * pairs, 200 * n);
                // Pairs found below the threshold are remembered (a HashSet<long>: about 24 bytes an entry).
                parts.Add(("mi-random-pairs: activations by column (S x N float32), pairs seen below the threshold", s * n * sizeof(float) + draws * 24));
                flops += rp.Candidates * (double)(draws + rp.Samples) * PairCost * s;
                break;
            }
        }
        if (covariance)
        {
            parts.Add(("activation covariance (N x N, shared by selection and compensation)", nn));
            flops += (double)s * n * n;
        }
        // Compensator.Apply works on a float64 copy of W_down whatever the kind.
        parts.Add(("compensation: W_down in float64 (D x N)", d * n * sizeof(double)));
        if (compensation == CompensationKind.Refit)
        {
            parts.Add(("refit: C_KK factor (K x K), C_KR solve (K x R), W_R and its update (D x R, D x K)", (kept * kept + kept * removed + d * removed + d * kept) * sizeof(double)));
            flops += Math.Pow(kept, 3) / 3 + (double)kept * kept * removed + 2.0 * d * kept * removed;
        }
        return new MethodFootprint { Parts = parts, FlopsPerLayer = flops };
    }

    /// <summary>Rough multiply-adds per calibration row of one pairwise MI estimate by a non-Gaussian estimator (ranks, bins, neighbours).</summary>
    private const double PairCost = 30;
}
