using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Pruning;

/// <summary>
/// Writes a pruned model folder: a Hugging Face LLaMA checkpoint (config.json, model.safetensors, tokenizer and the
/// source's carried files), <c>model.onnx</c> (the pruned model's graph with logits, no taps) and
/// <c>pruning-plan.json</c>. The folder appears only when complete; the source is only read.
/// </summary>
public static class PrunedCheckpointWriter
{
    public const string PlanFileName = "pruning-plan.json";

    /// <summary>
    /// Writes <paramref name="outDir"/> from <paramref name="source"/>, the <paramref name="plan"/> and its sliced
    /// layers (<see cref="PrunedModel.Build"/>). Returns the pruned config and the files written (absolute paths).
    /// </summary>
    /// <exception cref="OutputConflictException">The output equals, lies inside or contains the source, or is not empty.</exception>
    public static (LlamaConfig Config, IReadOnlyList<string> Files) Write(string outDir, LlamaCheckpoint source, PruningPlan plan,
        IReadOnlyList<SlicedFfnLayer> layers, CancellationToken cancellationToken = default)
    {
        string[] inputs = [source.Directory];
        AtomicOutputFolder.CheckOutput(outDir, inputs);
        var planBytes = PlanJson.Serialize(plan); // validates before anything is written
        var (config, tensors) = PrunedModel.Build(source.Config, source.Tensors, layers);
        using var folder = AtomicOutputFolder.Create(outDir, inputs);
        // The checkpoint writer fills our (empty) temporary folder atomically; the graph and plan go beside it.
        LlamaCheckpointWriter.Write(folder.TempPath, config, tensors, source.TokenizerModelPath,
            LlamaCheckpointWriteOptions.CarryFrom(source), cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        LlamaOnnxModel.SaveOnnx(LlamaOnnxBuilder.Build(config, tensors), folder.TempPath);
        File.WriteAllBytes(folder.PathOf(PlanFileName), planBytes);
        cancellationToken.ThrowIfCancellationRequested();
        var names = Directory.GetFiles(folder.TempPath).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        folder.Commit();
        return (config, names.Select(n => Path.Combine(folder.FinalPath, n!)).ToArray());
    }
}
