using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LlmPruneFast.Models;

/// <summary>
/// A Hugging Face byte-level BPE <c>tokenizer.json</c> (Llama 3.x, Qwen2/2.5, GPT-2 style) as an
/// <see cref="IModelTokenizer"/>. <see cref="HfTokenizerJson"/> reads the file; the merging is Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/> and the splitting its <see cref="RegexPreTokenizer"/>. This class only joins them the way
/// the tokenizers library does, for what the library lacks:
/// <list type="bullet">
/// <item>the Split pre-tokenizer's "Isolated" behaviour keeps text the regex does not match as its own piece (the
/// library's pre-tokenizer drops it);</item>
/// <item><c>ignore_merges</c> (Llama 3): a piece that is itself in the vocabulary is that token, whatever the merges
/// would make of it (588 Llama 3 tokens, e.g. " việc", are not reachable by merges);</item>
/// <item>BOS comes from the post-processor template or tokenizer_config.json's add_bos_token.</item>
/// </list>
/// </summary>
public sealed class HfJsonTokenizer : IModelTokenizer
{
    private readonly BpeTokenizer _bpe;              // merges one piece: byte-level, no pre-tokenizer, no normalizer
    private readonly RegexPreTokenizer _split;       // added tokens split out, then the Split regex
    private readonly IReadOnlyDictionary<string, int> _vocab;
    private readonly IReadOnlyDictionary<string, int> _added;
    private readonly HashSet<int> _special;
    private readonly NormalizationForm[] _normalize;
    private readonly bool _ignoreMerges;

    /// <summary>The tokenizer.json this was read from.</summary>
    public string Path { get; }
    public int? BosId { get; }
    public int? EosId { get; }
    public int VocabularySize { get; }

    internal HfJsonTokenizer(HfTokenizerJson.Spec spec)
    {
        Path = spec.Path;
        _vocab = spec.Vocab;
        _added = spec.AddedTokens;
        _special = spec.SpecialIds;
        _normalize = spec.Normalize;
        _ignoreMerges = spec.IgnoreMerges;
        BosId = spec.BosId;
        EosId = spec.EosId;
        VocabularySize = Math.Max(spec.Vocab.Values.DefaultIfEmpty(-1).Max(), spec.AddedTokens.Values.DefaultIfEmpty(-1).Max()) + 1;
        var specials = spec.AddedTokens.Count > 0 ? new Dictionary<string, int>(spec.AddedTokens) : null;
        _split = new RegexPreTokenizer(new Regex(spec.SplitPattern, RegexOptions.Compiled | RegexOptions.CultureInvariant), specials);
        _bpe = BpeTokenizer.Create(new BpeOptions(spec.Vocab)
        {
            Merges = spec.Merges,
            ByteLevel = true,
            SpecialTokens = specials,
            // One piece in, merged whole: without a pre-tokenizer of its own the library splits at whitespace and drops it.
            PreTokenizer = new RegexPreTokenizer(WholeText, null),
        });
    }

    /// <summary>Reads <paramref name="path"/> and the tokenizer_config.json beside it (see <see cref="HfTokenizerJson.Read"/>).</summary>
    public static HfJsonTokenizer Load(string path) => new(HfTokenizerJson.Read(path));

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 2);
        if (BosId is int bos) ids.Add(bos);
        foreach (var form in _normalize) text = text.Normalize(form);
        int end = 0;
        foreach (var (offset, length) in _split.PreTokenize(text))
        {
            if (offset > end) EncodePiece(text[end..offset], ids);
            EncodePiece(text.Substring(offset, length), ids);
            end = offset + length;
        }
        if (end < text.Length) EncodePiece(text[end..], ids);
        return [.. ids];
    }

    private void EncodePiece(string piece, List<int> ids)
    {
        if (_added.TryGetValue(piece, out int id)) ids.Add(id);
        else if (_ignoreMerges && _vocab.TryGetValue(ByteLevelText(piece), out id)) ids.Add(id);
        else ids.AddRange(_bpe.EncodeToIds(piece));
    }

    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids.Where(id => !_special.Contains(id)));

    private static readonly Regex WholeText = new(@"[\s\S]+", RegexOptions.Compiled);

    /// <summary>GPT-2's byte-to-character table: the printable bytes stand for themselves, the rest map from U+0100 on.</summary>
    private static readonly char[] ByteChars = BuildByteChars();

    private static char[] BuildByteChars()
    {
        var chars = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            chars[b] = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF ? (char)b : (char)next++;
        return chars;
    }

    /// <summary>The vocabulary spelling of <paramref name="piece"/>: its UTF-8 bytes through <see cref="ByteChars"/>.</summary>
    internal static string ByteLevelText(string piece)
    {
        var bytes = Encoding.UTF8.GetBytes(piece);
        return string.Create(bytes.Length, bytes, (span, b) =>
        {
            for (int i = 0; i < b.Length; i++) span[i] = ByteChars[b[i]];
        });
    }
}
