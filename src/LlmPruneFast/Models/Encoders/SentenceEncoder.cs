using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;

using LlmPruneFast.Models.OnnxGraph;

namespace LlmPruneFast.Models.Encoders;

/// <summary>How <see cref="SentenceEncoder"/> tokenizes, batches and pools.</summary>
public sealed record SentenceEncoderOptions
{
    /// <summary>Pooling; null = what the folder's sentence-transformers config says (mean when it has none).</summary>
    public Pooling? Pooling { get; init; }

    /// <summary>Longest input in tokens, [CLS] and [SEP] included; null = the folder's max_seq_length (else 512).</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Sentences per ONNX Runtime run.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Threads inside each operator; 0 = one per processor.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>ONNX Runtime's CUDA provider (<see cref="Devices.ComputeDevice.OnnxCuda"/>).</summary>
    public bool UseCuda { get; init; }
}

/// <summary>
/// Sentence embeddings from an encoder folder (see <see cref="EncoderFolder"/>) in ONNX Runtime: WordPiece inputs as
/// the graph declares them, token states from its [batch, seq, hidden] output, then mean pooling over the attention
/// mask or the first token. Owns its native session: dispose it.
/// </summary>
public sealed class SentenceEncoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string _outputName;
    private readonly int _batchSize;

    public EncoderFolder Folder { get; }
    public WordPieceFeed Feed { get; }
    public Pooling Pooling { get; }
    public int MaxTokens { get; }

    /// <summary>Parameters: elements of the graph's floating-point initializers.</summary>
    public long Parameters { get; }

    /// <summary>Width of an embedding (the graph's hidden size).</summary>
    public int Dimension { get; }

    private SentenceEncoder(EncoderFolder folder, SentenceEncoderOptions options)
    {
        if (options.BatchSize <= 0) throw new BadArgumentException($"batch size must be positive, got {options.BatchSize}");
        if (options.MaxTokens is < 2) throw new BadArgumentException($"max tokens must be at least 2 ([CLS] and [SEP]), got {options.MaxTokens}");
        Folder = folder;
        Pooling = options.Pooling ?? folder.Pooling;
        _batchSize = options.BatchSize;
        Feed = WordPieceFeed.Open(folder.VocabPath, folder.LowerCase);
        var proto = OnnxModelFile.Load(folder.ModelPath); // our own messages for a malformed file or missing external data
        // Never more tokens than the graph's position table holds (a config may say more than the export kept).
        int tokens = options.MaxTokens ?? folder.MaxTokens;
        MaxTokens = PositionTables.Limit(new GraphIndex(proto.Graph)) is { } limit ? Math.Min(tokens, limit.Positions) : tokens;
        Parameters = proto.Graph.Initializer
            .Where(t => t.DataType is (int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Float16 or (int)TensorProto.Types.DataType.Bfloat16 or (int)TensorProto.Types.DataType.Double)
            .Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b));
        using var so = Devices.OnnxProviders.NewOptions(options.IntraOpThreads);
        Devices.OnnxProviders.Configure(so, options.UseCuda);
        try
        {
            _session = new InferenceSession(folder.ModelPath, so);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new BadModelFileException($"ONNX Runtime cannot load '{folder.ModelPath}': {ex.Message}", ex);
        }
        try
        {
            _inputNames = [.. _session.InputMetadata.Keys];
            Feed.Inputs(TokenBatch.Create([[Feed.PadId]]), _inputNames); // refuses an input the feed cannot supply, now
            var outputs = _session.OutputMetadata;
            _outputName = new[] { "last_hidden_state", "token_embeddings" }.FirstOrDefault(outputs.ContainsKey)
                          ?? outputs.FirstOrDefault(o => o.Value.Dimensions.Length == 3 && o.Value.ElementType == typeof(float)).Key
                          ?? throw new UnsupportedArchitectureException($"'{folder.ModelPath}' has no float [batch, seq, hidden] output to pool token states from");
            Dimension = outputs[_outputName].Dimensions[^1];
            if (Dimension <= 0) // symbolic in torch exports: ask the graph once on [CLS] [SEP]
            {
                var probe = TokenBatch.Create([Feed.Encode("", 2)], Feed.Side, Feed.PadId);
                Dimension = RunStates(probe).Length / probe.Seq;
            }
        }
        catch
        {
            _session.Dispose();
            _runOptions.Dispose();
            throw;
        }
    }

    /// <summary>Opens the encoder folder at <paramref name="modelPath"/> (or holding that model.onnx).</summary>
    public static SentenceEncoder Open(string modelPath, SentenceEncoderOptions? options = null) =>
        new(EncoderFolder.Open(modelPath), options ?? new());

    /// <summary>
    /// One embedding per sentence, in input order. Sentences are batched by token length (less padding; the mask
    /// makes the result independent of batching up to float rounding).
    /// </summary>
    public float[][] Embed(IReadOnlyList<string> sentences, CancellationToken ct = default)
    {
        var tokens = sentences.Select(s => Feed.Encode(s, MaxTokens)).ToArray();
        var order = Enumerable.Range(0, tokens.Length).OrderBy(i => tokens[i].Length).ToArray();
        var result = new float[sentences.Count][];
        for (int start = 0; start < order.Length; start += _batchSize)
        {
            ct.ThrowIfCancellationRequested();
            var rows = order.AsSpan(start, Math.Min(_batchSize, order.Length - start)).ToArray();
            var batch = TokenBatch.Create(rows.Select(i => tokens[i]).ToArray(), Feed.Side, Feed.PadId);
            var pooled = Pool(RunStates(batch), batch);
            for (int r = 0; r < rows.Length; r++) result[rows[r]] = pooled[r];
        }
        return result;
    }

    /// <summary>One forward pass on a padded batch; the token states [batch, seq, hidden], row-major.</summary>
    public float[] RunStates(TokenBatch batch)
    {
        var feeds = Feed.Inputs(batch, _inputNames);
        long[] shape = [batch.Batch, batch.Seq];
        var values = _inputNames.Select(n => OrtValue.CreateTensorValueFromMemory(feeds[n], shape)).ToArray();
        try
        {
            using var outputs = _session.Run(_runOptions, _inputNames, values, [_outputName]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        catch (OnnxRuntimeException ex)
        {
            throw new BadModelFileException($"ONNX Runtime failed on '{Folder.ModelPath}': {ex.Message}", ex);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private float[][] Pool(float[] states, TokenBatch batch)
    {
        int d = Dimension;
        var pooled = new float[batch.Batch][];
        for (int r = 0; r < batch.Batch; r++)
        {
            var e = new float[d];
            if (Pooling == Pooling.Cls)
            {
                states.AsSpan((r * batch.Seq + batch.Column(r, 0)) * d, d).CopyTo(e);
            }
            else
            {
                var sum = new double[d];
                for (int t = 0; t < batch.Lengths[r]; t++)
                {
                    var row = states.AsSpan((r * batch.Seq + batch.Column(r, t)) * d, d);
                    for (int j = 0; j < d; j++) sum[j] += row[j];
                }
                for (int j = 0; j < d; j++) e[j] = (float)(sum[j] / batch.Lengths[r]);
            }
            pooled[r] = e;
        }
        return pooled;
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}
