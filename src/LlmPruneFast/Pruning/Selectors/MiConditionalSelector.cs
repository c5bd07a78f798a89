using System.Globalization;
using System.Numerics.Tensors;
using LlmPruneFast.Capture;
using LlmPruneFast.Information;

namespace LlmPruneFast.Pruning;

/// <summary>
/// <c>mi-conditional</c> (ours): information-weighted removal with the information of a neuron about the WHOLE kept
/// set, not its best single partner (METHOD.md's formula with X = the kept neurons). Cost of removing neuron j from
/// the kept set K:
/// <code>cost_j = ||w_j||^2 Var(z_j) exp(-2 I(z_j; z_{K\j})),  I(z_j; z_{K\j}) = -1/2 ln(1 - R^2_j),  1 - R^2_j = 1 / [R_KK^-1]_jj</code>
/// where R is a correlation matrix of the layer's activations and R^2_j the squared multiple correlation of z_j on
/// the other kept neurons: the mutual information of z_j with the kept set for jointly Gaussian variables
/// (<c>space = pearson</c>, the default: R = Pearson correlation) or for a Gaussian copula
/// (<c>space = copula</c>: every neuron rank-transformed to normal scores Phi^-1((rank + 1)/(S + 1)), stable ranks,
/// R their correlation; captures monotone non-Gaussian dependence). METHOD.md's max pairwise MI is only a lower
/// bound of I(z_j; kept); here every kept neuron can help explain z_j.
/// Computed as one matrix: H = D R D + delta I with D = diag(std(z_j)) and delta = Damping * tr(D R D) / N (0.01,
/// fixed a priori: obs's damping), so ||w_j||^2 / [H_KK^-1]_jj = ||w_j||^2 Var(z_j) exp(-2 I_j) up to the damping.
/// Greedy: remove the cheapest, downdate H^-1 over the kept set (so I shrinks as the kept set does), repeat.
/// ||w_j||^2 is the original column norm by default; with <c>update</c> the kept down columns take the optimal
/// update of structured OBS on H (w_k -= w_j [H^-1]_jk / [H^-1]_jj) and the cost uses the updated norm, which with
/// <c>space = pearson</c> is exactly <c>obs</c>. The defaults (pearson, no update) were chosen by the mean log KL on
/// the held-out calibration paragraphs over the 16 cells of prune-table (perf/RESULTS.md), never on evaluation text.
/// Partner: the kept neuron of highest pairwise |R_jk|, with MI -1/2 ln(1 - R_jk^2) (what a partner merge can use).
/// Cost O(S N^2) for R plus O(N^2) per removal (lazy batched downdates, as <see cref="ObsSelector"/>).
/// <para><c>cost_for</c> (kept | bias | none; default kept, the cost above) says which compensation the cost is written
/// for. The cost above counts the part of z_j the KEPT neurons cannot rebuild, which only refit or partner merges
/// actually rebuild. Under <c>bias</c> only the mean comes back and under <c>none</c> nothing does, so there the cost
/// is the output error that compensation leaves, with the removed neurons' interactions
/// (<see cref="UnrestoredOutput"/>): sum_{i,j removed} (w_i . w_j) S_ij with S = D R D (+ mu mu^T under none), R this
/// method's correlation (pearson: the exact error; copula: the Gaussian-copula one). Not combined with update.
/// Measured (perf/RESULTS.md, "Compensation-aware MI costs"): with the matching compensation it beats every classic
/// baseline under none at every sparsity of both tables, and under bias at most of stories260K's.</para>
/// </summary>
public sealed class MiConditionalSelector : IPruningSelector
{
    public MiConditionalSelector(bool update = false, string space = "pearson", double damping = ObsSelector.DefaultDamping,
        CostTarget costFor = CostTarget.Kept)
    {
        if (update && costFor != CostTarget.Kept)
            throw new BadArgumentException($"mi-conditional: update is the refit's weight update; it needs cost_for kept, not {CostTargets.Name(costFor)}");
        if (!(damping > 0 && double.IsFinite(damping))) throw new BadArgumentException($"mi-conditional damping {damping} must be > 0");
        if (space != "copula" && space != "pearson")
            throw new BadArgumentException($"mi-conditional: space '{space}' is not copula or pearson");
        (Update, Space, Damping, CostFor) = (update, space, damping, costFor);
        Parameters = new PlanParameters().Set("update", update).Set("space", space).Set("damping", damping)
            .Set("information", costFor == CostTarget.Kept ? "I(z_j; kept) = -1/2 ln(1 - R^2_j)" : "rho_ij = R_ij among removed neurons");
        if (costFor != CostTarget.Kept) Parameters.Set("cost_for", CostTargets.Name(costFor));
    }

