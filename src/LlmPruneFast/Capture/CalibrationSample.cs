using LlmPruneFast.Evaluation;

namespace LlmPruneFast.Capture;

/// <summary>
/// Which calibration tokens a capture reads, decided before any model runs: the calibration sequences (token ids,
/// truncated), the held-out ones, the S sampled positions (text order), and the sequences to run in batch order.
/// Shared by the whole-model capture (<see cref="CalibrationCapture"/>) and the layer-streaming one
/// (a family's layer stream, e.g. the LLaMA adapter's), so both read exactly the same rows.
/// </summary>
public sealed class CalibrationSample
{
    /// <summary>Token ids of every calibration sequence (sampled from or not): paragraphs or windows of them.</summary>
    public required int[][] Sequences { get; init; }
    /// <summary>Token ids of the paragraphs kept aside.</summary>
    public required int[][] HeldOut { get; init; }
    /// <summary>Source of every row s: (paragraph index, token index in the sequence).</summary>
    public required (int Sequence, int Position)[] Positions { get; init; }
    /// <summary>Per calibration sequence index, the (position, store row) pairs it contributes.</summary>
    public required IReadOnlyDictionary<int, List<(int Position, int Row)>> PerSequence { get; init; }
    /// <summary>Sequences to run, longest first (ties by index): batches are consecutive runs of <see cref="BatchSize"/>.</summary>
    public required int[] ToRun { get; init; }
    public required int Longest { get; init; }
    public required int BatchSize { get; init; }
    public required long Eligible { get; init; }
    /// <summary>
    /// Per sequence run that starts with an excluded leading special token (BOS, [CLS]), its row in the leading-position
    /// store (<see cref="LeadingActivations"/>), in sequence order; empty when the leading token is sampled
    /// (<see cref="CalibrationOptions.IncludeBos"/>) or the model has none.
    /// </summary>
    public required IReadOnlyDictionary<int, int> LeadingRows { get; init; }
    public required CalibrationInfo Info { get; init; }

    /// <summary>S.</summary>
    public int Samples => Positions.Length;

    /// <summary>pi: the leading positions' share of all positions of the sequences run (0 when there are none).</summary>
    public double LeadingShare => LeadingRows.Count == 0 ? 0.0 : (double)LeadingRows.Count / TokensRun();

    /// <summary>The sequences of each batch, in run order.</summary>
    public IEnumerable<int[]> Batches()
    {
        for (int b = 0; b < ToRun.Length; b += BatchSize) yield return ToRun.Skip(b).Take(BatchSize).ToArray();
    }

    /// <summary>Tokens of the sequences to run, padding excluded.</summary>
    public long TokensRun() => ToRun.Sum(q => (long)Sequences[q].Length);

    /// <summary>Padded tokens of the sequences to run, batch by batch (what the capture feeds the model).</summary>
    public long PaddedTokens() => Batches().Sum(m => (long)m.Length * m.Max(q => Sequences[q].Length));

