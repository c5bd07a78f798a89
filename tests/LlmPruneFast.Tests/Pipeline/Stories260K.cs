using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using Microsoft.ML.Tokenizers;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>The real stories260K and TinyStories halves, loaded once for the pipeline tests (read-only).</summary>
public static class Stories260K
{
    private static readonly Lazy<(LlamaConfig, InMemoryTensorSource)> Model = new(() => Llama2cCheckpoint.Read(SharedData.Stories260KBin));
    private static readonly Lazy<IModelTokenizer> Tok = new(() => ModelTokenizer.Load(SharedData.Stories260KTokenizer));
    private static readonly Lazy<(string, string)> Halves = new(() => CorpusSplit.Halves(SharedData.TinyStories));

    public static LlamaConfig Config => Model.Value.Item1;
    /// <summary>Shared: never modify.</summary>
    public static InMemoryTensorSource Tensors => Model.Value.Item2;
    public static IModelTokenizer Tokenizer => Tok.Value;

    /// <summary>The first ~<paramref name="chars"/> characters of the calibration half, cut at a blank line.</summary>
    public static string Calibration(int chars = 60_000)
    {
        string first = Halves.Value.Item1;
        if (chars >= first.Length) return first;
        int cut = first.IndexOf("\n\n", chars, StringComparison.Ordinal);
        return cut < 0 ? first : first[..cut];
    }

    /// <summary>The first <paramref name="count"/> paragraphs of the evaluation half.</summary>
    public static IReadOnlyList<string> EvalParagraphs(int count) => TextCorpus.Paragraphs(Halves.Value.Item2, count);

    /// <summary>Token ids (BOS, truncated to the model's positions) of the first <paramref name="count"/> evaluation paragraphs.</summary>
    public static int[][] EvalSequences(int count) =>
        EvalParagraphs(count).Select(p => Tokenizer.Encode(p).Take(Config.MaxPositionEmbeddings).ToArray()).ToArray();

    /// <summary>Writes the imported checkpoint folder (config, safetensors, tokenizer) to <paramref name="dir"/>.</summary>
    public static void WriteFolder(string dir) => LlamaCheckpointWriter.Write(dir, Config, Tensors, SharedData.Stories260KTokenizer);

    /// <summary>Perplexity (reference protocol) of a model on the first <paramref name="count"/> evaluation paragraphs.</summary>
    public static PerplexityResult Perplexity(LlamaConfig config, ITensorSource tensors, int count)
    {
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        return new Perplexity(runner).Paragraphs(Tokenizer, EvalParagraphs(count), config.MaxPositionEmbeddings);
    }
}
