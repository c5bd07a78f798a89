using System.Globalization;
using System.Numerics.Tensors;

namespace LlmPruneFast.Pruning;

/// <summary>
/// <c>obs</c>: structured Optimal Brain Surgeon on the FFN output. With W = W_down [D x N] and H = C + delta I
/// (C the activation covariance, delta = Damping * tr(C)/N; centred because the down bias absorbs the means),
/// the output error of a change dW is E = tr(dW H dW^T). Removing neuron j alone with the optimal update of the
/// other columns, dW = -w_j e_j^T H^-1 / [H^-1]_jj, costs exactly
/// <c>cost_j = ||w_j||^2 / [H^-1]_jj</c> summed over the D output rows. Greedy: remove the cheapest, apply the
/// update (tracked through the Gram matrix G = W^T W, a rank-2 update), downdate
/// H^-1 &lt;- H^-1 - H^-1[:, j] H^-1[j, :] / [H^-1]_jj, repeat: O(N^2) per removal. The cumulative update equals
/// the <c>refit</c> compensation with Ridge = Damping, which is therefore its default.
/// Partner: the kept neuron with the largest partial correlation |[H^-1]_jk| / sqrt([H^-1]_jj [H^-1]_kk).
/// </summary>
public sealed class ObsSelector : IPruningSelector
{
    public const double DefaultDamping = CompensationOptions.DefaultRidge;

    public ObsSelector(double damping = DefaultDamping)
    {
        if (!(damping > 0 && double.IsFinite(damping))) throw new BadArgumentException($"obs damping {damping} must be > 0");
        Damping = damping;
        Parameters = new PlanParameters().Set("damping", damping);
    }

    public double Damping { get; }
    public string Name => "obs";
    public CompensationKind DefaultCompensation => CompensationKind.Refit;
    public bool UsesInformation => false;
    public int Candidates => 1;
    public PlanParameters Parameters { get; }

    public IReadOnlyList<RemovedNeuron> Select(SelectionRequest request)
    {
        var ct = request.Cancellation;
        var inputs = request.Inputs;
        int n = inputs.Neurons;
        var c = inputs.Statistics.Covariance(ct);
        double trace = 0;
        for (int i = 0; i < n; i++) trace += c[(long)i * n + i];
        double delta = Damping * (trace > 0 ? trace / n : 1.0);
        var h = c.ToArray();
        for (int i = 0; i < n; i++) h[(long)i * n + i] += delta;
        var hinv = DenseMath.InverseSpd(h, n, $"obs on layer {inputs.Layer.Index}");
        var g = DownGram(inputs.Layer, ct);
        var alive = new bool[n];
        Array.Fill(alive, true);
        var removed = new List<RemovedNeuron>(request.MaxRemovals);
        var a = new double[n];
        var gj = new double[n];
        var hj = new double[n];
        for (int step = 0; step < request.MaxRemovals; step++)
        {
            ct.ThrowIfCancellationRequested();
            int best = -1;
            double bestCost = double.PositiveInfinity;
            for (int j = 0; j < n; j++)
            {
                if (!alive[j]) continue;
                double cost = Math.Max(g[(long)j * n + j], 0.0) / hinv[(long)j * n + j];
                if (cost < bestCost || best < 0) { bestCost = cost; best = j; }
            }
            int jj = best;
            double hjj = hinv[(long)jj * n + jj];
            int partner = -1;
            double bestPartial = -1;
            for (int k = 0; k < n; k++)
            {
                if (!alive[k] || k == jj) continue;
                double p = Math.Abs(hinv[(long)jj * n + k]) / Math.Sqrt(hjj * hinv[(long)k * n + k]);
                if (p > bestPartial) { bestPartial = p; partner = k; }
            }
            removed.Add(new RemovedNeuron(jj, partner >= 0 ? partner : null, null, bestCost,
                string.Create(CultureInfo.InvariantCulture,
                    $"obs: lowest output error ||w_j||^2/[H^-1]_jj = {bestCost:G4} with optimal update; largest partial correlation {bestPartial:F3} with {partner}")));
            alive[jj] = false;
            // a = -H^-1[j, :] / [H^-1]_jj restricted to alive columns (dead ones stay 0: their W columns are zero).
            for (int k = 0; k < n; k++)
            {
                a[k] = alive[k] ? -hinv[(long)jj * n + k] / hjj : 0.0;
                gj[k] = alive[k] ? g[(long)k * n + jj] : 0.0;
                hj[k] = alive[k] ? hinv[(long)k * n + jj] : 0.0;
            }
            double gjj = g[(long)jj * n + jj];
            // G' = (W + w_j a^T)^T (W + w_j a^T) = G + a gj^T + gj a^T + gjj a a^T ; H^-1' = H^-1 - hj hj^T / hjj.
            void UpdateRow(int i)
            {
                if (!alive[i]) return;
                var gi = g.AsSpan((int)((long)i * n), n);
                var hi = hinv.AsSpan((int)((long)i * n), n);
                double ai = a[i], gji = gj[i] + gjj * a[i];
                TensorPrimitives.MultiplyAdd(gj, ai, gi, gi);
                TensorPrimitives.MultiplyAdd(a, gji, gi, gi);
                TensorPrimitives.MultiplyAdd(hj, -hj[i] / hjj, hi, hi);
            }
            if (n >= 256) Parallel.For(0, n, UpdateRow); else for (int i = 0; i < n; i++) UpdateRow(i);
            request.Progress?.Report((step + 1.0) / request.MaxRemovals);
        }
        return removed;
    }

    /// <summary>G = W_down^T W_down [N x N] in float64.</summary>
    private static double[] DownGram(FfnLayer layer, CancellationToken ct)
    {
        int n = layer.Neurons, d = layer.Hidden;
        var wt = new double[(long)n * d];   // column j of W_down, contiguous
        var down = layer.Down.Span;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < n; j++) wt[(long)j * d + i] = down[i * n + j];
        var g = new double[(long)n * n];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, i =>
        {
            var wi = wt.AsSpan((int)((long)i * d), d);
            for (int k = i; k < n; k++)
            {
                double v = TensorPrimitives.Dot<double>(wi, wt.AsSpan((int)((long)k * d), d));
                g[(long)i * n + k] = v; g[(long)k * n + i] = v;
            }
        });
        return g;
    }
}
