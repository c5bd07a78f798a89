using System.Globalization;

namespace LlmPruneFast.Pruning;

/// <summary>
/// What the compensation in use gives back of a removed neuron's output, hence what a compensation-aware cost must
/// count (the MI methods' <c>cost_for</c> parameter).
/// </summary>
public enum CostTarget
{
    /// <summary><c>kept</c> (partner, refit): the kept neurons rebuild the part of z_j they explain; the cost counts the rest.</summary>
    Kept,
    /// <summary><c>bias</c>: only the mean mu_j w_j comes back; the whole fluctuation is lost.</summary>
    Bias,
    /// <summary><c>none</c>: nothing comes back, the mean is lost too.</summary>
    None,
}

public static class CostTargets
{
    public static CostTarget Parse(string method, string name) => name switch
    {
        "kept" => CostTarget.Kept,
        "bias" => CostTarget.Bias,
        "none" => CostTarget.None,
        _ => throw new BadArgumentException($"{method}: cost_for '{name}' is not kept, bias or none"),
    };

    public static string Name(CostTarget t) => t switch { CostTarget.Bias => "bias", CostTarget.None => "none", _ => "kept" };
}

/// <summary>
/// Greedy removal by the FFN output error a mean-only (<c>bias</c>) or no (<c>none</c>) compensation leaves, with
/// the removed neurons' interactions. With w_j = W_down[:, j], removing the set R leaves the output error
/// e = sum_{j in R} w_j (z_j - c_j), c_j = mu_j under bias and 0 under none, whose energy is
/// <code>E||e||^2 = sum_{i,j in R} G_ij S_ij,   G = W_down^T W_down,   S_ij = sigma_i sigma_j rho_ij (+ mu_i mu_j under none)</code>
/// (G o S is positive semi-definite, a Schur product). Removing j after R adds
/// <c>P_jj + 2 sum_{i in R} P_ij</c> (P = G o S): the lone cost ||w_j||^2 (Var(z_j) [+ mu_j^2]) is flap's (bias) or
/// the second-moment cost (none), and the cross terms say whether z_j's lost output adds to or cancels the error
/// already made. The dependence rho comes from the method: its correlation matrix for mi-conditional (pearson: the
/// exact error; copula: the Gaussian-copula one), the Gaussian correlation of its pairwise MI for mi-weighted.
/// Under these compensations the information a removed neuron shares with the KEPT ones is worth nothing (nothing
/// rebuilds it), so the cost carries no exp(-2 I(z_j; kept)) factor. O(N^2) for P plus O(N) per removal.
/// <para>S is estimated on the sample, which leaves out each sequence's leading special position ([CLS], BOS), yet
/// the compensation acts there too. When capture kept those positions (<see cref="LeadingActivations"/>), the error
/// covers every position of the sequences run, each at its frequency:
/// <code>E||e||^2 = (1 - pi) sum G_ij S_ij + pi sum G_ij T_ij,   T_ij = mean over leading positions of (z_i - c_i)(z_j - c_j)</code>
/// with c the compensation's own constant (the sample mean mu under bias, 0 under none) and pi the leading positions'
/// share; greedy on P = G o ((1 - pi) S + pi T), still positive semi-definite. Without them, pi = 0 and P = G o S.
/// Measured in perf/RESULTS.md ("Leading positions in the cost_for error").</para>
/// </summary>
internal static class UnrestoredOutput
{
    /// <param name="rho">Correlation of z_i and z_k as the method estimates it (called for i != k, symmetric).</param>
    /// <param name="partner">The partner recorded with a removal (kept neuron, MI in nats), or null: informative only here.</param>
    public static IReadOnlyList<RemovedNeuron> Select(SelectionRequest request, CostTarget target, Func<int, int, double> rho,
        Func<int, bool[], (int Partner, double Mi)?> partner, string name, string dependence)
    {
        if (target == CostTarget.Kept) throw new ArgumentException("kept is the methods' own cost", nameof(target));
        var ct = request.Cancellation;
        var inputs = request.Inputs;
        var st = inputs.Statistics;
        int n = inputs.Neurons;
        bool withMean = target == CostTarget.None;
        var p = ObsSelector.DownGram(inputs.Layer, ct, st.Gram);   // G, turned into P = G o S in place
        var sd = new double[n];
        for (int j = 0; j < n; j++) sd[j] = st.Std(j);
        // The leading positions the sample excludes, about the same constant the compensation puts back.
        double pi = st.LeadingShare;
        var t = st.LeadingSecondMoment(withMean ? new double[n] : st.Means, ct);
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, i =>
        {
            long row = (long)i * n;
            for (int k = 0; k < n; k++)
            {
                double s = (i == k ? st.Variances[i] : sd[i] * sd[k] * rho(i, k)) + (withMean ? st.Means[i] * st.Means[k] : 0.0);
                if (t != null) s = (1 - pi) * s + pi * t[row + k];
                p[row + k] *= s;
            }
        });
        string positions = t == null ? "" : string.Create(CultureInfo.InvariantCulture, $"; leading positions at pi = {pi:G3}");
        var cross = new double[n];   // sum_{i in R} P_ij
        var alive = new bool[n];
        Array.Fill(alive, true);
        var removed = new List<RemovedNeuron>(request.MaxRemovals);
        for (int step = 0; step < request.MaxRemovals; step++)
        {
            ct.ThrowIfCancellationRequested();
            int j = -1;
            double best = 0;
            for (int i = 0; i < n; i++)
            {
                if (!alive[i]) continue;
                double c = p[(long)i * n + i] + 2 * cross[i];
                if (j < 0 || c < best) { j = i; best = c; }
            }
            alive[j] = false;
            var pk = partner(j, alive);
            double lone = p[(long)j * n + j];
            // The recorded score is the marginal error, floored at 0 (a cancelling removal costs nothing; global budgets
            // normalise non-negative costs).
            removed.Add(new RemovedNeuron(j, pk?.Partner, pk?.Mi, Math.Max(best, 0.0),
                string.Create(CultureInfo.InvariantCulture,
                    $"{name}: lowest output error left under {CostTargets.Name(target)} compensation, ||w||^2 {(withMean ? "E[z^2]" : "Var(z)")} + 2 sum_removed G S = {lone:G4} + {best - lone:G4} ({dependence}{positions})")));
            var row = p.AsSpan((int)((long)j * n), n);
            for (int k = 0; k < n; k++) cross[k] += row[k];
            request.Progress?.Report((step + 1.0) / request.MaxRemovals);
        }
        return removed;
    }
}
