using LlmPruneFast.Capture;
namespace LlmPruneFast.Pruning;

/// <summary>
/// Where the pruner gets each layer's weights and calibration activations (capture and checkpoint reading plug in
/// here). Layers are asked for one at a time, in index order, so a large model need not be held whole.
/// </summary>
public interface ILayerSource
{
    int LayerCount { get; }
    FfnLayer Layer(int index);
    LayerActivations Activations(int index, CancellationToken ct);
}

/// <summary>An <see cref="ILayerSource"/> over arrays already in memory (tests, small models).</summary>
public sealed class InMemoryLayerSource(IReadOnlyList<FfnLayer> layers, IReadOnlyList<LayerActivations>? activations) : ILayerSource
{
    public int LayerCount => layers.Count;
    public FfnLayer Layer(int index) => layers[index];
    public LayerActivations Activations(int index, CancellationToken ct) => activations?[index]
        ?? throw new MissingInputException($"no calibration activations for layer {index}");
}

/// <summary>Progress of a pruning run: stage ("select", "score", "slice"), layer, layer count, fraction done overall.</summary>
public sealed record PruningProgress(string Stage, int Layer, int Layers, double Fraction);

/// <summary>What to prune with.</summary>
public sealed record PruningOptions
{
    public required IPruningSelector Selector { get; init; }
    /// <summary>MI estimator for MI methods (ignored by the others).</summary>
    public IPairInformation? Estimator { get; init; }
    /// <summary>Where selection's Gram matrices (covariance, copula correlation, W_down^T W_down) run; null = the CPU.</summary>
    public IGramDevice? Gram { get; init; }
    public required PruningBudget Budget { get; init; }
    /// <summary>Compensation; null means the method's default (<see cref="IPruningSelector.DefaultCompensation"/>, refit ridge = obs damping for obs).</summary>
    public CompensationOptions? Compensation { get; init; }
    public long Seed { get; init; }
    public CalibrationInfo? Calibration { get; init; }
    /// <summary>
    /// KL(original || pruned) of a candidate plan (the caller slices and runs it); used when the method has several
    /// candidates. Without it a multi-seed method runs its base seed only.
    /// </summary>
    public Func<PruningPlan, double>? CandidateScorer { get; init; }
    /// <summary>
    /// KL of every candidate plan at once, in order (the caller may run them together, e.g. one layer at a time for
    /// all of them); takes precedence over <see cref="CandidateScorer"/>.
    /// </summary>
    public Func<IReadOnlyList<PruningPlan>, double[]>? CandidatesScorer { get; init; }
}

/// <summary>
/// Orchestrates pruning: per layer, statistics and estimator preparation, selection (for every candidate seed),
/// budget allocation, candidate choice by KL, then slicing with compensation (<see cref="ApplyPlan"/>).
/// </summary>
public static class Pruner
{
    /// <summary>The compensation a run uses: the explicit one, else the method's default.</summary>
    public static CompensationOptions ResolveCompensation(PruningOptions options) => options.Compensation
        ?? new CompensationOptions(options.Selector.DefaultCompensation,
            options.Selector is ObsSelector obs ? obs.Damping : CompensationOptions.DefaultRidge);

