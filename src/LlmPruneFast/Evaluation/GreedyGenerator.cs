using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>Greedy decoding: the next token is always the argmax of the last position's logits (lowest id on ties).</summary>
public static class GreedyGenerator
{
    /// <summary>
    /// Up to <paramref name="steps"/> new token ids after <paramref name="prompt"/>. Stops early at
    /// <paramref name="eosId"/> (not included) when given, or when the model's positions are used up. Each step runs
    /// the whole sequence (the graph has no KV cache), which is fine for the short evaluations it serves.
    /// </summary>
    public static int[] Generate(ILogitsRunner runner, IReadOnlyList<int> prompt, int steps, int? eosId = null,
        IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (prompt.Count == 0) throw new BadArgumentException("the prompt must hold at least one token");
        if (steps < 0) throw new BadArgumentException($"--steps must be non-negative, got {steps}");
        var ids = prompt.Select(i => (long)i).ToList();
        var output = new List<int>(Math.Min(steps, runner.MaxPositions)); // never more than the positions left
        for (int s = 0; s < steps && ids.Count <= runner.MaxPositions; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tokens = ids.Select(i => (int)i).ToArray();
            var result = runner.Run(TokenBatch.Create([tokens], PadSide.Right));
            int next = LogProbabilities.ArgMax(result.LogitsAt(0, tokens.Length - 1));
            if (next == eosId) break;
            output.Add(next);
            ids.Add(next);
            progress?.Report(new EvaluationProgress("generate", s + 1, steps));
        }
        return [.. output];
    }
}
