using System.Globalization;
using System.Text;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// What a streaming prune will hold in memory, part by part, and a rough time estimate; made before any work so an
/// over-budget run is refused (exit 7) before it reads a weight. Sizes are float32 as computed (float64 where the
/// selectors and compensation work in it); the estimate is an upper bound of the peak, not the sum of all stages.
/// </summary>
public sealed class StreamingMemoryPlan
{
    /// <summary>Bytes of memory a process holds before any model data (runtime, ONNX Runtime, tokenizer): an estimate.</summary>
    public const long BaselineBytes = EvaluationPlan.BaselineBytes;

    public required IReadOnlyList<(string Part, long Bytes)> Parts { get; init; }
    public required long BudgetBytes { get; init; }
    public required bool HiddenInScratch { get; init; }
    public required long HiddenBytes { get; init; }
    /// <summary>Bytes of the cut layers' scratch file (float32 gate, up and down of every layer) by the end of the prune.</summary>
    public long SlicedScratchBytes { get; init; }
    public required double CaptureSeconds { get; init; }
    public required double SelectSeconds { get; init; }
    /// <summary>Rough time of a multi-seed method's candidate scoring (0 for other methods).</summary>
    public double ScoreSeconds { get; init; }
    /// <summary>How a multi-seed method's candidates are scored (whole-model graphs or layer by layer); null when none are.</summary>
    public EvaluationMode? ScoringPath { get; init; }
    public required CaptureMode Mode { get; init; }
    /// <summary>Options the stream runs with (scratch folder, in-memory limit) to match this plan.</summary>
    public required LayerStreamOptions StreamOptions { get; init; }

    /// <summary>What writing the pruned checkpoint and its model.onnx holds, after the layers' parts are freed.</summary>
    public IReadOnlyList<(string Part, long Bytes)> WriteParts { get; init; } = [];

    /// <summary>Peak estimate: the larger of the layer stage (the sum of <see cref="Parts"/>) and the write stage.</summary>
    public long TotalBytes => Math.Max(Parts.Sum(p => p.Bytes), WriteParts.Sum(p => p.Bytes));

    public bool OverBudget => TotalBytes > BudgetBytes;

