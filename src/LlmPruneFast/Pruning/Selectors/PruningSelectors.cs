namespace LlmPruneFast.Pruning;

/// <summary>Creates selectors by method name; the only place method names are spelled.</summary>
public static class PruningSelectors
{
    /// <summary>Every method name, in the order help text lists them.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["mi-random-pairs", "mi-cluster", "mi-greedy", "mi-weighted", "mi-conditional", "magnitude", "wanda-sp", "flap", "random", "obs"];

    /// <summary>
    /// The selector named <paramref name="name"/> with optional parameters (keys as written in plans:
    /// mi-random-pairs: threshold_mode (absolute|quantile|null), threshold, quantile, samples, max_draws, candidates;
    /// mi-weighted: debias, null_samples, strength, cost_for (kept|bias|none); mi-conditional: space (pearson|copula), update, damping, cost_for; obs: damping). <see cref="BadArgumentException"/> for an unknown name or
    /// parameter.
    /// </summary>
    public static IPruningSelector Create(string name, PlanParameters? parameters = null)
    {
        var p = parameters ?? new PlanParameters();
        void Allow(params string[] keys)
        {
            foreach (var (key, _) in p)
                if (Array.IndexOf(keys, key) < 0)
                    throw new BadArgumentException($"method '{name}' has no parameter '{key}'" +
                        (keys.Length > 0 ? $" (known: {string.Join(", ", keys)})" : ""));
        }
        switch (name)
        {
            case "mi-random-pairs":
                Allow("threshold_mode", "threshold", "quantile", "samples", "max_draws", "candidates");
                string mode = p.GetString("threshold_mode", "null");
                var m = mode switch
                {
                    "absolute" => ThresholdMode.Absolute,
                    "quantile" => ThresholdMode.Quantile,
                    "null" => ThresholdMode.Null,
                    _ => throw new BadArgumentException($"mi-random-pairs: threshold_mode '{mode}' is not absolute, quantile or null"),
                };
                return new MiRandomPairsSelector(m, p.GetDouble("threshold", double.NaN), p.GetDouble("quantile", 0.99),
                    checked((int)p.GetInt64("samples", 2048)), p.GetInt64("max_draws", 0), checked((int)p.GetInt64("candidates", 4)));
            case "mi-cluster": Allow(); return new MiClusterSelector();
            case "mi-greedy": Allow(); return new MiGreedySelector();
            case "mi-weighted":
                Allow("debias", "null_samples", "aggregate", "strength", "cost_for");
                if (p.GetString("aggregate", "max") != "max")
                    throw new BadArgumentException($"mi-weighted: aggregate '{p.GetString("aggregate", "max")}' is not supported (max)");
                return new MiWeightedSelector(p.GetBool("debias", true), checked((int)p.GetInt64("null_samples", 512)), p.GetDouble("strength", 1.0),
                    CostTargets.Parse(name, p.GetString("cost_for", "kept")));
            case "mi-conditional":
                Allow("update", "space", "damping", "information", "cost_for");
                return new MiConditionalSelector(p.GetBool("update", false), p.GetString("space", "pearson"),
                    p.GetDouble("damping", ObsSelector.DefaultDamping), CostTargets.Parse(name, p.GetString("cost_for", "kept")));
            case "magnitude": Allow(); return new MagnitudeSelector();
            case "wanda-sp": Allow(); return new WandaSpSelector();
            case "flap": Allow(); return new FlapSelector();
            case "random": Allow(); return new RandomSelector();
            case "obs": Allow("damping"); return new ObsSelector(p.GetDouble("damping", ObsSelector.DefaultDamping));
            default:
                throw new BadArgumentException($"unknown method '{name}' (expected one of {string.Join(", ", Names)})");
        }
    }
}
