using System.Globalization;

namespace LlmPruneFast.Evaluation;

/// <summary>One labelled sentence pair: gold similarity on the 0-5 scale of the STS Benchmark.</summary>
public sealed record StsPair(string Sentence1, string Sentence2, double Score);

/// <summary>
/// Reads STS Benchmark pairs in either distributed layout, told apart by their columns (tab-separated, no quoting):
/// GLUE's STS-B tsv (10 columns: index, genre, filename, year, old_index, source1, source2, sentence1, sentence2,
/// score; an optional header line starting "index") and SentEval's stsbenchmark csv (genre, file, year, id, score,
/// sentence 1, sentence 2, then optional source columns).
/// </summary>
public static class StsBenchmark
{
    private enum Layout { Glue, SentEval }

    /// <exception cref="MissingInputException">The file does not exist.</exception>
    /// <exception cref="BadDataException">A line fits neither layout, a score is not a number in [0, 5], or no pairs.</exception>
    public static IReadOnlyList<StsPair> Read(string path)
    {
        if (!File.Exists(path)) throw new MissingInputException($"STS file '{path}' does not exist");
        var pairs = new List<StsPair>();
        Layout? layout = null;
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0) continue;
            var cols = line.Split('\t');
            if (lineNo == 1 && cols[0] == "index" && cols.Length == 10) continue; // GLUE header
            var found = LayoutOf(cols) ?? throw new BadDataException(
                $"STS file '{path}' line {lineNo}: {cols.Length} tab-separated columns fit neither GLUE STS-B (10, score last) nor SentEval (genre, file, year, id, score, sentence 1, sentence 2)");
            layout ??= found;
            if (found != layout) throw new BadDataException($"STS file '{path}' line {lineNo}: the layout changes from {layout} to {found}");
            var (s1, s2, scoreText) = layout == Layout.Glue ? (cols[7], cols[8], cols[9]) : (cols[5], cols[6], cols[4]);
            double score = double.Parse(scoreText, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (score is < 0 or > 5) throw new BadDataException($"STS file '{path}' line {lineNo}: score {scoreText} is outside [0, 5]");
            if (s1.Length == 0 || s2.Length == 0) throw new BadDataException($"STS file '{path}' line {lineNo}: an empty sentence");
            pairs.Add(new StsPair(s1, s2, score));
        }
        if (pairs.Count < 2) throw new BadDataException($"STS file '{path}' holds {pairs.Count} sentence pairs; at least 2 are needed for a rank correlation");
        return pairs;
    }

    private static Layout? LayoutOf(string[] cols)
    {
        if (cols.Length == 10 && IsScore(cols[9])) return Layout.Glue;
        if (cols.Length >= 7 && cols.Length != 10 && IsScore(cols[4])) return Layout.SentEval;
        return null;
    }

    private static bool IsScore(string text) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v);
}
