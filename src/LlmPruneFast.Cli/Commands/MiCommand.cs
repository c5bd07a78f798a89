using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CommandLine;
using LlmPruneFast.Information;
using LlmPruneFast.Models;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune mi</c>: mutual information between columns (neurons) of an activation matrix file, for one pair, a
/// pair list, or all pairs. With --json the last stdout line is one JSON object.
/// </summary>
[Verb("mi", HelpText = "Mutual information between neurons of an S x N activation matrix (raw float32 row-major or .npy).")]
public sealed class MiCommand : ICommand
{
    [Option("input", Required = true, HelpText = "S x N little-endian float32 row-major raw file, or .npy ('<f4'/'<f8').")]
    public string Input { get; set; } = "";

    [Option("cols", Required = true, HelpText = "N, the number of columns (neurons).")]
    public int Cols { get; set; }

    [Option("pair", HelpText = "One pair I,J (0-based columns).")]
    public string? Pair { get; set; }

    [Option("pairs", HelpText = "File of pairs, one per line: 'i,j' or 'i j'; blank lines and # comments skipped.")]
    public string? PairsFile { get; set; }

    [Option("all-pairs", HelpText = "Every pair of columns (streamed in tiles; --out writes the N x N float32 matrix).")]
    public bool AllPairs { get; set; }

    [Option("estimator", Default = "plugin", HelpText = "plugin | ksg | renyi | copula.")]
    public string Estimator { get; set; } = "plugin";

    [Option("bins", Default = 16, HelpText = "plugin: equal-frequency bins per variable (2..256).")]
    public int Bins { get; set; } = 16;

    [Option('k', "neighbours", Default = 3, HelpText = "ksg: neighbours k (--k K, -k K or --neighbours K).")]
    public int K { get; set; } = 3;

    [Option("alpha", Default = 2.0, HelpText = "renyi: entropy order (alpha = 2 is the exact fast path).")]
    public double Alpha { get; set; } = 2.0;

    [Option("bandwidth", Default = "silverman", HelpText = "renyi: silverman | scott | median | tuned | <sigma>.")]
    public string Bandwidth { get; set; } = "silverman";

    [Option("miller-madow", HelpText = "plugin: add the Miller-Madow bias correction.")]
    public bool MillerMadow { get; set; }

    [Option("no-clip", HelpText = "ksg: keep negative estimates instead of clipping at 0.")]
    public bool NoClip { get; set; }

    [Option("null", Default = 0, HelpText = "Also compute a permutation null of this many shuffled pairs and print its quantiles.")]
    public int NullPairs { get; set; }

    [Option("seed", Default = 0, HelpText = "Seed for every random choice (null shuffles, median/tuned bandwidth).")]
    public int Seed { get; set; }

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    [Option("out", HelpText = "all pairs: N x N float32 matrix (raw, or .npy by extension); pair lists: CSV i,j,mi.")]
    public string? Out { get; set; }

    [Option("force", HelpText = "Replace an existing --out file even when it does not look like one this command wrote.")]
    public bool Force { get; set; }

    [Option("json", HelpText = "End with one JSON object on the last line.")]
    public bool Json { get; set; }

