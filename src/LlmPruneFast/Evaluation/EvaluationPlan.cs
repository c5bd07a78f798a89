using System.Globalization;
using System.Text;
using LlmPruneFast.Capture;
using LlmPruneFast.Models;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Evaluation;

/// <summary>How an evaluation runs a checkpoint: the choice of <c>--stream</c>.</summary>
public enum EvaluationMode
{
    /// <summary>The whole-model graph when its estimate fits the memory budget, else layer by layer.</summary>
    Auto,
    /// <summary>One decoder layer at a time (the family's layer-streamed logits).</summary>
    Layers,
    /// <summary>One ONNX Runtime session over the whole model.</summary>
    Whole,
}

/// <summary>
/// What an evaluation of one or two decoder checkpoints (a model, or dense and pruned for KL) will hold in memory on each
/// path, which path it takes and with how many sequences per batch; made before any weight is read, so an
/// over-budget run is refused (exit 7) up front. Estimates are upper bounds of the peak, float32 as computed.
/// </summary>
public sealed class EvaluationPlan
{
    /// <summary>
    /// Copies of the weights a whole-model run holds at its peak, in float32: the graph's initializers, their serialized
    /// form (or external-data file pages) and ONNX Runtime's own tensors. Measured: 1.1B BF16 checkpoint, peak RSS
    /// 15.5 GB = 3.5 x its 4.4 GB of float32 weights (perf/RESULTS.md). A second model adds its own copies once the
    /// first's build is over: one more for the first session's tensors.
    /// </summary>
    public const double WholeModelCopies = 3.5;

    /// <summary>Bytes of logits the layer path makes at a time (a chunk of positions through the final norm and classifier).</summary>
    public const long LogitsChunkBytes = 32L << 20;

    /// <summary>Positions per head run: <see cref="LogitsChunkBytes"/> of logits over <paramref name="vocab"/>, at most <paramref name="longest"/> (at least 1).</summary>
    public static int ChunkPositions(int vocab, int longest) =>
        (int)Math.Clamp(LogitsChunkBytes / ((long)vocab * sizeof(float)), 1, Math.Max(1, longest));

    /// <summary>Bytes of memory a process holds before any model data (runtime, ONNX Runtime, tokenizer): an estimate.</summary>
    public const long BaselineBytes = 200L << 20;

    public required EvaluationMode Path { get; init; }
    public required int BatchSize { get; init; }
    public required IReadOnlyList<(string Part, long Bytes)> Parts { get; init; }
    public required long BudgetBytes { get; init; }
    /// <summary>Estimate of the other path's peak (for the plan's line), bytes.</summary>
    public required long OtherPathBytes { get; init; }
    public required bool HiddenInScratch { get; init; }
    /// <summary>Options of the layer stream (scratch folder, in-memory limit); unused on the whole-model path.</summary>
    public required LayerStreamOptions StreamOptions { get; init; }
    public required int Models { get; init; }
    /// <summary>Rough time of the model runs at <see cref="MachineRate.FlopsPerThread"/> per thread, seconds.</summary>
    public double Seconds { get; init; }

    public long TotalBytes => Parts.Sum(p => p.Bytes);
    public bool OverBudget => TotalBytes > BudgetBytes;

