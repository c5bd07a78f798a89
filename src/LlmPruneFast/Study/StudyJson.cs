using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmPruneFast.Study;

/// <summary>
/// study.json: <c>{ "version": 2, "sensitivity_definition", "families", "scope", "request", "models": [...], "rows": [...],
/// "sensitivity": [...], "seconds" }</c>, snake_case keys, two-space indentation, '\n' line ends; an undefined number
/// (NaN) is written as null. Rows carry the model's name only; its description is under "models". Every model, row
/// and sensitivity entry names its "family", and holds only that family's keys: decoders ppl_before, ppl_after,
/// delta_ppl, delta_ppl_rel, delta_nll, kl, top1, eval_tokens and *_delta_nll; encoders fidelity, fidelity_min,
/// cosine_distance, sts_before, sts_after, delta_sts, sentences, pairs and *_cosine_distance. No key holds both a
/// perplexity-based and a cosine-based number. Version 2 added the families (version 1 held decoders only, with the
/// same decoder keys).
/// </summary>
public static class StudyJson
{
    public const int Version = 2;

    public static string Serialize(StudyResult result)
    {
        var q = result.Request;
        var root = new JsonObject
        {
            ["version"] = Version,
            ["sensitivity_definition"] = Sensitivity.Definition,
            ["families"] = Array(result.Families.Select(f => (JsonNode?)new JsonObject
            {
                ["family"] = f,
                ["measure"] = StudyFamily.MeasureLabel(f),
                ["sensitivity_definition"] = Sensitivity.DefinitionOf(f),
            })),
            ["scope"] = Array(StudyScope.Statements(result.Models.Select(m => m.Model).ToArray()).Select(t => (JsonNode?)t)),
            ["request"] = new JsonObject
            {
                ["methods"] = Array(q.Methods.Select(m => (JsonNode?)m)),
                ["ratios"] = Array(q.Ratios.Select(r => (JsonNode?)r)),
                ["compensations"] = Array(q.Compensations.Select(c => (JsonNode?)c)),
                ["calibration_text"] = q.CalibrationText,
                ["evaluation_text"] = q.EvaluationText,
                ["sts_text"] = q.StsText,
                ["eval_paragraphs"] = q.EvalParagraphs,
                ["samples"] = q.Samples,
                ["calibration_layout"] = q.Layout == Capture.CalibrationLayout.Windows ? "windows" : "paragraphs",
                ["seed"] = q.Seed,
            },
            ["models"] = Array(result.Models.Select(m => (JsonNode?)ModelNode(m))),
            ["rows"] = Array(result.Rows.Select(r => (JsonNode?)RowNode(r))),
            ["sensitivity"] = Array(result.Sensitivity.Select(s => (JsonNode?)SensitivityNode(s))),
            ["seconds"] = Real(result.Seconds),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, NewLine = "\n" }) + "\n";
    }

    private static JsonObject ModelNode(StudyModelRun m)
    {
        var o = new JsonObject
        {
            ["name"] = m.Model.Name,
            ["family"] = m.Model.Family,
            ["format"] = m.Model.Format,
            ["directory"] = m.Model.Directory,
            ["provenance"] = m.Model.Provenance,
            ["description"] = m.Model.Description,
            ["params"] = m.Model.Parameters,
            ["layers"] = m.Model.Layers,
            ["hidden"] = m.Model.Hidden,
            ["ffn_width"] = m.Model.FfnWidth,
            ["vocab"] = m.Model.Vocab > 0 ? JsonValue.Create(m.Model.Vocab) : null,
        };
        if (m.Model.Family == StudyFamily.Encoder)
        {
            o["dense_sts"] = Real(m.DenseSts);
            o["sentences"] = m.Sentences;
            o["pairs"] = m.Pairs;
        }
        else
        {
            o["dense_perplexity"] = Real(m.DensePerplexity);
            o["eval_tokens"] = m.EvalTokens;
            o["eval_paragraphs"] = m.EvalParagraphs;
        }
        o["captures"] = m.Captures;
        o["capture_seconds"] = Real(m.CaptureSeconds);
        o["dense_seconds"] = Real(m.DenseSeconds);
        return o;
    }

    private static JsonObject RowNode(StudyRow r)
    {
        var o = new JsonObject
        {
            ["model"] = r.Model.Name,
            ["family"] = r.Family,
            ["provenance"] = r.Model.Provenance,
            ["method"] = r.Method,
            ["ratio"] = r.Ratio,
            ["compensation_setting"] = r.CompensationSetting,
            ["compensation"] = r.Compensation,
        };
        if (r.Family == StudyFamily.Encoder)
        {
            o["fidelity"] = Real(r.Fidelity);
            o["fidelity_min"] = Real(r.FidelityMin);
            o["cosine_distance"] = Real(r.CosineDistance);
            o["sts_before"] = Real(r.StsBefore);
            o["sts_after"] = Real(r.StsAfter);
            o["delta_sts"] = Real(r.DeltaSts);
            o["sentences"] = r.Sentences;
            o["pairs"] = r.Pairs;
        }
        else
        {
            o["ppl_before"] = Real(r.PerplexityBefore);
            o["ppl_after"] = Real(r.PerplexityAfter);
            o["delta_ppl"] = Real(r.DeltaPerplexity);
            o["delta_ppl_rel"] = Real(r.RelativeDeltaPerplexity);
            o["delta_nll"] = Real(r.DeltaNll);
            o["kl"] = Real(r.Kl);
            o["top1"] = Real(r.Top1Agreement);
            o["eval_tokens"] = r.EvalTokens;
        }
        o["params_before"] = r.ParamsBefore;
        o["params_after"] = r.ParamsAfter;
        o["seconds"] = Real(r.Seconds);
        return o;
    }

    private static JsonObject SensitivityNode(SensitivityRow s)
    {
        string d = s.Family == StudyFamily.Encoder ? "cosine_distance" : "delta_nll";
        return new JsonObject
        {
            ["model"] = s.Model.Name,
            ["family"] = s.Family,
            ["provenance"] = s.Model.Provenance,
            ["params"] = s.Model.Parameters,
            ["ratio"] = s.Ratio,
            ["compensation_setting"] = s.CompensationSetting,
            ["criteria"] = s.Criteria,
            [$"mean_{d}"] = Real(s.MeanD),
            [$"min_{d}"] = Real(s.MinD),
            ["min_method"] = s.MinMethod,
            [$"max_{d}"] = Real(s.MaxD),
            ["max_method"] = s.MaxMethod,
            ["max_over_min"] = Real(s.MaxOverMin),
            [$"std_{d}"] = Real(s.StdD),
        };
    }

    private static JsonArray Array(IEnumerable<JsonNode?> items) => new([.. items]);

    private static JsonNode? Real(double v) => double.IsFinite(v) ? JsonValue.Create(v) : null;
}