    /// <summary>
    /// The plan for <paramref name="sample"/> on a decoder of <paramref name="shape"/> with <paramref name="options"/>' method
    /// (its own selection and compensation terms, <see cref="MethodFootprint"/>). A multi-seed method also counts its
    /// candidate scoring on <see cref="CalibrationSample.HeldOut"/>: the whole-model graphs when <paramref name="scoring"/>
    /// asks for them or (auto) when they fit the budget with everything else, else layer by layer (<see cref="CandidateScoring"/>).
    /// </summary>
    public static StreamingMemoryPlan Create(DecoderShape shape, CalibrationSample sample, PruningOptions options, CaptureMode mode,
        long budgetBytes, int threads, string? scratchFolder = null, bool cuda = false, EvaluationMode scoring = EvaluationMode.Auto)
    {
        int d = shape.Hidden, layers = shape.Layers, v = shape.Vocab, heads = shape.Heads;
        int hd = shape.HeadDim, kv = shape.KeyValueHeads;
        int n = shape.MaxFfnWidth;
        long attention = (long)d * hd * (2L * heads + 2L * kv);
        long layerParams = attention + 3L * n * d;
        long s = sample.Samples;
        long longest = sample.Longest, batch = Math.Max(1, sample.BatchSize);
        long padded = sample.PaddedTokens();
        long hidden = padded * d * sizeof(float);
        var heldOut = sample.HeldOut.Where(h => h.Length > 1).Select(h => h.Length).ToArray();
        int candidates = options.Selector.Candidates;
        bool scored = candidates > 1 && heldOut.Length > 0;
        if (scored) (longest, batch) = (Math.Max(longest, CandidateScoring.Layout(heldOut).Longest), Math.Max(batch, CandidateScoring.BatchSize));

        // One layer's weights: read from the checkpoint, transposed for the graph, and the FFN read again as an FfnLayer.
        long weights = (2 * layerParams + 3L * n * d) * sizeof(float);
        long store = (s + sample.LeadingRows.Count) * n * sizeof(float);   // and one row per sequence at its excluded leading position
        var method = MethodFootprint.Of(options, n, d, s);
        // One batch through the layer: input and output hidden states, taps, q/k/v and gate/up, attention scores.
        long tokens = batch * longest;
        long run = tokens * (2L * d + n + 3L * d + 2L * n) * sizeof(float) + 3L * batch * heads * longest * longest * sizeof(float);
        // Each cut layer (gate and up rows in float32, down in float64) goes to a scratch file as soon as it is cut
        // (SlicedLayerSpill), so one is resident, and the file holds them all in float32 until the checkpoint is written.
        double keep = 1 - options.Budget.Ratio;
        long sliced = (long)(keep * n) * d * (sizeof(float) * 2 + sizeof(double));
        long slicedOnDisk = (long)(keep * n) * d * sizeof(float) * 3 * layers;
        long embedding = (long)v * d * sizeof(float);

        // The collector returns the arrays a layer drops (weights widened and transposed, activations, the selector's
        // matrices) to the system some time after they die, so the next layer's arrays can sit beside them. Measured at
        // 7B width: 1.2-1.6 GB over the other parts, under one layer's weights; at 134M, over one layer's weights but
        // under its weights and activation store (perf/RESULTS.md, "LLM scale").
        long collectorSlack = weights + store;
        long fixedParts = BaselineBytes + weights + store + method.Bytes + run + sliced + collectorSlack;
        EvaluationMode? path = null;
        long scoringBytes = 0;
        if (scored)
        {
            long whole = CandidateScoring.WholeBytes(shape, heldOut, options.Budget.Ratio, threads);
            // Auto: the whole-model graphs (today's path for small models) when they fit beside everything else.
            path = CandidateScoring.Choose(scoring, fixedParts + Math.Max(hidden, embedding) + whole, budgetBytes);
            scoringBytes = path == EvaluationMode.Whole ? whole : CandidateScoring.LayeredBytes(shape, heldOut, candidates);
            fixedParts += scoringBytes;
        }
        // The hidden states stay in memory when that fits the budget, else go to a memory-mapped scratch file (its pages
        // are the kernel's to drop; one batch block in and out is counted), when that is smaller.
        long batchBlocks = 2 * tokens * d * sizeof(float);
        bool scratch = fixedParts + Math.Max(hidden, embedding) > budgetBytes && batchBlocks < hidden;
        long hiddenResident = scratch ? batchBlocks : hidden;
        var parts = new List<(string, long)>
        {
            ("runtime baseline", BaselineBytes),
            (scratch ? "hidden states (memory-mapped scratch; one batch resident)" : "hidden states (all calibration tokens)", hiddenResident),
            ("embedding matrix while embedding (beyond the hidden states)", Math.Max(0, embedding - hiddenResident)),
            ("one layer's weights", weights),
            ("one layer's activation store ((S + leading positions) x N)", store),
        };
        parts.AddRange(method.Parts);
        parts.Add(("one batch through one layer", run));
        parts.Add(("one cut layer (then moved to the scratch file)", sliced));
        parts.Add(("collector slack: a finished layer's weights and store not yet returned to the system", collectorSlack));
        if (path is { } p)
            parts.Add((p == EvaluationMode.Whole
                ? "candidate scoring: whole-model graphs of the dense model and one candidate, its cut layers in memory"
                : $"candidate scoring, layer by layer: held-out hidden states of the dense model and {candidates} candidates, the head, one chunk of logits per model", scoringBytes));
        // Forward multiply-adds: weights per token per layer plus attention. Sequential runs each layer twice; a global
        // budget or several candidates stream the calibration twice (select, then slice).
        bool twoPasses = options.Budget.Kind != BudgetKind.Uniform || candidates > 1;
        double pass = 2.0 * padded * layers * (layerParams + 2.0 * longest * heads * hd);
        double flops = pass * (mode == CaptureMode.Sequential ? 2 : 1) * (twoPasses ? 2 : 1);
        double rate = MachineRate.FlopsPerThread * Math.Max(1, threads > 0 ? threads : Environment.ProcessorCount);
        // Candidate scoring: layered runs every model's held-out tokens once and the calibration once more (to cut the
        // candidates); whole runs the dense and the candidate model per candidate and the calibration per candidate.
        bool needsActivations = Pruner.ResolveCompensation(options).Kind != CompensationKind.None;
        double scoreFlops = path switch
        {
            EvaluationMode.Layers => CandidateScoring.LayeredFlops(shape, heldOut, candidates) + (needsActivations ? pass : 0),
            EvaluationMode.Whole => CandidateScoring.LayeredFlops(shape, heldOut, candidates) * 2.0 * candidates / (candidates + 1) + (needsActivations ? candidates * pass : 0),
            _ => 0,
        };
        // The write reads one tensor at a time (widened to float32, and transposed for model.onnx) and collects what the
        // dropped ones add up to past a budget sized by the largest tensor (LargeGarbage).
        long modelBytes = (2L * v * d + layers * layerParams) * sizeof(float);   // at most what the write reads (read, then transposed)
        long largest = Math.Max(embedding, Math.Max((long)n * d, (long)heads * hd * d) * sizeof(float));
        var writeParts = new List<(string, long)>
        {
            ("runtime baseline", BaselineBytes),
            ("the largest tensor read and its transposed copy", 2 * largest),
            ("dropped tensors before a collection", Math.Min(LargeGarbage.BudgetFor(largest), 2 * modelBytes)),
        };
        return new StreamingMemoryPlan
        {
            Parts = parts,
            WriteParts = writeParts,
            BudgetBytes = budgetBytes,
            HiddenInScratch = scratch,
            HiddenBytes = hidden,
            SlicedScratchBytes = slicedOnDisk,
            CaptureSeconds = flops / rate,
            SelectSeconds = layers * method.FlopsPerLayer / rate,
            ScoreSeconds = scoreFlops / rate,
            ScoringPath = path,
            Mode = mode,
            StreamOptions = new LayerStreamOptions { Threads = threads, HiddenInMemoryLimitBytes = scratch ? 0 : long.MaxValue, ScratchFolder = scratchFolder, Cuda = cuda },
        };
    }

