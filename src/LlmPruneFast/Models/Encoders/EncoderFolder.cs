using System.Text.Json;

namespace LlmPruneFast.Models.Encoders;

/// <summary>How token states become one sentence embedding.</summary>
public enum Pooling
{
    /// <summary>Mean over the tokens the attention mask keeps (sentence-transformers' default).</summary>
    Mean,
    /// <summary>The first token's state ([CLS]).</summary>
    Cls,
}

/// <summary>
/// An encoder model folder: <c>model.onnx</c> and a WordPiece <c>vocab.txt</c> (and no <c>tokenizer.model</c>, which
/// marks a decoder). Optional sentence-transformers files refine the defaults: <c>1_Pooling/config.json</c> (pooling
/// mode), <c>sentence_bert_config.json</c> (max_seq_length) and a Hugging Face <c>tokenizer_config.json</c>
/// (do_lower_case).
/// </summary>
public sealed record EncoderFolder
{
    public const string ModelFile = "model.onnx";
    public const string VocabFile = "vocab.txt";
    public const string PoolingConfigFile = "1_Pooling/config.json";
    public const string SentenceBertConfigFile = "sentence_bert_config.json";
    public const string TokenizerConfigFile = "tokenizer_config.json";
    private const string DecoderTokenizerFile = "tokenizer.model";

    /// <summary>Longest input when no config says otherwise: BERT's position table.</summary>
    public const int DefaultMaxTokens = 512;

    public required string Directory { get; init; }
    public required string ModelPath { get; init; }
    public required string VocabPath { get; init; }
    public required Pooling Pooling { get; init; }
    public required int MaxTokens { get; init; }
    public required bool LowerCase { get; init; }

    /// <summary>The sentence-transformers and tokenizer configs present in the folder (relative paths), for copying next to a pruned model.</summary>
    public required IReadOnlyList<string> ConfigFiles { get; init; }

    /// <summary>True when <paramref name="path"/> (a folder, or a model.onnx inside one) is an encoder folder.</summary>
    public static bool IsEncoder(string path)
    {
        string dir = FolderOf(path);
        return File.Exists(Path.Combine(dir, ModelFile)) && File.Exists(Path.Combine(dir, VocabFile))
               && !File.Exists(Path.Combine(dir, DecoderTokenizerFile));
    }

    /// <summary>Opens the folder at <paramref name="path"/> (or holding the model.onnx at <paramref name="path"/>).</summary>
    /// <exception cref="MissingInputException">No model.onnx or no vocab.txt.</exception>
    /// <exception cref="BadModelFileException">A config file that does not parse.</exception>
    public static EncoderFolder Open(string path)
    {
        string dir = FolderOf(path);
        string model = Path.Combine(dir, ModelFile);
        string vocab = Path.Combine(dir, VocabFile);
        if (!File.Exists(model)) throw new MissingInputException($"encoder folder '{dir}' has no {ModelFile}");
        if (!File.Exists(vocab)) throw new MissingInputException($"encoder folder '{dir}' has no {VocabFile} (the WordPiece vocabulary an encoder needs)");
        if (File.Exists(Path.Combine(dir, DecoderTokenizerFile)))
            throw new UnsupportedArchitectureException($"'{dir}' holds {DecoderTokenizerFile}: a decoder folder, not an encoder");

        var pooling = Pooling.Mean;
        int maxTokens = DefaultMaxTokens;
        bool? lower = null;
        var configs = new List<string>();
        if (ReadJson(dir, PoolingConfigFile) is { } poolingJson)
        {
            configs.Add(PoolingConfigFile);
            bool cls = Flag(poolingJson, "pooling_mode_cls_token");
            bool mean = Flag(poolingJson, "pooling_mode_mean_tokens");
            if (cls && mean) throw new UnsupportedArchitectureException($"'{Path.Combine(dir, PoolingConfigFile)}' combines CLS and mean pooling; only one is supported");
            if (!cls && !mean) throw new UnsupportedArchitectureException($"'{Path.Combine(dir, PoolingConfigFile)}' asks for a pooling mode other than mean or CLS");
            pooling = cls ? Pooling.Cls : Pooling.Mean;
        }
        if (ReadJson(dir, SentenceBertConfigFile) is { } sbert)
        {
            configs.Add(SentenceBertConfigFile);
            if (sbert.TryGetProperty("max_seq_length", out var m) && m.ValueKind == JsonValueKind.Number) maxTokens = m.GetInt32();
            if (sbert.TryGetProperty("do_lower_case", out var l) && l.ValueKind == JsonValueKind.True) lower = true;
        }
        if (ReadJson(dir, TokenizerConfigFile) is { } tok)
        {
            configs.Add(TokenizerConfigFile);
            if (tok.TryGetProperty("do_lower_case", out var l) && l.ValueKind is JsonValueKind.True or JsonValueKind.False) lower = l.GetBoolean();
        }
        if (maxTokens < 2) throw new BadModelFileException($"'{Path.Combine(dir, SentenceBertConfigFile)}': max_seq_length {maxTokens} leaves no room for [CLS] and [SEP]");
        return new EncoderFolder
        {
            Directory = dir, ModelPath = model, VocabPath = vocab, Pooling = pooling, MaxTokens = maxTokens,
            LowerCase = lower ?? VocabIsUncased(vocab), ConfigFiles = configs,
        };
    }

    /// <summary>The graph feed (WordPiece tokenizer and BERT inputs) this folder's model takes.</summary>
    public WordPieceFeed OpenFeed() => WordPieceFeed.Open(VocabPath, LowerCase);

    /// <summary>
    /// Copies the tokenizer and pooling files of <paramref name="source"/> into <paramref name="targetDir"/> (where a
    /// pruned model.onnx is being written), so <see cref="Open"/> on the target gives the same tokenizer and pooling.
    /// </summary>
    public static void CopyCompanions(EncoderFolder source, string targetDir)
    {
        File.Copy(source.VocabPath, Path.Combine(targetDir, VocabFile), overwrite: false);
        foreach (var rel in source.ConfigFiles)
        {
            string target = Path.Combine(targetDir, rel);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(source.Directory, rel), target, overwrite: false);
        }
    }

    private static string FolderOf(string path)
    {
        string full = Path.GetFullPath(path);
        return File.Exists(full) ? Path.GetDirectoryName(full)! : Path.TrimEndingDirectorySeparator(full);
    }

    private static JsonElement? ReadJson(string dir, string relative)
    {
        string path = Path.Combine(dir, relative);
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new BadModelFileException($"'{path}': expected a JSON object");
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new BadModelFileException($"'{path}': not valid JSON ({ex.Message})", ex);
        }
    }

    private static bool Flag(JsonElement json, string name) => json.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    /// <summary>
    /// An uncased vocabulary (lower-cased at training) has no token with a Latin capital A-Z outside the [..]
    /// specials (it may still hold symbols such as U+211D that Unicode calls upper case).
    /// </summary>
    private static bool VocabIsUncased(string vocabPath) =>
        !File.ReadLines(vocabPath).Any(t => t.Length > 0 && t[0] != '[' && t.Any(char.IsAsciiLetterUpper));
}
