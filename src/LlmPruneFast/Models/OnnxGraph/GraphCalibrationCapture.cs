using LlmPruneFast.Capture;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// How a foreign ONNX graph exposes its FFN activations to calibration capture: each FFN block's activation z (the
/// down projection's input) becomes an extra graph output, the graph runs in ONNX Runtime on the inputs an
/// <see cref="IGraphFeed"/> makes from the text, and sampling is <see cref="CalibrationCapture"/>'s own (the same
/// positions as any other model family).
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
