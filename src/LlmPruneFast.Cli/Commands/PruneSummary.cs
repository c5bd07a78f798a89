using System.Text.Json;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Cli.Commands;

/// <summary>The end-of-run table of <c>prune</c> and <c>apply</c>, and the one-line JSON summary.</summary>
internal static class PruneSummary
{
    /// <summary>"92 windows (at most 256 tokens)" or "1720 paragraphs": what the calibration sequences were.</summary>
    public static string SequencesOf(CalibrationInfo info, int sequences) => info.Layout == CalibrationLayout.Windows
        ? $"{sequences} windows (at most {info.SequenceLength} tokens)"
        : $"{sequences} paragraphs";

    public static void Print(TextWriter o, DecoderShape before, DecoderShape after, PruningPlan plan, CalibrationSet? calibration,
        PruneEvaluation? evaluation, IReadOnlyDictionary<string, double> seconds)
    {
        long pb = before.Parameters, pa = after.Parameters;
        o.WriteLine($"method     {plan.Method} ({plan.MethodParameters}){(plan.Estimator is { } e ? $", estimator {e.Name} ({e.Parameters})" : "")}");
        o.WriteLine($"budget     {plan.Budget.Kind}, ratio {plan.Ratio:G4}, compensation {plan.Compensation.Kind}{(plan.Compensation.Parameters.Count > 0 ? $" ({plan.Compensation.Parameters})" : "")}, seed {plan.Seed}");
        if (calibration != null)
            o.WriteLine($"calibration {calibration.Samples} positions sampled from {calibration.EligiblePositions} (BOS and padding excluded) of {SequencesOf(calibration.Info, calibration.Sequences)} of {calibration.Info.Text}, {CaptureModes.Name(calibration.Info.Capture)} capture of {calibration.TokensRun} tokens");
        if (plan.Candidates.Count > 0)
            o.WriteLine($"candidates {string.Join(", ", plan.Candidates.Select(c => $"seed {c.Seed}: KL {c.Kl:G4}"))}");
        o.WriteLine();
        o.WriteLine($"{"",-22}{"dense",14}{"pruned",14}");
        o.WriteLine($"{"parameters",-22}{pb,14:N0}{pa,14:N0}   ({100.0 * (pb - pa) / pb:F1}% fewer)");
        for (int l = 0; l < before.Layers; l++)
            o.WriteLine($"{$"FFN width, layer {l}",-22}{before.FfnWidths[l],14}{after.FfnWidths[l],14}");
        if (evaluation != null)
        {
            o.WriteLine($"{"perplexity",-22}{evaluation.Before.Perplexity,14:F4}{evaluation.After.Perplexity,14:F4}   ({evaluation.Before.Tokens} tokens, {evaluation.Before.Sequences} paragraphs)");
            o.WriteLine($"{"KL(dense || pruned)",-22}{"",14}{evaluation.Fidelity.MeanKl,14:F5}   nats/token");
            o.WriteLine($"{"top-1 agreement",-22}{"",14}{evaluation.Fidelity.Top1Agreement,14:P2}");
        }
        o.WriteLine();
        o.WriteLine("seconds    " + string.Join(", ", seconds.Select(kv => $"{kv.Key} {kv.Value:F2}")));
    }

    public static string Json(DecoderShape before, DecoderShape after, PruningPlan plan, PruneEvaluation? evaluation,
        IReadOnlyDictionary<string, double> seconds, string output, IReadOnlyDictionary<string, string>? devices = null)
    {
        var json = Fields(plan, before.Parameters, after.Parameters, [.. before.FfnWidths], [.. after.FfnWidths]);
        json["perplexity_before"] = evaluation?.Before.Perplexity;
        json["perplexity_after"] = evaluation?.After.Perplexity;
        json["kl"] = evaluation?.Fidelity.MeanKl;
        json["top1_agreement"] = evaluation?.Fidelity.Top1Agreement;
        json["eval_tokens"] = evaluation?.Before.Tokens;
        json["seconds"] = seconds;
        if (devices != null) json["devices"] = devices;
        json["output"] = output;
        return JsonSerializer.Serialize(json);
    }

    /// <summary>
    /// The device each stage of a prune ran on: ONNX Runtime stages (capture, score, eval, latency) on
    /// <paramref name="device"/>'s, select on the MI backend when the method uses an estimator, and on CUDA too when
    /// its Gram matrices (covariance, copula correlation, W_down^T W_down) ran there (counted by
    /// <see cref="IlgpuGramDevice.Cuda"/> in this process), else the CPU, as slicing, writing and the report's charts
    /// are; by the names of <paramref name="stages"/>.
    /// </summary>
    /// <summary>True when selection's Gram matrices ran on the CUDA kernels in this process (one prune per CLI process).</summary>
    public static bool GramRanOnCuda(Devices.ComputeDevice device) => device.EstimationCuda && IlgpuGramDevice.Cuda.Calls > 0;

    public static Dictionary<string, string> Devices(Devices.ComputeDevice device, PruningPlan plan, Information.MiEstimatorOptions estimatorOptions,
        IEnumerable<string> stages)
    {
        string select = plan.Estimator is { } e && device.EstimationCuda ? device.MiBackend(e.Name, estimatorOptions).Name : "cpu";
        if (GramRanOnCuda(device)) select = IlgpuGramDevice.Cuda.Name;
        return stages.Where(s => s != "total").Distinct().ToDictionary(s => s, s => s switch
        {
            "capture" or "score" or "eval" or "latency" => device.Onnx,
            "select" => select,
            _ => "cpu",
        });
    }

    /// <summary>The fields every <c>prune --json</c> line starts with, whatever the model family.</summary>
    public static Dictionary<string, object?> Fields(PruningPlan plan, long paramsBefore, long paramsAfter, int[] widthsBefore, int[] widthsAfter) => new()
    {
        ["method"] = plan.Method,
        ["estimator"] = plan.Estimator?.Name,
        ["ratio"] = plan.Ratio,
        ["budget"] = plan.Budget.Kind,
        ["compensation"] = plan.Compensation.Kind,
        ["seed"] = plan.Seed,
        ["capture"] = plan.Calibration is { } c ? CaptureModes.Name(c.Capture) : null,
        ["params_before"] = paramsBefore,
        ["params_after"] = paramsAfter,
        ["widths_before"] = widthsBefore,
        ["widths_after"] = widthsAfter,
    };
}
