using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// Scores the candidate plans of a multi-seed method (mi-random-pairs) by KL(dense || candidate), the mean over every
/// real position of the held-out sequences, in right-padded batches of <see cref="BatchSize"/> (as
/// <see cref="ModelComparison.Compare(ILogitsRunner, ILogitsRunner, IReadOnlyList{int[]}, int, IProgress{EvaluationProgress}?, CancellationToken)"/>).
/// Two paths give the same numbers up to float32 rounding:
/// <list type="bullet">
/// <item><see cref="Whole"/>: the dense model and each candidate's pruned model as whole-model graphs (memory grows
/// with the model: about 4.5 float32 copies of its weights).</item>
/// <item><see cref="Layered"/>: one pass over the decoder layers for the dense model and every candidate together.
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
        long chunk = ChunkPositions(shape.Vocab, longest) * (2 * v + d) * sizeof(float) + 2 * v * sizeof(double);
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

    /// <summary>Positions per head run: <see cref="LayerStreamedLogits.DefaultChunkBytes"/> of logits, at most the longest sequence.</summary>
    private static int ChunkPositions(int vocab, int longest) =>
        (int)Math.Clamp(LayerStreamedLogits.DefaultChunkBytes / ((long)vocab * sizeof(float)), 1, Math.Max(1, longest));

    /// <summary>
    /// Today's whole-model path: the dense graph built once, then per candidate its cut layers (<see cref="Pruner.ApplyPlan"/>
    /// over <paramref name="source"/>), its pruned graph, and the comparison on <paramref name="heldOut"/>.
    /// </summary>
    public static double[] Whole(LlamaConfig config, ITensorSource tensors, ILayerSource source, IReadOnlyList<PruningPlan> plans,
        IReadOnlyList<int[]> heldOut, OnnxRunnerOptions runnerOptions, IProgress<PruningProgress>? progress, CancellationToken ct)
    {
        using var dense = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors), runnerOptions);
        var kls = new double[plans.Count];
        for (int c = 0; c < plans.Count; c++)
        {
            ct.ThrowIfCancellationRequested();
            var layers = Pruner.ApplyPlan(plans[c], source, null, ct).ToArray();
            var (prunedConfig, prunedTensors) = PrunedModel.Build(config, tensors, layers);
            using var pruned = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(prunedConfig, prunedTensors), runnerOptions);
            kls[c] = ModelComparison.Compare(dense, pruned, heldOut, BatchSize, cancellationToken: ct).MeanKl;
            progress?.Report(new PruningProgress("score", c, plans.Count, (c + 1.0) / plans.Count));
        }
        return kls;
    }

    /// <summary>
    /// The layered path (see the class): one pass over the layers for the dense model and every candidate. Layers and
    /// activations are asked of <paramref name="source"/> in index order (a streaming source runs its calibration
    /// stream once more); the candidates are cut with the compensation each plan records, as <see cref="Pruner.ApplyPlan"/> does.
    /// </summary>
    public static double[] Layered(LlamaConfig config, ITensorSource tensors, ILayerSource source, IReadOnlyList<PruningPlan> plans,
        IReadOnlyList<int[]> heldOut, LayerStreamOptions options, IProgress<PruningProgress>? progress, CancellationToken ct)
    {
        int layers = config.NumHiddenLayers, d = config.HiddenSize, v = config.VocabSize, models = plans.Count + 1;
        if (source.LayerCount != layers) throw new BadArgumentException($"the layer source has {source.LayerCount} layers, the model {layers}");
        foreach (var plan in plans) plan.Validate();
        var batches = ModelComparison.Batches(heldOut, BatchSize);
        if (batches.Length == 0) throw new BadDataException("no held-out position to compare");
        LayerStream.CheckLength(config, batches.Max(b => b.Seq));
        var compensation = plans.Select(p => CompensationOptions.FromInfo(p.Compensation)).ToArray();
        var hidden = new HiddenStates[models];
        try
        {
            var lengths = batches.Select(b => (long)b.Ids.Length * d).ToArray();
            for (int m = 0; m < models; m++) hidden[m] = HiddenStates.Create(lengths, options.HiddenInMemoryLimitBytes, options.ScratchFolder);
            var embedding = LlamaLayerGraph.ReadChecked(tensors, LlamaTensorNames.Embedding, v, d);
            for (int b = 0; b < batches.Length; b++)
            {
                var x = LayerStream.Embed(embedding, batches[b].Ids, d, v);
                for (int m = 1; m < models; m++) hidden[m].Write(b, (float[])x.Clone());
                hidden[0].Write(b, x);
            }
            embedding = null; // the layers need the memory more

            float[] Dense(string name, int rows, int cols) =>
                cols == 0 ? LlamaLayerGraph.ReadChecked(tensors, name, rows) : LlamaLayerGraph.ReadChecked(tensors, name, rows, cols);
            using (var runner = new LlamaLayerRunner(config, options.Threads, options.Cuda))
                for (int l = 0; l < layers; l++)
                {
                    ct.ThrowIfCancellationRequested();
                    using (var loaded = runner.Load(l, config.FfnWidth(l), config.MlpBias, Dense))
                        hidden[0].Advance(runner, loaded, batches, ct);
                    var layer = source.Layer(l);
                    LayerStatistics? statistics = null;
                    for (int c = 0; c < plans.Count; c++)
                    {
                        var lp = plans[c].Layer(l) ?? new LayerPlan(l, Enumerable.Range(0, layer.Neurons).ToArray(), []);
                        if (lp.Removed.Count > 0 && compensation[c].Kind != CompensationKind.None)
                            statistics ??= new LayerStatistics(source.Activations(l, ct));   // one capture and covariance for every candidate
                        var sliced = Compensator.Apply(layer, lp, compensation[c], statistics, ct);
                        var ffn = PrunedModel.FfnTensors(config, sliced);
                        using (var loaded = runner.Load(l, sliced.Width, PrunedModel.FfnBias(config, sliced), (name, rows, cols) => ffn(name) ?? Dense(name, rows, cols)))
                            hidden[c + 1].Advance(runner, loaded, batches, ct);
                        // Each candidate's cut layer, its float64 working copy and the graph's transposed weights are
                        // large garbage now: left to the collector, the candidates of a layer pile up (measured at
                        // 1.1B: 3.1 GB peak while scoring against 1.3 GB while selecting).
                        LargeGarbage.Collect();
                    }
                    progress?.Report(new PruningProgress("score", l, layers, (l + 1.0) / layers));
                    LargeGarbage.Collect();   // the dense layer's weights, activations and statistics
                }
            using var head = new LlamaHeadRunner(config, tensors, options.Threads, options.Cuda);
            return Compare(head, hidden, batches, ChunkPositions(config.VocabSize, batches.Max(b => b.Seq)), ct);
        }
        finally
        {
            foreach (var h in hidden) h?.Dispose();
        }
    }

    /// <summary>
    /// Mean KL(dense || candidate) per candidate from the final hidden states (model 0 the dense one): positions in
    /// batch, row, position order for each candidate, as <see cref="ModelComparison"/> sums them; the dense logits of
    /// a chunk are made once for every candidate.
    /// </summary>
    private static double[] Compare(LlamaHeadRunner head, HiddenStates[] hidden, TokenBatch[] batches, int chunk, CancellationToken ct)
    {
        int d = head.HiddenSize, v = head.Vocab, candidates = hidden.Length - 1;
        var input = new float[(long)chunk * d];
        var denseLogits = new float[(long)chunk * v];
        var logits = new float[(long)chunk * v];
        var logA = new double[v];
        var logB = new double[v];
        var kl = new double[candidates];
        var agree = new long[candidates];
        var positions = new long[candidates];
        for (int b = 0; b < batches.Length; b++)
        {
            ct.ThrowIfCancellationRequested();
            var tokens = batches[b];
            var blocks = hidden.Select(h => h.Read(b)).ToArray();
            for (int r = 0; r < tokens.Batch; r++)
                for (int t0 = 0; t0 < tokens.Lengths[r]; t0 += chunk)
                {
                    int count = Math.Min(chunk, tokens.Lengths[r] - t0);
                    long start = ((long)r * tokens.Seq + tokens.Column(r, t0)) * d;
                    Array.Copy(blocks[0], start, input, 0, (long)count * d);
                    head.Run(input, count, denseLogits);
                    for (int c = 0; c < candidates; c++)
                    {
                        Array.Copy(blocks[c + 1], start, input, 0, (long)count * d);
                        head.Run(input, count, logits);
                        for (int t = 0; t < count; t++)
                            ModelComparison.Add(denseLogits.AsSpan(t * v, v), logits.AsSpan(t * v, v), logA, logB, ref kl[c], ref agree[c], ref positions[c]);
                    }
                }
        }
        var result = new double[candidates];
        for (int c = 0; c < candidates; c++) result[c] = ModelComparison.Result(kl[c], agree[c], positions[c], 0).MeanKl;
        return result;
    }
}
