using LlmPruneFast.Models.OnnxGraph;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// The one place that tells model families apart by their path and opens the family's adapter: an ONNX graph (a .onnx
/// file, or a folder holding model.onnx and no config.json; a sentence encoder when it has a WordPiece vocab.txt) is
/// a <see cref="GraphTarget"/>, anything else a <see cref="DecoderCheckpoint"/> folder. The verbs and the study never
/// test for a family's files themselves.
/// </summary>
public static class ModelFolder
{
    /// <summary>True for an ONNX graph of either kind (pruned as a graph: FFN blocks found by pattern); nothing is parsed.</summary>
    public static bool IsGraph(string path) => OnnxGraphModel.IsGraphPath(path);

    /// <summary>Opens a decoder checkpoint folder (see <see cref="DecoderCheckpoint.Open"/>).</summary>
    public static DecoderCheckpoint OpenCheckpoint(string path) => DecoderCheckpoint.Open(path);

    /// <summary>Opens an ONNX graph and its tokenizer, refusing one that cannot be pruned (see <see cref="GraphTarget.Open"/>).</summary>
    public static GraphTarget OpenGraph(string path) => GraphTarget.Open(path);
}
