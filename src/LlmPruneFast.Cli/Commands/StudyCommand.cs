using System.Globalization;
using System.Text.Json;
using CommandLine;
using CommandLine.Text;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Study;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune study</c>: every (model, method, ratio, compensation) through the prune pipeline, the damage per method
/// and model in its family's measure (decoders: change of perplexity; sentence encoders: fidelity and STS), the
/// sensitivity of each model to the criterion, what the sizes can and cannot show, and a plot.
/// </summary>
[Verb("study", HelpText = "Small-vs-large study: prune every model with every method at every ratio (and compensation), evaluate against the dense model, " +
    "write results.csv, results.md, sensitivity.svg, study.html and study.json to --out.")]
public sealed class StudyCommand : ICommand
{
    [Option("models", Required = true, Separator = ',', HelpText = "Model folders, comma-separated: Hugging Face LLaMA checkpoints, ONNX sentence encoders (model.onnx + vocab.txt) " +
        "and ONNX decoder graphs (model.onnx + tokenizer.model), mixed freely. A folder's study-model.json may name it and state its provenance.")]
    public IEnumerable<string> Models { get; set; } = [];

    [Option("tokenizer", HelpText = "The SentencePiece tokenizer (.model) of every llama2.c .bin among --models; default: tokenizer.model (or tokenizer.json) beside each .bin. " +
        "Refused when --models holds no .bin (a folder's tokenizer is its own).")]
    public string? Tokenizer { get; set; }

    [Option("provenance", Separator = ',', HelpText = "pretrained | constructed per model, in --models order (must agree with a study-model.json; unstated models are reported as such).")]
    public IEnumerable<string> ProvenanceList { get; set; } = [];

    [Option("methods", Required = true, Separator = ',', HelpText = "Pruning methods (criteria), comma-separated: mi-weighted, mi-greedy, mi-cluster, mi-random-pairs, magnitude, wanda-sp, flap, random, obs.")]
    public IEnumerable<string> Methods { get; set; } = [];

    [Option("ratios", Required = true, Separator = ',', HelpText = "FFN sparsities in (0, 1), comma-separated.")]
    public IEnumerable<double> Ratios { get; set; } = [];

    [Option("calib", HelpText = "Calibration text (blank-line-separated paragraphs for decoders; encoders take one sentence per non-empty line).")]
    public string? Calib { get; set; }

    [Option("eval", HelpText = "Evaluation text (reference protocol); must not overlap --calib.")]
    public string? Eval { get; set; }

    [Option("halves", HelpText = "Instead of --calib and --eval: one text file, calibrating on the first half of its bytes and evaluating on the second (the split of the prune table).")]
    public string? Halves { get; set; }

    [Option("sts", HelpText = "Encoders: STS pair file (GLUE STS-B tsv or SentEval csv): Spearman x 100 before and after, as prune --sts. Needs an encoder among --models.")]
    public string? Sts { get; set; }

    [Option("out", Required = true, HelpText = "Output folder (new or empty; appears only when complete).")]
    public string Out { get; set; } = "";

    [Option("eval-paragraphs", HelpText = "Evaluate decoders on the first N paragraphs, encoders on the first N lines (default: all).")]
    public int? EvalParagraphs { get; set; }

    [Option("compensate", Separator = ',', HelpText = "Compensation settings, comma-separated: none | bias | partner | refit | default (each method's own). Default: none, so criteria are compared alone.")]
    public IEnumerable<string> Compensate { get; set; } = [];

    [Option("samples", Default = CalibrationOptions.DefaultSamples, HelpText = "Calibration token positions S per model.")]
    public int Samples { get; set; }

    [Option("calib-paragraphs", HelpText = "Sample S over every calibration paragraph, each its own sequence (as prune --calib-paragraphs; " +
        "default: windows of 256 tokens of seeded paragraphs, only as many as S needs).")]
    public bool CalibParagraphs { get; set; }

    [Option("seed", Default = 0L, HelpText = "Seed of every random choice, as prune --seed.")]
    public long Seed { get; set; }

    [Option("threads", Default = 0, HelpText = "ONNX Runtime intra-op threads (0 = one per processor).")]
    public int Threads { get; set; }

    [Option("json", HelpText = "End the output with one JSON object (output folder, runs, sensitivity rows).")]
    public bool Json { get; set; }

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    [Option("quiet", HelpText = "No progress bar.")]
    public bool Quiet { get; set; }

    [Usage(ApplicationAlias = "llmprune")]
    public static IEnumerable<Example> Examples =>
    [
        new("Two models, three criteria, two sparsities", HelpExamples.Plain, new StudyCommand { Models = ["models/small", "models/large"], Methods = ["magnitude", "flap", "mi-weighted"],
            Ratios = [0.2, 0.5], Calib = "calib.txt", Eval = "eval.txt", Out = "study" }),
    ];

