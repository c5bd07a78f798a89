using LlmPruneFast.Capture;
namespace LlmPruneFast.Pruning;

/// <summary>
/// Everything a selector may look at for one layer: weights, activation statistics and (for MI methods) the
/// prepared estimator. Derived quantities are computed once and cached, so several selectors or seeds on the same
/// layer share them. Used by one thread at a time.
/// </summary>
public sealed class LayerInputs
{
    private readonly IPairInformation? _estimator;
    private ILayerInformation? _information;
    private double[]? _downSq, _importance, _mi;
    private readonly Dictionary<int, double[]> _nulls = [];

    public FfnLayer Layer { get; }
    public LayerStatistics Statistics { get; }

    /// <param name="gram">Where the Gram matrices of selection run (null: the CPU).</param>
    public LayerInputs(FfnLayer layer, LayerActivations activations, IPairInformation? estimator, IGramDevice? gram = null)
    {
        if (activations.Columns != layer.Neurons)
            throw new BadDataException($"layer {layer.Index}: activations have {activations.Columns} columns, the FFN has {layer.Neurons} neurons");
        if (activations.Index != layer.Index)
            throw new BadArgumentException($"activations of layer {activations.Index} given for FFN layer {layer.Index}");
        Layer = layer;
        Statistics = new LayerStatistics(activations, gram);
        _estimator = estimator;
    }

    /// <summary>N.</summary>
    public int Neurons => Layer.Neurons;

    /// <summary>||W_down[:, j]||^2 for every neuron.</summary>
    public double[] DownSquaredNorms => _downSq ??= Layer.DownColumnSquaredNorms();

    /// <summary>Importance of METHOD.md: ||W_down[:, j]|| * std(z_j) (the output standard deviation neuron j drives).</summary>
    public double[] Importance
    {
        get
        {
            if (_importance != null) return _importance;
            var imp = new double[Neurons];
            for (int j = 0; j < Neurons; j++) imp[j] = Math.Sqrt(DownSquaredNorms[j] * Statistics.Variances[j]);
            return _importance = imp;
        }
    }

    /// <summary>The prepared estimator; <see cref="BadArgumentException"/> when the method needs one and none was given.</summary>
    public ILayerInformation Information(string method, CancellationToken ct)
    {
        if (_information != null) return _information;
        if (_estimator == null) throw new BadArgumentException($"method '{method}' needs an MI estimator (--estimator)");
        var info = _estimator.Prepare(Statistics.Activations, ct);
        if (info.Neurons != Neurons)
            throw new BadDataException($"layer {Layer.Index}: estimator prepared {info.Neurons} neurons, expected {Neurons}");
        return _information = info;
    }

    /// <summary>All-pairs MI matrix [N x N] (cached; do not modify).</summary>
    public double[] MutualInformation(string method, IProgress<double>? progress, CancellationToken ct)
    {
        if (_mi != null) return _mi;
        var m = Information(method, ct).AllPairs(progress, ct);
        if (m.Length != (long)Neurons * Neurons)
            throw new BadDataException($"layer {Layer.Index}: all-pairs MI has {m.Length} values, expected {Neurons} x {Neurons}");
        return _mi = m;
    }

    /// <summary>Permutation-null MI values (cached per seed), sorted ascending.</summary>
    public double[] NullSamples(string method, int count, int seed, CancellationToken ct)
    {
        if (_nulls.TryGetValue(seed, out var cached) && cached.Length == count) return cached;
        var v = Information(method, ct).NullSamples(count, seed, ct);
        Array.Sort(v);
        return _nulls[seed] = v;
    }
}

/// <summary>What one selector run on one layer is asked for.</summary>
/// <param name="Inputs">The layer.</param>
/// <param name="MaxRemovals">Exactly this many removals must be returned (the budget's upper bound for the layer).</param>
/// <param name="Seed">Seed of this run (already mixed with the layer index).</param>
public sealed record SelectionRequest(LayerInputs Inputs, int MaxRemovals, long Seed, IProgress<double>? Progress, CancellationToken Cancellation);

/// <summary>
/// A structured-pruning criterion. <see cref="Select"/> returns exactly <c>MaxRemovals</c> removals of one layer in
/// removal order; each record's <c>Score</c> is the removal cost at the time of removal (lower = cheaper), which
/// global budgets compare across layers after normalisation (<see cref="PruningBudget"/>).
/// </summary>
public interface IPruningSelector
{
    /// <summary>Method name as accepted by <see cref="PruningSelectors.Create"/>.</summary>
    string Name { get; }
    /// <summary>Compensation applied when the user asks for none in particular.</summary>
    CompensationKind DefaultCompensation { get; }
    /// <summary>True when the method needs an MI estimator.</summary>
    bool UsesInformation { get; }
    /// <summary>How many seeded candidates the method wants compared by KL (1 for deterministic methods).</summary>
    int Candidates { get; }
    /// <summary>Method parameters as written into the plan.</summary>
    PlanParameters Parameters { get; }
    IReadOnlyList<RemovedNeuron> Select(SelectionRequest request);
}
