using System.Text;
using System.Text.Json;

namespace LlmPruneFast.Models;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> (and the <c>tokenizer_config.json</c> beside it) into what
/// <see cref="HfJsonTokenizer"/> needs. Supported: model BPE (vocab, merges as "a b" strings or [a, b] pairs,
/// ignore_merges), added_tokens, normalizer null / NFC / NFD / NFKC / NFKD / a Sequence of them, pre_tokenizer ByteLevel
/// (its use_regex = GPT-2's regex) or a Sequence of one Split (regex or string, behaviour Isolated) and ByteLevel
/// (use_regex false), post_processor null / ByteLevel / TemplateProcessing with at most one special token before the
/// text and none after / a Sequence of those. Anything else is refused with a <see cref="BadModelFileException"/>
/// naming the file and the field.
/// </summary>
public static class HfTokenizerJson
{
    public const string ConfigFileName = "tokenizer_config.json";

    /// <summary>GPT-2's pre-tokenizer regex: what ByteLevel with use_regex true splits by.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>What a tokenizer.json says, checked.</summary>
    internal sealed record Spec(
        string Path,
        IReadOnlyDictionary<string, int> Vocab,
        IReadOnlyList<string> Merges,
        bool IgnoreMerges,
        IReadOnlyDictionary<string, int> AddedTokens,
        HashSet<int> SpecialIds,
        NormalizationForm[] Normalize,
        string SplitPattern,
        int? BosId,
        int? EosId);

    /// <summary>Reads and checks <paramref name="path"/>; tokenizer_config.json beside it is read when present.</summary>
    /// <exception cref="MissingInputException">The file does not exist.</exception>
    /// <exception cref="BadModelFileException">Malformed, or a kind of tokenizer this project does not support (named).</exception>
    internal static Spec Read(string path)
    {
        if (Directory.Exists(path)) throw new MissingInputException($"tokenizer '{path}' is a folder; expected a tokenizer.json file");
        if (!File.Exists(path)) throw new MissingInputException($"tokenizer '{path}' does not exist");
        using var doc = Parse(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Bad(path, "(root)", "is not a JSON object");

        var model = Field(root, "model", path) is { ValueKind: JsonValueKind.Object } m ? m : throw Bad(path, "model", "is missing or not an object");
        string type = Str(model, "type") ?? "(none)";
        if (type != "BPE")
            throw Bad(path, "model.type", $"is '{type}'; only byte-level BPE tokenizers (Llama 3, Qwen2) are supported, not WordPiece, Unigram or WordLevel");
        foreach (var name in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (Str(model, name) is { Length: > 0 } v) throw Bad(path, $"model.{name}", $"is '{v}'; byte-level BPE uses none");
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() != 0)
            throw Bad(path, "model.dropout", "is set; BPE dropout makes encoding random and is not supported");

        var vocab = ReadVocab(model, path);
        var merges = ReadMerges(model, path);
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;
        var (added, special) = ReadAddedTokens(root, path, vocab);
        var normalize = ReadNormalizer(Field(root, "normalizer", path), path, "normalizer");
        string pattern = ReadPreTokenizer(Field(root, "pre_tokenizer", path), path);
        ReadDecoder(Field(root, "decoder", path), path);
        int? templateBos = ReadPostProcessor(Field(root, "post_processor", path), path, "post_processor", out bool hasTemplate);

        int? Id(string token) => added.TryGetValue(token, out int a) ? a : vocab.TryGetValue(token, out int v) ? v : null;
        var config = ReadConfig(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, ConfigFileName));
        int? bos = templateBos;
        if (!hasTemplate && config?.AddBos == true)
        {
            if (config.Bos == null) throw Bad(config.Path, "bos_token", "is missing while add_bos_token is true");
            bos = Id(config.Bos) ?? throw Bad(config.Path, "bos_token", $"'{config.Bos}' is not a token of '{path}'");
        }
        int? eos = config?.Eos is string e ? Id(e) : null;
        return new Spec(path, vocab, merges, ignoreMerges, added, special, normalize, pattern, bos, eos);
    }

