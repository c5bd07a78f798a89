using System.Diagnostics;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>Progress of a long evaluation: <see cref="Done"/> of <see cref="Total"/> units (sequences or steps).</summary>
public readonly record struct EvaluationProgress(string Stage, long Done, long Total);

/// <summary>Outcome of a perplexity evaluation. NLL in nats per scored token.</summary>
public sealed record PerplexityResult
{
    /// <summary>Mean over scored tokens of -ln p(token | preceding tokens of its sequence).</summary>
    public required double MeanNll { get; init; }
    public double Perplexity => Math.Exp(MeanNll);
    /// <summary>Number of scored (predicted) tokens.</summary>
    public required long Tokens { get; init; }
    /// <summary>Number of sequences run (paragraphs or windows).</summary>
    public required int Sequences { get; init; }
    /// <summary>Human-readable protocol, for reports.</summary>
    public required string Protocol { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>A token sequence and the first index whose token is scored (always at least 1: token 0 has no context).</summary>
public readonly record struct ScoredSequence(int[] Ids, int FirstTarget);

/// <summary>
/// Perplexity of a model given as an <see cref="ILogitsSource"/> (a whole-model runner, or a layer-streamed checkpoint).
/// Every protocol funnels into <see cref="Score"/>: sequences are sorted by length, right-padded into batches of
/// <see cref="BatchSize"/> rows with the attention mask (<see cref="Batches"/>), and each target token's NLL is taken
/// from a float64 log-softmax of its float32 logits, summed in batch, row, position order.
/// </summary>
public sealed class Perplexity(ILogitsSource source, int batchSize = 8)
{
    public Perplexity(ILogitsRunner runner, int batchSize = 8) : this(new RunnerLogitsSource(runner), batchSize) { }

    public int BatchSize { get; } = batchSize > 0 ? batchSize : throw new BadArgumentException($"batch size must be positive, got {batchSize}");

    /// <summary>
    /// Reference protocol (METHOD.md): each paragraph encoded as the model's tokenizer does (SentencePiece: BOS and the
    /// dummy-prefix space; tokenizer.json: its own BOS rule), truncated to
    /// <paramref name="maxLength"/> tokens; mean NLL of every next token over all paragraphs.
    /// </summary>
    public PerplexityResult Paragraphs(IModelTokenizer tokenizer, IReadOnlyList<string> paragraphs, int maxLength,
        IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Paragraphs(p => tokenizer.Encode(p), paragraphs, maxLength, progress, cancellationToken);

    /// <summary>The reference protocol with any encoder of a paragraph to ids (BOS first), e.g. a graph's feed.</summary>
    public PerplexityResult Paragraphs(Func<string, IReadOnlyList<int>> encode, IReadOnlyList<string> paragraphs, int maxLength,
        IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var (seqs, protocol) = ParagraphSequences(encode, paragraphs, maxLength);
        return Score(seqs, protocol, progress, cancellationToken);
    }

    /// <summary>The sequences and protocol line of <see cref="Paragraphs(Func{string, IReadOnlyList{int}}, IReadOnlyList{string}, int, IProgress{EvaluationProgress}?, CancellationToken)"/>.</summary>
    public static (ScoredSequence[] Sequences, string Protocol) ParagraphSequences(Func<string, IReadOnlyList<int>> encode, IReadOnlyList<string> paragraphs, int maxLength) =>
        (paragraphs.Select(p => new ScoredSequence(Truncate(encode(p), maxLength), 1)).ToArray(),
         $"paragraphs: {paragraphs.Count} blank-line-separated paragraphs, encoded as the model's tokenizer does (SentencePiece: BOS + dummy prefix), truncated to {maxLength} tokens, every next token scored");

    /// <summary>
    /// Windows over one token stream (<paramref name="text"/> encoded once, BOS first): windows of
    /// <paramref name="window"/> tokens starting every <paramref name="stride"/> tokens, the last one ending at the
    /// stream's end. Each token is scored once, in the first window that contains it with context: the first window
    /// scores tokens 1..W-1; later windows only the tokens past the previous window's end (all of a window but its
    /// first token when stride = window).
    /// </summary>
    public PerplexityResult Windows(IModelTokenizer tokenizer, string text, int window, int stride,
        IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var (seqs, protocol) = WindowSequences(tokenizer, text, window, stride);
        return Score(seqs, protocol, progress, cancellationToken);
    }

    /// <summary>The sequences and protocol line of <see cref="Windows"/>.</summary>
    public static (ScoredSequence[] Sequences, string Protocol) WindowSequences(IModelTokenizer tokenizer, string text, int window, int stride)
    {
        if (window < 2) throw new BadArgumentException($"--window must be at least 2, got {window}");
        if (stride < 1 || stride > window) throw new BadArgumentException($"--stride must be in [1, window = {window}], got {stride}");
        var stream = tokenizer.Encode(text);
        var seqs = new List<ScoredSequence>();
        int scoredUpTo = 1; // tokens [0, scoredUpTo) are done (token 0 cannot be predicted)
        for (int start = 0; scoredUpTo < stream.Length; start += stride)
        {
            int end = Math.Min(start + window, stream.Length);
            int first = Math.Max(1, scoredUpTo - start);
            if (first < end - start) seqs.Add(new ScoredSequence(stream[start..end], first));
            scoredUpTo = end;
        }
        return ([.. seqs], $"windows: {stream.Length} tokens encoded once with BOS, window {window}, stride {stride}, each token scored once with the context of its window");
    }

    /// <summary>
    /// The batches <see cref="Score"/> runs: sequences of at least 2 tokens, longest first (ties in input order), so each
    /// batch pads little; <paramref name="batchSize"/> per batch, right-padded.
    /// </summary>
    public static ScoredSequence[][] Batches(IReadOnlyList<ScoredSequence> sequences, int batchSize) =>
        Enumerable.Range(0, sequences.Count).Where(i => sequences[i].Ids.Length >= 2)
            .OrderByDescending(i => sequences[i].Ids.Length).ThenBy(i => i)
            .Select(i => sequences[i]).Chunk(batchSize).ToArray();

    /// <summary>Mean NLL over the targets of <paramref name="sequences"/> (tokens at index >= FirstTarget, FirstTarget >= 1).</summary>
    public PerplexityResult Score(IReadOnlyList<ScoredSequence> sequences, string protocol,
        IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var members = Batches(sequences, BatchSize);
        var batches = members.Select(m => TokenBatch.Create(m.Select(s => s.Ids).ToArray(), PadSide.Right)).ToArray();
        double total = 0;
        long tokens = 0;
        if (batches.Length > 0)
        {
            using var logits = source.Prepare(batches, progress, cancellationToken);
            for (int b = 0; b < batches.Length; b++)
                for (int r = 0; r < members[b].Length; r++)
                {
                    var ids = members[b][r].Ids;
                    for (int t = Math.Max(1, members[b][r].FirstTarget); t < ids.Length; t++)
                    {
                        total -= LogProbabilities.LogProb(logits.At(b, r, t - 1), ids[t]);
                        tokens++;
                    }
                }
        }
        if (tokens == 0) throw new BadDataException("no token to score: every sequence is shorter than 2 tokens");
        return new PerplexityResult { MeanNll = total / tokens, Tokens = tokens, Sequences = batches.Sum(b => b.Batch), Protocol = protocol, Seconds = clock.Elapsed.TotalSeconds };
    }

    private static int[] Truncate(IReadOnlyList<int> ids, int maxLength) => ids.Take(maxLength).ToArray();
}
