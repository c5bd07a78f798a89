using LlmPruneFast.Capture;

namespace LlmPruneFast.Pruning;

/// <summary>
/// One removed neuron and why. <see cref="Partner"/> is the kept neuron (at the time of removal) that carries its
/// information, <see cref="Mi"/> the estimated I(z_neuron; z_partner) in nats (null when the method used none),
/// <see cref="Score"/> the method's removal cost at the time of removal (lower = removed earlier; its definition
/// is documented per selector), <see cref="Reason"/> one human-readable line.
/// </summary>
public sealed record RemovedNeuron(int Neuron, int? Partner, double? Mi, double Score, string Reason);

/// <summary>
/// The plan of one layer, in the original model's neuron ids: <see cref="Kept"/> ascending, <see cref="Removed"/>
/// in removal order (compensation replays it in that order: a removed neuron's partner may itself be removed later).
/// </summary>
public sealed record LayerPlan(int Index, IReadOnlyList<int> Kept, IReadOnlyList<RemovedNeuron> Removed)
{
    /// <summary>Original width: kept + removed.</summary>
    public int Width => Kept.Count + Removed.Count;
}

/// <summary>Estimator used by a method (name and parameters), as written into the plan.</summary>
public sealed record EstimatorInfo(string Name, PlanParameters Parameters);

/// <summary>Compensation applied when slicing (kind: none, bias, partner, refit) and its parameters.</summary>
public sealed record CompensationInfo(string Kind, PlanParameters Parameters);

/// <summary>Budget: kind "uniform" or "global", and the per-layer floor on the kept fraction (global only).</summary>
public sealed record BudgetInfo(string Kind, double MinKeptFraction);

/// <summary>A candidate considered by a multi-seed method, with its KL(original || pruned) (null when not scored).</summary>
public sealed record CandidateInfo(long Seed, double? Kl);

/// <summary>
/// A pruning plan: which neurons of which layer go, why, and how the rest is compensated. Serialised as versioned
/// JSON by <see cref="PlanJson"/>; applied by <see cref="Pruner.ApplyPlan"/>. Layers not listed are left whole.
/// </summary>
public sealed record PruningPlan
{
    /// <summary>Format version written by this code.</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required ModelFingerprint Model { get; init; }
    public required string Method { get; init; }
    /// <summary>Method parameters (thresholds, iteration caps, damping...).</summary>
    public PlanParameters MethodParameters { get; init; } = new();
    public EstimatorInfo? Estimator { get; init; }
    public required BudgetInfo Budget { get; init; }
    /// <summary>Target fraction of FFN neurons removed, in (0, 1).</summary>
    public required double Ratio { get; init; }
    public required long Seed { get; init; }
    public required CompensationInfo Compensation { get; init; }
    public CalibrationInfo? Calibration { get; init; }
    /// <summary>Candidates of a multi-seed method (empty otherwise); the plan is the one with the lowest KL.</summary>
    public IReadOnlyList<CandidateInfo> Candidates { get; init; } = [];
    public required IReadOnlyList<LayerPlan> Layers { get; init; }

    /// <summary>Neurons kept in all layers of the model (unlisted layers count whole).</summary>
    public long KeptNeurons => Model.Widths.Sum(w => (long)w) - Layers.Sum(l => (long)l.Removed.Count);

    /// <summary>The plan of layer <paramref name="index"/>, or null when that layer is left whole.</summary>
    public LayerPlan? Layer(int index) => Layers.FirstOrDefault(l => l.Index == index);

    /// <summary>
    /// Checks the plan is internally consistent; throws <see cref="BadModelFileException"/> naming
    /// <paramref name="source"/> and the first problem: unknown version, duplicate or out-of-range ids,
    /// kept + removed not equal to the layer width, an empty layer, a partner that is not a neuron of the layer.
    /// </summary>
    public void Validate(string source = "plan")
    {
        void Fail(string what) => throw new BadModelFileException($"{source}: {what}");
        if (Version != CurrentVersion) Fail($"version {Version} is not supported (expected {CurrentVersion})");
        if (string.IsNullOrWhiteSpace(Method)) Fail("method is empty");
        if (Model.Layers == 0) Fail("model has no layers");
        if (Model.HiddenSize < 1) Fail($"model hidden size {Model.HiddenSize} is not positive");
        if (!(Ratio > 0 && Ratio < 1)) Fail($"ratio {Ratio} is outside (0, 1)");
        if (Budget.Kind is not ("uniform" or "global")) Fail($"budget '{Budget.Kind}' is not uniform or global");
        if (!(Budget.MinKeptFraction >= 0 && Budget.MinKeptFraction < 1)) Fail($"budget min_kept_fraction {Budget.MinKeptFraction} is outside [0, 1)");
        if (!CompensationKinds.TryParse(Compensation.Kind, out _)) Fail($"compensation '{Compensation.Kind}' is not none, bias, partner or refit");
        int previous = -1;
        foreach (var layer in Layers)
        {
            if (layer.Index <= previous) Fail($"layer {layer.Index} listed out of order or twice");
            previous = layer.Index;
            if (layer.Index >= Model.Layers) Fail($"layer {layer.Index} does not exist (the model has {Model.Layers})");
            int width = Model.Widths[layer.Index];
            if (width < 1) Fail($"layer {layer.Index}: model width {width} is not positive");
            if (layer.Width != width)
                Fail($"layer {layer.Index}: kept {layer.Kept.Count} + removed {layer.Removed.Count} = {layer.Width}, expected the width {width}");
            if (layer.Kept.Count == 0) Fail($"layer {layer.Index}: every neuron removed (a layer must keep at least one)");
            var seen = new bool[width];
            int last = -1;
            foreach (int k in layer.Kept)
            {
                if (k < 0 || k >= width) Fail($"layer {layer.Index}: kept neuron {k} outside 0..{width - 1}");
                if (k <= last) Fail($"layer {layer.Index}: kept ids must be ascending and unique, found {k} after {last}");
                last = k;
                seen[k] = true;
            }
            var removedBefore = new bool[width];
            foreach (var r in layer.Removed)
            {
                if (r.Neuron < 0 || r.Neuron >= width) Fail($"layer {layer.Index}: removed neuron {r.Neuron} outside 0..{width - 1}");
                if (seen[r.Neuron]) Fail($"layer {layer.Index}: neuron {r.Neuron} listed twice (kept or removed)");
                seen[r.Neuron] = true;
                if (r.Partner is { } p && (p < 0 || p >= width || p == r.Neuron))
                    Fail($"layer {layer.Index}: neuron {r.Neuron} has partner {p}, not another neuron of the layer");
                if (r.Partner is { } q && removedBefore[q])
                    Fail($"layer {layer.Index}: neuron {r.Neuron} has partner {q}, which was removed before it");
                removedBefore[r.Neuron] = true;
                if (r.Mi is { } mi && !double.IsFinite(mi)) Fail($"layer {layer.Index}: neuron {r.Neuron} has a non-finite mi");
                if (!double.IsFinite(r.Score)) Fail($"layer {layer.Index}: neuron {r.Neuron} has a non-finite score");
            }
        }
    }

    /// <summary>
    /// Throws <see cref="BadArgumentException"/> when this plan was made for another model than
    /// <paramref name="actual"/> (different hidden size, widths or FFN weights).
    /// </summary>
    public void EnsureMatches(ModelFingerprint actual) => Model.EnsureMatches(actual);
}
