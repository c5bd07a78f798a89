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
    ];

    /// <summary>
    /// One header line and one line per row (RFC 4180: a field holding a comma, quote or line break is quoted, quotes
    /// doubled). Reals in shortest round-trip form ("NaN" when undefined); delta_nll = ln(ppl_after / ppl_before).
    /// </summary>
    public static string Csv(IEnumerable<StudyRow> rows)
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(",", CsvColumns)).Append('\n');
        foreach (var r in rows)
        {
            string[] fields =
            [
                r.Model.Name, r.Model.Provenance, Int(r.Model.Parameters), Int(r.Model.Layers), Int(r.Model.Hidden), r.Model.FfnWidth,
                r.Method, Real(r.Ratio), r.CompensationSetting, r.Compensation,
                Real(r.PerplexityBefore), Real(r.PerplexityAfter), Real(r.DeltaPerplexity), Real(r.RelativeDeltaPerplexity), Real(r.DeltaNll),
                Real(r.Kl), Real(r.Top1Agreement), Int(r.ParamsBefore), Int(r.ParamsAfter), Int(r.EvalTokens), Real(r.Seconds),
            ];
            sb.Append(string.Join(",", fields.Select(CsvField))).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A CSV field, quoted when it holds a comma, a double quote, CR or LF.</summary>
    public static string CsvField(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;

    /// <summary>
    /// results.md: the setup, the models (with provenance), per compensation setting and ratio a table of the change of
    /// perplexity (method x model: "+delta (after)"), the sensitivity table, and the definition of sensitivity.
    /// </summary>
    public static string Markdown(StudyResult result, string? command = null)
    {
        var q = result.Request;
        var sb = new StringBuilder();
        sb.Append("# Small-vs-large study\n\n");
        if (command != null) sb.Append($"Command: `{command}`\n\n");
        sb.Append($"Calibration: {q.Samples} token positions (seed {q.Seed}, BOS excluded) in {q.LayoutText} of `{q.CalibrationText}`. ")
          .Append($"Evaluation: reference protocol on {(q.EvalParagraphs is int n ? $"the first {n}" : "all")} paragraphs of `{q.EvaluationText}`. ")
          .Append("Uniform FFN sparsity per layer. Compensation settings: ").Append(string.Join(", ", q.Compensations))
          .Append(q.Compensations.Contains(StudyRunner.DefaultCompensation) ? " (\"default\" = each method's own, so methods differ in compensation there)" : "")
          .Append(".\n\n");

        sb.Append("## Models\n\n| model | provenance | parameters | layers | hidden | FFN width | dense perplexity | description |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        foreach (var m in result.Models)
            sb.Append($"| {Cell(m.Model.Name)} | {m.Model.Provenance} | {Count(m.Model.Parameters)} | {m.Model.Layers} | {m.Model.Hidden} | {m.Model.FfnWidth} | {Fixed(m.DensePerplexity, 4)} | {Cell(m.Model.Description)} |\n");
        if (result.Models.Any(m => m.Model.Provenance != Provenance.Pretrained))
            sb.Append("\nModels marked constructed were built by us from another model (see their description); they are not pretrained models of that size.\n");

        var models = result.Models.Select(m => m.Model.Name).ToArray();
        foreach (var setting in q.Compensations)
            foreach (var ratio in q.Ratios)
            {
                sb.Append($"\n## Change of perplexity at {Percent(ratio)} FFN sparsity, compensation {setting}\n\n");
                sb.Append("Cells: perplexity after - before (perplexity after).\n\n");
                sb.Append("| method | ").Append(string.Join(" | ", models.Select(Cell))).Append(" |\n");
                sb.Append("| --- |").Append(string.Concat(models.Select(_ => " --- |"))).Append('\n');
                foreach (var method in q.Methods)
                {
                    sb.Append($"| {method} |");
                    foreach (var name in models)
                    {
                        var r = result.Rows.FirstOrDefault(x => x.Model.Name == name && x.Method == method && x.Ratio == ratio && x.CompensationSetting == setting);
                        sb.Append(r == null ? " |" : $" {Signed(r.DeltaPerplexity)} ({Fixed(r.PerplexityAfter, 3)}) |");
                    }
                    sb.Append('\n');
                }
            }

        sb.Append("\n## Sensitivity\n\n").Append(Sensitivity.Definition).Append("\n\n");
        sb.Append(SensitivityTable(result.Sensitivity));
        return sb.ToString();
    }

    /// <summary>The sensitivity table as Markdown.</summary>
    public static string SensitivityTable(IEnumerable<SensitivityRow> rows)
    {
        var sb = new StringBuilder();
        sb.Append("| model | provenance | parameters | sparsity | compensation | criteria | mean d (nats) | min d (method) | max d (method) | max/min | SD of d (nats) |\n");
        sb.Append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        foreach (var s in rows)
            sb.Append($"| {Cell(s.Model.Name)} | {s.Model.Provenance} | {Count(s.Model.Parameters)} | {Percent(s.Ratio)} | {s.CompensationSetting} | {s.Criteria} | ")
              .Append($"{Fixed(s.MeanDeltaNll, 4)} | {Fixed(s.MinDeltaNll, 4)} ({s.MinMethod}) | {Fixed(s.MaxDeltaNll, 4)} ({s.MaxMethod}) | ")
              .Append($"{Fixed(s.MaxOverMin, 2)} | {Fixed(s.StdDeltaNll, 4)} |\n");
        return sb.ToString();
    }

    public static string Percent(double ratio) => (ratio * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";

    /// <summary>Fixed decimals, invariant; "n/a" for NaN.</summary>
    public static string Fixed(double v, int decimals) =>
        double.IsNaN(v) ? "n/a" : v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Signed(double v) => (v >= 0 ? "+" : "") + Fixed(v, 3);

    private static string Count(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    private static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Real(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Text safe inside a Markdown table cell: pipes escaped, line breaks flattened.</summary>
    private static string Cell(string text) => text.Replace("|", "\\|").Replace("\r", " ").Replace("\n", " ");
}
