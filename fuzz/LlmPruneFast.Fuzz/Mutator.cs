using System.Text;

namespace LlmPruneFast.Fuzz;

/// <summary>Seeded byte-level mutations: set, delete, insert, duplicate, truncate, a number or an int32 made extreme.</summary>
public sealed class Mutator(int seed)
{
    private readonly Random _rng = new(seed);

    private static readonly string[] Extremes =
    [
        "-1", "0", "1e9", "1e400", "-2147483648", "2147483648", "9223372036854775808", "1.5", "[1.5]", "\"x\"", "null", "true", "[]", "{}",
        "\"\\ud800\"", "NaN", "-0", "4294967296", "[0, 0]", "[\"0\", 8]",
    ];

    public int Next(int max) => _rng.Next(max);

    /// <summary>1-4 edits of <paramref name="seed"/>; with <paramref name="focus"/> &gt; 0 most edits land in its first bytes.</summary>
    public byte[] Mutate(byte[] seed, int focus = 0)
    {
        var b = new List<byte>(seed);
        int edits = 1 + _rng.Next(4);
        for (int k = 0; k < edits; k++)
        {
            int span = focus > 0 && _rng.Next(5) > 0 ? Math.Min(focus, b.Count) : b.Count;
            int at = span == 0 ? 0 : _rng.Next(span);
            int len = Math.Min(1 + _rng.Next(16), b.Count - at);
            switch (_rng.Next(7))
            {
                case 0: if (at < b.Count) b[at] = (byte)_rng.Next(256); break;
                case 1: b.RemoveRange(at, len); break;
                case 2: b.InsertRange(at, Enumerable.Range(0, 1 + _rng.Next(16)).Select(_ => (byte)_rng.Next(256))); break;
                case 3: b.InsertRange(at, b.GetRange(at, len)); break;
                case 4: if (_rng.Next(8) == 0) b.RemoveRange(at, b.Count - at); break;
                case 5:
                {
                    int start = b.FindIndex(at, c => c is >= (byte)'0' and <= (byte)'9');
                    if (start < 0) break;
                    int end = start;
                    while (end < b.Count && (b[end] is >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'e' or (byte)'-')) end++;
                    b.RemoveRange(start, end - start);
                    b.InsertRange(start, Encoding.UTF8.GetBytes(Extremes[_rng.Next(Extremes.Length)]));
                    break;
                }
                default:
                {
                    int pos = at / 4 * 4;
                    if (pos + 4 > b.Count) break;
                    int[] ints = [int.MinValue, int.MaxValue, -1, 0, 1 << 30, 1_000_000_000, _rng.Next(), -_rng.Next(1000)];
                    var v = BitConverter.GetBytes(ints[_rng.Next(ints.Length)]);
                    for (int i = 0; i < 4; i++) b[pos + i] = v[i];
                    break;
                }
            }
        }
        return [.. b];
    }
}
