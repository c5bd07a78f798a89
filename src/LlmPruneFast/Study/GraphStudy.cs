using System.Diagnostics;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Study;

/// <summary>
/// A foreign ONNX graph in the study, as <c>llmprune prune</c> treats the same folder: FFN blocks found by pattern,
/// one calibration capture per model (the graph path captures the same activations for every method), then per run
/// <see cref="PrunablePipeline.Select"/>, the pruned graph written by <see cref="OnnxGraphSlicer"/> to a scratch folder
/// (deleted after the run) and measured from there as prune measures its output. Sentence encoders: calibration and
/// fidelity text one sentence per non-empty line (as prune reads an encoder's --calib and --eval), fidelity and STS
/// against a dense side computed once (<see cref="EncoderReference"/>). Decoder graphs: perplexity, KL and top-1 on the
/// evaluation paragraphs (<see cref="GraphComparison"/>). Every row therefore equals what prune reports for the same flags.
/// </summary>
internal static class GraphStudy
{
    /// <summary>Opens the graph, refuses one prune would refuse, checks every run's options; the study's description of it.</summary>
    public static StudyModel Describe(StudyModelSpec spec, StudySettings settings)
    {
        var target = GraphTarget.Open(spec.Directory);
        var (graph, encoder) = (target.Graph, target.Encoder);
        var widths = graph.Blocks.Select(b => b.Width).ToArray();
        foreach (var method in settings.Methods)
            foreach (var ratio in settings.Ratios)
                foreach (var c in settings.Compensations)
                    PrunablePipeline.Options(settings.PruneSettings(method, ratio, c), widths); // as prune checks a graph
        if (encoder != null && Sentences(settings).Count == 0)
            throw new BadArgumentException($"evaluation text '{settings.EvaluationName}' holds no line for encoder '{spec.Directory}' to embed");
        var info = StudyModelFile.Read(graph.Folder).WithStated(spec.Provenance, graph.Folder);
        int vocab = encoder != null ? File.ReadLines(encoder.VocabPath).Count(l => l.Length > 0) : 0;
        return StudyModel.Describe(spec.Directory, graph, encoder != null, vocab, info);
    }

