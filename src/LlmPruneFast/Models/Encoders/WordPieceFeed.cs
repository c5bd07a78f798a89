using System.Text.RegularExpressions;
using LlmPruneFast.Capture;
using LlmPruneFast.Models.Onnx;
using Microsoft.ML.Tokenizers;

namespace LlmPruneFast.Models.Encoders;

/// <summary>
/// The inputs of a BERT-family graph from text: Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/> (basic
/// tokenization, WordPiece, [UNK] for a word it cannot split) and the tensors BERT graphs take.
/// </summary>
public sealed partial class WordPieceFeed : IGraphFeed
{
    public BertTokenizer Tokenizer { get; }

    /// <summary>The vocabulary's special tokens and their ids, longest first, matched verbatim in the raw text (see <see cref="Pieces"/>).</summary>
    private readonly (string Text, int Id)[] _specials;

    private WordPieceFeed(BertTokenizer tokenizer, IReadOnlyDictionary<string, int> specials)
    {
        Tokenizer = tokenizer;
        _specials = specials.OrderByDescending(s => s.Key.Length).ThenBy(s => s.Key, StringComparer.Ordinal).Select(s => (s.Key, s.Value)).ToArray();
    }

    /// <summary>
    /// Loads <paramref name="vocabPath"/> (one token per line). <paramref name="lowerCase"/> also strips accents, as
    /// Hugging Face's BERT tokenizer does for uncased vocabularies.
    /// </summary>
    /// <exception cref="MissingInputException">No vocabulary file.</exception>
    /// <exception cref="BadModelFileException">It lacks [CLS], [SEP], [PAD] or [UNK].</exception>
    public static WordPieceFeed Open(string vocabPath, bool lowerCase)
    {
        if (!File.Exists(vocabPath)) throw new MissingInputException($"WordPiece vocabulary '{vocabPath}' does not exist");
        var specials = File.ReadLines(vocabPath).Select((t, i) => (t, i))
            .Where(x => x.t is "[CLS]" or "[SEP]" or "[PAD]" or "[UNK]" or "[MASK]")
            .GroupBy(x => x.t).ToDictionary(g => g.Key, g => g.First().i);
        foreach (var special in new[] { "[CLS]", "[SEP]", "[PAD]", "[UNK]" })
            if (!specials.ContainsKey(special)) throw new BadModelFileException($"WordPiece vocabulary '{vocabPath}' has no {special} token");
        var options = new BertOptions
        {
            PreTokenizer = new RegexPreTokenizer(BasicSplit(), specials),
            LowerCaseBeforeTokenization = lowerCase,
            RemoveNonSpacingMarks = lowerCase,
            IndividuallyTokenizeCjk = true,
            ApplyBasicTokenization = true,
        };
        return new WordPieceFeed(BertTokenizer.Create(vocabPath, options), specials);
    }

    /// <summary>
    /// Hugging Face's BasicTokenizer split: every punctuation character alone (Unicode P* plus all ASCII symbols, which
    /// BERT counts as punctuation), everything else between white space one word. The library's default
    /// (\w+|\p{P}) silently drops symbols such as '$', '+', '°' or '☃'; BERT keeps them (as a piece or [UNK]).
    /// </summary>
    [GeneratedRegex(@"[\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E]|[^\s\p{P}\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E]+")]
    private static partial Regex BasicSplit();

    public bool Causal => false;

    public PadSide Side => PadSide.Right;

    public int PadId => Tokenizer.PaddingTokenId;

    /// <summary>[CLS] tokens [SEP]; a longer text keeps its first <paramref name="maxTokens"/> - 2 word pieces, and [SEP] stays last.</summary>
    public int[] Encode(string text, int maxTokens)
    {
        if (maxTokens < 2) throw new BadArgumentException($"an encoder input needs room for [CLS] and [SEP]; got a limit of {maxTokens} tokens");
        var pieces = Pieces(text);
        int kept = Math.Min(pieces.Count, maxTokens - 2);
        var ids = new int[kept + 2];
        ids[0] = Tokenizer.ClassificationTokenId;
        for (int i = 0; i < kept; i++) ids[i + 1] = pieces[i];
        ids[^1] = Tokenizer.SeparatorTokenId;
        return ids;
    }

    /// <summary>
    /// Word pieces of a text, with a special token typed in it ([SEP], [CLS], [MASK], [UNK], [PAD], exactly so
    /// cased, anywhere, even inside a word) taken as that special token: Hugging Face's BertTokenizerFast does so by
    /// default (its special tokens are matched in the raw text before normalization; only split_special_tokens=True
    /// turns it off), and sentence-transformers calls it with the default. "[sep]" or "[ SEP ]" are ordinary text.
    /// </summary>
    private List<int> Pieces(string text)
    {
        var ids = new List<int>();
        for (int start = 0; start < text.Length;)
        {
            int at = -1, length = 0, id = 0;
            foreach (var (special, specialId) in _specials) // longest first: at equal positions the longer one wins
            {
                int i = text.IndexOf(special, start, StringComparison.Ordinal);
                if (i >= 0 && (at < 0 || i < at)) (at, length, id) = (i, special.Length, specialId);
            }
            int end = at < 0 ? text.Length : at;
            if (end > start) ids.AddRange(Tokenizer.EncodeToIds(text[start..end], addSpecialTokens: false));
            if (at < 0) break;
            ids.Add(id);
            start = at + length;
        }
        return ids;
    }

    /// <summary>input_ids, attention_mask, token_type_ids (all zero: one segment) and position_ids (0.. per row).</summary>
    public IReadOnlyDictionary<string, long[]> Inputs(TokenBatch batch, IReadOnlyList<string> graphInputNames)
    {
        var inputs = new Dictionary<string, long[]>();
        foreach (var name in graphInputNames)
        {
            inputs[name] = name switch
            {
                "input_ids" => batch.Ids,
                "attention_mask" => batch.Mask,
                "token_type_ids" => new long[batch.Batch * batch.Seq],
                "position_ids" => Positions(batch),
                _ => throw new UnsupportedArchitectureException(
                    $"the graph declares input '{name}'; a WordPiece encoder feed supplies input_ids, attention_mask, token_type_ids and position_ids"),
            };
        }
        return inputs;
    }

    private static long[] Positions(TokenBatch batch)
    {
        var positions = new long[batch.Batch * batch.Seq];
        for (int r = 0; r < batch.Batch; r++)
            for (int t = 0; t < batch.Lengths[r]; t++)
                positions[r * batch.Seq + batch.Column(r, t)] = t;
        return positions;
    }
}
