using System.Globalization;

namespace LlmPruneFast.Pruning;

/// <summary>
/// Base of the one-shot baselines: every neuron gets a fixed cost, removal order is ascending cost
/// (ties to the lower neuron id). No partner, no MI.
/// </summary>
public abstract class StaticScoreSelector : IPruningSelector
{
    public abstract string Name { get; }
    public virtual CompensationKind DefaultCompensation => CompensationKind.None;
    public bool UsesInformation => false;
    public virtual int Candidates => 1;
    public PlanParameters Parameters { get; } = new();

    /// <summary>Cost of every neuron of the layer (length N, finite).</summary>
    protected abstract double[] Costs(SelectionRequest request);

    /// <summary>The formula, for the reason line.</summary>
    protected abstract string Formula { get; }

    public IReadOnlyList<RemovedNeuron> Select(SelectionRequest request)
    {
        var costs = Costs(request);
        var order = SelectorMath.AscendingOrder(costs);
        var removed = new RemovedNeuron[request.MaxRemovals];
        for (int r = 0; r < removed.Length; r++)
        {
            int j = order[r];
            removed[r] = new RemovedNeuron(j, null, null, costs[j],
                string.Create(CultureInfo.InvariantCulture, $"{Name}: rank {r + 1} of {costs.Length} by lowest {Formula}"));
        }
        return removed;
    }
}

/// <summary><c>magnitude</c>: cost_j = ||W_down[:, j]|| * ||W_gate[j, :]|| * ||W_up[j, :]|| (the gate factor is 1 without a gate).</summary>
public sealed class MagnitudeSelector : StaticScoreSelector
{
    public override string Name => "magnitude";
    protected override string Formula => "||W_down[:,j]||*||gate_j||*||up_j||";
    protected override double[] Costs(SelectionRequest request)
    {
        var layer = request.Inputs.Layer;
        var g = layer.RowNorms(layer.Gate);
        var u = layer.RowNorms(layer.Up);
        var sq = request.Inputs.DownSquaredNorms;
        var c = new double[layer.Neurons];
        for (int j = 0; j < c.Length; j++) c[j] = Math.Sqrt(sq[j]) * g[j] * u[j];
        return c;
    }
}

/// <summary><c>wanda-sp</c>: cost_j = ||z_j||_2 * ||W_down[:, j]||_2 (||z_j||_2 over the S calibration rows).</summary>
public sealed class WandaSpSelector : StaticScoreSelector
{
    public override string Name => "wanda-sp";
    protected override string Formula => "||z_j||*||W_down[:,j]||";
    protected override double[] Costs(SelectionRequest request)
    {
        var sq = request.Inputs.DownSquaredNorms;
        var z = request.Inputs.Statistics.L2Norms;
        var c = new double[sq.Length];
        for (int j = 0; j < c.Length; j++) c[j] = z[j] * Math.Sqrt(sq[j]);
        return c;
    }
}

/// <summary>
/// <c>flap</c>: cost_j = Var(z_j) * ||W_down[:, j]||^2, the output variance lost when neuron j is replaced by its
/// mean; default compensation <c>bias</c> (mean(z_j) W_down[:, j] into the down bias).
/// </summary>
public sealed class FlapSelector : StaticScoreSelector
{
    public override string Name => "flap";
    public override CompensationKind DefaultCompensation => CompensationKind.Bias;
    protected override string Formula => "Var(z_j)*||W_down[:,j]||^2";
    protected override double[] Costs(SelectionRequest request)
    {
        var sq = request.Inputs.DownSquaredNorms;
        var v = request.Inputs.Statistics.Variances;
        var c = new double[sq.Length];
        for (int j = 0; j < c.Length; j++) c[j] = v[j] * sq[j];
        return c;
    }
}

/// <summary><c>random</c>: cost_j uniform in [0, 1), seeded per layer; a floor every criterion must beat.</summary>
public sealed class RandomSelector : StaticScoreSelector
{
    public override string Name => "random";
    protected override string Formula => "seeded uniform draw";
    protected override double[] Costs(SelectionRequest request)
    {
        var rng = new Random(SelectorMath.Seed32(request.Seed));
        var c = new double[request.Inputs.Neurons];
        for (int j = 0; j < c.Length; j++) c[j] = rng.NextDouble();
        return c;
    }
}

/// <summary>Small helpers shared by selectors.</summary>
internal static class SelectorMath
{
    /// <summary>Indices sorted by ascending value, ties by ascending index (a stable, total order).</summary>
    public static int[] AscendingOrder(double[] values)
    {
        var idx = Enumerable.Range(0, values.Length).ToArray();
        Array.Sort(idx, (a, b) => values[a] != values[b] ? values[a].CompareTo(values[b]) : a.CompareTo(b));
        return idx;
    }

    /// <summary>A 32-bit seed for <see cref="Random"/> from a 64-bit seed (SplitMix64 finaliser).</summary>
    public static int Seed32(long seed) => (int)(Mix(seed) & 0x7FFFFFFF);

    /// <summary>SplitMix64 finaliser: a well-spread 64-bit value from any input.</summary>
    public static long Mix(long x)
    {
        ulong z = unchecked((ulong)x + 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return unchecked((long)(z ^ (z >> 31)));
    }

    /// <summary>The seed of one layer of one run: Mix(seed * 1000003 + layer).</summary>
    public static long LayerSeed(long seed, int layer) => Mix(unchecked(seed * 1000003 + layer));

    /// <summary>Linear-interpolated q-quantile of ascending-sorted values.</summary>
    public static double Quantile(double[] sorted, double q)
    {
        if (sorted.Length == 0) throw new BadDataException("quantile of no values");
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>exp(-2 I), the Gaussian fraction of a variable's variance left unexplained at mutual information I.</summary>
    public static double Unexplained(double mi) => Math.Exp(-2.0 * Math.Max(mi, 0.0));
}