    /// <summary>Computes the plan (selection only; nothing is sliced).</summary>
    public static PruningPlan Plan(ModelFingerprint model, ILayerSource source, PruningOptions options,
        IProgress<PruningProgress>? progress = null, CancellationToken ct = default)
    {
        int layers = source.LayerCount;
        if (layers != model.Layers)
            throw new BadArgumentException($"model '{model.Name}' has {model.Layers} layers in its fingerprint, the layer source {layers}");
        var selector = options.Selector;
        int candidates = options.CandidateScorer != null || options.CandidatesScorer != null ? selector.Candidates : 1;
        var lengths = options.Budget.OrderLengths(model.Widths);
        var orders = new IReadOnlyList<RemovedNeuron>[candidates][];
        for (int c = 0; c < candidates; c++) orders[c] = new IReadOnlyList<RemovedNeuron>[layers];
        for (int l = 0; l < layers; l++)
        {
            ct.ThrowIfCancellationRequested();
            var layer = source.Layer(l);
            if (layer.Index != l) throw new BadArgumentException($"layer source returned layer {layer.Index} for index {l}");
            if (layer.Neurons != model.Widths[l] || layer.Hidden != model.HiddenSize)
                throw new BadArgumentException($"layer {l}: N={layer.Neurons}, D={layer.Hidden} but the fingerprint says N={model.Widths[l]}, D={model.HiddenSize}");
            var inputs = new LayerInputs(layer, source.Activations(l, ct), selector.UsesInformation ? options.Estimator : null, options.Gram);
            for (int c = 0; c < candidates; c++)
            {
                int li = l, ci = c;
                var inner = progress == null ? null : new Progress<double>(f =>
                    progress.Report(new PruningProgress("select", li, layers, (li + (ci + f) / candidates) / layers)));
                orders[c][l] = SelectOrder(selector, layer, inputs, lengths[l], options.Seed + c, inner, ct);
            }
            progress?.Report(new PruningProgress("select", l, layers, (l + 1.0) / layers));
        }
        var plans = new PruningPlan[candidates];
        for (int c = 0; c < candidates; c++) plans[c] = BuildPlan(model, options, orders[c], options.Seed);
        if (candidates == 1) return plans[0];
        var kls = options.CandidatesScorer?.Invoke(plans) ?? new double[candidates];
        if (kls.Length != candidates) throw new InvalidOperationException($"the candidate scorer gave {kls.Length} scores for {candidates} candidates");
        int best = 0;
        for (int c = 0; c < candidates; c++)
        {
            ct.ThrowIfCancellationRequested();
            if (options.CandidatesScorer == null)
            {
                kls[c] = options.CandidateScorer!(plans[c]);
                progress?.Report(new PruningProgress("score", c, candidates, (c + 1.0) / candidates));
            }
            if (double.IsNaN(kls[c])) throw new BadDataException($"candidate seed {options.Seed + c}: KL is NaN");
            if (kls[c] < kls[best]) best = c;
        }
        var info = Enumerable.Range(0, candidates).Select(c => new CandidateInfo(options.Seed + c, kls[c])).ToArray();
        var chosen = plans[best];
        var parameters = chosen.MethodParameters.Clone().Set("chosen_seed", options.Seed + best);
        return chosen with { Candidates = info, MethodParameters = parameters };
    }

    /// <summary>Plan and slice in one go (activations are asked for twice per layer: selection, then compensation).</summary>
    public static (PruningPlan Plan, SlicedFfnLayer[] Layers) Prune(ModelFingerprint model, ILayerSource source,
        PruningOptions options, IProgress<PruningProgress>? progress = null, CancellationToken ct = default)
    {
        var plan = Plan(model, source, options, progress, ct);
        return (plan, ApplyPlan(plan, source, progress, ct).ToArray());
    }

