namespace LlmPruneFast.Evaluation;

/// <summary>Log-softmax of float32 logits, computed in float64.</summary>
public static class LogProbabilities
{
    /// <summary>log sum_v exp(logits[v]), as max + log(sum exp(l - max)) in float64.</summary>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (float l in logits) if (l > max) max = l;
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return max + Math.Log(sum);
    }

    /// <summary>Natural-log probability of <paramref name="token"/>: logits[token] - LogSumExp(logits).</summary>
    public static double LogProb(ReadOnlySpan<float> logits, int token) => logits[token] - LogSumExp(logits);

    /// <summary>output[v] = logits[v] - LogSumExp(logits).</summary>
    public static void LogSoftmax(ReadOnlySpan<float> logits, Span<double> output)
    {
        double lse = LogSumExp(logits);
        for (int v = 0; v < logits.Length; v++) output[v] = logits[v] - lse;
    }

    /// <summary>Index of the largest logit, the lowest index on ties.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int v = 1; v < logits.Length; v++) if (logits[v] > logits[best]) best = v;
        return best;
    }
}
