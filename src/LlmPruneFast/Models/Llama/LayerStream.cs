using LlmPruneFast.Capture;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// Calibration capture one decoder layer at a time: the sampled sequences (<see cref="CalibrationSample"/>, in the
/// whole-model capture's batches and padding) are embedded once; their hidden states are carried from layer to layer
/// (<see cref="HiddenStates"/>), and running layer l yields its FFN activations at the sampled rows. Only one layer's
/// weights and one layer's activation store are held at a time. Layers are visited in order; <see cref="Restart"/>
/// goes back to the embeddings. Owns its sessions and scratch: dispose it.
/// </summary>
public sealed class LayerStream : IDecoderLayerStream
{
    private readonly LlamaConfig _config;
    private readonly ITensorSource _tensors;
    private readonly CalibrationSample _sample;
    private readonly TokenBatch[] _batches;
    private readonly int[][] _members;
    private readonly HiddenStates _hidden;
    private readonly LlamaLayerRunner _runner;

    /// <summary>The layer whose input the carried hidden states are.</summary>
    public int Position { get; private set; }

    /// <summary>True when the hidden states live in a memory-mapped scratch file.</summary>
    public bool FileBacked => _hidden.FileBacked;

    /// <summary>Bytes of the carried hidden states (all batches, padding included).</summary>
    public long HiddenBytes { get; }

    public CalibrationSample Sample => _sample;

