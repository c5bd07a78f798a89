using CommandLine;
using CommandLine.Text;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Cli.Commands;

/// <summary>Source formats of <c>llmprune import</c>.</summary>
public enum ImportFormat { Llama2c = 1, Hf = 2 }

/// <summary>How <c>llmprune import</c> stores weights.</summary>
public enum ImportDType { F32, F16, BF16, Keep }

/// <summary>
/// <c>llmprune import</c>: turns a checkpoint into a validated Hugging Face LLaMA folder (config.json,
/// model.safetensors, tokenizer.model, ...), the form every other command reads.
/// </summary>
[Verb("import", HelpText = "Convert a checkpoint into a Hugging Face LLaMA folder (config.json + model.safetensors + tokenizer.model or tokenizer.json). " +
    "llama2c: a llama2.c legacy .bin (7-int header; q/k rows permuted to transformers' RoPE layout). " +
    "hf: re-write (validate, normalise to one model.safetensors) an existing Hugging Face LLaMA folder.")]
public sealed class ImportCommand : ICommand
{
    [Option("from", Required = true, HelpText = "Source format: llama2c or hf.")]
    public ImportFormat From { get; set; }

    [Option("model", Required = true, HelpText = "llama2c: the .bin checkpoint file. hf: the checkpoint folder.")]
    public string Model { get; set; } = "";

    [Option("tokenizer", HelpText = "Tokenizer to put beside the weights: a SentencePiece .model, or (hf only) a byte-level BPE tokenizer.json. Required for llama2c; for hf it replaces the folder's own.")]
    public string? Tokenizer { get; set; }

    [Option("out", Required = true, HelpText = "Output folder: must not exist or be empty, and must not be or lie inside the input. Appears only when complete.")]
    public string Out { get; set; } = "";

    [Option("dtype", Default = ImportDType.F32, HelpText = "Stored weight type: f32 (default), f16, bf16 (rounded to nearest, ties to even), or keep (hf only: each tensor as stored).")]
    public ImportDType DType { get; set; }

    [Option("max-shard-mb", HelpText = CheckpointOutputFlags.MaxShardHelp)]
    public double? MaxShardMb { get; set; }

    [Usage(ApplicationAlias = "llmprune")]
    public static IEnumerable<Example> Examples =>
    [
        new("Import a llama2.c checkpoint", HelpExamples.Plain, new ImportCommand { From = ImportFormat.Llama2c, Model = "stories260K.bin", Tokenizer = "tok512.model", Out = "models/stories260K" }),
        new("Normalise a Hugging Face folder", HelpExamples.Plain, new ImportCommand { From = ImportFormat.Hf, Model = "Llama-3.2-1B", Out = "models/llama-1b" }),
    ];

    public int Run(CancellationToken cancellationToken)
    {
        long maxShardBytes = CheckpointOutputFlags.ShardBytes(MaxShardMb);
        Func<TensorInfo, TensorDType> storeAs = DType switch
        {
            ImportDType.F16 => _ => TensorDType.F16,
            ImportDType.BF16 => _ => TensorDType.BF16,
            ImportDType.Keep => SafeTensorsWriter.KeepDType,
            _ => SafeTensorsWriter.AllFloat32,
        };
        IReadOnlyList<string> files;
        // A LLaMA-family verb (llama2.c .bin or HF folder -> HF LLaMA folder): it calls the LLaMA adapter (Models/Llama) directly.
        LlamaConfig config;
        switch (From)
        {
            case ImportFormat.Llama2c:
            {
                if (Tokenizer == null) throw new BadArgumentException("--tokenizer FILE.model is required with --from llama2c");
                if (DType == ImportDType.Keep) throw new BadArgumentException("--dtype keep applies to --from hf only (llama2.c weights are float32)");
                RequireFile(Model, "llama2.c checkpoint (--model)");
                RequireFile(Tokenizer, "tokenizer (--tokenizer)");
                // Refuse a bad output before reading a possibly large model.
                AtomicOutputFolder.CheckOutput(Out, [Model, Tokenizer]);
                var (read, tensors) = Llama2cCheckpoint.Read(Model);
                config = read;
                FiniteWeights.Check(tensors, $"llama2.c checkpoint '{Model}'");
                CheckTokenizer(Tokenizer, config);
                files = LlamaCheckpointWriter.Write(Out, config, tensors, Tokenizer,
                    new LlamaCheckpointWriteOptions { InputPaths = [Model], MaxShardBytes = maxShardBytes, StoreAs = storeAs }, cancellationToken);
                break;
            }
            case ImportFormat.Hf:
            {
                if (Tokenizer != null) RequireFile(Tokenizer, "tokenizer (--tokenizer)");
                AtomicOutputFolder.CheckOutput(Out, Tokenizer == null ? [Model] : [Model, Tokenizer]);
                using var source = LlamaCheckpoint.Open(Model);
                config = source.Config;
                CheckTokenizer(Tokenizer ?? source.TokenizerPath, config);
                var options = LlamaCheckpointWriteOptions.CarryFrom(source) with
                {
                    StoreAs = storeAs,
                    MaxShardBytes = maxShardBytes,
                };
                if (Tokenizer != null) // the replacing tokenizer is the folder's own; a carried file of its name is not copied too
                    options = options with { ExtraFiles = [.. options.ExtraFiles.Where(f => Path.GetFileName(f) != ModelTokenizer.FolderNameOf(Tokenizer))] };
                files = LlamaCheckpointWriter.Write(Out, config, source.Tensors, Tokenizer ?? source.TokenizerPath, options, cancellationToken);
                break;
            }
            default:
                throw new BadArgumentException($"--from {From} is not supported");
        }
        Console.WriteLine($"imported {From.ToString().ToLowerInvariant()} '{Path.GetFullPath(Model)}': {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, " +
            $"FFN {config.IntermediateSize}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads} kv, vocab {config.VocabSize}, " +
            $"{(config.TieWordEmbeddings ? "tied" : "untied")} head");
        WrittenFilesPrinter.Print(Console.Out, Path.GetFullPath(Out), files);
        return ExitCodes.Ok;
    }

    /// <summary>The tokenizer is parsed, not just copied (exit 3 when it does not load); a vocabulary mismatch is named.</summary>
    private static void CheckTokenizer(string path, LlamaConfig config)
    {
        int pieces = ModelTokenizer.Load(path).VocabularySize;
        if (pieces > config.VocabSize)
            Console.Error.WriteLine($"note: tokenizer '{path}' has {pieces} pieces, more than the model's vocab_size {config.VocabSize}; texts using the extra pieces cannot be evaluated");
    }

    private static void RequireFile(string path, string what)
    {
        if (Directory.Exists(path)) throw new MissingInputException($"{what} '{path}' is a folder; expected a file");
        if (!File.Exists(path)) throw new MissingInputException($"{what} '{path}' does not exist");
    }
}