    /// <summary>Every run of one graph model (rows appended to <paramref name="rows"/>); its capture and dense measurement.</summary>
    public static StudyModelRun Run(StudyModel model, StudySettings settings, IReadOnlyList<string> paragraphs, List<StudyRow> rows,
        Action<int, string, double>? report, CancellationToken ct)
    {
        var target = GraphTarget.Open(model.Directory);
        var (graph, encoder, feed, prunable) = (target.Graph, target.Encoder, target.Feed, target.Prunable);
        var first = settings.PruneSettings(settings.Methods[0], settings.Ratios[0], settings.Compensations[0]);
        // As prune: an encoder's sequences are capped at its own limit; its calibration is one sentence per line.
        var calibOptions = target.Calibration(first.Calibration);
        string calibText = encoder != null ? SentenceFile.AsParagraphs(SentenceFile.Lines(settings.CalibrationText)) : settings.CalibrationText;

        var clock = Stopwatch.StartNew();
        var calibration = prunable.Capture(calibText, settings.CalibrationName, calibOptions,
            report == null ? null : new StudyRunner.Relay<CaptureProgress>(p => report(1, "capture", (double)p.Done / Math.Max(1, p.Total))), ct);
        double captureSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var sentences = encoder != null ? Sentences(settings) : null;
        var pairs = encoder != null ? settings.StsPairs : null;
        var options = new SentenceEncoderOptions { IntraOpThreads = settings.Threads, UseCuda = settings.Device.OnnxCuda };
        using var reference = encoder != null
            ? EncoderReference.Open(graph.Folder, new GraphMeasureRequest { Sentences = sentences, Pairs = pairs }, options, ct)
            : null;
        double denseSeconds = clock.Elapsed.TotalSeconds;
        PruneEvaluation? denseDecoder = null;

        var scratch = Directory.CreateTempSubdirectory("llmprune-study-");
        try
        {
            int run = 0;
            foreach (var method in settings.Methods)
                foreach (var ratio in settings.Ratios)
                    foreach (var compensation in settings.Compensations)
                    {
                        ct.ThrowIfCancellationRequested();
                        int current = ++run;
                        clock.Restart();
                        var prune = settings.PruneSettings(method, ratio, compensation) with { Calibration = calibOptions };
                        var outcome = PrunablePipeline.Select(prunable, calibration, prune,
                            report == null ? null : new StudyRunner.Relay<StageProgress>(p => report(current, p.Stage, p.Fraction)), ct);
                        string folder = Path.Combine(scratch.FullName, $"run-{current}");
                        report?.Invoke(current, "write", 0);
                        OnnxGraphSlicer.Write(folder, graph, outcome.Plan, outcome.Layers, null, ct);
                        var row = new StudyRow
                        {
                            Model = model,
                            Method = method,
                            Ratio = ratio,
                            CompensationSetting = compensation,
                            Compensation = outcome.Plan.Compensation.Kind,
                            ParamsBefore = model.Parameters,
                            ParamsAfter = 0,
                            Seconds = 0,
                        };
                        if (reference != null)
                        {
                            report?.Invoke(current, "eval", 0);
                            var (measured, after) = reference.Measure(folder, ct);
                            row = row with
                            {
                                Fidelity = measured.Fidelity!.MeanCosine,
                                FidelityMin = measured.Fidelity.MinCosine,
                                StsBefore = measured.Sts?.Dense.Spearman ?? double.NaN,
                                StsAfter = measured.Sts?.Pruned.Spearman ?? double.NaN,
                                Sentences = measured.Fidelity.Sentences,
                                Pairs = measured.Sts?.Dense.Pairs ?? 0,
                                ParamsAfter = after,
                            };
                        }
                        else
                        {
                            var evalProgress = report == null ? null : new StudyRunner.Relay<EvaluationProgress>(p => report(current, p.Stage, (double)p.Done / Math.Max(1, p.Total)));
                            var e = GraphComparison.Run(graph, false, feed, folder, new GraphMeasureRequest { Paragraphs = paragraphs }, settings.Threads,
                                settings.Device.OnnxCuda, evalProgress, ct).Decoder!;
                            denseDecoder ??= e;
                            row = row with
                            {
                                PerplexityBefore = e.Before.Perplexity,
                                PerplexityAfter = e.After.Perplexity,
                                Kl = e.Fidelity.MeanKl,
                                Top1Agreement = e.Fidelity.Top1Agreement,
                                EvalTokens = e.After.Tokens,
                                ParamsAfter = target.ParametersAfter(outcome.Layers),   // as prune counts them, without reloading the written graph
                            };
                        }
                        Directory.Delete(folder, recursive: true);
                        rows.Add(row with { Seconds = clock.Elapsed.TotalSeconds });
                        report?.Invoke(current, "done", 1);
                    }
        }
        finally
        {
            try { scratch.Delete(recursive: true); }
            catch (IOException) { } // best effort: a scratch copy left in the temp folder is not the user's file
        }
        if (reference != null)
            return new StudyModelRun(model, double.NaN, 0, 0, 1, settings.Samples, captureSeconds, denseSeconds)
            {
                DenseSts = reference.DenseSts?.Spearman ?? double.NaN,
                Sentences = sentences!.Count,
                Pairs = pairs?.Count ?? 0,
            };
        // A decoder graph's dense perplexity is measured with every variant (the step prune uses); the first one is reported.
        return new StudyModelRun(model, denseDecoder!.Before.Perplexity, denseDecoder.Before.Tokens, paragraphs.Count, 1, settings.Samples, captureSeconds, 0);
    }

    /// <summary>An encoder's fidelity sentences: the evaluation text one per non-empty line (the first N with --eval-paragraphs N).</summary>
    private static IReadOnlyList<string> Sentences(StudySettings settings)
    {
        var lines = SentenceFile.Lines(settings.EvaluationText);
        return settings.EvalParagraphs is int n ? lines.Take(n).ToArray() : lines;
    }
}
