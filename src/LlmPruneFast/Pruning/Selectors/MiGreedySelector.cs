using System.Globalization;

namespace LlmPruneFast.Pruning;

/// <summary>
/// <c>mi-greedy</c> (exact variant of the paper's loop): with the all-pairs MI matrix M of the layer, repeatedly
/// remove the kept neuron most redundant with another kept neuron, i.e. the j maximising
/// red_j = max_{k kept, k != j} M[j, k]; ties (both ends of the most redundant pair) go to the lower importance
/// ||W_down[:, j]|| std(z_j), then the lower id. Partner = that k. Only neurons whose best partner was the removed
/// one are rescanned (O(N) each). Score = exp(-2 red_j): the Gaussian fraction of z_j's variance its partner does
/// not explain (lower = more redundant = removed first).
/// </summary>
public sealed class MiGreedySelector : IPruningSelector
{
    public string Name => "mi-greedy";
    public CompensationKind DefaultCompensation => CompensationKind.Partner;
    public bool UsesInformation => true;
    public int Candidates => 1;
    public PlanParameters Parameters { get; } = new();

    public IReadOnlyList<RemovedNeuron> Select(SelectionRequest request)
    {
        var inputs = request.Inputs;
        int n = inputs.Neurons;
        var m = inputs.MutualInformation(Name, request.Progress, request.Cancellation);
        var importance = inputs.Importance;
        var best = new RedundancyTable(m, n);
        var removed = new List<RemovedNeuron>(request.MaxRemovals);
        for (int step = 0; step < request.MaxRemovals; step++)
        {
            request.Cancellation.ThrowIfCancellationRequested();
            int j = -1;
            for (int i = 0; i < n; i++)
            {
                if (!best.Alive[i]) continue;
                if (j < 0 || best.Value[i] > best.Value[j]
                    || (best.Value[i] == best.Value[j] && importance[i] < importance[j])) j = i;
            }
            int k = best.Partner[j];
            double mi = best.Value[j];
            removed.Add(new RemovedNeuron(j, k >= 0 ? k : null, k >= 0 ? mi : null, SelectorMath.Unexplained(mi),
                string.Create(CultureInfo.InvariantCulture,
                    $"mi-greedy: most redundant kept neuron, I = {mi:G4} nats with {k} (importance {importance[j]:G4} vs {(k >= 0 ? importance[k] : 0):G4})")));
            best.Remove(j);
        }
        return removed;
    }
}

/// <summary>
/// For every alive neuron, its kept neuron of highest MI (ties to the lower id) and that MI; maintained under
/// removals by rescanning only the neurons that pointed at the removed one.
/// </summary>
internal sealed class RedundancyTable
{
    private readonly double[] _m;
    private readonly int _n;
    public readonly bool[] Alive;
    public readonly int[] Partner;
    public readonly double[] Value;

    public RedundancyTable(double[] m, int n)
    {
        (_m, _n) = (m, n);
        Alive = new bool[n];
        Array.Fill(Alive, true);
        Partner = new int[n];
        Value = new double[n];
        for (int i = 0; i < n; i++) Rescan(i);
    }

    public int AliveCount { get; private set; }

    private void Rescan(int i)
    {
        int p = -1;
        double v = double.NegativeInfinity;
        long row = (long)i * _n;
        for (int k = 0; k < _n; k++)
        {
            if (k == i || !Alive[k]) continue;
            double x = _m[row + k];
            if (x > v) { v = x; p = k; }
        }
        Partner[i] = p;
        Value[i] = p >= 0 ? v : double.NegativeInfinity;
    }

    /// <summary>Marks j removed; returns the neurons whose partner changed.</summary>
    public List<int> Remove(int j)
    {
        Alive[j] = false;
        var changed = new List<int>();
        for (int i = 0; i < _n; i++)
            if (Alive[i] && Partner[i] == j) { Rescan(i); changed.Add(i); }
        return changed;
    }
}