    public int Run(CancellationToken cancellationToken)
    {
        Threads = ThreadCount.Cap(Threads);
        var models = Models.ToArray();
        var provenance = ProvenanceList.ToArray();
        if (provenance.Length > 0 && provenance.Length != models.Length)
            throw new BadArgumentException($"--provenance has {provenance.Length} entries for {models.Length} models");
        if (Tokenizer != null && !models.Any(DecoderCheckpoint.IsSingleFile))
            throw new BadArgumentException("--tokenizer applies to llama2.c .bin models only, and --models holds none; a folder is read with its own tokenizer");
        if (Halves != null && (Calib != null || Eval != null)) throw new BadArgumentException("--halves replaces --calib and --eval; give one or the other");
        if (Halves == null && (Calib == null || Eval == null)) throw new BadArgumentException("give --calib FILE and --eval FILE (or --halves FILE)");
        string[] texts = Halves != null ? [Halves] : [Calib!, Eval!];
        if (Sts != null) texts = [.. texts, Sts];
        foreach (var t in texts)
        {
            if (Directory.Exists(t)) throw new MissingInputException($"text '{t}' is a folder; expected a file");
            if (!File.Exists(t)) throw new MissingInputException($"text file '{t}' does not exist");
        }
        string calibText, calibName, evalText, evalName;
        if (Halves != null)
        {
            (calibText, evalText) = CorpusSplit.Halves(Halves);
            calibName = $"{Path.GetFullPath(Halves)} (first half of its bytes)";
            evalName = $"{Path.GetFullPath(Halves)} (second half of its bytes)";
        }
        else
        {
            if (Path.GetFullPath(Calib!) == Path.GetFullPath(Eval!)) Console.Error.WriteLine("note: --eval is the --calib file; calibration and evaluation text overlap");
            (calibText, calibName, evalText, evalName) = (TextCorpus.Read(Calib!), Path.GetFullPath(Calib!), TextCorpus.Read(Eval!), Path.GetFullPath(Eval!));
        }
        var pairs = Sts != null ? StsBenchmark.Read(Sts) : null; // a malformed file is refused before any work
        var settings = new StudySettings
        {
            StsPairs = pairs,
            StsName = Sts != null ? Path.GetFullPath(Sts) : null,
            Models = models.Select((m, i) => new StudyModelSpec(m, provenance.Length > 0 ? Provenance.Parse(provenance[i], "--provenance") : null,
                DecoderCheckpoint.IsSingleFile(m) ? Tokenizer : null)).ToArray(),
            Methods = Methods.ToArray(),
            Ratios = Ratios.ToArray(),
            Compensations = Compensate.Any() ? Compensate.ToArray() : ["none"],
            CalibrationText = calibText,
            CalibrationName = calibName,
            EvaluationText = evalText,
            EvaluationName = evalName,
            EvalParagraphs = EvalParagraphs,
            Samples = Samples,
            Layout = CalibParagraphs ? CalibrationLayout.Paragraphs : CalibrationLayout.Windows,
            Seed = Seed,
            Threads = Threads,
            Device = DeviceOption.Resolve(Device, Devices.DeviceStages.All),
        };
        string[] inputs = [.. models, .. texts, .. Tokenizer == null ? Array.Empty<string>() : [Tokenizer]];
        StudyWriter.CheckOutput(Out, inputs);
        var described = StudyRunner.Validate(settings); // every name, ratio and model checked before any work
        int runs = described.Count * settings.Methods.Count * settings.Ratios.Count * settings.Compensations.Count;
        Console.WriteLine($"study: {described.Count} models x {settings.Methods.Count} methods x {settings.Ratios.Count} ratios x {settings.Compensations.Count} compensation settings = {runs} runs");
        foreach (var m in described)
            Console.WriteLine($"  {m.Name}: {m.Format} ({m.Family}), {m.Provenance}, {m.Parameters:N0} parameters, {m.Layers} layers, hidden {m.Hidden}, FFN {m.FfnWidth}{(m.Description.Length > 0 ? $" ({m.Description})" : "")}");

        var bar = new ProgressBar(Quiet);
        var result = StudyRunner.Run(settings, new StudyBar(bar), cancellationToken);
        bar.Clear();
        string command = "llmprune " + string.Join(" ", Environment.GetCommandLineArgs().Skip(1).Select(Quote));
        var files = StudyWriter.Write(Out, result, inputs, command);

        PrintSummary(result);
        WrittenFilesPrinter.Print(Console.Out, Path.GetFullPath(Out), files);
        if (Json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["out"] = Path.GetFullPath(Out),
                ["runs"] = result.Rows.Count,
                ["seconds"] = result.Seconds,
                ["devices"] = new Dictionary<string, string> { ["capture"] = settings.Device.Onnx, ["eval"] = settings.Device.Onnx,
                    ["mi"] = settings.Device.EstimationCuda ? "cuda" : "cpu" },
                ["claim_testable"] = StudyScope.ClaimTestable(result.Models.Select(m => m.Model).ToArray()),
                ["sensitivity"] = result.Sensitivity.Select(s => new Dictionary<string, object?>
                {
                    ["model"] = s.Model.Name, ["family"] = s.Family, ["provenance"] = s.Model.Provenance, ["params"] = s.Model.Parameters, ["ratio"] = s.Ratio,
                    ["compensation"] = s.CompensationSetting,
                    [s.Family == StudyFamily.Encoder ? "std_cosine_distance" : "std_delta_nll"] = Finite(s.StdD), ["max_over_min"] = Finite(s.MaxOverMin),
                }).ToArray(),
            }));
        return ExitCodes.Ok;
    }

    private static void PrintSummary(StudyResult result)
    {
        var o = Console.Out;
        o.WriteLine();
        foreach (var m in result.Models)
            o.WriteLine(m.Model.Family == StudyFamily.Encoder
                ? $"{m.Model.Name,-24} encoder, dense STS {StudyTables.Fixed(m.DenseSts, 2)} ({m.Pairs} pairs), fidelity on {m.Sentences} sentences; capture {m.CaptureSeconds:F1} s, dense {m.DenseSeconds:F1} s"
                : $"{m.Model.Name,-24} dense perplexity {m.DensePerplexity:F4} ({m.EvalTokens} tokens); capture {m.CaptureSeconds:F1} s, dense {m.DenseSeconds:F1} s");
        var decoders = result.Rows.Where(r => r.Family == StudyFamily.Decoder).ToArray();
        var encoders = result.Rows.Where(r => r.Family == StudyFamily.Encoder).ToArray();
        if (decoders.Length > 0)
        {
            o.WriteLine();
            o.WriteLine($"{"model",-24}{"method",-17}{"ratio",7} {"comp",-8}{"ppl after",11}{"delta ppl",11}{"d nats",9}{"KL",9}{"top-1",8}{"s",7}");
            foreach (var r in decoders)
                o.WriteLine($"{r.Model.Name,-24}{r.Method,-17}{r.Ratio,7:0.###} {r.Compensation,-8}{r.PerplexityAfter,11:F3}{r.DeltaPerplexity,11:F3}{r.DeltaNll,9:F4}{r.Kl,9:F4}{r.Top1Agreement,8:P1}{r.Seconds,7:F1}");
        }
        if (encoders.Length > 0)
        {
            o.WriteLine();
            o.WriteLine($"{"encoder",-24}{"method",-17}{"ratio",7} {"comp",-8}{"fidelity",10}{"1-fid",9}{"STS after",11}{"delta STS",11}{"s",7}");
            foreach (var r in encoders)
                o.WriteLine($"{r.Model.Name,-24}{r.Method,-17}{r.Ratio,7:0.###} {r.Compensation,-8}{r.Fidelity,10:F4}{r.CosineDistance,9:F4}{StudyTables.Fixed(r.StsAfter, 2),11}{StudyTables.Fixed(r.DeltaSts, 2),11}{r.Seconds,7:F1}");
        }
        foreach (var family in result.Families)
        {
            o.WriteLine();
            o.WriteLine($"sensitivity{(result.Families.Count > 1 ? " of " + StudyFamily.Plural(family) : "")}: spread over criteria of d = {StudyFamily.MeasureLabel(family)}");
            o.WriteLine($"{"model",-24}{"provenance",-12}{"params",10}{"ratio",7} {"comp",-8}{"K",3}{"min d",9}{"max d",9}{"max/min",9}{"SD d",9}");
            foreach (var s in result.Sensitivity.Where(s => s.Family == family))
                o.WriteLine($"{s.Model.Name,-24}{s.Model.Provenance,-12}{s.Model.Parameters,10}{s.Ratio,7:0.###} {s.CompensationSetting,-8}{s.Criteria,3}{s.MinD,9:F4}{s.MaxD,9:F4}{StudyTables.Fixed(s.MaxOverMin, 2),9}{StudyTables.Fixed(s.StdD, 4),9}");
        }
        o.WriteLine();
        o.WriteLine(StudyScope.Heading + ":");
        foreach (var line in StudyScope.Statements(result.Models.Select(m => m.Model).ToArray())) o.WriteLine("  " + line);
        o.WriteLine();
        o.WriteLine($"total {result.Seconds:F1} s");
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    private static string Quote(string arg) => arg.Length > 0 && arg.All(ch => char.IsLetterOrDigit(ch) || "-_./,=:".Contains(ch)) ? arg : "'" + arg.Replace("'", "'\\''") + "'";

    /// <summary>Draws "model run/runs stage" on the shared progress bar.</summary>
    private sealed class StudyBar(ProgressBar bar) : IProgress<StudyProgress>
    {
        public void Report(StudyProgress p) =>
            bar.Report(new StageProgress(p.Run == 0 ? $"{p.Model} {p.Stage}" : $"{p.Model} {p.Run}/{p.Runs} {p.Stage}", p.Fraction));
    }
}