    public LayerStream(LlamaConfig config, ITensorSource tensors, CalibrationSample sample, LayerStreamOptions? options = null)
    {
        options ??= new();
        CheckLength(config, sample.Longest);
        _config = config;
        _tensors = tensors;
        _sample = sample;
        _members = sample.Batches().ToArray();
        _batches = _members.Select(m => TokenBatch.Create(m.Select(q => sample.Sequences[q]).ToArray(), PadSide.Right, 0)).ToArray();
        var lengths = _batches.Select(b => (long)b.Ids.Length * config.HiddenSize).ToArray();
        HiddenBytes = lengths.Sum() * sizeof(float);
        _hidden = HiddenStates.Create(lengths, options.HiddenInMemoryLimitBytes, options.ScratchFolder);
        _runner = new LlamaLayerRunner(config, options.Threads, options.Cuda);
        try
        {
            Restart();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Refuses sequences the layer graph would not compute as the model does: longer than the positions, or (Qwen2 with
    /// use_sliding_window, whose windowed layers are built with full attention) longer than the window, as the
    /// whole-model runner does.
    /// </summary>
    /// <exception cref="BadArgumentException">The longest calibration sequence is too long.</exception>
    public static void CheckLength(LlamaConfig config, int longest)
    {
        if (longest > config.MaxPositionEmbeddings)
            throw new BadArgumentException($"sequence length {longest} exceeds the model's {config.MaxPositionEmbeddings} positions");
        OnnxLlamaRunner.RequireWithinWindow(longest, config.UnbuiltWindowLimit);
    }

    /// <summary>Hidden states back to the token embeddings (the input of layer 0).</summary>
    public void Restart()
    {
        int d = _config.HiddenSize, v = _config.VocabSize;
        var embedding = LlamaLayerGraph.ReadChecked(_tensors, LlamaTensorNames.Embedding, v, d);
        for (int b = 0; b < _batches.Length; b++) _hidden.Write(b, Embed(embedding, _batches[b].Ids, d, v));
        Position = 0;
    }

    /// <summary>The rows of <paramref name="embedding"/> [v x d] for <paramref name="ids"/>: a layer-0 input.</summary>
    /// <exception cref="BadArgumentException">An id outside [0, v).</exception>
    public static float[] Embed(float[] embedding, long[] ids, int d, int v)
    {
        var x = new float[(long)ids.Length * d];
        for (int t = 0; t < ids.Length; t++)
        {
            if (ids[t] < 0 || ids[t] >= v) throw new BadArgumentException($"token id {ids[t]} is outside the vocabulary [0, {v})");
            Array.Copy(embedding, ids[t] * d, x, (long)t * d, d);
        }
        return x;
    }

    /// <summary>
    /// Runs dense layer <paramref name="layer"/> (the stream must be at it) and returns its FFN activations at the
    /// sampled rows [S x N] (and at the excluded leading positions, <see cref="CalibrationSample.LeadingRows"/>); with <paramref name="advance"/> the hidden states move on to its output.
    /// </summary>
    public LayerActivations Capture(int layer, bool advance, IProgress<double>? progress = null, CancellationToken ct = default)
    {
        CheckPosition(layer);
        int n = _config.FfnWidth(layer);
        var store = new float[(long)_sample.Samples * n];
        var leadingRows = _sample.LeadingRows;
        var lead = new float[(long)leadingRows.Count * n];
        using (var loaded = _runner.Load(layer, n, _config.MlpBias, Dense))
            RunAll(loaded, advance && layer < _config.NumHiddenLayers - 1, (b, taps, tokens) =>
            {
                var members = _members[b];
                for (int r = 0; r < members.Length; r++)
                {
                    foreach (var (position, row) in _sample.PerSequence[members[r]])
                    {
                        long source = (long)r * tokens.Seq + tokens.Column(r, position);
                        taps.AsSpan().Slice((int)(source * n), n).CopyTo(store.AsSpan().Slice((int)((long)row * n), n));
                    }
                    if (leadingRows.TryGetValue(members[r], out int leadRow))
                    {
                        long source = (long)r * tokens.Seq + tokens.Column(r, 0);
                        taps.AsSpan().Slice((int)(source * n), n).CopyTo(lead.AsSpan().Slice((int)((long)leadRow * n), n));
                    }
                }
            }, progress, ct);
        if (advance) Position++;
        return new LayerActivations(layer, _sample.Samples, n, store,
            leadingRows.Count > 0 ? new LeadingActivations(leadingRows.Count, n, lead, _sample.LeadingShare) : null);
    }

    /// <summary>
    /// Moves the hidden states through layer <paramref name="layer"/> with other FFN weights (e.g. the layer pruned and
    /// compensated): width <paramref name="width"/>, FFN biases when <paramref name="bias"/>, and <paramref name="ffn"/>
    /// giving a tensor by name (null: the checkpoint's own).
    /// </summary>
    public void Advance(int layer, int width, bool bias, Func<string, float[]?> ffn, IProgress<double>? progress = null, CancellationToken ct = default)
    {
        CheckPosition(layer);
        if (layer < _config.NumHiddenLayers - 1)
        {
            using var loaded = _runner.Load(layer, width, bias, (name, rows, cols) => ffn(name) ?? Dense(name, rows, cols));
            RunAll(loaded, advance: true, null, progress, ct);
        }
        Position++;
    }

    /// <summary>Moves the hidden states through <paramref name="sliced"/>, laid out as the pruned model is (<see cref="PrunedModel.Advance"/>).</summary>
    public void Advance(int layer, SlicedFfnLayer sliced, CancellationToken ct) => PrunedModel.Advance(this, _config, layer, sliced, ct);

    private void RunAll(LoadedLayer loaded, bool advance, Action<int, float[], TokenBatch>? onTaps, IProgress<double>? progress, CancellationToken ct) =>
        _hidden.Run(_runner, loaded, _batches, advance, onTaps == null ? null : (b, taps) => onTaps(b, taps, _batches[b]), ct,
            b => progress?.Report((b + 1.0) / _batches.Length));

    private float[] Dense(string name, int rows, int cols) =>
        cols == 0 ? LlamaLayerGraph.ReadChecked(_tensors, name, rows) : LlamaLayerGraph.ReadChecked(_tensors, name, rows, cols);

    private void CheckPosition(int layer)
    {
        if (layer != Position) throw new InvalidOperationException($"the stream is at layer {Position}, asked for layer {layer}");
        if (layer < 0 || layer >= _config.NumHiddenLayers) throw new ArgumentOutOfRangeException(nameof(layer));
    }

    public void Dispose()
    {
        _runner.Dispose();
        _hidden.Dispose();
    }
}
