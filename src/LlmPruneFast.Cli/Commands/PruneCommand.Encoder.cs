using CommandLine;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>prune</c> on an encoder folder (model.onnx + vocab.txt): calibration on sentences, and dense vs pruned measured
/// as embedding fidelity (mean cosine) and, with <c>--sts</c>, STS Spearman before and after (see <see cref="GraphMeasurement"/>).
/// </summary>
public sealed partial class PruneCommand
{
    [Option("sts", HelpText = "Encoders: STS pair file (GLUE STS-B tsv or SentEval csv): Spearman x 100 before and after; fidelity is measured on its sentences unless --eval is given.")]
    public string? Sts { get; set; }
}