    /// <summary>
    /// The plan for evaluating <paramref name="models"/> checkpoints of <paramref name="shape"/> (the largest of
    /// them) on sequences of <paramref name="lengths"/> tokens. Batches are laid out as <see cref="Perplexity.Batches"/>
    /// does (longest first) or, with <paramref name="inOrder"/>, in order (<see cref="ModelComparison.Batches"/>).
    /// Without <paramref name="batchSize"/>, the whole-model path takes 8 sequences per batch and the layer path the
    /// largest of 8, 4, 2, 1 that fits the budget.
    /// </summary>
    public static EvaluationPlan Create(DecoderShape shape, IReadOnlyList<int> lengths, bool inOrder, int models, EvaluationMode mode,
        long budgetBytes, int? batchSize, int threads, string? scratchFolder = null, bool cuda = false)
    {
        if (batchSize is <= 0) throw new BadArgumentException($"--batch must be positive, got {batchSize}");
        int[] sizes = batchSize is int b ? [b] : [8, 4, 2, 1];
        var whole = Whole(shape, lengths, inOrder, models, batchSize ?? 8, budgetBytes, threads, scratchFolder, cuda);
        EvaluationPlan? layers = null;
        foreach (int size in sizes)
        {
            layers = Layers(shape, lengths, inOrder, models, size, budgetBytes, threads, scratchFolder, cuda);
            if (!layers.OverBudget) break;
        }
        var chosen = mode switch
        {
            EvaluationMode.Whole => whole,
            EvaluationMode.Layers => layers!,
            _ => whole.OverBudget ? layers! : whole,
        };
        var other = chosen == whole ? layers! : whole;
        // Forward multiply-adds of every evaluated (padded) token: the layers, their attention, and the classifier.
        long layerParams = shape.LayerParameters;
        var (padded, longest, _) = Layout(lengths, inOrder, chosen.BatchSize);
        int heads = shape.Heads, hd = shape.HeadDim;
        double flops = 2.0 * padded * models * (shape.Layers * (layerParams + 2.0 * longest * heads * hd) + (double)shape.Hidden * shape.Vocab);
        return new EvaluationPlan
        {
            Seconds = flops / (MachineRate.FlopsPerThread * Math.Max(1, threads > 0 ? threads : Environment.ProcessorCount)),
            Path = chosen.Path, BatchSize = chosen.BatchSize, Parts = chosen.Parts, BudgetBytes = budgetBytes, OtherPathBytes = other.TotalBytes,
            HiddenInScratch = chosen.HiddenInScratch, StreamOptions = chosen.StreamOptions, Models = models,
        };
    }

    private static (long Padded, int Longest, int Batch) Layout(IReadOnlyList<int> lengths, bool inOrder, int batchSize)
    {
        var rows = lengths.Where(l => l >= (inOrder ? 1 : 2));
        if (!inOrder) rows = rows.OrderByDescending(l => l);
        long padded = 0;
        int longest = 0;
        foreach (var chunk in rows.Chunk(batchSize))
        {
            padded += (long)chunk.Length * chunk.Max();
            longest = Math.Max(longest, chunk.Max());
        }
        return (padded, Math.Max(longest, 1), Math.Min(batchSize, Math.Max(1, lengths.Count)));
    }

    /// <summary>One batch through one layer: hidden in and out, q/k/v, gate/up/taps, and three attention score tensors.</summary>
    private static long BatchRun(DecoderShape shape, int batch, int longest, int width)
    {
        long tokens = (long)batch * longest;
        int d = shape.Hidden;
        return tokens * (5L * d + 3L * width) * sizeof(float) + 3L * batch * shape.Heads * longest * longest * sizeof(float);
    }

    private static EvaluationPlan Whole(DecoderShape shape, IReadOnlyList<int> lengths, bool inOrder, int models, int batchSize,
        long budget, int threads, string? scratch, bool cuda)
    {
        int n = shape.MaxFfnWidth;
        var (_, longest, batch) = Layout(lengths, inOrder, batchSize);
        long weights = (long)(shape.Parameters * sizeof(float) * (WholeModelCopies + models - 1));
        long logits = (long)batch * longest * shape.Vocab * sizeof(float);
        var parts = new List<(string, long)>
        {
            ("runtime baseline", BaselineBytes),
            (models == 1 ? "whole-model graph (weights as initializers, serialized, and in ONNX Runtime)" : $"{models} whole-model graphs (weights as initializers, serialized, and in ONNX Runtime)", weights),
            ("one batch through the graph (activations of one layer, attention scores)", BatchRun(shape, batch, longest, n)),
            (models == 1 ? "one batch's logits" : "one batch's logits, per model", logits * models),
        };
        return new EvaluationPlan
        {
            Path = EvaluationMode.Whole, BatchSize = batchSize, Parts = parts, BudgetBytes = budget, OtherPathBytes = 0, HiddenInScratch = false,
            StreamOptions = new LayerStreamOptions { Threads = threads, ScratchFolder = scratch, Cuda = cuda }, Models = models,
        };
    }

