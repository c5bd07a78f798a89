using Google.Protobuf;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using LlmPruneFast.Models.OnnxGraph;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace LlmPruneFast.Capture;

/// <summary>
/// Calibration capture on a foreign ONNX graph: each FFN block's activation z (the down projection's input) becomes
/// an extra graph output, the graph runs in ONNX Runtime on the inputs an <see cref="IGraphFeed"/> makes from the
/// text, and sampling is <see cref="CalibrationCapture"/>'s own (the same positions as any other model family).
/// </summary>
public static class GraphCalibrationCapture
{
    /// <summary>Tokens per sequence when <see cref="CalibrationOptions.MaxLength"/> is 0, unless the graph's position table is shorter.</summary>
    public const int DefaultMaxLength = 512;

    public static CalibrationSet Run(OnnxGraphModel model, IGraphFeed feed, string text, string textName, CalibrationOptions options,
        IProgress<CaptureProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        model.RequirePrunable();
        int maxLength = model.CapLength(options.MaxLength > 0 ? options.MaxLength : DefaultMaxLength);
        var tapModel = new TapModel
        {
            Widths = model.Blocks.Select(b => b.Width).ToArray(),
            MaxLength = maxLength,
            // The feed's ids of an empty text are its special tokens alone: the first of them leads every sequence.
            LeadingSpecialId = feed.Encode("", maxLength) is [var lead, ..] ? lead : null,
            // A causal model's paragraphs are cut into windows after encoding, so its feed encodes them whole.
            Encode = feed.Causal ? t => feed.Encode(t, int.MaxValue) : t => feed.Encode(t, maxLength),
            Causal = feed.Causal,
            Side = feed.Side,
            PadId = feed.PadId,
            Open = () => new GraphTapRunner(TapGraph(model), model.Path, model.Blocks, feed, options.Threads, options.Cuda),
        };
        return CalibrationCapture.Run(tapModel, text, textName, options, progress, cancellationToken);
    }

    /// <summary>A copy of the graph with every block's activation tensor as an extra output.</summary>
    public static ModelProto TapGraph(OnnxGraphModel model)
    {
        var tapped = model.Model.Clone(); // tensor bytes are shared, not copied
        var outputs = tapped.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var b in model.Blocks)
            if (outputs.Add(b.ActivationTensor))
                tapped.Graph.Output.Add(new ValueInfoProto
                {
                    Name = b.ActivationTensor,
                    Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
                });
        return tapped;
    }

    /// <summary>Runs the tapped graph in ONNX Runtime and returns the activation outputs.</summary>
    private sealed class GraphTapRunner : ITapRunner
    {
        private readonly GraphSession _session;
        private readonly IReadOnlyList<OnnxFfnBlock> _blocks;

        public GraphTapRunner(ModelProto graph, string path, IReadOnlyList<OnnxFfnBlock> blocks, IGraphFeed feed, int threads, bool cuda)
        {
            _session = new GraphSession(graph, feed, threads, cuda, path);
            _blocks = blocks;
        }

        public float[][] Run(TokenBatch batch)
        {
            var outputs = _session.Run(batch, _blocks.Select(b => b.ActivationTensor).ToArray());
            for (int l = 0; l < outputs.Length; l++)
                if (outputs[l].Length != (long)batch.Batch * batch.Seq * _blocks[l].Width)
                    throw new UnsupportedArchitectureException($"activation '{_blocks[l].ActivationTensor}' of FFN block {l} has {outputs[l].Length} values for a {batch.Batch} x {batch.Seq} batch; expected one row of {_blocks[l].Width} per token");
            return outputs;
        }

        public void Dispose() => _session.Dispose();
    }
}

/// <summary>
/// An ONNX Runtime session over a foreign graph, fed by an <see cref="IGraphFeed"/>: integer inputs of the names the
/// graph declares, float32 outputs returned row-major. Owns its native session: dispose it.
/// </summary>
public sealed class GraphSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly IGraphFeed _feed;
    private readonly string[] _inputs;
    private readonly string _name;

    /// <param name="name">The graph's file, named in errors.</param>
    public GraphSession(ModelProto graph, IGraphFeed feed, int threads = 0, bool cuda = false, string name = "the ONNX graph")
    {
        _name = name;
        if (graph.CalculateSize() >= OnnxModelFile.ProtobufLimitBytes)
            throw new MemoryBudgetException($"ONNX graph is {graph.CalculateSize()} bytes, over the 2 GB limit of an in-memory session");
        using var so = Devices.OnnxProviders.NewOptions(threads);
        Devices.OnnxProviders.Configure(so, cuda);
        _session = new InferenceSession(graph.ToByteArray(), so);
        _feed = feed;
        _inputs = [.. _session.InputMetadata.Keys];
    }

    /// <summary>Names of the inputs the graph takes.</summary>
    public IReadOnlyList<string> Inputs => _inputs;

    /// <summary>Runs one batch and returns <paramref name="outputNames"/> as float32 arrays.</summary>
    public float[][] Run(TokenBatch batch, IReadOnlyList<string> outputNames)
    {
        var values = _feed.Inputs(batch, _inputs);
        var ort = new List<OrtValue>();
        try
        {
            long[] shape = [batch.Batch, batch.Seq];
            foreach (var name in _inputs)
            {
                if (!values.TryGetValue(name, out var data))
                    throw new UnsupportedArchitectureException($"graph input '{name}' is not supplied by the {_feed.GetType().Name}");
                var type = _session.InputMetadata[name].ElementDataType;
                ort.Add(type switch
                {
                    TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(data, shape),
                    TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(data.Select(v => checked((int)v)).ToArray(), shape),
                    _ => throw new UnsupportedArchitectureException($"graph input '{name}' is {type}; token inputs must be int64 or int32"),
                });
            }
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, _inputs, ort, outputNames);
            return results.Select(r => r.GetTensorDataAsSpan<float>().ToArray()).ToArray();
        }
        catch (OnnxRuntimeException ex)
        {
            // A graph that cannot take this batch (most often more positions than it holds) is the model's limit, not a crash.
            throw new BadModelFileException($"ONNX Runtime failed running '{_name}' on a batch of {batch.Batch} x {batch.Seq} tokens ({ex.Message}); if the graph holds fewer positions, lower --calib-len", ex);
        }
        finally
        {
            foreach (var v in ort) v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
