using System.Diagnostics;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Capture;

/// <summary>
/// Calibration activations of every FFN layer: <see cref="Layers"/>[l] is Z_l [S x N_l] (row s = the s-th sampled
/// token position in text order), plus the held-out sequences and how they were obtained.
/// </summary>
public sealed class CalibrationSet
{
    public required IReadOnlyList<LayerActivations> Layers { get; init; }
    /// <summary>Source of every row s: (calibration paragraph index, token index within it, BOS = 0).</summary>
    public required IReadOnlyList<(int Sequence, int Position)> Positions { get; init; }
    /// <summary>Token ids (BOS first) of the paragraphs kept aside, never sampled.</summary>
    public required IReadOnlyList<int[]> HeldOut { get; init; }
    /// <summary>What a plan records: text, S, seed.</summary>
    public required CalibrationInfo Info { get; init; }
    /// <summary>Eligible positions (non-padding, BOS per <see cref="CalibrationOptions.IncludeBos"/>) the sample was drawn from.</summary>
    public required long EligiblePositions { get; init; }
    /// <summary>Calibration paragraphs sampled from (held-out ones excluded; the N drawn ones with calibration in sequences).</summary>
    public required int Sequences { get; init; }
    /// <summary>Sequences actually run (those holding at least one sampled position).</summary>
    public required int SequencesRun { get; init; }
    /// <summary>Tokens of the sequences run (padding excluded): what capture cost in model runs.</summary>
    public required long TokensRun { get; init; }
    /// <summary>Bytes of the activation store: (S + M leading positions) * sum_l N_l * 4.</summary>
    public required long StoreBytes { get; init; }
    public required double Seconds { get; init; }

    /// <summary>S.</summary>
    public int Samples => Positions.Count;
}

/// <summary>
/// Calibration capture: text -> blank-line paragraphs (<see cref="TextCorpus.Paragraphs"/>) -> token ids (as the
/// model's tokenizer encodes) -> calibration sequences (<see cref="CalibrationSample"/>: windows of seeded paragraphs,
/// or paragraphs) -> S token positions chosen up front, seeded, uniformly without replacement among their eligible
/// positions (padding never exists at this stage, so it is excluded by construction; BOS positions excluded unless
/// <see cref="CalibrationOptions.IncludeBos"/>) -> the sequences holding
/// a chosen position run in ONNX Runtime through a taps-only graph (no logits) -> each chosen position's row of every
/// layer's activation z = silu(gate x) * up x copied into that layer's [S x N_l] store, and each excluded leading
/// position's row into its [M x N_l] one (<see cref="LeadingActivations"/>).
/// </summary>
public static class CalibrationCapture
{
    /// <summary>
    /// Bytes capture needs beyond the model, for layers of widths <paramref name="layerWidths"/>: the store
    /// (S + M) * sum_l N_l * 4 (M = <paramref name="leading"/> leading-position rows) plus the tap buffers of one batch,
    /// batch * longest * sum_l N_l * 4.
    /// </summary>
    public static long RequiredBytes(IReadOnlyList<int> layerWidths, int samples, int batch, int longest, int leading = 0)
    {
        long widths = layerWidths.Sum(w => (long)w);
        return ((long)samples + leading) * widths * 4 + (long)batch * longest * widths * 4;
    }

    /// <summary>
    /// The model-independent capture: <paramref name="model"/> says how text becomes ids and opens the runner that
    /// returns each layer's activations; sampling, batching and the store are the same for every model family.
    /// </summary>
    public static CalibrationSet Run(TapModel model, string text, string textName, CalibrationOptions options,
        IProgress<CaptureProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var sample = CalibrationSample.Draw(model.Encode, model.MaxLength, model.LeadingSpecialId, text, textName, options, model.Causal);
        int s = sample.Samples;
        var perSequence = sample.PerSequence;
        var toRun = sample.ToRun;
        int longest = sample.Longest, batch = sample.BatchSize;

        var widths = model.Widths.ToArray();
        int layers = widths.Length;
        var leadingRows = sample.LeadingRows;
        int m = leadingRows.Count;
        long need = RequiredBytes(widths, s, batch, longest, m);
        if (need > options.MemoryBudgetBytes)
            throw new MemoryBudgetException($"capture needs {need / (1 << 20)} MiB (S = {s} positions x {widths.Sum()} FFN neurons x 4 bytes{(m > 0 ? $", {m} leading positions" : "")} " +
                $"+ batch buffers {batch} x {longest} tokens), over the budget of {options.MemoryBudgetBytes / (1 << 20)} MiB; lower --samples or raise the budget");

        var stores = new float[layers][];
        for (int l = 0; l < layers; l++) stores[l] = new float[(long)s * widths[l]];
        var leads = new float[layers][];
        for (int l = 0; l < layers; l++) leads[l] = new float[(long)m * widths[l]];
        using (var runner = model.Open())
        {
            for (int b = 0; b < toRun.Length; b += batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var members = toRun.Skip(b).Take(batch).ToArray();
                var tokens = TokenBatch.Create(members.Select(q => sample.Sequences[q]).ToArray(), model.Side, model.PadId);
                var taps = runner.Run(tokens);
                for (int r = 0; r < members.Length; r++)
                {
                    foreach (var (position, row) in perSequence[members[r]])
                    {
                        long source = (long)r * tokens.Seq + tokens.Column(r, position);
                        for (int l = 0; l < layers; l++)
                        {
                            int n = widths[l];
                            taps[l].AsSpan((int)(source * n), n).CopyTo(stores[l].AsSpan(row * n, n));
                        }
                    }
                    if (leadingRows.TryGetValue(members[r], out int lead))
                    {
                        long source = (long)r * tokens.Seq + tokens.Column(r, 0);
                        for (int l = 0; l < layers; l++)
                        {
                            int n = widths[l];
                            taps[l].AsSpan((int)(source * n), n).CopyTo(leads[l].AsSpan(lead * n, n));
                        }
                    }
                }
                progress?.Report(new CaptureProgress("capture", Math.Min(b + batch, toRun.Length), toRun.Length));
            }
        }
        var activations = new LayerActivations[layers];
        double share = sample.LeadingShare;
        for (int l = 0; l < layers; l++)
            activations[l] = new LayerActivations(l, s, widths[l], stores[l], m > 0 ? new LeadingActivations(m, widths[l], leads[l], share) : null);
        return new CalibrationSet
        {
            Layers = activations,
            Positions = sample.Positions,
            HeldOut = sample.HeldOut,
            Info = sample.Info,
            EligiblePositions = sample.Eligible,
            Sequences = sample.Sequences.Length,
            SequencesRun = toRun.Length,
            TokensRun = sample.TokensRun(),
            StoreBytes = ((long)s + m) * widths.Sum(w => (long)w) * 4,
            Seconds = clock.Elapsed.TotalSeconds,
        };
    }

    /// <summary>
    /// <paramref name="count"/> distinct integers of [0, <paramref name="population"/>), uniformly at random
    /// (Floyd's algorithm: O(count) memory whatever the population), seeded, returned ascending.
    /// </summary>
    public static long[] SamplePositions(long population, int count, long seed)
    {
        if (count > population) throw new BadArgumentException($"cannot sample {count} of {population} positions");
        var rng = new Random(unchecked((int)(seed ^ (seed >> 32)) * 1103515245 + 12345));
        var set = new HashSet<long>(count);
        for (long j = population - count; j < population; j++)
        {
            long t = rng.NextInt64(j + 1);
            set.Add(set.Contains(t) ? j : t);
        }
        var result = set.ToArray();
        Array.Sort(result);
        return result;
    }
}