    private static EvaluationPlan Layers(DecoderShape shape, IReadOnlyList<int> lengths, bool inOrder, int models, int batchSize,
        long budget, int threads, string? scratch, bool cuda)
    {
        long layerParams = shape.LayerParameters;
        int n = shape.MaxFfnWidth;
        var (padded, longest, batch) = Layout(lengths, inOrder, batchSize);
        int d = shape.Hidden, v = shape.Vocab;
        long hidden = padded * d * sizeof(float);
        long block = (long)batch * longest * d * sizeof(float);
        long embedding = (long)v * d * sizeof(float);
        // Read and transposed for the graph: two float32 copies of one layer's weights.
        long weights = 2 * layerParams * sizeof(float);
        // The head: W^T held, and the read W while it is transposed (the first model's head stays while the second's is read).
        long head = (models + 1L) * v * d * sizeof(float);
        long chunk = models * (LogitsChunkBytes + (long)d * sizeof(float) * (LogitsChunkBytes / ((long)v * sizeof(float)) + 1));
        long run = BatchRun(shape, batch, longest, n);
        long fixedParts = BaselineBytes + weights + run + head + chunk;
        // The final hidden states of every model are kept until the head has read them (two for a comparison).
        bool inScratch = fixedParts + Math.Max(models * hidden, embedding) > budget;
        long resident = inScratch ? 2 * block * models : models * hidden + block;
        var parts = new List<(string, long)>
        {
            ("runtime baseline", BaselineBytes),
            (inScratch ? "hidden states (memory-mapped scratch; one batch resident)" : models == 1 ? "hidden states (all evaluated tokens)" : "hidden states (all evaluated tokens, per model)", resident),
            ("embedding matrix while embedding (beyond the hidden states)", Math.Max(0, embedding - resident)),
            ("one layer's weights", weights),
            ("one batch through one layer", run),
            (models == 1 ? "final norm and classifier" : "final norm and classifier, per model", head),
            ("logits of one chunk of positions", chunk),
        };
        return new EvaluationPlan
        {
            Path = EvaluationMode.Layers, BatchSize = batchSize, Parts = parts, BudgetBytes = budget, OtherPathBytes = 0, HiddenInScratch = inScratch,
            StreamOptions = new LayerStreamOptions { Threads = threads, ScratchFolder = scratch, Cuda = cuda, HiddenInMemoryLimitBytes = inScratch ? 0 : long.MaxValue },
            Models = models,
        };
    }

    /// <exception cref="MemoryBudgetException">The chosen path is over the budget; the message says what to lower.</exception>
    public void ThrowIfOverBudget()
    {
        if (!OverBudget) return;
        var largest = Parts.OrderByDescending(p => p.Bytes).First();
        string advice = Path == EvaluationMode.Whole
            ? "use --stream layers (one decoder layer at a time), or raise --memory-mb"
            : "lower --batch or --window (one batch's attention grows with batch x window^2), or raise --memory-mb";
        throw new MemoryBudgetException($"the evaluation needs about {MiB(TotalBytes)} MiB, over --memory-mb {MiB(BudgetBytes)} (largest part: {largest.Part}, {MiB(largest.Bytes)} MiB); {advice}");
    }

    /// <summary>Lines for the console: the path, each part, the total against the budget.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        string path = Path == EvaluationMode.Whole ? "whole-model graph" : "layer-streaming (one decoder layer at a time)";
        string otherName = Path == EvaluationMode.Whole ? "layer-streaming" : "whole-model";
        sb.AppendLine(c, $"plan       {path}, batch {BatchSize}; peak memory about {MiB(TotalBytes)} MiB of --memory-mb {MiB(BudgetBytes)} ({otherName}: about {MiB(OtherPathBytes)} MiB)");
        foreach (var (part, bytes) in Parts)
            if (bytes > 0) sb.AppendLine(c, $"             {MiB(bytes),8} MiB  {part}");
        if (HiddenInScratch) sb.AppendLine(c, $"             hidden states go to a memory-mapped scratch file");
        string time = Seconds < 90 ? $"{Seconds:F0} s" : Seconds < 5400 ? $"{Seconds / 60:F0} min" : $"{Seconds / 3600:F1} h";
        sb.Append(c, $"           rough time: model runs {time} ({MachineRate.Describe()})");
        return sb.ToString();
    }

    private static long MiB(long bytes) => (bytes + (1 << 20) - 1) >> 20;
}
