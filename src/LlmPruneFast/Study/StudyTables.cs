using System.Globalization;
using System.Text;

namespace LlmPruneFast.Study;

/// <summary>results.csv and results.md of a study. Invariant culture throughout; '\n' line ends.</summary>
public static class StudyTables
{
    /// <summary>Columns of results.csv, in order.</summary>
    public static readonly IReadOnlyList<string> CsvColumns =
    [
        "model", "provenance", "params", "layers", "hidden", "ffn_width", "method", "ratio", "compensation_setting", "compensation",
        "ppl_before", "ppl_after", "delta_ppl", "delta_ppl_rel", "delta_nll", "kl", "top1", "params_before", "params_after", "eval_tokens", "seconds",
        "family", "fidelity", "fidelity_min", "cosine_distance", "sts_before", "sts_after", "delta_sts", "sentences", "pairs",
    ];

    /// <summary>
    /// One header line and one line per row (RFC 4180: a field holding a comma, quote or line break is quoted, quotes
    /// doubled). Reals in shortest round-trip form ("NaN" when undefined); delta_nll = ln(ppl_after / ppl_before);
    /// cosine_distance = 1 - fidelity. Each column holds one family's measure: a decoder row leaves the encoder
    /// columns (fidelity to pairs) empty, an encoder row the decoder ones (ppl_before to top1, eval_tokens).
    /// </summary>
    public static string Csv(IEnumerable<StudyRow> rows)
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(",", CsvColumns)).Append('\n');
        foreach (var r in rows)
        {
            bool dec = r.Family != StudyFamily.Encoder, enc = !dec;
            string D(string v) => dec ? v : "";
            string E(string v) => enc ? v : "";
            string[] fields =
            [
                r.Model.Name, r.Model.Provenance, Int(r.Model.Parameters), Int(r.Model.Layers), Int(r.Model.Hidden), r.Model.FfnWidth,
                r.Method, Real(r.Ratio), r.CompensationSetting, r.Compensation,
                D(Real(r.PerplexityBefore)), D(Real(r.PerplexityAfter)), D(Real(r.DeltaPerplexity)), D(Real(r.RelativeDeltaPerplexity)), D(Real(r.DeltaNll)),
                D(Real(r.Kl)), D(Real(r.Top1Agreement)), Int(r.ParamsBefore), Int(r.ParamsAfter), D(Int(r.EvalTokens)), Real(r.Seconds),
                r.Family, E(Real(r.Fidelity)), E(Real(r.FidelityMin)), E(Real(r.CosineDistance)), E(Real(r.StsBefore)), E(Real(r.StsAfter)), E(Real(r.DeltaSts)),
                E(Int(r.Sentences)), E(Int(r.Pairs)),
            ];
            sb.Append(string.Join(",", fields.Select(CsvField))).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A CSV field, quoted when it holds a comma, a double quote, CR or LF.</summary>
    public static string CsvField(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;

    /// <summary>
    /// results.md: the setup, what the sizes can and cannot show (<see cref="StudyScope"/>), the models (with family and
    /// provenance), per compensation setting and ratio a table per family (decoders: change of perplexity, method x
    /// model, "+delta (after)"; encoders: fidelity and STS after), and per family the sensitivity table and definition.
    /// </summary>
    public static string Markdown(StudyResult result, string? command = null)
    {
        var q = result.Request;
        var families = result.Families;
        bool encoders = families.Contains(StudyFamily.Encoder);
        var sb = new StringBuilder();
        sb.Append("# Small-vs-large study\n\n");
        if (command != null) sb.Append($"Command: `{command}`\n\n");
        sb.Append($"Calibration: {q.Samples} token positions (seed {q.Seed}, BOS excluded) in {q.LayoutText} of `{q.CalibrationText}`. ")
          .Append($"Evaluation: reference protocol on {(q.EvalParagraphs is int n ? $"the first {n}" : "all")} paragraphs of `{q.EvaluationText}`. ");
        if (encoders)
            sb.Append("Encoders read both texts one sentence per non-empty line (as prune reads an encoder's --calib and --eval), ")
              .Append($"and are scored by fidelity on {(q.EvalParagraphs is int k ? $"the first {k}" : "all")} lines of the evaluation text")
              .Append(q.StsText != null ? $" and STS (Spearman x 100) on `{q.StsText}`. " : " (no STS file given). ");
        sb.Append("Uniform FFN sparsity per layer. Compensation settings: ").Append(string.Join(", ", q.Compensations))
          .Append(q.Compensations.Contains(StudyRunner.DefaultCompensation) ? " (\"default\" = each method's own, so methods differ in compensation there)" : "")
          .Append(".\n\n");

        sb.Append($"## {StudyScope.Heading}\n\n");
        foreach (var line in StudyScope.Statements(result.Models.Select(m => m.Model).ToArray())) sb.Append(line).Append("\n\n");

        sb.Append("## Models\n\n| model | family | format | provenance | parameters | layers | hidden | FFN width | dense perplexity | dense STS | description |\n")
          .Append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        foreach (var m in result.Models)
            sb.Append($"| {Cell(m.Model.Name)} | {m.Model.Family} | {m.Model.Format} | {m.Model.Provenance} | {Count(m.Model.Parameters)} | {m.Model.Layers} | {m.Model.Hidden} | {m.Model.FfnWidth} | ")
              .Append($"{(m.Model.Family == StudyFamily.Encoder ? "" : Fixed(m.DensePerplexity, 4))} | {(m.Model.Family == StudyFamily.Encoder && !double.IsNaN(m.DenseSts) ? Fixed(m.DenseSts, 2) : "")} | {Cell(m.Model.Description)} |\n");
        if (result.Models.Any(m => m.Model.Provenance != Provenance.Pretrained))
            sb.Append("\nModels marked constructed were built by us from another model (see their description); they are not pretrained models of that size.\n");

        var decoders = result.Models.Where(m => m.Model.Family != StudyFamily.Encoder).Select(m => m.Model.Name).ToArray();
        var encoderNames = result.Models.Where(m => m.Model.Family == StudyFamily.Encoder).Select(m => m.Model.Name).ToArray();
        foreach (var setting in q.Compensations)
            foreach (var ratio in q.Ratios)
            {
                if (decoders.Length > 0)
                {
                    sb.Append($"\n## Change of perplexity at {Percent(ratio)} FFN sparsity, compensation {setting}\n\n");
                    if (encoders) sb.Append("Decoders only. ");
                    sb.Append("Cells: perplexity after - before (perplexity after).\n\n");
                    Grid(sb, result, decoders, setting, ratio, r => $"{Signed(r.DeltaPerplexity)} ({Fixed(r.PerplexityAfter, 3)})");
                }
                if (encoderNames.Length > 0)
                {
                    sb.Append($"\n## Encoder fidelity at {Percent(ratio)} FFN sparsity, compensation {setting}\n\n");
                    sb.Append("Encoders only. Cells: fidelity (mean cosine of pruned to dense embeddings; 1 = unchanged)")
                      .Append(q.StsText != null ? ", then STS after (change)" : "").Append(".\n\n");
                    Grid(sb, result, encoderNames, setting, ratio, r => Fixed(r.Fidelity, 4) + (double.IsNaN(r.StsAfter) ? "" : $", STS {Fixed(r.StsAfter, 2)} ({Signed(r.DeltaSts, 2)})"));
                }
            }

        foreach (var family in families)
        {
            var rows = result.Sensitivity.Where(s => s.Family == family).ToArray();
            sb.Append(families.Count > 1 ? $"\n## Sensitivity of {StudyFamily.Plural(family)}\n\n" : "\n## Sensitivity\n\n")
              .Append(Sensitivity.DefinitionOf(family)).Append("\n\n");
            sb.Append(SensitivityTable(rows));
        }
        return sb.ToString();
    }

    /// <summary>A method x model table of one setting and ratio; cells by <paramref name="cell"/>.</summary>
    private static void Grid(StringBuilder sb, StudyResult result, string[] models, string setting, double ratio, Func<StudyRow, string> cell)
    {
        sb.Append("| method | ").Append(string.Join(" | ", models.Select(Cell))).Append(" |\n");
        sb.Append("| --- |").Append(string.Concat(models.Select(_ => " --- |"))).Append('\n');
        foreach (var method in result.Request.Methods)
        {
            sb.Append($"| {method} |");
            foreach (var name in models)
            {
                var r = result.Rows.FirstOrDefault(x => x.Model.Name == name && x.Method == method && x.Ratio == ratio && x.CompensationSetting == setting);
                sb.Append(r == null ? " |" : $" {cell(r)} |");
            }
            sb.Append('\n');
        }
    }

    /// <summary>The sensitivity table of one family as Markdown (d in that family's measure, named in the header).</summary>
    public static string SensitivityTable(IEnumerable<SensitivityRow> rows)
    {
        var list = rows.ToList();
        if (list.Any(r => r.Family != (list.FirstOrDefault()?.Family ?? StudyFamily.Decoder)))
            throw new ArgumentException("a sensitivity table holds one family", nameof(rows));
        bool enc = list.Count > 0 && list[0].Family == StudyFamily.Encoder;
        string unit = enc ? "" : " (nats)";
        string d = enc ? "d = 1 - fidelity" : "d";
        var sb = new StringBuilder();
        sb.Append($"| model | provenance | parameters | sparsity | compensation | criteria | mean {d}{unit} | min {d} (method) | max {d} (method) | max/min | SD of {d}{unit} |\n");
        sb.Append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        foreach (var s in list)
            sb.Append($"| {Cell(s.Model.Name)} | {s.Model.Provenance} | {Count(s.Model.Parameters)} | {Percent(s.Ratio)} | {s.CompensationSetting} | {s.Criteria} | ")
              .Append($"{Fixed(s.MeanD, 4)} | {Fixed(s.MinD, 4)} ({s.MinMethod}) | {Fixed(s.MaxD, 4)} ({s.MaxMethod}) | ")
              .Append($"{Fixed(s.MaxOverMin, 2)} | {Fixed(s.StdD, 4)} |\n");
        return sb.ToString();
    }

    public static string Percent(double ratio) => (ratio * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";

    /// <summary>Fixed decimals, invariant; "n/a" for NaN.</summary>
    public static string Fixed(double v, int decimals) =>
        double.IsNaN(v) ? "n/a" : v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Signed(double v, int decimals = 3) => (v >= 0 ? "+" : "") + Fixed(v, decimals);

    private static string Count(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Real(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Text safe inside a Markdown table cell: pipes escaped, line breaks flattened.</summary>
    private static string Cell(string text) => text.Replace("|", "\\|").Replace("\r", " ").Replace("\n", " ");
}
