using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// A foreign ONNX graph opened for <c>prune</c>, <c>apply</c>, <c>report</c> and <c>study</c>: the graph, its feed, whether it is a
/// sentence encoder, and the two things that differ by family when a plan is made or remade: how the calibration
/// file is read (encoders: one sentence per sequence) and the tokens per calibration sequence.
/// </summary>
public sealed class GraphTarget
{
    public required OnnxGraphModel Graph { get; init; }
    /// <summary>The encoder folder (vocab, pooling, max tokens), or null for a decoder graph.</summary>
    public EncoderFolder? Encoder { get; init; }
    public required IGraphFeed Feed { get; init; }

    /// <summary>The graph as the pipeline sees it; its fingerprint names the .onnx file, as <c>prune</c> records it.</summary>
    public OnnxGraphPrunable Prunable => new(Graph, Feed, Graph.Path);

    /// <summary>Opens a graph and its tokenizer; refuses one that cannot be pruned before any work.</summary>
    public static GraphTarget Open(string path)
    {
        var graph = OnnxGraphModel.Open(path);
        var encoder = EncoderFolder.IsEncoder(graph.Folder) ? EncoderFolder.Open(graph.Folder) : null;
        graph.RequirePrunable();
        return new GraphTarget { Graph = graph, Encoder = encoder, Feed = GraphFeeds.For(graph.Folder, graph.Inputs.Select(i => i.Name).ToArray()) };
    }

    /// <summary>Calibration text of a file: encoders take one sentence per sequence, decoders blank-line paragraphs.</summary>
    public string ReadCalibration(string path) =>
        Encoder != null ? SentenceFile.AsParagraphs(SentenceFile.Read(path)) : TextCorpus.Read(path);

    /// <summary><paramref name="options"/> with an encoder's own sequence limit when none was set (capture caps it at the graph's positions).</summary>
    public CalibrationOptions Calibration(CalibrationOptions options) =>
        Encoder != null && options.MaxLength == 0 ? options with { MaxLength = Graph.CapLength(Encoder.MaxTokens) } : options;

    /// <summary>"ONNX graph (sentence encoder), 6 FFN blocks (gelu)".</summary>
    public string Architecture =>
        $"ONNX graph ({(Encoder != null ? "sentence encoder" : "decoder")}), {Graph.Blocks.Count} FFN blocks ({string.Join(", ", Graph.Blocks.Select(b => b.Activation).Distinct())})";

    public long Parameters => OnnxGraphModel.Parameters(Graph.Model);

    /// <summary>Parameters after slicing to <paramref name="layers"/> (a down bias added for compensation counts).</summary>
    public long ParametersAfter(IReadOnlyList<SlicedFfnLayer> layers) =>
        Parameters - Graph.Blocks.Zip(layers).Sum(p => RemovedParameters(p.First, p.Second));

    private static long RemovedParameters(OnnxFfnBlock block, SlicedFfnLayer layer)
    {
        long removed = block.Width - layer.Width;
        long perNeuron = (long)block.Hidden * (block.Gated ? 3 : 2) + (block.GateBias != null ? 1 : 0) + (block.UpBias != null ? 1 : 0);
        return removed * perNeuron - (block.DownBias == null && layer.HasDownBias ? block.Hidden : 0);
    }

    /// <summary>Bytes of the graph's .onnx file and its external data in <paramref name="folder"/> (default: its own folder; a pruned copy keeps the names).</summary>
    public long WeightBytes(string? folder = null)
    {
        folder ??= Graph.Folder;
        return new[] { Path.GetFileName(Graph.Path) }.Concat(Graph.ExternalFiles)
            .Select(f => new FileInfo(Path.Combine(folder, f))).Where(f => f.Exists).Sum(f => f.Length);
    }
}
