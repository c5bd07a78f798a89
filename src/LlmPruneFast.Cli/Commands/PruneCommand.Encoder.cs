using CommandLine;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>prune</c> on an encoder folder (model.onnx + vocab.txt): calibration on sentences, and dense vs pruned measured
/// as embedding fidelity (mean cosine) and, with <c>--sts</c>, STS Spearman before and after.
/// </summary>
public sealed partial class PruneCommand
{
    [Option("sts", HelpText = "Encoders: STS pair file (GLUE STS-B tsv or SentEval csv): Spearman x 100 before and after; fidelity is measured on its sentences unless --eval is given.")]
    public string? Sts { get; set; }

    /// <summary>What an encoder prune measures, read and checked before any work.</summary>
    private sealed record EncoderChecks(EncoderFolder Folder, IReadOnlyList<StsPair>? Pairs, IReadOnlyList<string>? Sentences);

    /// <summary>Null unless <paramref name="graph"/> is an encoder folder; then its STS pairs and fidelity sentences.</summary>
    private EncoderChecks? PrepareEncoderChecks(OnnxGraphModel graph)
    {
        if (!EncoderFolder.IsEncoder(graph.Folder)) return null;
        if (PlanOnly && (Eval != null || Sts != null))
            throw new BadArgumentException("--eval and --sts measure the pruned model, which --plan-only does not write; leave them out");
        var folder = EncoderFolder.Open(graph.Folder);
        var pairs = Sts != null ? StsBenchmark.Read(Sts) : null;
        var sentences = Eval != null ? SentenceFile.Read(Eval) : pairs != null ? SentenceFile.Distinct(pairs) : null;
        return new EncoderChecks(folder, pairs, sentences);
    }

    /// <summary>Dense vs pruned on the checks' sentences and pairs; prints them and returns the JSON fields.</summary>
    private Dictionary<string, object?> MeasureEncoder(EncoderChecks checks, string denseDir, string prunedDir, TextWriter o, CancellationToken ct)
    {
        var json = new Dictionary<string, object?>();
        if (checks.Sentences == null) return json;
        var options = new SentenceEncoderOptions { IntraOpThreads = Threads, UseCuda = Resolved.OnnxCuda };
        using var dense = SentenceEncoder.Open(denseDir, options);
        using var pruned = SentenceEncoder.Open(prunedDir, options);
        o.WriteLine();
        var fidelity = EncoderEvaluation.Fidelity(dense, pruned, checks.Sentences, ct);
        o.WriteLine($"fidelity   mean cosine {fidelity.MeanCosine:F4} (min {fidelity.MinCosine:F4}) of pruned to dense embeddings, {fidelity.Sentences} sentences of {Path.GetFullPath(Eval ?? Sts!)}");
        json["fidelity"] = fidelity.MeanCosine;
        json["fidelity_min"] = fidelity.MinCosine;
        json["fidelity_sentences"] = fidelity.Sentences;
        if (checks.Pairs != null)
        {
            var before = EncoderEvaluation.Sts(dense, checks.Pairs, ct);
            var after = EncoderEvaluation.Sts(pruned, checks.Pairs, ct);
            o.WriteLine($"sts        Spearman x 100 {before.Spearman:F2} -> {after.Spearman:F2} ({after.Spearman - before.Spearman:+0.00;-0.00}) on {before.Pairs} pairs of {Path.GetFullPath(Sts!)}");
            json["sts_before"] = before.Spearman;
            json["sts_after"] = after.Spearman;
            json["pairs"] = before.Pairs;
        }
        return json;
    }
}
