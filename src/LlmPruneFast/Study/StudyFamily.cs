namespace LlmPruneFast.Study;

/// <summary>
/// The model families a study holds, each with its own measure of damage. A decoder (LLaMA checkpoint or decoder
/// ONNX graph) is measured by perplexity on the evaluation paragraphs; a sentence encoder (ONNX graph with a WordPiece
/// vocab.txt) by the cosine of its pruned to its dense sentence embeddings and, given pairs, STS. The two measures
/// are in different units of different quantities, so every table, chart and JSON key keeps the families apart.
/// </summary>
public static class StudyFamily
{
    public const string Decoder = "decoder";
    public const string Encoder = "encoder";

    /// <summary>Families in the order outputs show them.</summary>
    public static readonly IReadOnlyList<string> All = [Decoder, Encoder];

    /// <summary>The per-criterion damage d_k of a family, as a short label with its unit.</summary>
    public static string MeasureLabel(string family) => family == Encoder
        ? "1 - fidelity (mean cosine distance of pruned to dense embeddings)"
        : "ln(ppl after / ppl before) [nats per token]";

    /// <summary>The axis label of a family's sensitivity chart.</summary>
    public static string SpreadLabel(string family) => family == Encoder
        ? "SD over criteria of 1 - fidelity"
        : "SD over criteria of ln(ppl after / before)  [nats]";

    /// <summary>"decoders" / "encoders".</summary>
    public static string Plural(string family) => family == Encoder ? "encoders" : "decoders";
}

/// <summary>How a study model is stored: it decides how the model is opened, captured, sliced and measured.</summary>
public static class StudyFormat
{
    /// <summary>Hugging Face LLaMA checkpoint folder (config.json, safetensors, tokenizer): the native path.</summary>
    public const string Checkpoint = "LLaMA checkpoint";
    /// <summary>ONNX graph with a SentencePiece or BPE tokenizer: a decoder on the generic graph path.</summary>
    public const string OnnxDecoder = "ONNX decoder graph";
    /// <summary>ONNX graph with a WordPiece vocab.txt: a sentence encoder on the generic graph path.</summary>
    public const string OnnxEncoder = "ONNX sentence encoder";
}
