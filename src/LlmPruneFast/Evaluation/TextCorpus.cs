using System.Text.RegularExpressions;

namespace LlmPruneFast.Evaluation;

/// <summary>Evaluation text split the way the reference protocol of METHOD.md does.</summary>
public static partial class TextCorpus
{
    /// <summary>
    /// Paragraphs of <paramref name="text"/>: split on blank lines (a line holding only spaces or tabs counts as blank),
    /// each stripped of surrounding white space, empty ones dropped, the first <paramref name="count"/> kept
    /// (all when null).
    /// </summary>
    public static IReadOnlyList<string> Paragraphs(string text, int? count = null)
    {
        if (count is <= 0) throw new BadArgumentException($"paragraph count must be positive, got {count}");
        var parts = BlankLine().Split(text.Replace("\r\n", "\n"))
            .Select(p => p.Trim())
            .Where(p => p.Length > 0);
        return (count is int n ? parts.Take(n) : parts).ToArray();
    }

    /// <summary>Reads <paramref name="path"/> as UTF-8; <see cref="MissingInputException"/> when absent.</summary>
    public static string Read(string path) =>
        File.Exists(path) ? File.ReadAllText(path) : throw new MissingInputException($"text file '{path}' does not exist");

    [GeneratedRegex(@"\n[ \t]*\n")]
    private static partial Regex BlankLine();
}
