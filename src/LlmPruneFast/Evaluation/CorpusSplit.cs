using System.Text;

namespace LlmPruneFast.Evaluation;

/// <summary>Calibration / evaluation split of one text file that never overlaps.</summary>
public static class CorpusSplit
{
    /// <summary>
    /// The two halves of a file: its UTF-8 bytes cut at floor(length / 2), each half decoded on its own (a character
    /// cut in two becomes U+FFFD). The cut usually falls inside a paragraph: that fragment ends the first half and
    /// begins the second, so it is the second half's first paragraph. With ../shared's TinyStories sample this is the
    /// split under which the reference protocol on the first 60 paragraphs of the second half gives the dense
    /// stories260K perplexity 4.2029 that METHOD.md reports as 4.20.
    /// </summary>
    public static (string First, string Second) Halves(string path)
    {
        if (!File.Exists(path)) throw new MissingInputException($"text file '{path}' does not exist");
        var bytes = File.ReadAllBytes(path);
        int cut = bytes.Length / 2;
        return (Encoding.UTF8.GetString(bytes, 0, cut), Encoding.UTF8.GetString(bytes, cut, bytes.Length - cut));
    }
}
