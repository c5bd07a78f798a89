using Microsoft.ML.Tokenizers;

namespace LlmPruneFast.Models.Llama;

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
        if (new FileInfo(modelPath).Length == 0) throw new BadModelFileException($"tokenizer '{modelPath}' is empty; expected a SentencePiece BPE model");
        try
        {
            using var stream = File.OpenRead(modelPath);
            return LlamaTokenizer.Create(stream, addBeginOfSentence, addEndOfSentence: false);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or NotSupportedException
                                   or Google.Protobuf.InvalidProtocolBufferException or FormatException
                                   // The library dereferences missing protobuf fields of a damaged model (issue 9).
                                   or NullReferenceException or IndexOutOfRangeException or KeyNotFoundException or OverflowException)
        {
            throw new BadModelFileException($"tokenizer '{modelPath}' is not a SentencePiece BPE model: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Token ids of <paramref name="text"/> (BOS first when the tokenizer adds it, dummy-prefix space applied).
    /// Use this rather than <c>EncodeToIds</c>: Microsoft.ML.Tokenizers 2.0.1 returns nothing at all (not even BOS)
    /// for a text that normalizes to one character ("x", " x", "é"). SentencePiece pieces never cross a word
    /// boundary, so such a text is encoded with a known word appended (" ab") and that word's ids are removed.
    /// </summary>
    public static int[] Encode(this LlamaTokenizer tokenizer, string text)
    {
        int[] ids = [.. tokenizer.EncodeToIds(text)];
        if (ids.Length > 0 || text.Trim().Length == 0) return ids;
        const string Word = "ab";
        int[] word = [.. tokenizer.EncodeToIds(Word, addBeginningOfSentence: false, addEndOfSentence: false)];
        int[] padded = [.. tokenizer.EncodeToIds(text.TrimEnd() + " " + Word)];
        if (word.Length == 0 || padded.Length <= word.Length || !padded.AsSpan(padded.Length - word.Length).SequenceEqual(word))
            throw new InvalidOperationException($"tokenizer produced no ids for '{text}'");
        return padded[..^word.Length];
    }
}
