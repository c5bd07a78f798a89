using System.Globalization;

namespace LlmPruneFast.Pruning;

/// <summary>
/// <c>mi-weighted</c> (ours, METHOD.md "information-weighted removal"): the output energy a removed neuron carries
/// that the kept ones cannot reproduce. cost_j = ||W_down[:, j]||^2 Var(z_j) exp(-2 I_j), where for Gaussian
/// activations Var(z_j | kept) = Var(z_j) exp(-2 I(z_j; kept)). I(z_j; kept) is approximated by
/// I_j = max_{k kept} I(z_j; z_k) - m0, clamped at 0: the max pairwise MI is a lower bound of I(z_j; kept) (data
/// processing inequality), so the cost is an upper bound of the Gaussian conditional-variance cost; m0 is the
/// median of the layer's permutation null when <c>debias</c> is on (plug-in MI is biased upward by about
/// (B-1)^2/(2S) nats on independent data; without this the weight shrinks every neuron alike, which only rescales).
/// Greedy with updates: after each removal only the neurons whose best partner was removed are rescanned and their
/// cost rises. Partner = kept neuron of highest MI.
/// <para><c>cost_for</c> (kept | bias | none; default kept, the cost above) says which compensation the cost is written
/// for. The cost above counts the part of z_j the kept neurons cannot rebuild, which only partner merges or refit
/// rebuild. Under <c>bias</c> only the mean comes back and under <c>none</c> nothing does; there the cost is the output
/// error that compensation leaves, with the removed neurons' interactions (<see cref="UnrestoredOutput"/>), and MI
/// supplies their dependence: |rho_ij| = sqrt(1 - exp(-2 beta (I(z_i; z_k) - m0))) (the Gaussian correlation at that
/// information, 0 below the null median when debiased, beta = strength), its sign that of Cov(z_i, z_k) (MI has none).
/// strength 0 then gives flap's cost under bias. Measured (perf/RESULTS.md, "Compensation-aware MI costs"): behind
/// mi-conditional's exact (pearson) version on MiniLM and behind flap on stories260K: MI also counts nonlinear
/// dependence, which the linear output error does not have.</para>
/// </summary>
public sealed class MiWeightedSelector : IPruningSelector
{
    public MiWeightedSelector(bool debias = true, int nullSamples = 512, double strength = 1.0, CostTarget costFor = CostTarget.Kept)
    {
        if (nullSamples < 16) throw new BadArgumentException($"mi-weighted null_samples {nullSamples} must be >= 16");
        if (!(strength >= 0 && double.IsFinite(strength))) throw new BadArgumentException($"mi-weighted strength {strength} must be >= 0");
        (Debias, NullSampleCount, Strength, CostFor) = (debias, nullSamples, strength, costFor);
        Parameters = new PlanParameters().Set("aggregate", "max").Set("debias", debias).Set("null_samples", nullSamples);
        if (strength != 1.0) Parameters.Set("strength", strength);
        if (costFor != CostTarget.Kept) Parameters.Set("cost_for", CostTargets.Name(costFor));
    }

    /// <summary>The compensation the cost is written for (kept = partner or refit, the original cost).</summary>
    public CostTarget CostFor { get; }

    /// <summary>beta in exp(-2 beta I): 1 is the Gaussian weight of METHOD.md, 0 is flap's score.</summary>
    public double Strength { get; }

    public bool Debias { get; }
    public int NullSampleCount { get; }
    public string Name => "mi-weighted";
    public CompensationKind DefaultCompensation => CompensationKind.Partner;
    public bool UsesInformation => true;
    public int Candidates => 1;
    public PlanParameters Parameters { get; }

    public IReadOnlyList<RemovedNeuron> Select(SelectionRequest request)
    {
        var inputs = request.Inputs;
        int n = inputs.Neurons;
        var m = inputs.MutualInformation(Name, request.Progress, request.Cancellation);
        double m0 = Debias
            ? SelectorMath.Quantile(inputs.NullSamples(Name, NullSampleCount, SelectorMath.Seed32(request.Seed), request.Cancellation), 0.5)
            : 0.0;
        if (CostFor != CostTarget.Kept)
        {
            var cov = inputs.Statistics.Covariance(request.Cancellation);
            return UnrestoredOutput.Select(request, CostFor,
                (i, k) => Math.Sign(cov[(long)i * n + k]) * Math.Sqrt(1 - SelectorMath.Unexplained(Strength * (m[(long)i * n + k] - m0))),
                (j, alive) =>
                {
                    int partner = -1;
                    for (int k = 0; k < n; k++)
                        if (alive[k] && (partner < 0 || m[(long)j * n + k] > m[(long)j * n + partner])) partner = k;
                    return partner >= 0 ? (partner, m[(long)j * n + partner]) : null;
                }, Name, "|rho| from pairwise MI");
        }
        var energy = new double[n];
        for (int j = 0; j < n; j++) energy[j] = inputs.DownSquaredNorms[j] * inputs.Statistics.Variances[j];
        var table = new RedundancyTable(m, n);
        var cost = new double[n];
        void Cost(int j) => cost[j] = energy[j] * SelectorMath.Unexplained(Strength * (table.Partner[j] >= 0 ? table.Value[j] - m0 : 0.0));
        for (int j = 0; j < n; j++) Cost(j);
        var removed = new List<RemovedNeuron>(request.MaxRemovals);
        for (int step = 0; step < request.MaxRemovals; step++)
        {
            request.Cancellation.ThrowIfCancellationRequested();
            int j = -1;
            for (int i = 0; i < n; i++)
                if (table.Alive[i] && (j < 0 || cost[i] < cost[j])) j = i;
            int k = table.Partner[j];
            double mi = table.Value[j];
            removed.Add(new RemovedNeuron(j, k >= 0 ? k : null, k >= 0 ? mi : null, cost[j],
                string.Create(CultureInfo.InvariantCulture,
                    $"mi-weighted: lowest unexplained energy ||w||^2 Var(z) exp(-2 I) = {energy[j]:G4} x {cost[j] / Math.Max(energy[j], double.Epsilon):G4}; I = {mi:G4} nats with {k}")));
            foreach (int i in table.Remove(j)) Cost(i);
        }
        return removed;
    }
}