    private static JsonDocument Parse(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw new BadModelFileException($"tokenizer '{path}' is not valid JSON: {ex.Message}", ex);
        }
    }

    private static Dictionary<string, int> ReadVocab(JsonElement model, string path)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw Bad(path, "model.vocab", "is missing or not an object of token: id");
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocab.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw Bad(path, $"model.vocab[\"{p.Name}\"]", "is not a non-negative integer id");
            map[p.Name] = id;
        }
        if (map.Count == 0) throw Bad(path, "model.vocab", "is empty");
        return map;
    }

    private static List<string> ReadMerges(JsonElement model, string path)
    {
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            throw Bad(path, "model.merges", "is missing or not an array");
        var list = new List<string>(merges.GetArrayLength());
        int i = 0;
        foreach (var m in merges.EnumerateArray())
        {
            string? merge = m.ValueKind switch
            {
                JsonValueKind.String when m.GetString()!.Split(' ') is [{ Length: > 0 }, { Length: > 0 }] => m.GetString(),
                // Newer files store each merge as a pair; byte-level tokens never hold a space, so "a b" is unambiguous.
                JsonValueKind.Array when m.GetArrayLength() == 2 && m[0].GetString() is { Length: > 0 } a && m[1].GetString() is { Length: > 0 } b
                    && !a.Contains(' ') && !b.Contains(' ') => $"{a} {b}",
                _ => null,
            };
            list.Add(merge ?? throw Bad(path, $"model.merges[{i}]", "is not \"a b\" or [\"a\", \"b\"] (two tokens without spaces)"));
            i++;
        }
        return list;
    }

    /// <remarks>
    /// The tokenizers library does not take an added token's id from the file: it is the token's vocabulary id, else the
    /// next id after the vocabulary and the added tokens before it. A file whose ids say otherwise is refused, since its
    /// ids would not be the ones the model was trained with under that library.
    /// </remarks>
    private static (Dictionary<string, int> Added, HashSet<int> Special) ReadAddedTokens(JsonElement root, string path, Dictionary<string, int> vocab)
    {
        int next = vocab.Count;
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var special = new HashSet<int>();
        if (!root.TryGetProperty("added_tokens", out var tokens) || tokens.ValueKind == JsonValueKind.Null) return (added, special);
        if (tokens.ValueKind != JsonValueKind.Array) throw Bad(path, "added_tokens", "is not an array");
        int i = 0;
        foreach (var t in tokens.EnumerateArray())
        {
            string field = $"added_tokens[{i++}]";
            if (Str(t, "content") is not { Length: > 0 } content) throw Bad(path, $"{field}.content", "is missing or empty");
            if (!t.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out int id) || id < 0)
                throw Bad(path, $"{field}.id", "is missing or not a non-negative integer");
            foreach (var flag in new[] { "lstrip", "rstrip", "single_word" })
                if (t.TryGetProperty(flag, out var f) && f.ValueKind == JsonValueKind.True)
                    throw Bad(path, $"{field}.{flag}", $"is true for '{content}'; added tokens that strip or match whole words are not supported");
            int expected = vocab.TryGetValue(content, out int inVocab) ? inVocab
                : added.TryGetValue(content, out int again) ? again : next++;
            if (id != expected)
                throw Bad(path, $"{field}.id", $"is {id} for '{content}', but the tokenizers library gives it id {expected} (ids follow the vocabulary in order)");
            added[content] = id;
            if (t.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True) special.Add(id);
        }
        return (added, special);
    }

    private static NormalizationForm[] ReadNormalizer(JsonElement? normalizer, string path, string field)
    {
        if (normalizer is not { ValueKind: JsonValueKind.Object } n) return [];
        string type = Str(n, "type") ?? "(none)";
        return type switch
        {
            "NFC" => [NormalizationForm.FormC],
            "NFD" => [NormalizationForm.FormD],
            "NFKC" => [NormalizationForm.FormKC],
            "NFKD" => [NormalizationForm.FormKD],
            "Sequence" when n.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array =>
                list.EnumerateArray().SelectMany((x, i) => ReadNormalizer(x, path, $"{field}.normalizers[{i}]")).ToArray(),
            _ => throw Bad(path, $"{field}.type", $"is '{type}'; only NFC, NFD, NFKC, NFKD or a Sequence of them are supported"),
        };
    }

    /// <summary>The regex that splits text into pieces: a Split's pattern, or GPT-2's for ByteLevel with use_regex.</summary>
    private static string ReadPreTokenizer(JsonElement? pre, string path)
    {
        const string Whole = @"[\s\S]+"; // ByteLevel without use_regex: the text is one piece
        if (pre is not { ValueKind: JsonValueKind.Object } p)
            throw Bad(path, "pre_tokenizer", "is missing; a byte-level BPE needs a ByteLevel pre-tokenizer");
        string type = Str(p, "type") ?? "(none)";
        if (type == "ByteLevel") return ByteLevel(p, "pre_tokenizer") ? Gpt2Pattern : Whole;
        if (type != "Sequence" || !p.TryGetProperty("pretokenizers", out var list) || list.ValueKind != JsonValueKind.Array)
            throw Bad(path, "pre_tokenizer.type", $"is '{type}'; only ByteLevel, or a Sequence of Split and ByteLevel, is supported");
        var items = list.EnumerateArray().ToArray();
        if (items.Length == 1 && Str(items[0], "type") == "ByteLevel")
            return ByteLevel(items[0], "pre_tokenizer.pretokenizers[0]") ? Gpt2Pattern : Whole;
        if (items.Length != 2 || Str(items[0], "type") != "Split" || Str(items[1], "type") != "ByteLevel")
            throw Bad(path, "pre_tokenizer.pretokenizers", $"is [{string.Join(", ", items.Select(i => Str(i, "type")))}]; only [Split, ByteLevel] or [ByteLevel] is supported");
        if (ByteLevel(items[1], "pre_tokenizer.pretokenizers[1]"))
            throw Bad(path, "pre_tokenizer.pretokenizers[1].use_regex", "is true after a Split; splitting twice is not supported");
        var split = items[0];
        if (Str(split, "behavior") is var behavior && behavior != "Isolated")
            throw Bad(path, "pre_tokenizer.pretokenizers[0].behavior", $"is '{behavior}'; only Isolated is supported");
        if (split.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True)
            throw Bad(path, "pre_tokenizer.pretokenizers[0].invert", "is true; only false is supported");
        if (!split.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object)
            throw Bad(path, "pre_tokenizer.pretokenizers[0].pattern", "is missing");
        if (Str(pattern, "Regex") is { Length: > 0 } regex)
        {
            try { _ = new System.Text.RegularExpressions.Regex(regex); }
            catch (ArgumentException ex) { throw Bad(path, "pre_tokenizer.pretokenizers[0].pattern.Regex", $"is not a regex .NET reads: {ex.Message}"); }
            return regex;
        }
        if (Str(pattern, "String") is { Length: > 0 } literal) return System.Text.RegularExpressions.Regex.Escape(literal);
        throw Bad(path, "pre_tokenizer.pretokenizers[0].pattern", "holds neither Regex nor String");

        // use_regex (default true); add_prefix_space (prepending a space to each piece) is refused.
        bool ByteLevel(JsonElement b, string field)
        {
            if (b.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True)
                throw Bad(path, $"{field}.add_prefix_space", "is true; only false is supported");
            return !b.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False;
        }
    }

    private static void ReadDecoder(JsonElement? decoder, string path)
    {
        if (decoder is not { ValueKind: JsonValueKind.Object } d) return;
        if (Str(d, "type") is var type && type != "ByteLevel")
            throw Bad(path, "decoder.type", $"is '{type}'; only ByteLevel is supported");
    }

    /// <summary>The id TemplateProcessing puts before the text (null: none); <paramref name="hasTemplate"/> says whether there was a template.</summary>
    private static int? ReadPostProcessor(JsonElement? post, string path, string field, out bool hasTemplate)
    {
        hasTemplate = false;
        if (post is not { ValueKind: JsonValueKind.Object } p) return null;
        switch (Str(p, "type"))
        {
            case "ByteLevel":
                return null; // offsets only
            case "Sequence" when p.TryGetProperty("processors", out var list) && list.ValueKind == JsonValueKind.Array:
            {
                int? bos = null;
                int i = 0;
                foreach (var item in list.EnumerateArray())
                {
                    var b = ReadPostProcessor(item, path, $"{field}.processors[{i++}]", out bool template);
                    if (template)
                    {
                        if (hasTemplate) throw Bad(path, field, "holds two TemplateProcessing steps");
                        hasTemplate = true;
                        bos = b;
                    }
                }
                return bos;
            }
            case "TemplateProcessing":
            {
                hasTemplate = true;
                if (!p.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array)
                    throw Bad(path, $"{field}.single", "is missing");
                var items = single.EnumerateArray().ToArray();
                int sequence = Array.FindIndex(items, x => x.TryGetProperty("Sequence", out _));
                if (sequence < 0) throw Bad(path, $"{field}.single", "has no Sequence item");
                if (sequence > 1) throw Bad(path, $"{field}.single", $"puts {sequence} tokens before the text; at most one (BOS) is supported");
                if (sequence < items.Length - 1) throw Bad(path, $"{field}.single", "puts tokens after the text (EOS); not supported");
                if (sequence == 0) return null;
                if (!items[0].TryGetProperty("SpecialToken", out var token) || Str(token, "id") is not string name)
                    throw Bad(path, $"{field}.single[0]", "is not a SpecialToken");
                if (!p.TryGetProperty("special_tokens", out var specials) || !specials.TryGetProperty(name, out var entry)
                    || !entry.TryGetProperty("ids", out var ids) || ids.ValueKind != JsonValueKind.Array || ids.GetArrayLength() != 1 || !ids[0].TryGetInt32(out int id))
                    throw Bad(path, $"{field}.special_tokens[\"{name}\"].ids", "is missing or not one id");
                return id;
            }
            default:
                throw Bad(path, $"{field}.type", $"is '{Str(p, "type")}'; only ByteLevel, TemplateProcessing or a Sequence of them are supported");
        }
    }

    internal sealed record TokenizerConfig(string Path, bool? AddBos, string? Bos, string? Eos);

    /// <summary>tokenizer_config.json's add_bos_token, bos_token and eos_token (a string or {"content": ...}); null when absent.</summary>
    internal static TokenizerConfig? ReadConfig(string path)
    {
        if (!File.Exists(path)) return null;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException ex) { throw new BadModelFileException($"tokenizer config '{path}' is not valid JSON: {ex.Message}", ex); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new BadModelFileException($"tokenizer config '{path}' is not a JSON object");
            bool? addBos = root.TryGetProperty("add_bos_token", out var a) ? a.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Null => null,
                _ => throw new BadModelFileException($"tokenizer config '{path}': field add_bos_token is not true or false"),
            } : null;
            return new TokenizerConfig(path, addBos, Token(root, "bos_token"), Token(root, "eos_token"));
        }

        static string? Token(JsonElement root, string name) => root.TryGetProperty(name, out var t) ? t.ValueKind switch
        {
            JsonValueKind.String => t.GetString(),
            JsonValueKind.Object => Str(t, "content"),
            _ => null,
        } : null;
    }

    private static JsonElement? Field(JsonElement e, string name, string path) =>
        e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static BadModelFileException Bad(string path, string field, string what) =>
        new($"tokenizer '{path}': field {field} {what}");
}
