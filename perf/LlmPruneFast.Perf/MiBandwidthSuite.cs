using System.Globalization;
using LlmPruneFast.Information;

namespace LlmPruneFast.Perf;

/// <summary>
/// `mi-bandwidth`: the measurements behind the tuned Renyi bandwidth rule. For each factor c on Silverman's sigma:
/// the alpha = 2 null (mean, sd over shuffled pairs) and, on the reference cases, the real MI and its z-score
/// against that case's own shuffles; then the factor the tuned rule picks.
/// </summary>
internal static class MiBandwidthSuite
{
    public static int Run(string[] args)
    {
        string shared = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/reference/mi"));
        if (args.Length > 0) shared = args[0];
        var names = new[] { "gauss_rho0.3", "gauss_rho0.6", "sine_noise", "silu_gate", "heavy_tail_lognormal" };
        var cases = names.Select(n => (n, Load(Path.Combine(shared, n + ".f32")))).ToArray();
        var layer = MiSuite.Layer(1000, 64, seed: 11);
        var rng = new Random(0);
        Console.WriteLine("factor | layer null mean (bits) | " + string.Join(" | ", names.Select(n => $"{n} MI, z")));
        foreach (double c in RenyiBandwidthTuner.Factors)
        {
            var nullVals = new double[32];
            for (int p = 0; p < nullVals.Length; p++)
            {
                int i = rng.Next(64), j = rng.Next(64);
                var y = Shuffle(layer.Column(j).ToArray(), rng);
                nullVals[p] = RenyiBandwidthTuner.NullMi(layer.Column(i), y, c);
            }
            var row = new List<string> { c.ToString("0.##", CultureInfo.InvariantCulture), $"{nullVals.Average():F4}" };
            foreach (var (_, (x, y)) in cases)
            {
                double mi = RenyiBandwidthTuner.NullMi(x, y, c);
                var nul = Enumerable.Range(0, 20).Select(_ => RenyiBandwidthTuner.NullMi(x, Shuffle((float[])y.Clone(), rng), c)).ToArray();
                double mean = nul.Average(), sd = Math.Sqrt(nul.Select(v => (v - mean) * (v - mean)).Sum() / (nul.Length - 1));
                row.Add($"{mi:F4}, z {(mi - mean) / sd:F0}");
            }
            Console.WriteLine(string.Join(" | ", row));
        }
        var choice = RenyiBandwidthTuner.ChooseFactor(layer, seed: 0);
        Console.WriteLine($"tuned rule on the synthetic layer (S = 1000, N = 64): factor {choice.Factor} (" +
            string.Join(", ", choice.Trials.Select(t => $"c={t.Factor}: {t.NullMeanBits:F4}")) + ")");
        foreach (var (n, (x, y)) in cases)
        {
            var z = new ActivationMatrix(x.Length, 2);
            x.CopyTo(z.ColumnMutable(0));
            y.CopyTo(z.ColumnMutable(1));
            Console.WriteLine($"tuned rule on {n}: factor {RenyiBandwidthTuner.ChooseFactor(z, 0).Factor}");
        }
        return 0;
    }

    private static (float[] X, float[] Y) Load(string path)
    {
        var all = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();
        return (all.Where((_, i) => i % 2 == 0).ToArray(), all.Where((_, i) => i % 2 == 1).ToArray());
    }

    private static float[] Shuffle(float[] v, Random rng)
    {
        for (int k = v.Length - 1; k > 0; k--) { int r = rng.Next(k + 1); (v[k], v[r]) = (v[r], v[k]); }
        return v;
    }
}
