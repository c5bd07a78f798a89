using System.Diagnostics;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// The dense side of a sentence encoder's dense-vs-pruned measurement, opened once for many pruned variants (a
/// study): the dense encoder, its embeddings of the fidelity sentences and its STS. <see cref="Measure"/> gives what
/// <see cref="GraphComparison.Encoders"/> gives for the same request (the same embeddings, computed once).
/// </summary>
public sealed class EncoderReference : IDisposable
{
    private readonly SentenceEncoder _dense;
    private readonly SentenceEncoderOptions _options;
    private readonly GraphMeasureRequest _request;
    private readonly IReadOnlyList<float[]>? _embeddings;

    /// <summary>STS of the dense encoder on the request's pairs; null without pairs.</summary>
    public StsResult? DenseSts { get; }

    /// <summary>Seconds the dense embeddings and STS took at open.</summary>
    public double DenseSeconds { get; }

    private EncoderReference(SentenceEncoder dense, SentenceEncoderOptions options, GraphMeasureRequest request, CancellationToken ct)
    {
        (_dense, _options, _request) = (dense, options, request);
        var clock = Stopwatch.StartNew();
        DenseSts = request.Pairs != null ? EncoderEvaluation.Sts(dense, request.Pairs, ct) : null;
        _embeddings = request.Sentences != null ? dense.Embed(request.Sentences, ct) : null;
        DenseSeconds = clock.Elapsed.TotalSeconds;
    }

    /// <summary>Opens the dense encoder folder and measures it on <paramref name="request"/>'s sentences and pairs (latency is not cached: refused).</summary>
    public static EncoderReference Open(string denseFolder, GraphMeasureRequest request, SentenceEncoderOptions options, CancellationToken ct = default)
    {
        if (request.Latency) throw new ArgumentException("an encoder reference measures fidelity and STS, not latency", nameof(request));
        if (request.Paragraphs != null) throw new ArgumentException("evaluation paragraphs are for decoders", nameof(request));
        var dense = SentenceEncoder.Open(denseFolder, options);
        try
        {
            return new EncoderReference(dense, options, request, ct);
        }
        catch
        {
            dense.Dispose();
            throw;
        }
    }

    /// <summary>Fidelity and STS of the pruned encoder folder <paramref name="prunedFolder"/> against the dense one; its parameter count beside.</summary>
    public (GraphMeasurement Measured, long PrunedParameters) Measure(string prunedFolder, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        using var pruned = SentenceEncoder.Open(prunedFolder, _options);
        // Same order as GraphComparison.Encoders: STS, then fidelity.
        var sts = DenseSts is { } before ? (before, EncoderEvaluation.Sts(pruned, _request.Pairs!, ct)) : ((StsResult, StsResult)?)null;
        var fidelity = _embeddings != null ? EncoderEvaluation.Fidelity(_embeddings, pruned, _request.Sentences!, ct) : null;
        var seconds = new Dictionary<string, double> { ["eval"] = clock.Elapsed.TotalSeconds };
        return (new GraphMeasurement { Fidelity = fidelity, Sts = sts, Seconds = seconds }, pruned.Parameters);
    }

    public void Dispose() => _dense.Dispose();
}
