using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// The two candidate-scoring paths of a multi-seed method (mi-random-pairs) on a LLaMA checkpoint, chosen and sized by
/// the pipeline's CandidateScoring: KL(dense || candidate) over the held-out sequences in right-padded batches.
/// <list type="bullet">
/// <item><see cref="Whole"/>: the dense model and each candidate's pruned model as whole-model graphs (memory grows
/// with the model: about 4.5 float32 copies of its weights).</item>
/// <item><see cref="Layered"/>: one pass over the decoder layers for the dense model and every candidate together.
/// Per layer, the dense layer runs on the dense held-out hidden states; the layer is cut for each candidate (one
/// activation capture and one <see cref="LayerStatistics"/> shared by all) and runs on that candidate's hidden states.
/// The head (final norm and classifier, which pruning leaves alone) then makes the logits a chunk of positions at a
/// time. Memory: one layer's weights, one cut layer, the held-out hidden states of every model and the head.</item>
/// </list>
/// The two give the same numbers up to float32 rounding.
/// </summary>
public static class LlamaCandidateScoring
{
    /// <summary>
    /// Today's whole-model path: the dense graph built once, then per candidate its cut layers (<see cref="Pruner.ApplyPlan"/>
    /// over <paramref name="source"/>), its pruned graph, and the comparison on <paramref name="heldOut"/>.
    /// </summary>
    public static double[] Whole(LlamaConfig config, ITensorSource tensors, ILayerSource source, IReadOnlyList<PruningPlan> plans,
        IReadOnlyList<int[]> heldOut, int batchSize, OnnxRunnerOptions runnerOptions, IProgress<PruningProgress>? progress, CancellationToken ct)
    {
        using var dense = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors), runnerOptions);
        var kls = new double[plans.Count];
        for (int c = 0; c < plans.Count; c++)
        {
            ct.ThrowIfCancellationRequested();
            var layers = Pruner.ApplyPlan(plans[c], source, null, ct).ToArray();
            var (prunedConfig, prunedTensors) = PrunedModel.Build(config, tensors, layers);
            using var pruned = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(prunedConfig, prunedTensors), runnerOptions);
            kls[c] = ModelComparison.Compare(dense, pruned, heldOut, batchSize, cancellationToken: ct).MeanKl;
            progress?.Report(new PruningProgress("score", c, plans.Count, (c + 1.0) / plans.Count));
        }
        return kls;
    }

    /// <summary>
    /// The layered path: one pass over the layers for the dense model and every candidate. Layers and
    /// activations are asked of <paramref name="source"/> in index order (a streaming source runs its calibration
    /// stream once more); the candidates are cut with the compensation each plan records, as <see cref="Pruner.ApplyPlan"/> does.
    /// </summary>
    public static double[] Layered(LlamaConfig config, ITensorSource tensors, ILayerSource source, IReadOnlyList<PruningPlan> plans,
        IReadOnlyList<int[]> heldOut, int batchSize, LayerStreamOptions options, IProgress<PruningProgress>? progress, CancellationToken ct)
    {
        int layers = config.NumHiddenLayers, d = config.HiddenSize, v = config.VocabSize, models = plans.Count + 1;
        if (source.LayerCount != layers) throw new BadArgumentException($"the layer source has {source.LayerCount} layers, the model {layers}");
        foreach (var plan in plans) plan.Validate();
        var batches = ModelComparison.Batches(heldOut, batchSize);
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
            return Compare(head, hidden, batches, EvaluationPlan.ChunkPositions(config.VocabSize, batches.Max(b => b.Seq)), ct);
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