    /// <summary>
    /// Splits <paramref name="text"/> into paragraphs, keeps the last ones aside as held-out sequences, makes the
    /// calibration sequences from the others (<see cref="CalibrationLayout"/>: windows for a
    /// <paramref name="causal"/> model unless paragraphs are asked for, else paragraphs), and draws the S positions
    /// inside them (see <see cref="CalibrationCapture"/>). <paramref name="encode"/> returns a text's ids, special
    /// tokens included, untruncated; sequences are cut to <paramref name="maxLength"/> here.
    /// </summary>
    /// <exception cref="BadArgumentException">Bad options, or the text holds fewer eligible positions than S.</exception>
    public static CalibrationSample Draw(Func<string, int[]> encode, int maxLength, int? leadingSpecialId, string text, string textName,
        CalibrationOptions options, bool causal)
    {
        int s = options.Samples;
        if (s < 2) throw new BadArgumentException($"--samples must be at least 2, got {s}");
        if (options.BatchSize < 1) throw new BadArgumentException($"capture batch size must be positive, got {options.BatchSize}");
        if (options.HeldOutSequences < 0) throw new BadArgumentException($"held-out sequences must be >= 0, got {options.HeldOutSequences}");
        if (options.Sequences < 0) throw new BadArgumentException($"--calib-seqs must be >= 0, got {options.Sequences}");
        if (options.SequenceLength < 2) throw new BadArgumentException($"--calib-len must be at least 2 tokens, got {options.SequenceLength}");

        var paragraphs = TextCorpus.Paragraphs(text);
        if (paragraphs.Count <= options.HeldOutSequences)
            throw new BadArgumentException($"calibration text '{textName}' has {paragraphs.Count} paragraphs; {options.HeldOutSequences} held out leaves none to sample");
        int available = paragraphs.Count - options.HeldOutSequences;
        var heldOut = new int[options.HeldOutSequences][];
        for (int h = 0; h < options.HeldOutSequences; h++) heldOut[h] = Cut(encode(paragraphs[available + h]), maxLength);

        bool windows = causal && options.Layout == CalibrationLayout.Windows;
        var (sequences, sourceOf) = windows
            ? Windows(encode, paragraphs, available, Math.Min(maxLength, options.SequenceLength), leadingSpecialId, options)
            : Paragraphs(encode, paragraphs, available, maxLength, options);
        int calibrationCount = sequences.Length;

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
            throw new BadArgumentException($"calibration text '{textName}' has {eligible} eligible token positions in {calibrationCount} " +
                (windows ? $"windows of at most {Math.Min(maxLength, options.SequenceLength)} tokens " : "paragraphs ") +
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
            positions[row] = (sourceOf[seqIndex], list[^1].Position);
        }
        var toRun = perSequence.Keys.OrderByDescending(q => sequences[q].Length).ThenBy(q => q).ToArray();
        // The excluded leading positions of the sequences run: the model computes the FFN there too.
        var leadingRows = new Dictionary<int, int>();
        foreach (int q in perSequence.Keys.Where(q => first[q] == 1).Order()) leadingRows[q] = leadingRows.Count;
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
            LeadingRows = leadingRows,
            Info = windows
                ? new CalibrationInfo(textName, s, options.Seed, calibrationCount, Math.Min(maxLength, options.SequenceLength), Layout: CalibrationLayout.Windows)
                : options.Sequences > 0
                    ? new CalibrationInfo(textName, s, options.Seed, options.Sequences, options.SequenceLength)
                    : new CalibrationInfo(textName, s, options.Seed),
        };
    }

    /// <summary>
    /// Paragraph layout: every paragraph before the held-out ones, or N of them drawn seeded (in text order), each cut
    /// to <paramref name="maxLength"/> tokens (and to L when N is given). Returns the sequences and each one's paragraph.
    /// </summary>
    private static (int[][] Sequences, int[] Source) Paragraphs(Func<string, int[]> encode, IReadOnlyList<string> paragraphs, int available,
        int maxLength, CalibrationOptions options)
    {
        var paragraphOf = options.Sequences > 0 && options.Sequences < available
            ? CalibrationCapture.SamplePositions(available, options.Sequences, options.Seed ^ DrawSalt).Select(p => (int)p).ToArray()
            : Enumerable.Range(0, available).ToArray();
        if (options.Sequences > 0) maxLength = Math.Min(maxLength, options.SequenceLength);
        return (paragraphOf.Select(p => Cut(encode(paragraphs[p]), maxLength)).ToArray(), paragraphOf);
    }

    /// <summary>
    /// Windows layout: paragraphs drawn in a seeded order, each encoded when drawn and cut into windows of at most
    /// <paramref name="length"/> tokens; a continuation window starts with the paragraph's leading special token (BOS)
    /// again, so every sequence starts as a document does. Windows are taken until there are N, or (N = 0) until their
    /// eligible positions reach S; they run in text order. Returns them and each one's paragraph.
    /// </summary>
    private static (int[][] Sequences, int[] Source) Windows(Func<string, int[]> encode, IReadOnlyList<string> paragraphs, int available,
        int length, int? leadingSpecialId, CalibrationOptions options)
    {
        var order = Enumerable.Range(0, available).ToArray();
        new Random(unchecked((int)((options.Seed ^ DrawSalt) ^ ((options.Seed ^ DrawSalt) >> 32)))).Shuffle(order);
        var taken = new List<(int Paragraph, int Window, int[] Ids)>();
        long covered = 0;
        bool Enough() => options.Sequences > 0 ? taken.Count >= options.Sequences : covered >= options.Samples;
        for (int d = 0; d < available && !Enough(); d++)
        {
            var ids = encode(paragraphs[order[d]]);
            bool lead = ids.Length > 0 && ids[0] == leadingSpecialId;
            int step = lead ? length - 1 : length; // a continuation window repeats the lead token
            for (int start = 0, w = 0; start < ids.Length && !Enough(); w++)
            {
                int[] window = start == 0 ? Cut(ids, length)
                    : lead ? [ids[0], .. ids.AsSpan(start, Math.Min(step, ids.Length - start))]
                    : ids.AsSpan(start, Math.Min(step, ids.Length - start)).ToArray();
                start = start == 0 ? window.Length : start + step;
                taken.Add((order[d], w, window));
                covered += window.Length - (!options.IncludeBos && lead ? 1 : 0);
            }
        }
        var inTextOrder = taken.OrderBy(t => t.Paragraph).ThenBy(t => t.Window).ToArray();
        return (inTextOrder.Select(t => t.Ids).ToArray(), inTextOrder.Select(t => t.Paragraph).ToArray());
    }

    private static int[] Cut(int[] ids, int maxLength) => ids.Length > maxLength ? ids[..maxLength] : ids;

    /// <summary>Salt of the sequence draw's seed, so it differs from the position sample's.</summary>
    private const long DrawSalt = 0x5E9_5E9;
}
