namespace LlmPruneFast.Models.Onnx;

/// <summary>Which side of a shorter sequence receives the padding.</summary>
public enum PadSide { Right, Left }

/// <summary>
/// Token sequences of different lengths padded into one [batch, seq] block with an attention mask
/// (1 = token, 0 = padding). seq = the longest sequence.
/// </summary>
public sealed class TokenBatch
{
    public required long[] Ids { get; init; }
    public required long[] Mask { get; init; }
    public required int Batch { get; init; }
    public required int Seq { get; init; }
    /// <summary>Real length of each row.</summary>
    public required int[] Lengths { get; init; }
    public required PadSide Side { get; init; }

    /// <summary>Column of token <paramref name="t"/> (0-based among the real tokens) of row <paramref name="row"/>.</summary>
    public int Column(int row, int t) => Side == PadSide.Right ? t : Seq - Lengths[row] + t;

    /// <summary>Pads <paramref name="sequences"/> (each non-empty) with <paramref name="padId"/> on <paramref name="side"/>.</summary>
    public static TokenBatch Create(IReadOnlyList<int[]> sequences, PadSide side = PadSide.Right, int padId = 0)
    {
        if (sequences.Count == 0) throw new BadArgumentException("a batch needs at least one sequence");
        int seq = sequences.Max(s => s.Length);
        if (sequences.Any(s => s.Length == 0)) throw new BadArgumentException("a batch cannot hold an empty sequence");
        var ids = new long[sequences.Count * seq];
        var mask = new long[sequences.Count * seq];
        Array.Fill(ids, padId);
        for (int r = 0; r < sequences.Count; r++)
        {
            var s = sequences[r];
            int start = r * seq + (side == PadSide.Right ? 0 : seq - s.Length);
            for (int t = 0; t < s.Length; t++)
            {
                ids[start + t] = s[t];
                mask[start + t] = 1;
            }
        }
        return new TokenBatch { Ids = ids, Mask = mask, Batch = sequences.Count, Seq = seq, Lengths = sequences.Select(s => s.Length).ToArray(), Side = side };
    }
}
