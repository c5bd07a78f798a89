using Google.Protobuf;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// Runs a graph from <see cref="LlamaOnnxBuilder"/> in ONNX Runtime. Sequential execution, a fixed thread count and
/// fixed inputs give bit-identical outputs. Owns its native session: dispose it.
/// </summary>
public sealed class OnnxLlamaRunner : IDisposable, ILogitsRunner
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly int[] _tapWidths;
    private readonly bool _hasLogits;
    private readonly int _tokenLimit; // embedding rows: ids must be below it
    private readonly int _windowLimit; // longest sequence computed as the model does (see LlamaOnnxBuilder.MaxSequenceKey)
    private bool _disposed;

    /// <summary>Vocabulary size (last dimension of logits).</summary>
    public int Vocab { get; }

    /// <summary>Largest sequence length the graph's position tables allow.</summary>
    public int MaxPositions { get; }

    /// <summary>Widths N_l of the FFN taps, empty when the graph has none.</summary>
    public IReadOnlyList<int> TapWidths => _tapWidths;

    /// <summary>Execution providers in use, in priority order (e.g. "CUDAExecutionProvider", "CPUExecutionProvider").</summary>
    public IReadOnlyList<string> Providers { get; }

    private OnnxLlamaRunner(Func<SessionOptions, InferenceSession> open, OnnxRunnerOptions options, ModelProto model)
    {
        MaxPositions = model.Graph.Initializer.FirstOrDefault(t => t.Name == "rope_cos") is { } cos ? (int)cos.Dims[0] : int.MaxValue;
        _windowLimit = model.MetadataProps.FirstOrDefault(m => m.Key == LlamaOnnxBuilder.MaxSequenceKey) is { } limit ? int.Parse(limit.Value, System.Globalization.CultureInfo.InvariantCulture) : int.MaxValue;
        _tokenLimit = model.Graph.Initializer.FirstOrDefault(t => t.Name == LlamaTensorNames.Embedding) is { } e ? (int)e.Dims[0] : int.MaxValue;
        using var so = Devices.OnnxProviders.NewOptions(options.IntraOpThreads);
        if (options.ProfilePrefix != null)
        {
            so.ProfileOutputPathPrefix = options.ProfilePrefix; // read when profiling is switched on, so set first
            so.EnableProfiling = true;
        }
        Providers = Devices.OnnxProviders.Configure(so, options.UseCuda, options.CudaDeviceId);
        _session = open(so);
        try
        {
            var outputs = _session.OutputMetadata;
            if (!_session.InputMetadata.ContainsKey(LlamaOnnxBuilder.InputIds) || !_session.InputMetadata.ContainsKey(LlamaOnnxBuilder.AttentionMask))
                throw new BadModelFileException($"ONNX graph lacks inputs '{LlamaOnnxBuilder.InputIds}' and '{LlamaOnnxBuilder.AttentionMask}'");
            _hasLogits = outputs.TryGetValue(LlamaOnnxBuilder.Logits, out var logits);
            Vocab = _hasLogits ? (int)logits!.Dimensions[^1] : 0;
            var widths = new List<int>();
            for (int l = 0; outputs.TryGetValue(LlamaOnnxBuilder.TapName(l), out var tap); l++) widths.Add(tap.Dimensions[^1]);
            _tapWidths = [.. widths];
        }
        catch
        {
            _session.Dispose();
            _runOptions.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A runner over an in-memory graph: serialized for ONNX Runtime when under
    /// <see cref="OnnxRunnerOptions.InMemoryLimitBytes"/> (2 GB), otherwise saved with external data to a temporary
    /// folder that the runner deletes on dispose (a protobuf message cannot exceed 2 GB).
    /// </summary>
    public static OnnxLlamaRunner Create(ModelProto model, OnnxRunnerOptions? options = null)
    {
        options ??= new();
        if (OnnxModelFile.SerializedSize(model) < Math.Min(options.InMemoryLimitBytes, OnnxModelFile.ProtobufLimitBytes))
        {
            byte[] bytes = model.ToByteArray();
            return new OnnxLlamaRunner(so => new InferenceSession(bytes, so), options, model);
        }
        string folder = Path.Combine(Path.GetTempPath(), "llmprune-graph-" + Guid.NewGuid().ToString("N"));
        try
        {
            string path = Path.Combine(folder, "model.onnx");
            OnnxModelFile.Save(model, path, new OnnxSaveOptions { ExternalDataFile = "model.onnx.data" });
            return new OnnxLlamaRunner(so => new InferenceSession(path, so), options, model) { _scratch = folder };
        }
        catch
        {
            DeleteScratch(folder);
            throw;
        }
    }

    /// <summary>Temporary folder of an external-data graph, removed on dispose (null for in-memory graphs).</summary>
    private string? _scratch;

    /// <summary>True when the session was opened from a temporary external-data copy (graphs over the in-memory limit).</summary>
    public bool UsesExternalData => _scratch != null;

    private static void DeleteScratch(string folder)
    {
        try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
        catch (IOException) { }   // best effort: a leftover temp folder is not worth failing a run for
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>A runner over a saved model.onnx (external data is found next to it).</summary>
    public static OnnxLlamaRunner Create(string onnxPath, OnnxRunnerOptions? options = null)
    {
        var model = OnnxModelFile.Load(onnxPath); // validates the file and its external data with our own messages
        return new OnnxLlamaRunner(so => new InferenceSession(onnxPath, so), options ?? new(), model);
    }

    /// <summary>Refuses a sequence longer than a qwen2 sliding window whose windowed layers are not built (see <see cref="LlamaConfig.UnbuiltWindowLimit"/>).</summary>
    public static void RequireWithinWindow(int seq, int? windowLimit)
    {
        if (seq > windowLimit)
            throw new BadArgumentException($"sequence length {seq} exceeds the sliding_window {windowLimit} of a qwen2 config with use_sliding_window true (windowed layers are not built); use shorter texts or a config with use_sliding_window false");
    }

    /// <summary>
    /// One forward pass over a [batch, seq] block of token ids and attention mask (1 = token, 0 = padding).
    /// Returns logits [batch, seq, vocab] and, with <paramref name="taps"/>, every layer's FFN activation.
    /// </summary>
    public RunResult Run(ReadOnlySpan<long> ids, ReadOnlySpan<long> mask, int batch, int seq, bool taps = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (batch <= 0 || seq <= 0) throw new BadArgumentException($"batch {batch} and seq {seq} must be positive");
        if (ids.Length != batch * seq || mask.Length != batch * seq)
            throw new BadArgumentException($"ids ({ids.Length}) and mask ({mask.Length}) must both hold batch x seq = {batch * seq} values");
        if (seq > MaxPositions) throw new BadArgumentException($"sequence length {seq} exceeds the model's {MaxPositions} positions");
        RequireWithinWindow(seq, _windowLimit);
        if (taps && _tapWidths.Length == 0) throw new BadArgumentException("taps requested but the graph was built without them");
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] < 0 || ids[i] >= _tokenLimit) throw new BadArgumentException($"token id {ids[i]} at {i} is outside the vocabulary [0, {_tokenLimit})");

        long[] shape = [batch, seq];
        var logits = _hasLogits ? new float[(long)batch * seq * Vocab] : [];
        float[][]? tapData = taps ? _tapWidths.Select(n => new float[(long)batch * seq * n]).ToArray() : null;
        var inputNames = new[] { LlamaOnnxBuilder.InputIds, LlamaOnnxBuilder.AttentionMask };
        var outputNames = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            // ORT reads the inputs and writes the outputs in place: each OrtValue pins its managed array until disposed.
            values.Add(OrtValue.CreateTensorValueFromMemory(ids.ToArray(), shape));
            values.Add(OrtValue.CreateTensorValueFromMemory(mask.ToArray(), shape));
            if (_hasLogits)
            {
                outputNames.Add(LlamaOnnxBuilder.Logits);
                values.Add(OrtValue.CreateTensorValueFromMemory(logits, [batch, seq, Vocab]));
            }
            for (int l = 0; tapData != null && l < tapData.Length; l++)
            {
                outputNames.Add(LlamaOnnxBuilder.TapName(l));
                values.Add(OrtValue.CreateTensorValueFromMemory(tapData[l], [batch, seq, _tapWidths[l]]));
            }
            _session.Run(_runOptions, inputNames, values.Take(2).ToArray(), outputNames, values.Skip(2).ToArray());
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
        return new RunResult { Batch = batch, Seq = seq, Vocab = Vocab, Logits = logits, Taps = tapData };
    }

    /// <summary>Runs a padded batch (see <see cref="TokenBatch"/>).</summary>
    public RunResult Run(TokenBatch batch, bool taps = false) => Run(batch.Ids, batch.Mask, batch.Batch, batch.Seq, taps);

    RunResult ILogitsRunner.Run(TokenBatch batch) => Run(batch);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
        _runOptions.Dispose();
        if (_scratch != null) DeleteScratch(_scratch);
    }
}
