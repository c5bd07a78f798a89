using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Tests.Encoders;

/// <summary>
/// Edges of WordPiece tokenization with MiniLM's uncased BERT vocabulary, against what Hugging Face's BertTokenizer
/// (basic tokenizer + WordPiece, do_lower_case and accent stripping on) produces for the same text.
/// </summary>
public sealed class WordPieceFeedTests
{
    private static readonly Lazy<WordPieceFeed> Feed = new(() => WordPieceFeed.Open(Path.Combine(MiniLm.Folder, EncoderFolder.VocabFile), lowerCase: true));
    private static readonly Lazy<string[]> Vocab = new(() => File.ReadAllLines(Path.Combine(MiniLm.Folder, EncoderFolder.VocabFile)));

    private static string Pieces(string text, int maxTokens = 512) => string.Join(" ", Feed.Value.Encode(text, maxTokens).Select(i => Vocab.Value[i]));

    [Fact]
    public void Plain_sentence_is_lower_cased_and_wrapped_in_cls_and_sep() =>
        Assert.Equal("[CLS] a man is playing the cello . [SEP]", Pieces("A man is playing the cello."));

    [Fact]
    public void Accents_are_stripped_after_lower_casing() =>
        Assert.Equal("[CLS] cafe naive resume [SEP]", Pieces("Café NAÏVE résumé"));

    [Fact]
    public void Every_punctuation_mark_and_ascii_symbol_is_its_own_token() =>
        Assert.Equal("[CLS] hello , world ! $ 5 a + b e . g . under _ score [SEP]", Pieces("Hello, world! $5 a+b e.g. under_score"));

    [Fact]
    public void Cjk_characters_are_split_one_per_token() =>
        Assert.Equal("[CLS] 中 文 [SEP]", Pieces("中文"));

    [Fact]
    public void A_word_with_no_pieces_becomes_unk_and_is_not_dropped()
    {
        // '☃' (a symbol, not punctuation) stays one word, as in BERT; the library's default split would drop it.
        Assert.Equal("[CLS] snow [UNK] man [SEP]", Pieces("snow ☃ man"));
        Assert.Equal("[CLS] 25 ##° ##c [SEP]", Pieces("25°C"));
    }

    /// <summary>
    /// A special token typed in the text is that special token, as Hugging Face's BertTokenizerFast does by default
    /// (split_special_tokens=False; sentence-transformers uses the default): matched verbatim and case-sensitively,
    /// even inside a word; "[sep]" is ordinary text. The expected ids are read from vocab.txt here, and equal the ids
    /// Hugging Face tokenizers 0.23.2 gave for MiniLM's vocabulary (written out as literals below).
    /// </summary>
    [Theory]
    [InlineData("hello [SEP] world", "[CLS]|hello|[SEP]|world|[SEP]", new[] { 101, 7592, 102, 2088, 102 })]
    [InlineData("a[SEP]b", "[CLS]|a|[SEP]|b|[SEP]", new[] { 101, 1037, 102, 1038, 102 })]
    [InlineData("x [SEP][SEP] y", "[CLS]|x|[SEP]|[SEP]|y|[SEP]", new[] { 101, 1060, 102, 102, 1061, 102 })]
    [InlineData("[CLS] x [MASK] y [UNK] z [PAD]", "[CLS]|[CLS]|x|[MASK]|y|[UNK]|z|[PAD]|[SEP]", new[] { 101, 101, 1060, 103, 1061, 100, 1062, 0, 102 })]
    [InlineData("[sep] and [Sep]", "[CLS]|[|sep|]|and|[|sep|]|[SEP]", new[] { 101, 1031, 19802, 1033, 1998, 1031, 19802, 1033, 102 })]
    [InlineData("[ SEP ]", "[CLS]|[|sep|]|[SEP]", new[] { 101, 1031, 19802, 1033, 102 })]
    public void Special_tokens_typed_in_the_text_are_specials_as_in_hugging_face(string text, string tokens, int[] huggingFaceIds)
    {
        var fromVocab = tokens.Split('|').Select(t => Array.IndexOf(Vocab.Value, t)).ToArray();
        Assert.DoesNotContain(-1, fromVocab);
        Assert.Equal(fromVocab, huggingFaceIds);
        Assert.Equal(fromVocab, Feed.Value.Encode(text, 512));
    }

    [Fact]
    public void A_typed_special_token_counts_toward_truncation_and_sep_stays_last() =>
        Assert.Equal("[CLS] a [SEP] b [SEP]", Pieces("a [SEP] b c d", 5));

    [Fact]
    public void Unknown_subwords_are_split_with_continuation_pieces() =>
        Assert.Equal("[CLS] token ##ization [SEP]", Pieces("tokenization"));

    [Fact]
    public void A_word_over_100_characters_is_one_unk()
    {
        Assert.Equal("[CLS] before [UNK] after [SEP]", Pieces("before " + new string('a', 101) + " after"));
        Assert.DoesNotContain("[UNK]", Pieces(new string('a', 100))); // 100 characters are still split into pieces
    }

    [Fact]
    public void Truncation_keeps_cls_first_and_sep_last()
    {
        var ids = Feed.Value.Encode(string.Join(' ', Enumerable.Repeat("word", 50)), 8);
        Assert.Equal(8, ids.Length);
        Assert.Equal(Feed.Value.Tokenizer.ClassificationTokenId, ids[0]);
        Assert.Equal(Feed.Value.Tokenizer.SeparatorTokenId, ids[^1]);
        Assert.Equal("[CLS] word word word word word word [SEP]", Pieces(string.Join(' ', Enumerable.Repeat("word", 50)), 8));
        Assert.Throws<BadArgumentException>(() => Feed.Value.Encode("x", 1));
    }

    [Fact]
    public void Empty_and_control_only_text_give_cls_sep() =>
        Assert.Equal("[CLS] [SEP]", Pieces(" \t\u0001 "));

    [Fact]
    public void Inputs_follow_the_names_the_graph_declares()
    {
        var batch = TokenBatch.Create([[101, 7, 102], [101, 102]], PadSide.Right, Feed.Value.PadId);
        var inputs = Feed.Value.Inputs(batch, ["input_ids", "attention_mask", "token_type_ids", "position_ids"]);
        Assert.Equal([101, 7, 102, 101, 102, 0], inputs["input_ids"]);
        Assert.Equal([1, 1, 1, 1, 1, 0], inputs["attention_mask"]);
        Assert.Equal(new long[6], inputs["token_type_ids"]);
        Assert.Equal([0, 1, 2, 0, 1, 0], inputs["position_ids"]);
        var ex = Assert.Throws<UnsupportedArchitectureException>(() => Feed.Value.Inputs(batch, ["input_ids", "pixel_values"]));
        Assert.Contains("pixel_values", ex.Message);
    }

    [Fact]
    public void A_vocabulary_without_the_bert_specials_is_refused()
    {
        using var dir = new Models.TempFolder();
        File.WriteAllLines(dir["vocab.txt"], ["[PAD]", "hello", "world"]);
        var ex = Assert.Throws<BadModelFileException>(() => WordPieceFeed.Open(dir["vocab.txt"], true));
        Assert.Contains("[CLS]", ex.Message);
        Assert.Throws<MissingInputException>(() => WordPieceFeed.Open(dir["nope.txt"], true));
    }
}
