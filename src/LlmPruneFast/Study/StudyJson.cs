using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmPruneFast.Study;

/// <summary>
/// study.json: <c>{ "version": 1, "sensitivity_definition", "request", "models": [...], "rows": [...],
/// "sensitivity": [...], "seconds" }</c>, snake_case keys, two-space indentation, '\n' line ends; an undefined number
/// (NaN) is written as null. Rows carry the model's name only; its description is under "models".
/// </summary>
public static class StudyJson
{
    public const int Version = 1;

    public static string Serialize(StudyResult result)
    {
        var q = result.Request;
        var root = new JsonObject
        {
            ["version"] = Version,
            ["sensitivity_definition"] = Sensitivity.Definition,
            ["request"] = new JsonObject
            {
                ["methods"] = Array(q.Methods.Select(m => (JsonNode?)m)),
                ["ratios"] = Array(q.Ratios.Select(r => (JsonNode?)r)),
                ["compensations"] = Array(q.Compensations.Select(c => (JsonNode?)c)),
                ["calibration_text"] = q.CalibrationText,
                ["evaluation_text"] = q.EvaluationText,
                ["eval_paragraphs"] = q.EvalParagraphs,
                ["samples"] = q.Samples,
                ["calibration_layout"] = q.Layout == Capture.CalibrationLayout.Windows ? "windows" : "paragraphs",
                ["seed"] = q.Seed,
            },
            ["models"] = Array(result.Models.Select(m => (JsonNode?)new JsonObject
            {
                ["name"] = m.Model.Name,
                ["directory"] = m.Model.Directory,
                ["provenance"] = m.Model.Provenance,
                ["description"] = m.Model.Description,
                ["params"] = m.Model.Parameters,
                ["layers"] = m.Model.Layers,
                ["hidden"] = m.Model.Hidden,
                ["ffn_width"] = m.Model.FfnWidth,
                ["vocab"] = m.Model.Vocab,
                ["dense_perplexity"] = Real(m.DensePerplexity),
                ["eval_tokens"] = m.EvalTokens,
                ["eval_paragraphs"] = m.EvalParagraphs,
                ["captures"] = m.Captures,
                ["capture_seconds"] = Real(m.CaptureSeconds),
                ["dense_seconds"] = Real(m.DenseSeconds),
            })),
            ["rows"] = Array(result.Rows.Select(r => (JsonNode?)new JsonObject
            {
                ["model"] = r.Model.Name,
                ["provenance"] = r.Model.Provenance,
                ["method"] = r.Method,
                ["ratio"] = r.Ratio,
                ["compensation_setting"] = r.CompensationSetting,
                ["compensation"] = r.Compensation,
                ["ppl_before"] = Real(r.PerplexityBefore),
                ["ppl_after"] = Real(r.PerplexityAfter),
                ["delta_ppl"] = Real(r.DeltaPerplexity),
                ["delta_ppl_rel"] = Real(r.RelativeDeltaPerplexity),
                ["delta_nll"] = Real(r.DeltaNll),
                ["kl"] = Real(r.Kl),
                ["top1"] = Real(r.Top1Agreement),
                ["params_before"] = r.ParamsBefore,
                ["params_after"] = r.ParamsAfter,
                ["eval_tokens"] = r.EvalTokens,
                ["seconds"] = Real(r.Seconds),
            })),
            ["sensitivity"] = Array(result.Sensitivity.Select(s => (JsonNode?)new JsonObject
            {
                ["model"] = s.Model.Name,
                ["provenance"] = s.Model.Provenance,
                ["params"] = s.Model.Parameters,
                ["ratio"] = s.Ratio,
                ["compensation_setting"] = s.CompensationSetting,
                ["criteria"] = s.Criteria,
                ["mean_delta_nll"] = Real(s.MeanDeltaNll),
                ["min_delta_nll"] = Real(s.MinDeltaNll),
                ["min_method"] = s.MinMethod,
                ["max_delta_nll"] = Real(s.MaxDeltaNll),
                ["max_method"] = s.MaxMethod,
                ["max_over_min"] = Real(s.MaxOverMin),
                ["std_delta_nll"] = Real(s.StdDeltaNll),
            })),
            ["seconds"] = Real(result.Seconds),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, NewLine = "\n" }) + "\n";
    }

    private static JsonArray Array(IEnumerable<JsonNode?> items) => new([.. items]);

    private static JsonNode? Real(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
}
