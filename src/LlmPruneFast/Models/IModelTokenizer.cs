using LlmPruneFast.Models.Llama;
namespace LlmPruneFast.Models;

/// <summary>
/// A decoder model's tokenizer as the pipeline uses it: text to ids with the model's own BOS convention (never EOS),
/// ids back to text. Implemented for SentencePiece <c>tokenizer.model</c> (<see cref="SentencePieceModelTokenizer"/>)
/// and Hugging Face byte-level BPE <c>tokenizer.json</c> (<see cref="HfJsonTokenizer"/>); <see cref="ModelTokenizer.Load"/>
/// picks one by file.
/// </summary>
public interface IModelTokenizer
{
    /// <summary>Token ids of <paramref name="text"/>: <see cref="BosId"/> first when the tokenizer adds one, never EOS.</summary>
    int[] Encode(string text);

    /// <summary>The text of <paramref name="ids"/>; special tokens (BOS, EOS, ...) are left out.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The id <see cref="Encode"/> puts first, or null when this tokenizer adds none (Qwen2).</summary>
    int? BosId { get; }

    /// <summary>The end-of-sequence id the tokenizer names, or null when it names none.</summary>
    int? EosId { get; }

    /// <summary>Ids the tokenizer can produce: its largest id + 1 (added tokens included).</summary>
    int VocabularySize { get; }
}

/// <summary>Loads the <see cref="IModelTokenizer"/> of a file or a model folder.</summary>
public static class ModelTokenizer
{
    public const string SentencePieceFileName = "tokenizer.model";
    public const string JsonFileName = "tokenizer.json";

    /// <summary>
    /// The tokenizer in <paramref name="path"/>: a <c>.json</c> file is read as a Hugging Face tokenizer.json (with the
    /// tokenizer_config.json beside it, if any), anything else as a SentencePiece model.
    /// </summary>
    /// <exception cref="MissingInputException">The file does not exist.</exception>
    /// <exception cref="BadModelFileException">The file is malformed or describes a tokenizer this project does not support.</exception>
    public static IModelTokenizer Load(string path) =>
        IsJson(path) ? HfJsonTokenizer.Load(path) : new SentencePieceModelTokenizer(LlamaTokenizerLoader.Load(path));

    /// <summary>Whether <paramref name="path"/> names a tokenizer.json (by extension).</summary>
    public static bool IsJson(string path) => path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The tokenizer file of a model folder: tokenizer.model when present (SentencePiece wins when a folder has both,
    /// as Llama 2 folders do), else tokenizer.json; null when it has neither.
    /// </summary>
    public static string? FindIn(string folder)
    {
        string model = Path.Combine(folder, SentencePieceFileName), json = Path.Combine(folder, JsonFileName);
        return File.Exists(model) ? model : File.Exists(json) ? json : null;
    }

    /// <summary>The name a tokenizer file keeps inside a model folder: tokenizer.json or tokenizer.model.</summary>
    public static string FolderNameOf(string path) => IsJson(path) ? JsonFileName : SentencePieceFileName;
}
