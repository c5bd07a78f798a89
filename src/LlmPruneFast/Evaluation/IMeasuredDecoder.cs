using LlmPruneFast.Capture;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>
/// A decoder as the "measure dense vs pruned" step (the pipeline's <c>DecoderComparison</c>) runs it, whatever its
/// family: its shape and positions (the memory plan, each paragraph's cut), a whole-model runner, or its logits one
/// decoder layer at a time. Each decoder family's adapter implements it (Models/Llama).
/// </summary>
public interface IMeasuredDecoder
{
    DecoderShape Shape { get; }

    /// <summary>Tokens a sequence may hold.</summary>
    int MaxPositions { get; }

    /// <summary>An open whole-model runner of this model, used as is (the caller disposes it); null = open one.</summary>
    ILogitsRunner? Runner { get; }

    /// <summary>Opens a whole-model runner (the caller disposes it).</summary>
    ILogitsRunner OpenRunner(OnnxRunnerOptions options);

    /// <summary>Logits computed one decoder layer at a time; <paramref name="label"/> names its progress.</summary>
    ILogitsSource LayerStreamed(LayerStreamOptions options, string label);
}
