using System.Globalization;

namespace LlmPruneFast.Pruning;

/// <summary>
/// <c>mi-cluster</c> (the paper's clustering variant): agglomerative single-linkage clustering on MI similarity.
/// All pairs are visited in descending MI (ties by pair id i*N+j, i &lt; j); a pair joining two different groups
/// merges them (Kruskal on the maximum-MI spanning forest) and the less important of the two groups'
/// representatives is removed, partner = the other representative (importance ||W_down[:, j]|| std(z_j), ties to
/// the lower id). After r merges N - r groups remain, each with one kept representative. Score = exp(-2 I) of
/// the linking pair. Single linkage can chain weakly related neurons into one group at high sparsity; each merge
/// still removes only one representative, so a chain costs no more neurons than its merges.
/// </summary>
public sealed class MiClusterSelector : IPruningSelector
{
    public string Name => "mi-cluster";
    public CompensationKind DefaultCompensation => CompensationKind.Partner;
    public bool UsesInformation => true;
    public int Candidates => 1;
    public PlanParameters Parameters { get; } = new PlanParameters().Set("linkage", "single");

    public IReadOnlyList<RemovedNeuron> Select(SelectionRequest request)
    {
        var inputs = request.Inputs;
        int n = inputs.Neurons;
        var m = inputs.MutualInformation(Name, request.Progress, request.Cancellation);
        var importance = inputs.Importance;
        long pairCount = (long)n * (n - 1) / 2;
        if (pairCount > Array.MaxLength) throw new MemoryBudgetException($"mi-cluster: {n} neurons give too many pairs to sort");
        var pairs = new long[pairCount];
        var values = new double[pairCount];
        long p = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) { pairs[p] = (long)i * n + j; values[p] = m[(long)i * n + j]; p++; }
        var order = new int[pairCount];
        for (int q = 0; q < order.Length; q++) order[q] = q;
        Array.Sort(order, (a, b) => values[a] != values[b] ? values[b].CompareTo(values[a]) : pairs[a].CompareTo(pairs[b]));

        var parent = new int[n];
        var rep = new int[n];
        var size = new int[n];
        for (int i = 0; i < n; i++) { parent[i] = i; rep[i] = i; size[i] = 1; }
        int Find(int x) { while (parent[x] != x) { parent[x] = parent[parent[x]]; x = parent[x]; } return x; }

        var removed = new List<RemovedNeuron>(request.MaxRemovals);
        foreach (int q in order)
        {
            if (removed.Count == request.MaxRemovals) break;
            int i = (int)(pairs[q] / n), j = (int)(pairs[q] % n);
            int ri = Find(i), rj = Find(j);
            if (ri == rj) continue;
            int a = rep[ri], b = rep[rj];
            bool aWins = importance[a] > importance[b] || (importance[a] == importance[b] && a < b);
            int winner = aWins ? a : b, loser = aWins ? b : a;
            if (size[ri] < size[rj]) (ri, rj) = (rj, ri);
            parent[rj] = ri;
            size[ri] += size[rj];
            rep[ri] = winner;
            double link = values[q];
            removed.Add(new RemovedNeuron(loser, winner, m[(long)loser * n + winner], SelectorMath.Unexplained(link),
                string.Create(CultureInfo.InvariantCulture,
                    $"mi-cluster: groups joined at I = {link:G4} nats ({i}-{j}); represented by {winner} (more important), group size {size[ri]}")));
        }
        if (removed.Count < request.MaxRemovals)
            throw new BadArgumentException($"mi-cluster: only {removed.Count} merges possible in layer {inputs.Layer.Index}, {request.MaxRemovals} asked");
        return removed;
    }
}
