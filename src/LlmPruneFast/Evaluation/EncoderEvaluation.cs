using System.Diagnostics;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>STS result: Spearman's rho x 100 between cosine similarity and gold score (the convention of STS papers).</summary>
public sealed record StsResult(double Spearman, int Pairs, int Sentences, double Seconds);

/// <summary>Label-free fidelity: cosine between pruned and dense embeddings of the same sentences (the encoder analogue of KL).</summary>
public sealed record FidelityResult(double MeanCosine, double MinCosine, int Sentences);

/// <summary>What an encoder's embeddings of a text look like: size, norms, and how alike they are on average.</summary>
public sealed record EmbeddingStatistics(int Sentences, int Dimension, double MeanNorm, double MinNorm, double MaxNorm, double MeanPairCosine, double Seconds);

/// <summary>Evaluations that fit a sentence encoder (perplexity fits decoders only).</summary>
public static class EncoderEvaluation
{
    /// <summary>Spearman x 100 of cos(e1, e2) against the gold scores; each distinct sentence is embedded once.</summary>
    public static StsResult Sts(SentenceEncoder encoder, IReadOnlyList<StsPair> pairs, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        var sentences = pairs.SelectMany(p => new[] { p.Sentence1, p.Sentence2 }).Distinct().ToArray();
        var index = sentences.Select((s, i) => (s, i)).ToDictionary(x => x.s, x => x.i);
        var embeddings = encoder.Embed(sentences, ct);
        var predicted = pairs.Select(p => Cosine(embeddings[index[p.Sentence1]], embeddings[index[p.Sentence2]])).ToArray();
        double rho = RankCorrelation.Spearman(predicted, pairs.Select(p => p.Score).ToArray());
        return new StsResult(100 * rho, pairs.Count, sentences.Length, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Cosine between <paramref name="dense"/>'s and <paramref name="pruned"/>'s embedding of each sentence.</summary>
    public static FidelityResult Fidelity(SentenceEncoder dense, SentenceEncoder pruned, IReadOnlyList<string> sentences, CancellationToken ct = default)
    {
        if (sentences.Count == 0) throw new BadDataException("fidelity needs at least one sentence");
        return Fidelity(dense.Embed(sentences, ct), pruned, sentences, ct);
    }

    /// <summary>As above, against dense embeddings already computed (<c>dense.Embed(sentences)</c>): a study measures many pruned variants.</summary>
    public static FidelityResult Fidelity(IReadOnlyList<float[]> dense, SentenceEncoder pruned, IReadOnlyList<string> sentences, CancellationToken ct = default)
    {
        if (sentences.Count == 0) throw new BadDataException("fidelity needs at least one sentence");
        if (dense.Count != sentences.Count) throw new ArgumentException($"{dense.Count} dense embeddings for {sentences.Count} sentences", nameof(dense));
        var a = dense;
        var b = pruned.Embed(sentences, ct);
        var cos = a.Zip(b, Cosine).ToArray();
        return new FidelityResult(cos.Average(), cos.Min(), sentences.Count);
    }

    /// <summary>Embedding statistics of <paramref name="sentences"/>; the mean pairwise cosine uses the first 500.</summary>
    public static EmbeddingStatistics Statistics(SentenceEncoder encoder, IReadOnlyList<string> sentences, CancellationToken ct = default)
    {
        if (sentences.Count == 0) throw new BadDataException("no sentences to embed");
        var clock = Stopwatch.StartNew();
        var e = encoder.Embed(sentences, ct);
        var norms = e.Select(v => Math.Sqrt(v.Sum(x => (double)x * x))).ToArray();
        int m = Math.Min(e.Length, 500);
        double sum = 0;
        long count = 0;
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++, count++) sum += Cosine(e[i], e[j]);
        return new EmbeddingStatistics(e.Length, encoder.Dimension, norms.Average(), norms.Min(), norms.Max(),
            count > 0 ? sum / count : double.NaN, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Median forward latency of two encoders on the same [batch, seq] block ([CLS], fixed word pieces, [SEP]), timed
    /// interleaved A B A B in one process so load changes hit both alike.
    /// </summary>
    public static (LatencyResult A, LatencyResult B) Latency(SentenceEncoder a, SentenceEncoder b, int batch = 32, int seq = 128,
        int warmup = 2, int repeats = 10, CancellationToken ct = default)
    {
        var tokens = LatencyBlock(a, batch, seq, repeats);
        for (int i = 0; i < warmup; i++)
        {
            a.RunStates(tokens);
            b.RunStates(tokens);
        }
        var ta = new double[repeats];
        var tb = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            ct.ThrowIfCancellationRequested();
            ta[i] = Time(a, tokens);
            tb[i] = Time(b, tokens);
        }
        return (new LatencyResult(batch, tokens.Seq, Median(ta)), new LatencyResult(batch, tokens.Seq, Median(tb)));
    }

    /// <summary>Median forward latency of one encoder on the same block as <see cref="Latency(SentenceEncoder, SentenceEncoder, int, int, int, int, CancellationToken)"/>.</summary>
    public static LatencyResult Latency(SentenceEncoder encoder, int batch = 32, int seq = 128, int warmup = 2, int repeats = 10, CancellationToken ct = default)
    {
        var tokens = LatencyBlock(encoder, batch, seq, repeats);
        for (int i = 0; i < warmup; i++) encoder.RunStates(tokens);
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            ct.ThrowIfCancellationRequested();
            times[i] = Time(encoder, tokens);
        }
        return new LatencyResult(batch, tokens.Seq, Median(times));
    }

    /// <summary>[CLS], the same word pieces repeated, [SEP]: batch identical rows of exactly seq tokens.</summary>
    private static TokenBatch LatencyBlock(SentenceEncoder encoder, int batch, int seq, int repeats)
    {
        if (batch <= 0 || seq < 2 || repeats <= 0) throw new BadArgumentException($"latency needs batch >= 1, seq >= 2 and repeats >= 1; got {batch}, {seq}, {repeats}");
        seq = Math.Min(seq, encoder.MaxTokens);
        var row = encoder.Feed.Encode(string.Join(' ', Enumerable.Repeat("the quick brown fox jumps over the lazy dog", seq)), seq);
        return TokenBatch.Create(Enumerable.Repeat(row, batch).ToArray(), encoder.Feed.Side, encoder.Feed.PadId);
    }

    /// <summary>Cosine similarity, accumulated in double; 0 when either vector is zero.</summary>
    public static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    private static double Time(SentenceEncoder encoder, TokenBatch tokens)
    {
        var clock = Stopwatch.StartNew();
        encoder.RunStates(tokens);
        return clock.Elapsed.TotalMilliseconds;
    }

    private static double Median(double[] values)
    {
        Array.Sort(values);
        return values[values.Length / 2];
    }
}
