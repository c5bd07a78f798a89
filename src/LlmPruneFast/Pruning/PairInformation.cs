using LlmPruneFast.Capture;
namespace LlmPruneFast.Pruning;

/// <summary>
/// The seam between selectors and mutual-information estimators: what a selector needs to know about the
/// dependence of neuron pairs of one layer. An adapter over the estimators in <c>LlmPruneFast.Information</c>
/// implements it; selectors never see an estimator's internals. Values are in nats, symmetric, and
/// non-negative up to the estimator's bias.
/// </summary>
public interface IPairInformation
{
    /// <summary>Estimator name written into the plan (e.g. "plugin").</summary>
    string Name { get; }

    /// <summary>Estimator parameters written into the plan (e.g. bins = 16).</summary>
    PlanParameters Parameters { get; }

    /// <summary>
    /// Prepares the estimator for one layer (ranks, bins, scaling: whatever it precomputes once per layer).
    /// The result is used by one thread at a time.
    /// </summary>
    ILayerInformation Prepare(LayerActivations activations, CancellationToken ct);
}

/// <summary>Mutual information between neurons of one prepared layer.</summary>
public interface ILayerInformation
{
    /// <summary>N: neurons of the layer.</summary>
    int Neurons { get; }

    /// <summary>I(z_i; z_j) in nats for i != j.</summary>
    double Pair(int i, int j);

    /// <summary>
    /// All pairs: an N x N row-major symmetric matrix, M[i, j] = I(z_i; z_j) for i != j; the diagonal is 0.
    /// </summary>
    double[] AllPairs(IProgress<double>? progress, CancellationToken ct);

    /// <summary>
    /// Permutation null: <paramref name="count"/> values of I(z_i; pi(z_j)) for random pairs i != j with the rows
    /// of z_j shuffled by a random permutation pi (all seeded by <paramref name="seed"/>). Their distribution is
    /// the estimator's value on independent variables with the same marginals: the scale for thresholds.
    /// </summary>
    double[] NullSamples(int count, int seed, CancellationToken ct);
}
