using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// Logits of a LLaMA checkpoint computed one decoder layer at a time, so that a model whose whole-model graph does not
/// fit in memory can still be evaluated: every batch's tokens are embedded, then run through layer 0 for all batches,
/// layer 1 for all batches, and so on, with the hidden states carried between layers (<see cref="HiddenStates"/>,
/// memory-mapped when over <see cref="LayerStreamOptions.HiddenInMemoryLimitBytes"/>); only one layer's weights are held
/// at a time. The final norm and classifier (<see cref="LlamaHeadRunner"/>) then run a chunk of positions at a time, so
/// the [tokens x vocab] logits never exist whole. The layer graph and the head are the whole-model graph's own emitter
/// code, so the numbers are the whole-model runner's up to float32 rounding.
/// </summary>
public sealed class LayerStreamedLogits(LlamaConfig config, ITensorSource tensors, LayerStreamOptions? options = null) : ILogitsSource
{
    /// <summary>Default bytes of logits made per head run (positions = this / (vocab x 4), at least 1).</summary>
    public const long DefaultChunkBytes = EvaluationPlan.LogitsChunkBytes;

    private readonly LayerStreamOptions _options = options ?? new();

    public int Vocab => config.VocabSize;
    public int MaxPositions => config.MaxPositionEmbeddings;

    /// <summary>Progress label of the layer runs ("layer" by default; "dense layer" / "pruned layer" when comparing).</summary>
    public string Label { get; init; } = "layer";

    /// <summary>Bytes of logits made per head run.</summary>
    public long ChunkBytes { get; init; } = DefaultChunkBytes;

    /// <summary>Positions per head run for this vocabulary.</summary>
    public int ChunkPositions => (int)Math.Clamp(ChunkBytes / ((long)config.VocabSize * sizeof(float)), 1, 1 << 20);

    /// <summary>Runs every layer over <paramref name="batches"/> now; the head runs as positions are read.</summary>
    public IBatchLogits Prepare(IReadOnlyList<TokenBatch> batches, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (batches.Count == 0) throw new BadArgumentException("no batch to evaluate");
        LayerStream.CheckLength(config, batches.Max(b => b.Seq));
        var hidden = Forward(batches, progress, cancellationToken);
        try
        {
            return new Streamed(hidden, new LlamaHeadRunner(config, tensors, _options.Threads, _options.Cuda), batches, ChunkPositions, Label, progress, cancellationToken);
        }
        catch
        {
            hidden.Dispose();
            throw;
        }
    }

    /// <summary>The last layer's outputs (before the final norm) of every batch.</summary>
    private HiddenStates Forward(IReadOnlyList<TokenBatch> batches, IProgress<EvaluationProgress>? progress, CancellationToken ct)
    {
        int d = config.HiddenSize, v = config.VocabSize, layers = config.NumHiddenLayers;
        var hidden = HiddenStates.Create(batches.Select(b => (long)b.Ids.Length * d).ToArray(), _options.HiddenInMemoryLimitBytes, _options.ScratchFolder);
        try
        {
            var embedding = LlamaLayerGraph.ReadChecked(tensors, LlamaTensorNames.Embedding, v, d);
            for (int b = 0; b < batches.Count; b++) hidden.Write(b, LayerStream.Embed(embedding, batches[b].Ids, d, v));
            embedding = null; // the layers need the memory more
            using var runner = new LlamaLayerRunner(config, _options.Threads, _options.Cuda);
            for (int l = 0; l < layers; l++)
            {
                string stage = $"{Label} {l + 1}/{layers}";
                progress?.Report(new EvaluationProgress(stage, 0, batches.Count));
                using (var loaded = runner.Load(l, config.FfnWidth(l), config.MlpBias, Read))
                    hidden.Advance(runner, loaded, batches, ct, b => progress?.Report(new EvaluationProgress(stage, b + 1, batches.Count)));
                // Each layer's weights are large arrays read and transposed afresh (1.5 GB at 7B); left to the GC's own
                // pace, several layers' worth pile up before a full collection (measured: 5.5 GB anonymous at 7B
                // against a 3.7 GB plan; 2.6 GB peak with this). One collection per layer costs little against its run.
                LargeGarbage.Collect();
            }
            return hidden;
        }
        catch
        {
            hidden.Dispose();
            throw;
        }
    }

    private float[] Read(string name, int rows, int cols) =>
        cols == 0 ? LlamaLayerGraph.ReadChecked(tensors, name, rows) : LlamaLayerGraph.ReadChecked(tensors, name, rows, cols);

    /// <summary>Final hidden states and the head: logits made for up to <c>chunk</c> consecutive real positions of a row per run.</summary>
    private sealed class Streamed(HiddenStates hidden, LlamaHeadRunner head, IReadOnlyList<TokenBatch> batches, int chunk, string label,
        IProgress<EvaluationProgress>? progress, CancellationToken ct) : IBatchLogits
    {
        private readonly float[] _input = new float[(long)chunk * head.HiddenSize];
        private readonly float[] _logits = new float[(long)chunk * head.Vocab];
        private int _batch = -1;
        private float[] _block = [];
        private long _start = -1;
        private int _count;

        public ReadOnlySpan<float> At(int batch, int row, int position)
        {
            var tokens = batches[batch];
            if ((uint)row >= (uint)tokens.Batch || (uint)position >= (uint)tokens.Seq) throw new ArgumentOutOfRangeException(nameof(position));
            if (batch != _batch)
            {
                ct.ThrowIfCancellationRequested();
                _block = hidden.Read(batch);
                (_batch, _start, _count) = (batch, -1, 0);
                progress?.Report(new EvaluationProgress($"{label} logits", batch + 1, batches.Count));
            }
            long index = (long)row * tokens.Seq + position;
            if (index < _start || index >= _start + _count)
            {
                // Up to the end of the row's real tokens (right padding) or the row (left padding): padding is never run.
                long rowEnd = (long)row * tokens.Seq + (tokens.Side == PadSide.Right ? Math.Max(tokens.Lengths[row], position + 1) : tokens.Seq);
                int d = head.HiddenSize;
                _start = index;
                _count = (int)Math.Min(chunk, rowEnd - index);
                Array.Copy(_block, index * d, _input, 0, (long)_count * d);
                head.Run(_input, _count, _logits);
            }
            return _logits.AsSpan((int)(index - _start) * head.Vocab, head.Vocab);
        }

        public void Dispose()
        {
            head.Dispose();
            hidden.Dispose();
        }
    }
}
