namespace LlmPruneFast.Evaluation;

/// <summary>
/// Sentences for an encoder, from a file: an STS pair file (.tsv or .csv, read by <see cref="StsBenchmark"/>) gives
/// its distinct sentences in file order; any other file gives one sentence per non-empty line.
/// </summary>
public static class SentenceFile
{
    /// <exception cref="BadDataException">The file holds no sentence.</exception>
    public static IReadOnlyList<string> Read(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        IReadOnlyList<string> sentences = ext is ".tsv" or ".csv"
            ? Distinct(StsBenchmark.Read(path))
            : Lines(TextCorpus.Read(path));
        if (sentences.Count == 0) throw new BadDataException($"'{path}' holds no sentence");
        return sentences;
    }

    /// <summary>One sentence per non-empty line of <paramref name="text"/>, trimmed (how a text file is read).</summary>
    public static IReadOnlyList<string> Lines(string text) =>
        text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();

    /// <summary>The distinct sentences of <paramref name="pairs"/>, first occurrence first.</summary>
    public static IReadOnlyList<string> Distinct(IReadOnlyList<StsPair> pairs) =>
        pairs.SelectMany(p => new[] { p.Sentence1, p.Sentence2 }).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// The sentences as capture's text: one blank-line-separated paragraph each, so every sentence is its own
    /// sequence ([CLS] ... [SEP]), as the encoder sees it in use.
    /// </summary>
    public static string AsParagraphs(IReadOnlyList<string> sentences) => string.Join("\n\n", sentences);
}
