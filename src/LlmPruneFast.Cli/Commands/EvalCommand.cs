using System.Text.Json;
using CommandLine;
using LlmPruneFast.Devices;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;

namespace LlmPruneFast.Cli.Commands;

/// <summary><c>llmprune eval</c>: perplexity of a checkpoint folder on a text file, in ONNX Runtime.</summary>
[Verb("eval", HelpText = "Decoder: perplexity on a text file, reference paragraph protocol (--paragraphs N) or sliding windows (--window W --stride T). " +
    "Encoder (model.onnx + vocab.txt): STS Spearman on a labelled pair file (--sts), embedding statistics of a text (--text), latency (--latency).")]
public sealed class EvalCommand : ICommand
{
    [Option("model", Required = true, HelpText = "Hugging Face LLaMA checkpoint folder (config.json, safetensors, tokenizer.model or tokenizer.json), " +
        "a llama2.c .bin (see --tokenizer), or an encoder folder (model.onnx + vocab.txt).")]
    public string Model { get; set; } = "";

    [Option("tokenizer", HelpText = ModelInputFlags.TokenizerHelp)]
    public string? Tokenizer { get; set; }

    [Option("text", HelpText = "UTF-8 text file to evaluate on (required for decoders; for encoders one sentence per non-empty line).")]
    public string? Text { get; set; }

    [Option("paragraphs", HelpText = "Reference protocol: the first N blank-line-separated paragraphs, each with BOS, every next token scored.")]
    public int? Paragraphs { get; set; }

    [Option("window", HelpText = "Window protocol: the whole text encoded once, windows of W tokens.")]
    public int? Window { get; set; }

    [Option("stride", HelpText = "Window protocol: a window starts every T tokens (default W); with T < W only new tokens are scored.")]
    public int? Stride { get; set; }

    [Option("batch", HelpText = "Sequences per ONNX Runtime run (default 32 for encoders; for decoders 8 on the whole-model graph, and on the layer stream the largest of 8, 4, 2, 1 that fits --memory-mb).")]
    public int? Batch { get; set; }

    [Option("sts", HelpText = "Encoders: STS Benchmark pair file (GLUE STS-B tsv or SentEval csv); reports Spearman x 100 of cosine vs gold.")]
    public string? Sts { get; set; }

    [Option("pooling", HelpText = "Encoders: mean or cls (default: the folder's sentence-transformers pooling config, else mean).")]
    public Pooling? Pooling { get; set; }

    [Option("latency", HelpText = "Encoders: also time forward passes of 32 x 128 tokens (median of 10).")]
    public bool Latency { get; set; }

    [Option("stream", Default = "auto", HelpText = "Decoders: how the checkpoint runs. auto: the whole-model ONNX graph when its memory estimate fits --memory-mb, " +
        "else one decoder layer at a time; layers: always layer by layer (hidden states carried between layers, memory-mapped when large; logits a chunk of positions at a time); whole: always the whole-model graph.")]
    public string Stream { get; set; } = "auto";

    [Option("memory-mb", HelpText = "Decoders: memory budget in MiB (default: 80% of physical memory). eval prints its memory plan first and stops with exit 7 when the chosen path is over this.")]
    public int? MemoryMiB { get; set; }

    [Option("threads", Default = 0, HelpText = "ONNX Runtime intra-op threads (0 = one per processor).")]
    public int Threads { get; set; }

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    [Option("json", HelpText = "End the output with one JSON object (mean_nll, perplexity, tokens, ...).")]
    public bool Json { get; set; }

    /// <summary>--device, resolved at the start of <see cref="Run"/>.</summary>
    internal ComputeDevice Resolved { get; private set; } = ComputeDevice.Cpu;