    /// <summary>The compensation the cost is written for (kept = refit or partner, the original cost).</summary>
    public CostTarget CostFor { get; }

    public bool Update { get; }
    public string Space { get; }
    public double Damping { get; }
    public string Name => "mi-conditional";
    public CompensationKind DefaultCompensation => CompensationKind.Refit;
    public bool UsesInformation => false;   // it computes its own copula information; no pairwise estimator needed
    public int Candidates => 1;
    public PlanParameters Parameters { get; }

    public IReadOnlyList<RemovedNeuron> Select(SelectionRequest request)
    {
        var ct = request.Cancellation;
        var inputs = request.Inputs;
        int n = inputs.Neurons;
        var variances = inputs.Statistics.Variances;
        var r = Space == "copula" ? CopulaCorrelation(inputs.Statistics.Activations, ct, inputs.Statistics.Gram) : PearsonCorrelation(inputs.Statistics, ct);
        if (CostFor != CostTarget.Kept)
            return UnrestoredOutput.Select(request, CostFor, (i, k) => r[(long)i * n + k], (j, alive) =>
            {
                int partner = -1;
                double bestR = -1;
                for (int k = 0; k < n; k++)
                {
                    if (!alive[k]) continue;
                    double a = Math.Abs(r[(long)j * n + k]);
                    if (a > bestR) { bestR = a; partner = k; }
                }
                return partner >= 0 ? (partner, CopulaEstimator.FromCorrelation(bestR)) : null;
            }, Name, $"rho = {Space} R");
        var h = new double[(long)n * n];
        double trace = 0;
        for (int i = 0; i < n; i++)
        {
            double si = Math.Sqrt(variances[i]);
            for (int k = 0; k < n; k++) h[(long)i * n + k] = si * Math.Sqrt(variances[k]) * r[(long)i * n + k];
            trace += h[(long)i * n + i];
        }
        double delta = Damping * (trace > 0 ? trace / n : 1.0);
        for (int i = 0; i < n; i++) h[(long)i * n + i] += delta;
        var hinv = DenseMath.InvertSpdInPlace(h, n, $"mi-conditional on layer {inputs.Layer.Index}"); // h is not needed after
        var state = new ObsSelector.LazyState(hinv, Update ? ObsSelector.DownGram(inputs.Layer, ct, inputs.Statistics.Gram) : null, n);
        var downSq = inputs.DownSquaredNorms;
        var removed = new List<RemovedNeuron>(request.MaxRemovals);
        for (int step = 0; step < request.MaxRemovals; step++)
        {
            ct.ThrowIfCancellationRequested();
            int jj = state.Cheapest(j => Update ? Math.Max(state.DiagG[j], 0.0) : downSq[j], out double best);
            state.Rows(jj);
            int partner = -1;
            double bestR = -1;
            for (int k = 0; k < n; k++)
            {
                if (!state.Alive[k] || k == jj) continue;
                double a = Math.Abs(r[(long)jj * n + k]);
                if (a > bestR) { bestR = a; partner = k; }
            }
            double info = variances[jj] > 0 ? Math.Max(0.5 * Math.Log(variances[jj] * state.DiagH[jj]), 0.0) : 0.0;
            double pairMi = partner >= 0 ? CopulaEstimator.FromCorrelation(bestR) : 0.0;
            removed.Add(new RemovedNeuron(jj, partner >= 0 ? partner : null, partner >= 0 ? pairMi : null, best,
                string.Create(CultureInfo.InvariantCulture,
                    $"mi-conditional: lowest unexplained energy ||w||^2 Var(z) exp(-2 I(z; kept)) = {best:G4}; I(z; kept) = {info:G4} nats ({Space}), best single partner {partner} ({pairMi:G4} nats)")));
            state.Remove(jj);
            request.Progress?.Report((step + 1.0) / request.MaxRemovals);
        }
        return removed;
    }