    /// <summary>The plan with the hidden states' scratch file under <paramref name="folder"/>.</summary>
    public StreamingMemoryPlan WithScratchFolder(string? folder) => new()
    {
        Parts = Parts, WriteParts = WriteParts, BudgetBytes = BudgetBytes, HiddenInScratch = HiddenInScratch, HiddenBytes = HiddenBytes, SlicedScratchBytes = SlicedScratchBytes,
        CaptureSeconds = CaptureSeconds, SelectSeconds = SelectSeconds, ScoreSeconds = ScoreSeconds, ScoringPath = ScoringPath, Mode = Mode,
        StreamOptions = StreamOptions with { ScratchFolder = folder },
    };

    /// <exception cref="MemoryBudgetException">The plan is over its budget; the message says what to lower.</exception>
    public void ThrowIfOverBudget()
    {
        if (!OverBudget) return;
        bool writing = WriteParts.Sum(p => p.Bytes) > Parts.Sum(p => p.Bytes);
        var largest = (writing ? WriteParts : Parts).OrderByDescending(p => p.Bytes).First();
        string scoring = largest.Part.StartsWith("candidate scoring", StringComparison.Ordinal) ? "choose a single-candidate method (the candidate scoring holds the classifier), " : "";
        string lower = writing ? "the write of the pruned model needs it whatever the calibration; raise --memory-mb"
            : $"{scoring}lower --samples (the activation store and selection grow with S), --calib-seqs/--calib-len (the hidden states), or raise --memory-mb";
        throw new MemoryBudgetException($"the run needs about {MiB(TotalBytes)} MiB, over --memory-mb {MiB(BudgetBytes)} (largest part: {largest.Part}, {MiB(largest.Bytes)} MiB); {lower}");
    }

    /// <summary>Lines for the console: each part, the total against the budget, and the time estimate.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        sb.AppendLine(c, $"plan       layer-streaming, {(Mode == CaptureMode.Sequential ? "sequential" : "dense")} capture; peak memory about {MiB(TotalBytes)} MiB of --memory-mb {MiB(BudgetBytes)}");
        foreach (var (part, bytes) in Parts)
            if (bytes > 0) sb.AppendLine(c, $"             {MiB(bytes),8} MiB  {part}");
        long write = WriteParts.Sum(p => p.Bytes);
        if (write > 0) sb.AppendLine(c, $"             writing the pruned model afterwards: about {MiB(write)} MiB ({string.Join(", ", WriteParts.Skip(1).Select(p => $"{p.Part} {MiB(p.Bytes)} MiB"))})");
        if (HiddenInScratch) sb.AppendLine(c, $"             hidden states {MiB(HiddenBytes)} MiB go to a memory-mapped scratch file beside the output");
        sb.AppendLine(c, $"             cut layers {MiB(SlicedScratchBytes)} MiB (float32) go to a scratch file beside the output until it is written");
        string score = ScoringPath == null ? "" : $", candidate scoring {Seconds(ScoreSeconds)}";
        sb.Append(c, $"           rough time: layer runs {Seconds(CaptureSeconds)}, selection {Seconds(SelectSeconds)}{score} ({MachineRate.Describe()})");
        return sb.ToString();
    }

    private static long MiB(long bytes) => (bytes + (1 << 20) - 1) >> 20;

    private static string Seconds(double s) => s < 90 ? $"{s:F0} s" : s < 5400 ? $"{s / 60:F0} min" : $"{s / 3600:F1} h";
}
