using System.Globalization;

namespace LlmPruneFast.Study;

/// <summary>
/// What the models of a study can and cannot show about the source paper's small-vs-large claim (larger models are
/// more robust to pruning; MI finds more redundancy in larger models), written from the models actually present:
/// their families, sizes and provenance. Every output of the study carries these sentences, so a table is never read
/// without them.
/// </summary>
public static class StudyScope
{
    public const string Heading = "What these sizes can and cannot show";

    /// <summary>The paper's claim, as the study tests it.</summary>
    public const string Claim =
        "The paper's claim: larger models are more robust to pruning, and mutual information finds more redundancy in larger models. " +
        "A test of it needs models that differ in size and in nothing else that matters: one family, one training recipe and data, one measure of damage.";

    /// <summary>The statements for <paramref name="models"/>, in reading order.</summary>
    public static IReadOnlyList<string> Statements(IReadOnlyList<StudyModel> models)
    {
        var said = new List<string> { Claim };
        var families = StudyFamily.All.Where(f => models.Any(m => m.Family == f)).ToArray();
        if (families.Length > 1)
        {
            var dec = models.Where(m => m.Family == StudyFamily.Decoder).ToArray();
            var enc = models.Where(m => m.Family == StudyFamily.Encoder).ToArray();
            long smallest = models.Min(m => m.Parameters), largest = models.Max(m => m.Parameters);
            said.Add($"Across families the comparison is confounded. The decoders ({List(dec)}) and the encoders ({List(enc)}) differ in size " +
                     $"(up to {Ratio(largest, smallest)}x in parameters here), but also in architecture and objective (next-token prediction vs sentence embeddings), " +
                     "training data, tokenizer, and the measure of damage (d = ln(ppl after / before), a change of loss in nats, vs d = 1 - fidelity, a distance between embeddings). " +
                     "Any difference in robustness or in sensitivity to the criterion between the two families may come from any of these, not from size; " +
                     "so the study reports each family in its own tables and never puts the two measures side by side in one column.");
        }
        foreach (var family in families)
        {
            var members = models.Where(m => m.Family == family).ToArray();
            var pretrained = members.Where(m => m.Provenance == Provenance.Pretrained).ToArray();
            var constructed = members.Where(m => m.Provenance == Provenance.Constructed).ToArray();
            var unstated = members.Where(m => m.Provenance == Provenance.Unstated).ToArray();
            int pretrainedSizes = pretrained.Select(m => m.Parameters).Distinct().Count();
            string name = char.ToUpperInvariant(StudyFamily.Plural(family)[0]) + StudyFamily.Plural(family)[1..];
            var text = $"{name}: ";
            text += pretrainedSizes switch
            {
                0 => "no model stated as pretrained, so no pretrained size to compare. ",
                1 => $"one pretrained size ({List(pretrained)}), so no within-family comparison of pretrained sizes. ",
                2 => $"two pretrained sizes ({List(pretrained)}): a within-family comparison shows a direction at two points, not a trend, " +
                     "and is sound only if the two share training data and recipe (check their descriptions). ",
                _ => $"{pretrainedSizes} pretrained sizes ({List(pretrained)}): a within-family comparison is possible, " +
                     "sound as far as they share training data and recipe (check their descriptions). ",
            };
            if (constructed.Length > 0)
                text += $"The constructed models ({List(constructed)}) were built from another model (see their descriptions); when built by planted copies " +
                        "(llmprune widen) they compute the same function with more neurons, so they test whether each criterion finds planted redundancy " +
                        "(removing copies should cost nothing), not whether a larger trained model is more robust. ";
            if (unstated.Length > 0)
                text += $"The provenance of {List(unstated)} is unstated (give --provenance or a {StudyModelFile.FileName}); no conclusion about size rests on it. ";
            said.Add(text.TrimEnd());
        }
        said.Add("Sound comparisons here: criteria against each other within one model at one sparsity and compensation; one model's damage across sparsities; " +
                 "a constructed model against the model it was built from (same function, planted redundancy); and, across families, only whether the criteria rank alike, never the size of the damage. " +
                 (ClaimTestable(models)
                     ? "This set of models holds at least three pretrained sizes of one family, so the within-family trend can speak to the claim, as far as those models share training data and recipe."
                     : "These sizes cannot confirm or refute the claim: that needs pretrained models of one family, trained alike, at three or more sizes."));
        return said;
    }

    /// <summary>True when some family holds pretrained models of at least three distinct sizes.</summary>
    public static bool ClaimTestable(IReadOnlyList<StudyModel> models) =>
        StudyFamily.All.Any(f => models.Where(m => m.Family == f && m.Provenance == Provenance.Pretrained).Select(m => m.Parameters).Distinct().Count() >= 3);

    private static string List(IEnumerable<StudyModel> models) =>
        string.Join("; ", models.Select(m => $"{m.Name}: {m.Parameters.ToString("N0", CultureInfo.InvariantCulture)} parameters, {m.Provenance}"));

    private static string Ratio(long a, long b) => ((double)a / Math.Max(1, b)).ToString("0.#", CultureInfo.InvariantCulture);
}
