using Microsoft.ML.Tokenizers;

namespace LlmPruneFast.Models;

/// <summary>
/// Loads a SentencePiece BPE <c>tokenizer.model</c> (LLaMA family: byte fallback, dummy-prefix space) with
/// Microsoft.ML.Tokenizers. Encoding adds BOS when asked and never EOS.
/// </summary>
public static class LlamaTokenizerLoader
{
    /// <summary>
    /// The tokenizer in <paramref name="modelPath"/>. Throws <see cref="MissingInputException"/> when the file is
    /// absent and <see cref="BadModelFileException"/> when it is not a SentencePiece BPE model.
    /// </summary>
    public static LlamaTokenizer Load(string modelPath, bool addBeginOfSentence = true)
    {
        if (!File.Exists(modelPath)) throw new MissingInputException($"tokenizer '{modelPath}' does not exist");
        try
        {
            using var stream = File.OpenRead(modelPath);
            return LlamaTokenizer.Create(stream, addBeginOfSentence, addEndOfSentence: false);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or NotSupportedException
                                   or Google.Protobuf.InvalidProtocolBufferException or FormatException)
        {
            throw new BadModelFileException($"tokenizer '{modelPath}' is not a SentencePiece BPE model: {ex.Message}", ex);
        }
    }

    /// <summary>Token ids of <paramref name="text"/> (BOS first when the tokenizer adds it, dummy-prefix space applied).</summary>
    public static int[] Encode(this LlamaTokenizer tokenizer, string text) => [.. tokenizer.EncodeToIds(text)];
}
