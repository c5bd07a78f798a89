using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// How the candidate plans of a multi-seed method (mi-random-pairs) are scored by KL(dense || candidate), the mean over
/// every real position of the held-out sequences, in right-padded batches of <see cref="BatchSize"/> (as
/// <see cref="ModelComparison.Compare(ILogitsRunner, ILogitsRunner, IReadOnlyList{int[]}, int, IProgress{EvaluationProgress}?, CancellationToken)"/>):
/// the path and its memory and time estimates, from a <see cref="DecoderShape"/>. The family runs the paths (LLaMA:
/// the adapter in Models/Llama). Two paths give the same numbers up to float32 rounding:
/// <list type="bullet">
/// <item>Whole: the dense model and each candidate's pruned model as whole-model graphs (memory grows
/// with the model: about 4.5 float32 copies of its weights).</item>
/// <item>Layered: one pass over the decoder layers for the dense model and every candidate together.
/// Per layer, the dense layer runs on the dense held-out hidden states; the layer is cut for each candidate (one
/// activation capture and one <see cref="LayerStatistics"/> shared by all) and runs on that candidate's hidden states.
/// The head (final norm and classifier, which pruning leaves alone) then makes the logits a chunk of positions at a
/// time. Memory: one layer's weights, one cut layer, the held-out hidden states of every model and the head.</item>
/// </list>
/// </summary>
public static class CandidateScoring
{
    /// <summary>Held-out sequences per batch (the comparison's default).</summary>
    public const int BatchSize = 8;

    /// <summary>
    /// The path for <paramref name="requested"/>: auto takes the whole-model graphs when <paramref name="wholeBytes"/>
    /// (their peak with everything else the run holds) fits <paramref name="budgetBytes"/>, as <see cref="EvaluationPlan"/> does.
    /// </summary>
    public static EvaluationMode Choose(EvaluationMode requested, long wholeBytes, long budgetBytes) =>
        requested != EvaluationMode.Auto ? requested : wholeBytes <= budgetBytes ? EvaluationMode.Whole : EvaluationMode.Layers;

    /// <summary>
    /// Peak bytes of the whole-model path beyond the runtime baseline: the dense and one candidate's graph (as
    /// <see cref="EvaluationPlan"/> counts two models) and the candidate's cut layers, all in memory (down in float64).
    /// </summary>
    public static long WholeBytes(DecoderShape shape, IReadOnlyList<int> heldOutLengths, double ratio, int threads)
    {
        var plan = EvaluationPlan.Create(shape, heldOutLengths, inOrder: true, models: 2, EvaluationMode.Whole, long.MaxValue, BatchSize, threads);
        long cut = 0;
        for (int l = 0; l < shape.Layers; l++)
            cut += (long)((1 - ratio) * shape.FfnWidths[l]) * shape.Hidden * (2 * sizeof(float) + sizeof(double));
        return plan.TotalBytes - StreamingMemoryPlan.BaselineBytes + cut;
    }

    /// <summary>
    /// Bytes the layered path holds beyond what the prune's layer stream already counts (one layer's weights, its
    /// activations and statistics, one cut layer, one batch through a layer): the held-out hidden states of the dense
    /// model and <paramref name="candidates"/> candidates, the head (its weight read and transposed) and the logits of
    /// one chunk of positions for two models.
    /// </summary>
    public static long LayeredBytes(DecoderShape shape, IReadOnlyList<int> heldOutLengths, int candidates)
    {
        long d = shape.Hidden, v = shape.Vocab;
        var (padded, longest) = Layout(heldOutLengths);
        long hidden = (candidates + 1L) * padded * d * sizeof(float);
        long head = 2 * v * d * sizeof(float);
        long chunk = EvaluationPlan.ChunkPositions(shape.Vocab, longest) * (2 * v + d) * sizeof(float) + 2 * v * sizeof(double);
        return hidden + head + chunk;
    }

    /// <summary>Forward multiply-adds of the layered path, flop: every held-out token through every layer and the head, per model.</summary>
    public static double LayeredFlops(DecoderShape shape, IReadOnlyList<int> heldOutLengths, int candidates)
    {
        int d = shape.Hidden, heads = shape.Heads, kv = shape.KeyValueHeads;
        int hd = shape.HeadDim;
        var (padded, longest) = Layout(heldOutLengths);
        double real = heldOutLengths.Sum(n => (double)n);
        double layers = 0;
        for (int l = 0; l < shape.Layers; l++)
            layers += (double)d * hd * (2.0 * heads + 2.0 * kv) + 3.0 * shape.FfnWidths[l] * d + 2.0 * longest * heads * hd;
        return 2.0 * (candidates + 1) * ((double)padded * layers + real * d * shape.Vocab);
    }

    /// <summary>Padded tokens and the longest sequence of the comparison batches (<see cref="ModelComparison.Batches"/>).</summary>
    public static (long Padded, int Longest) Layout(IReadOnlyList<int> lengths)
    {
        long padded = 0;
        int longest = 0;
        foreach (var chunk in lengths.Where(n => n > 0).Chunk(BatchSize))
        {
            padded += (long)chunk.Length * chunk.Max();
            longest = Math.Max(longest, chunk.Max());
        }
        return (padded, longest);
    }
}
