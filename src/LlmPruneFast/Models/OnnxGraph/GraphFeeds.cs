using LlmPruneFast.Capture;
using LlmPruneFast.Models.Encoders;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>Chooses the <see cref="IGraphFeed"/> for a graph from the tokenizer files beside it (the graph family's folder layout).</summary>
public static class GraphFeeds
{
    /// <summary>
    /// The feed for the model in <paramref name="folder"/> taking <paramref name="inputs"/>: tokenizer.model
    /// (SentencePiece, decoders), vocab.txt (WordPiece, encoders) or tokenizer.json (byte-level BPE, decoders), in that order.
    /// </summary>
    /// <exception cref="MissingInputException">Neither tokenizer file is in the folder.</exception>
    public static IGraphFeed For(string folder, IReadOnlyList<string> inputs)
    {
        string sentencePiece = Path.Combine(folder, "tokenizer.model");
        string vocab = Path.Combine(folder, "vocab.txt");
        if (File.Exists(sentencePiece)) return DecoderTokenFeed.Load(sentencePiece);
        if (File.Exists(vocab))
        {
            var encoder = EncoderFolder.Open(folder);
            return WordPieceFeed.Open(encoder.VocabPath, encoder.LowerCase);
        }
        string json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(json)) return DecoderTokenFeed.Load(json);
        throw new MissingInputException($"model folder '{folder}' holds no tokenizer: expected tokenizer.model (SentencePiece decoder), vocab.txt (WordPiece encoder) " +
            "or tokenizer.json (byte-level BPE decoder) beside model.onnx");
    }
}
