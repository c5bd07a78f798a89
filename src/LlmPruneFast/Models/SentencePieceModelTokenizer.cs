using LlmPruneFast.Models.Llama;
using Microsoft.ML.Tokenizers;

namespace LlmPruneFast.Models;

/// <summary>
/// A SentencePiece <c>tokenizer.model</c> (LLaMA 1/2 family) as an <see cref="IModelTokenizer"/>: encodes with
/// <see cref="LlamaTokenizerLoader.Encode"/> (BOS first when the tokenizer adds it, the library's one-character
/// workaround included), so ids are exactly those of the <see cref="LlamaTokenizer"/> it wraps.
/// </summary>
public sealed class SentencePieceModelTokenizer(LlamaTokenizer tokenizer) : IModelTokenizer
{
    /// <summary>The wrapped library tokenizer.</summary>
    public LlamaTokenizer Inner => tokenizer;

    public int[] Encode(string text) => tokenizer.Encode(text);

    public string Decode(IEnumerable<int> ids) => tokenizer.Decode(ids);

    public int? BosId => tokenizer.AddBeginningOfSentence ? tokenizer.BeginningOfSentenceId : null;

    public int? EosId => tokenizer.EndOfSentenceId;

    public int VocabularySize => tokenizer.Vocabulary.Count;
}
