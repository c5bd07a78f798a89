using System.Globalization;
using CommandLine;
using LlmPruneFast.Information;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune report</c>: the one-file HTML report of a pruning plan, and its JSON beside it.
/// Today it renders report data written by the prune stage (<c>--report-data</c>), checked against the plan; without
/// it, the page shows what the plan alone says (summary, kept/removed per layer, removal cards without scatter).
/// Recapturing calibration activations from the model (and <c>--eval</c>) waits for the library's capture stage.
/// </summary>
[Verb("report", HelpText = "Write a self-contained HTML report (and FILE.json beside it) of a pruning plan. Example: llmprune report --plan out/pruning-plan.json --report-data out/report.json --out report.html")]
public sealed class ReportCommand : ICommand
{
    [Option("plan", Required = true, HelpText = "Pruning plan JSON (pruning-plan.json).")]
    public string Plan { get; set; } = "";

    [Option("report-data", HelpText = "Report data JSON written by prune (per-layer MI, null, heatmaps, cards). Without it only what the plan says is shown.")]
    public string? ReportData { get; set; }

    [Option("eval", HelpText = "Evaluation text: dense vs pruned perplexity and KL (needs activation recapture; not available in this build).")]
    public string? Eval { get; set; }

    [Option("out", Required = true, HelpText = "Report file FILE.html; FILE.json is written beside it.")]
    public string Out { get; set; } = "";

    [Option("embed-json", HelpText = "Also embed the report JSON in the page (hidden <pre id=\"report-data\">).")]
    public bool EmbedJson { get; set; }

    public int Run(CancellationToken cancellationToken)
    {
        if (!Out.EndsWith(".html", StringComparison.OrdinalIgnoreCase) && !Out.EndsWith(".htm", StringComparison.OrdinalIgnoreCase))
            throw new BadArgumentException($"--out '{Out}' must name an .html file (the JSON goes beside it)");
        if (Eval != null)
            throw new BadArgumentException("--eval needs the model to be recaptured and sliced, which this build cannot do yet; evaluate with 'llmprune prune --eval' and pass its --report-data");
        var plan = PlanJson.Load(Plan);
        var report = ReportData != null ? Matching(ReportJson.Load(ReportData), plan) : FromPlanOnly(plan, cancellationToken);
        string json = ReportWriter.Write(report, Out, EmbedJson);
        string html = Path.GetFullPath(Out);
        WrittenFilesPrinter.Print(Console.Out, Path.GetDirectoryName(html) ?? ".", [html, json]);
        return ExitCodes.Ok;
    }

    /// <summary>The report data, after checking it describes this plan (model, method, per-layer counts).</summary>
    private PruneReport Matching(PruneReport report, PruningPlan plan)
    {
        string Where() => $"--report-data '{ReportData}' does not belong to --plan '{Plan}'";
        if (report.Summary.Model != plan.Model.Name) throw new BadArgumentException($"{Where()}: model '{report.Summary.Model}' vs '{plan.Model.Name}'");
        if (report.Summary.Method != plan.Method) throw new BadArgumentException($"{Where()}: method '{report.Summary.Method}' vs '{plan.Method}'");
        if (report.Layers.Count != plan.Model.Layers) throw new BadArgumentException($"{Where()}: {report.Layers.Count} layers vs {plan.Model.Layers}");
        foreach (var l in report.Layers)
        {
            var lp = plan.Layer(l.Index);
            int removed = lp?.Removed.Count ?? 0;
            if (l.Removed != removed || l.Width != plan.Model.Widths[l.Index])
                throw new BadArgumentException($"{Where()}: layer {l.Index} removes {l.Removed} of {l.Width} in the data, {removed} of {plan.Model.Widths[l.Index]} in the plan");
        }
        return report;
    }

    private static PruneReport FromPlanOnly(PruningPlan plan, CancellationToken ct)
    {
        // With no activations the builder only counts and copies the plan; the estimator is never called.
        var (layers, cards) = new ReportBuilder(MiEstimators.Create("copula")).Build(plan, _ => null, plan.Seed, null, ct);
        return new PruneReport
        {
            Title = $"{plan.Model.Name} pruned {(plan.Ratio * 100).ToString("0.#", CultureInfo.InvariantCulture)}% with {plan.Method}",
            Summary = ReportSummary.FromPlan(plan),
            Layers = layers,
            Cards = cards,
            Notes = ["Calibration activations were not recaptured (this build has no capture stage yet): per-layer MI distributions, " +
                     "heatmaps and scatters are absent. Pass --report-data written by 'llmprune prune --report' to show them."],
        };
    }
}