    public int Run(CancellationToken cancellationToken)
    {
        int modes = (Pair != null ? 1 : 0) + (PairsFile != null ? 1 : 0) + (AllPairs ? 1 : 0);
        if (modes != 1) throw new BadArgumentException("give exactly one of --pair I,J, --pairs FILE or --all-pairs");
        var options = new MiEstimatorOptions
        {
            Bins = Bins, MillerMadow = MillerMadow, K = K, ClipNegative = !NoClip, Alpha = Alpha,
            Bandwidth = Information.Bandwidth.Parse(Bandwidth), Seed = Seed,
        };
        MiEstimators.Create(Estimator, options); // rejects a bad name or parameter before reading the file
        var backend = DeviceOption.Resolve(Device, Devices.DeviceStages.Estimation).MiBackend(Estimator, options);
        var estimator = backend.Create(Estimator, options);
        if (Out != null) new OutputFiles(Input, PairsFile).File(Out, "--out", path => Force || LooksLikeOurs(path)); // before reading
        var z = ActivationFiles.Read(Input, Cols);

        var result = new Dictionary<string, object?>
        {
            ["estimator"] = estimator.Name,
            ["params"] = estimator.Parameters,
            ["units"] = estimator.Units.ToString().ToLowerInvariant(),
            ["device"] = backend.Name,
            ["s"] = z.Rows,
            ["n"] = z.Columns,
        };
        var watch = Stopwatch.StartNew();
        if (Pair != null)
        {
            var (i, j) = ParsePair(Pair, "--pair");
            var mi = new double[1];
            estimator.EstimatePairs(z, [(i, j)], mi, null, cancellationToken);
            result["i"] = i;
            result["j"] = j;
            result["mi"] = mi[0];
            if (!Json) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"MI({i},{j}) = {mi[0]:R} {result["units"]} ({estimator.Name})"));
        }
        else if (PairsFile != null)
        {
            var pairs = ReadPairs(PairsFile);
            var mi = new double[pairs.Length];
            estimator.EstimatePairs(z, pairs, mi, null, cancellationToken);
            var lines = pairs.Select((p, k) => string.Create(CultureInfo.InvariantCulture, $"{p.I},{p.J},{mi[k]:R}")).ToArray();
            if (Out != null) WriteText(Out, ["i,j,mi", .. lines]);
            else if (!Json) foreach (var l in lines) Console.WriteLine(l);
            result["pairs"] = pairs.Select((p, k) => new Dictionary<string, object> { ["i"] = p.I, ["j"] = p.J, ["mi"] = mi[k] }).ToArray();
        }
        else
        {
            var summary = new SummarySink();
            IMiTileSink sink = summary;
            DenseMiSink? dense = null;
            if (Out != null) sink = new TeeSink(summary, dense = new DenseMiSink(z.Columns));
            estimator.EstimateAllPairs(z, sink, null, cancellationToken);
            if (dense != null) ActivationFiles.WriteMatrix(Out!, dense.Matrix, z.Columns, z.Columns);
            result["pairs"] = summary.Count;
            result["mean"] = summary.Count > 0 ? summary.Sum / summary.Count : 0.0;
            result["max"] = summary.Count > 0 ? new Dictionary<string, object> { ["i"] = summary.MaxI, ["j"] = summary.MaxJ, ["mi"] = summary.Max } : null;
            result["out"] = Out;
            if (!Json)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{summary.Count} pairs of {z.Columns} columns, S = {z.Rows}: mean {result["mean"]:R}, max {summary.Max:R} at ({summary.MaxI},{summary.MaxJ}) {result["units"]}{(Out != null ? $"; matrix written to {Out}" : "")}"));
        }
        result["seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 4);
        if (NullPairs > 0)
        {
            var nul = PermutationNull.Compute(estimator, z, NullPairs, Seed, null, cancellationToken);
            result["null"] = new Dictionary<string, object>
            {
                ["pairs"] = NullPairs, ["seed"] = Seed, ["mean"] = nul.Mean,
                ["q50"] = nul.Quantile(0.5), ["q95"] = nul.Quantile(0.95), ["q99"] = nul.Quantile(0.99),
            };
            if (!Json)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"permutation null ({NullPairs} shuffled pairs, seed {Seed}): mean {nul.Mean:R}, q95 {nul.Quantile(0.95):R}, q99 {nul.Quantile(0.99):R}"));
        }
        if (Json) Console.WriteLine(JsonSerializer.Serialize(result));
        return ExitCodes.Ok;
    }

    private static (int I, int J) ParsePair(string text, string where)
    {
        var parts = text.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int j))
            throw new BadArgumentException($"{where}: '{text}' is not a pair 'I,J' of non-negative integers");
        return (i, j);
    }

    private static (int I, int J)[] ReadPairs(string path)
    {
        if (!File.Exists(path)) throw new MissingInputException($"pairs file '{path}' does not exist");
        var list = new List<(int, int)>();
        int line = 0;
        foreach (var raw in File.ReadLines(path))
        {
            line++;
            var t = raw.Trim();
            if (t.Length == 0 || t.StartsWith('#')) continue;
            list.Add(ParsePair(t, $"{path} line {line}"));
        }
        if (list.Count == 0) throw new BadDataException($"pairs file '{path}' holds no pairs");
        return [.. list];
    }

    /// <summary>A file this command writes: a CSV starting "i,j,mi" or a float32 .npy; raw matrices cannot be told apart.</summary>
    private static bool LooksLikeOurs(string path)
    {
        var head = new byte[128];
        using var fs = File.OpenRead(path);
        string text = System.Text.Encoding.Latin1.GetString(head, 0, fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false));
        return text.StartsWith("i,j,mi\n", StringComparison.Ordinal) || text.StartsWith("i,j,mi\r\n", StringComparison.Ordinal)
            || (text.StartsWith("\u0093NUMPY", StringComparison.Ordinal) && text.Contains("'descr': '<f4'", StringComparison.Ordinal));
    }

    private static void WriteText(string path, IEnumerable<string> lines)
    {
        AtomicFile.WriteAllLines(path, lines);
    }

    /// <summary>Count, sum and arg-max of the pairs i &lt; j, without storing them.</summary>
    private sealed class SummarySink : IMiTileSink
    {
        public long Count;
        public double Sum, Max = double.NegativeInfinity;
        public int MaxI, MaxJ;

        public void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
        {
            long count = 0;
            double sum = 0, max = double.NegativeInfinity;
            int mi = 0, mj = 0;
            for (int r = 0; r < rowCount; r++)
                for (int c = 0; c < colCount; c++)
                {
                    int i = rowStart + r, j = colStart + c;
                    if (j <= i) continue;
                    float v = tile[r * colCount + c];
                    count++;
                    sum += v;
                    if (v > max) { max = v; mi = i; mj = j; }
                }
            lock (this)
            {
                Count += count;
                Sum += sum;
                if (max > Max || (max == Max && (mi, mj).CompareTo((MaxI, MaxJ)) < 0)) { Max = max; MaxI = mi; MaxJ = mj; }
            }
        }
    }

    private sealed class TeeSink(IMiTileSink a, IMiTileSink b) : IMiTileSink
    {
        public void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
        {
            a.Accept(rowStart, colStart, rowCount, colCount, tile);
            b.Accept(rowStart, colStart, rowCount, colCount, tile);
        }
    }
}