    /// <summary>
    /// Re-derives the sliced layers from a plan, one layer at a time in index order (lazy). Compensation other than
    /// <c>none</c> asks the source for the layer's activations. The caller checks the plan belongs to the model
    /// first (<see cref="PruningPlan.EnsureMatches"/> with <see cref="ModelFingerprint.Compute"/>); here widths
    /// and hidden size are checked again.
    /// </summary>
    public static IEnumerable<SlicedFfnLayer> ApplyPlan(PruningPlan plan, ILayerSource source,
        IProgress<PruningProgress>? progress = null, CancellationToken ct = default)
    {
        plan.Validate();
        if (source.LayerCount != plan.Model.Layers)
            throw new BadArgumentException($"plan made for another model: {plan.Model.Layers} layers in the plan, {source.LayerCount} in the model");
        var compensation = CompensationOptions.FromInfo(plan.Compensation);
        return Iterate();

        IEnumerable<SlicedFfnLayer> Iterate()
        {
            int layers = plan.Model.Layers;
            for (int l = 0; l < layers; l++)
            {
                ct.ThrowIfCancellationRequested();
                var layer = source.Layer(l);
                if (layer.Neurons != plan.Model.Widths[l] || layer.Hidden != plan.Model.HiddenSize)
                    throw new BadArgumentException($"plan made for another model: layer {l} is N={plan.Model.Widths[l]}, D={plan.Model.HiddenSize} in the plan, N={layer.Neurons}, D={layer.Hidden} in the model");
                var lp = plan.Layer(l) ?? new LayerPlan(l, Enumerable.Range(0, layer.Neurons).ToArray(), []);
                LayerStatistics? stats = lp.Removed.Count > 0 && compensation.Kind != CompensationKind.None
                    ? new LayerStatistics(source.Activations(l, ct)) : null;
                yield return Compensator.Apply(layer, lp, compensation, stats, ct);
                progress?.Report(new PruningProgress("slice", l, layers, (l + 1.0) / layers));
            }
        }
    }

    /// <summary>Layer <paramref name="layer"/>'s removal order of <paramref name="length"/> neurons, checked.</summary>
    internal static IReadOnlyList<RemovedNeuron> SelectOrder(IPruningSelector selector, FfnLayer layer, LayerInputs inputs, int length, long seed,
        IProgress<double>? progress, CancellationToken ct)
    {
        var order = selector.Select(new SelectionRequest(inputs, length, SelectorMath.LayerSeed(seed, layer.Index), progress, ct));
        CheckOrder(selector.Name, layer, order, length);
        return order;
    }

    /// <summary>The layer plan that takes the first <paramref name="take"/> removals of <paramref name="order"/>.</summary>
    internal static LayerPlan LayerPlanOf(int layer, int width, IReadOnlyList<RemovedNeuron> order, int take)
    {
        var removed = order.Take(take).ToArray();
        var gone = new bool[width];
        foreach (var r in removed) gone[r.Neuron] = true;
        var kept = Enumerable.Range(0, width).Where(j => !gone[j]).ToArray();
        return new LayerPlan(layer, kept, removed);
    }

    private static void CheckOrder(string method, FfnLayer layer, IReadOnlyList<RemovedNeuron> order, int expected)
    {
        if (order.Count != expected)
            throw new InvalidOperationException($"{method} returned {order.Count} removals for layer {layer.Index}, expected {expected}");
        var gone = new bool[layer.Neurons];
        foreach (var r in order)
        {
            if (gone[r.Neuron]) throw new InvalidOperationException($"{method} removed neuron {r.Neuron} of layer {layer.Index} twice");
            if (r.Partner is { } p && gone[p])
                throw new InvalidOperationException($"{method} gave neuron {r.Neuron} of layer {layer.Index} the removed partner {p}");
            gone[r.Neuron] = true;
        }
    }

    internal static PruningPlan BuildPlan(ModelFingerprint model, PruningOptions options,
        IReadOnlyList<RemovedNeuron>[] orders, long seed)
    {
        var widths = model.Widths;
        var take = options.Budget.Allocate(widths, orders.Select(o => (IReadOnlyList<double>)o.Select(r => r.Score).ToArray()).ToArray());
        var layerPlans = new LayerPlan[widths.Count];
        for (int l = 0; l < widths.Count; l++) layerPlans[l] = LayerPlanOf(l, widths[l], orders[l], take[l]);
        var selector = options.Selector;
        return new PruningPlan
        {
            Model = model,
            Method = selector.Name,
            MethodParameters = selector.Parameters.Clone(),
            Estimator = selector.UsesInformation && options.Estimator is { } e ? new EstimatorInfo(e.Name, e.Parameters.Clone()) : null,
            Budget = options.Budget.ToInfo(),
            Ratio = options.Budget.Ratio,
            Seed = seed,
            Compensation = ResolveCompensation(options).ToInfo(),
            Calibration = options.Calibration,
            Layers = layerPlans,
        };
    }
}
