using LlmPruneFast.Evaluation;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Capture;

/// <summary>
/// Which calibration tokens a capture reads, decided before any model runs: the calibration sequences (token ids,
/// truncated), the held-out ones, the S sampled positions (text order), and the sequences to run in batch order.
/// Shared by the whole-model capture (<see cref="CalibrationCapture"/>) and the layer-streaming one
/// (<see cref="LayerStream"/>), so both read exactly the same rows.
/// </summary>
public sealed class CalibrationSample
{
    /// <summary>Token ids of every calibration sequence (sampled from or not).</summary>
    public required int[][] Sequences { get; init; }
    /// <summary>Token ids of the paragraphs kept aside.</summary>
    public required int[][] HeldOut { get; init; }
    /// <summary>Source of every row s: (paragraph index, token index).</summary>
    public required (int Sequence, int Position)[] Positions { get; init; }
    /// <summary>Per calibration sequence index, the (position, store row) pairs it contributes.</summary>
    public required IReadOnlyDictionary<int, List<(int Position, int Row)>> PerSequence { get; init; }
    /// <summary>Sequences to run, longest first (ties by index): batches are consecutive runs of <see cref="BatchSize"/>.</summary>
    public required int[] ToRun { get; init; }
    public required int Longest { get; init; }
    public required int BatchSize { get; init; }
    public required long Eligible { get; init; }
    public required CalibrationInfo Info { get; init; }

    /// <summary>S.</summary>
    public int Samples => Positions.Length;

    /// <summary>The sequences of each batch, in run order.</summary>
    public IEnumerable<int[]> Batches()
    {
        for (int b = 0; b < ToRun.Length; b += BatchSize) yield return ToRun.Skip(b).Take(BatchSize).ToArray();
    }

    /// <summary>Padded tokens of the sequences to run, batch by batch (what the capture feeds the model).</summary>
    public long PaddedTokens() => Batches().Sum(m => (long)m.Length * m.Max(q => Sequences[q].Length));

    /// <summary>
    /// Splits <paramref name="text"/> into paragraphs, encodes them (<paramref name="encode"/>, truncated to
    /// <paramref name="maxLength"/>), draws the S positions (see <see cref="CalibrationCapture"/>).
    /// </summary>
    /// <exception cref="BadArgumentException">Bad options, or the text holds fewer eligible positions than S.</exception>
    public static CalibrationSample Draw(Func<string, int[]> encode, int maxLength, int? leadingSpecialId, string text, string textName, CalibrationOptions options)
    {
        int s = options.Samples;
        if (s < 2) throw new BadArgumentException($"--samples must be at least 2, got {s}");
        if (options.BatchSize < 1) throw new BadArgumentException($"capture batch size must be positive, got {options.BatchSize}");
        if (options.HeldOutSequences < 0) throw new BadArgumentException($"held-out sequences must be >= 0, got {options.HeldOutSequences}");
        int modelMaxLength = maxLength;

        if (options.Sequences < 0) throw new BadArgumentException($"--calib-seqs must be >= 0, got {options.Sequences}");
        if (options.Sequences > 0 && options.SequenceLength < 2)
            throw new BadArgumentException($"--calib-len must be at least 2 tokens, got {options.SequenceLength}");

        var paragraphs = TextCorpus.Paragraphs(text);
        if (paragraphs.Count <= options.HeldOutSequences)
            throw new BadArgumentException($"calibration text '{textName}' has {paragraphs.Count} paragraphs; {options.HeldOutSequences} held out leaves none to sample");
        int available = paragraphs.Count - options.HeldOutSequences;
        // The calibration paragraphs: every one, or (calibration in sequences) N drawn seeded, in text order, each cut
        // to L tokens; only these are tokenized and run.
        var paragraphOf = options.Sequences > 0 && options.Sequences < available
            ? CalibrationCapture.SamplePositions(available, options.Sequences, options.Seed ^ 0x5E9_5E9).Select(p => (int)p).ToArray()
            : Enumerable.Range(0, available).ToArray();
        if (options.Sequences > 0) maxLength = Math.Min(maxLength, options.SequenceLength);
        int calibrationCount = paragraphOf.Length;
        var sequences = new int[calibrationCount][];
        var heldOut = new int[options.HeldOutSequences][];
        for (int q = 0; q < calibrationCount; q++)
        {
            var ids = encode(paragraphs[paragraphOf[q]]);
            sequences[q] = ids.Length > maxLength ? ids[..maxLength] : ids;
        }
        for (int h = 0; h < options.HeldOutSequences; h++)
        {
            var ids = encode(paragraphs[available + h]);
            heldOut[h] = ids.Length > modelMaxLength ? ids[..modelMaxLength] : ids;
        }

        // Eligible positions of each sequence: all of them, or all but a leading BOS.
        var first = new int[calibrationCount];
        var offsets = new long[calibrationCount + 1];
        for (int q = 0; q < calibrationCount; q++)
        {
            var ids = sequences[q];
            first[q] = !options.IncludeBos && ids.Length > 0 && ids[0] == leadingSpecialId ? 1 : 0;
            offsets[q + 1] = offsets[q] + Math.Max(0, ids.Length - first[q]);
        }
        long eligible = offsets[calibrationCount];
        if (eligible < s)
            throw new BadArgumentException($"calibration text '{textName}' has {eligible} eligible token positions in {calibrationCount} paragraphs " +
                $"({(options.IncludeBos ? "BOS included" : "BOS excluded")}{(options.HeldOutSequences > 0 ? $", {options.HeldOutSequences} held out" : "")}), fewer than --samples {s}; " +
                (options.Sequences > 0 ? "raise --calib-seqs or --calib-len, " : "") + "give a longer text or lower --samples");

        var chosen = CalibrationCapture.SamplePositions(eligible, s, options.Seed);
        // Per sequence, the (position, store row) pairs it contributes; rows follow text order.
        var perSequence = new Dictionary<int, List<(int Position, int Row)>>();
        var positions = new (int Sequence, int Position)[s];
        int seqIndex = 0;
        for (int row = 0; row < s; row++)
        {
            long g = chosen[row];
            while (offsets[seqIndex + 1] <= g) seqIndex++;
            if (!perSequence.TryGetValue(seqIndex, out var list)) perSequence[seqIndex] = list = [];
            list.Add(((int)(g - offsets[seqIndex]) + first[seqIndex], row));
            positions[row] = (paragraphOf[seqIndex], list[^1].Position);
        }
        var toRun = perSequence.Keys.OrderByDescending(q => sequences[q].Length).ThenBy(q => q).ToArray();
        return new CalibrationSample
        {
            Sequences = sequences,
            HeldOut = heldOut,
            Positions = positions,
            PerSequence = perSequence,
            ToRun = toRun,
            Longest = toRun.Length > 0 ? sequences[toRun[0]].Length : 1,
            BatchSize = Math.Min(options.BatchSize, toRun.Length),
            Eligible = eligible,
            Info = options.Sequences > 0
                ? new CalibrationInfo(textName, s, options.Seed, options.Sequences, options.SequenceLength)
                : new CalibrationInfo(textName, s, options.Seed),
        };
    }
}