    public int Run(CancellationToken cancellationToken)
    {
        Threads = ThreadCount.Cap(Threads);
        Resolved = DeviceOption.Resolve(Device, DeviceStages.Onnx);
        if (ModelFolder.IsEncoder(Model))
        {
            ModelInputFlags.RejectTokenizer(Tokenizer, Model);
            return EncoderEval.Run(this, cancellationToken);
        }
        if (Pooling != null || Sts != null || Latency)
            throw new BadArgumentException($"--pooling, --sts and --latency apply to encoders (model.onnx + vocab.txt); '{Model}' is a decoder");
        if (string.IsNullOrEmpty(Text)) throw new BadArgumentException("--text FILE is required for a decoder");
        if (Paragraphs.HasValue == Window.HasValue)
            throw new BadArgumentException("give exactly one of --paragraphs N or --window W [--stride T]");
        if (Stride.HasValue && !Window.HasValue) throw new BadArgumentException("--stride needs --window");
        if (MemoryMiB <= 0) throw new BadArgumentException($"--memory-mb must be positive, got {MemoryMiB}");
        if (Batch is <= 0) throw new BadArgumentException($"--batch must be positive, got {Batch}");
        var mode = ParseStream(Stream);
        long budget = MemoryMiB is int mb ? (long)mb << 20 : PruneCommand.DefaultMemoryBudget();
        string text = TextCorpus.Read(Text);
        using var checkpoint = ModelFolder.OpenCheckpoint(Model, Tokenizer);
        var tokenizer = checkpoint.Tokenizer;
        ScoredSequence[] sequences;
        string protocol;
        if (Paragraphs is int n)
        {
            var paragraphs = TextCorpus.Paragraphs(text, n);
            if (paragraphs.Count < n) Console.Error.WriteLine($"note: '{Text}' holds only {paragraphs.Count} paragraphs");
            (sequences, protocol) = Perplexity.ParagraphSequences(p => tokenizer.Encode(p), paragraphs, checkpoint.MaxPositions);
        }
        else
        {
            int window = Window!.Value;
            if (window > checkpoint.MaxPositions) throw new BadArgumentException($"--window {window} exceeds the model's max_position_embeddings {checkpoint.MaxPositions}");
            (sequences, protocol) = Perplexity.WindowSequences(tokenizer, text, window, Stride ?? window);
        }
        // The plan comes before any weight is read: the whole-model graph holds every weight (several times over while
        // it is built and handed to ONNX Runtime); the layer stream one layer's weights and the carried hidden states.
        var plan = EvaluationPlan.Create(checkpoint.Shape, sequences.Select(q => q.Ids.Length).ToArray(), inOrder: false, models: 1, mode, budget, Batch, Threads, cuda: Resolved.OnnxCuda);
        Console.WriteLine(plan.Describe());
        plan.ThrowIfOverBudget();
        var progress = new ConsoleProgress();
        PerplexityResult result;
        string providers;
        string directory = checkpoint.Directory;
        if (plan.Path == EvaluationMode.Whole)
        {
            checkpoint.Dispose(); // the graph is built from its own open of the folder, as before
            using var model = RunnableDecoder.Open(Model, new OnnxRunnerOptions { IntraOpThreads = Threads, UseCuda = Resolved.OnnxCuda }, tokenizer: Tokenizer);
            result = new Perplexity(model.Runner, plan.BatchSize).Score(sequences, protocol, progress, cancellationToken);
            providers = string.Join("+", model.Providers);
        }
        else
        {
            result = new Perplexity(checkpoint.LayerStreamedLogits(plan.StreamOptions), plan.BatchSize).Score(sequences, protocol, progress, cancellationToken);
            providers = "layer-streamed, " + (Resolved.OnnxCuda ? "CUDAExecutionProvider" : "CPUExecutionProvider");
        }
        progress.Done();
        if (!double.IsFinite(result.MeanNll)) throw new BadDataException($"model '{directory}' gives a non-finite mean NLL ({result.MeanNll}) on '{Text}': its activations overflow");
        Console.WriteLine($"model      {directory}");
        Console.WriteLine($"text       {Path.GetFullPath(Text)}");
        Console.WriteLine($"protocol   {result.Protocol}");
        Console.WriteLine($"tokens     {result.Tokens} scored in {result.Sequences} sequences");
        Console.WriteLine($"mean NLL   {result.MeanNll:F6} nats/token");
        Console.WriteLine($"perplexity {result.Perplexity:F4}");
        Console.WriteLine($"time       {result.Seconds:F2} s ({result.Tokens / Math.Max(result.Seconds, 1e-9):F0} tokens/s, {providers})");
        if (Json)
        {
            var json = new Dictionary<string, object?>
            {
                ["model"] = directory,
                ["text"] = Path.GetFullPath(Text),
                ["protocol"] = Paragraphs.HasValue ? "paragraphs" : "windows",
                ["mean_nll"] = result.MeanNll,
                ["perplexity"] = result.Perplexity,
                ["tokens"] = result.Tokens,
                [Paragraphs.HasValue ? "paragraphs" : "windows"] = result.Sequences,
                ["window"] = Window,
                ["stride"] = Window.HasValue ? Stride ?? Window : null,
                ["seconds"] = result.Seconds,
                ["path"] = plan.Path == EvaluationMode.Whole ? "whole" : "layers",
                ["batch"] = plan.BatchSize,
                ["device"] = Resolved.Onnx,
            };
            Console.WriteLine(JsonSerializer.Serialize(json));
        }
        return ExitCodes.Ok;
    }

    /// <summary>--stream: auto, layers or whole.</summary>
    internal static EvaluationMode ParseStream(string value, string flag = "--stream") => value switch
    {
        "auto" => EvaluationMode.Auto,
        "layers" => EvaluationMode.Layers,
        "whole" => EvaluationMode.Whole,
        _ => throw new BadArgumentException($"{flag} must be auto, layers or whole, got '{value}'"),
    };
}