    /// <summary>
    /// Normal-score correlation [N x N]: R_ik = sum_s g_i[s] g_k[s] with g the centred, unit-norm normal scores
    /// Phi^-1((rank + 1)/(S + 1)) of each column (stable ranks). A constant column gets R_ii = 1 and 0 elsewhere.
    /// On <paramref name="gram"/> when given (else OpenBLAS or managed loops).
    /// </summary>
    public static double[] CopulaCorrelation(LayerActivations activations, CancellationToken ct, IGramDevice? gram = null)
    {
        int s = activations.Rows, n = activations.Columns;
        var table = CopulaEstimator.ScoreTable(s);
        var scores = new double[(long)n * s];
        var constant = new bool[n];
        var data = activations.Data;
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, j =>
        {
            var col = new float[s];
            var z = data.Span;
            for (int r = 0; r < s; r++) col[r] = z[r * n + j];
            if (ColumnMath.IsConstant(col)) { constant[j] = true; return; }
            var rank = new int[s];
            ColumnMath.StableRanks(col, rank, new int[s]);
            var g = scores.AsSpan((int)((long)j * s), s);
            for (int r = 0; r < s; r++) g[r] = table[rank[r]];
        });
        if (gram != null)
        {
            // scores is [N x S] row-major: a block of samples is the slice [k0, k0 + b) of every row.
            var g = gram.Gram(n, s, (k0, b, block) =>
            {
                for (int j = 0; j < n; j++) scores.AsSpan((int)((long)j * s + k0), b).CopyTo(block.Slice(j * b, b));
            }, ct);
            for (int i = 0; i < n; i++) g[(long)i * n + i] = 1.0;
            return g;
        }
        if (NativeBlas.Use())
        {
            // scores is [N x S] row-major, i.e. the S x N score matrix column-major: R = G^T G by one dsyrk with
            // the roles transposed (constant columns hold zeros, so their off-diagonal entries come out 0).
            var g = new double[(long)n * n];
            NativeBlas.SyrkLowerAAt(n, s, 1.0, scores, s, 0.0, g);
            DenseMath.MirrorLower(g, n);
            for (int i = 0; i < n; i++) g[(long)i * n + i] = 1.0;
            return g;
        }
        var rm = new double[(long)n * n];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, i =>
        {
            var gi = scores.AsSpan((int)((long)i * s), s);
            for (int k = i; k < n; k++)
            {
                double v = i == k ? 1.0 : constant[i] || constant[k] ? 0.0 : TensorPrimitives.Dot<double>(gi, scores.AsSpan((int)((long)k * s), s));
                rm[(long)i * n + k] = v; rm[(long)k * n + i] = v;
            }
        });
        return rm;
    }

    /// <summary>Pearson correlation [N x N] from the covariance; a constant column gets R_ii = 1 and 0 elsewhere.</summary>
    private static double[] PearsonCorrelation(LayerStatistics st, CancellationToken ct)
    {
        int n = st.Columns;
        var c = st.Covariance(ct);
        var rm = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                double den = Math.Sqrt(st.Variances[i] * st.Variances[k]);
                rm[(long)i * n + k] = i == k ? 1.0 : den > 0 ? c[(long)i * n + k] / den : 0.0;
            }
        return rm;
    }
}
