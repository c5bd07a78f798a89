using System.Diagnostics;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>Median latency of one forward pass and the tokens per second it implies.</summary>
public readonly record struct LatencyResult(int Batch, int Seq, double MedianMs)
{
    public double TokensPerSecond => Batch * Seq / (MedianMs / 1000.0);
}

/// <summary>
/// Measures ONNX Runtime forward passes on fixed token ids. Two models are timed interleaved (A B A B ...) in one
/// process so that machine load and frequency changes hit both alike; the median discards outliers.
/// </summary>
public static class LatencyProbe
{
    /// <summary>Dense and pruned latency at <paramref name="batch"/> x <paramref name="seq"/> (seq capped at the models' positions).</summary>
    public static (LatencyResult A, LatencyResult B) Compare(ILogitsRunner a, ILogitsRunner b, int batch = 1, int seq = 128,
        int warmup = 3, int repeats = 20, CancellationToken ct = default)
    {
        seq = Math.Min(seq, Math.Min(a.MaxPositions, b.MaxPositions));
        int vocab = Math.Min(a.Vocab, b.Vocab);
        var row = Enumerable.Range(0, seq).Select(i => 1 + i % Math.Max(1, vocab - 1)).ToArray();
        var tokens = TokenBatch.Create(Enumerable.Repeat(row, batch).ToArray(), PadSide.Right);
        for (int i = 0; i < warmup; i++)
        {
            a.Run(tokens);
            b.Run(tokens);
        }
        var ta = new double[repeats];
        var tb = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            ct.ThrowIfCancellationRequested();
            ta[i] = Time(a, tokens);
            tb[i] = Time(b, tokens);
        }
        return (new LatencyResult(batch, seq, Median(ta)), new LatencyResult(batch, seq, Median(tb)));
    }

    private static double Time(ILogitsRunner runner, TokenBatch tokens)
    {
        var clock = Stopwatch.StartNew();
        runner.Run(tokens);
        return clock.Elapsed.TotalMilliseconds;
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        return values[values.Length / 2];
    }
}
