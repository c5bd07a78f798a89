using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// The one place that tells model families apart by their path and opens the family's adapter: an ONNX graph (a .onnx
/// file, or a folder holding model.onnx and no config.json; a sentence encoder when it has a WordPiece vocab.txt) is
/// a <see cref="GraphTarget"/>, anything else a <see cref="DecoderCheckpoint"/> (a folder, or a llama2.c .bin). The verbs
/// and the study never test for a family's files themselves.
/// </summary>
public static class ModelFolder
{
    /// <summary>True for an ONNX graph of either kind (pruned as a graph: FFN blocks found by pattern); nothing is parsed.</summary>
    public static bool IsGraph(string path) => OnnxGraphModel.IsGraphPath(path);

    /// <summary>
    /// An encoder folder, or a folder (or model.onnx) that is an ONNX model without a SentencePiece tokenizer or a
    /// checkpoint config, so a missing vocab.txt is reported as such rather than as a missing LLaMA config.
    /// </summary>
    public static bool IsEncoder(string path)
    {
        if (DecoderCheckpoint.IsSingleFile(path)) return false;
        if (EncoderFolder.IsEncoder(path)) return true;
        string full = Path.GetFullPath(path);
        string dir = File.Exists(full) ? Path.GetDirectoryName(full)! : full;
        return File.Exists(Path.Combine(dir, EncoderFolder.ModelFile)) && !File.Exists(Path.Combine(dir, "tokenizer.model")) && !File.Exists(Path.Combine(dir, DecoderCheckpoint.ConfigFileName));
    }

    /// <summary>
    /// Opens a decoder checkpoint folder, or a llama2.c .bin with <paramref name="tokenizer"/> (or the tokenizer beside
    /// it); see <see cref="DecoderCheckpoint.Open"/>.
    /// </summary>
    public static DecoderCheckpoint OpenCheckpoint(string path, string? tokenizer = null) => DecoderCheckpoint.Open(path, tokenizer);

    /// <summary>Opens an ONNX graph and its tokenizer, refusing one that cannot be pruned (see <see cref="GraphTarget.Open"/>).</summary>
    public static GraphTarget OpenGraph(string path) => GraphTarget.Open(path);
}
