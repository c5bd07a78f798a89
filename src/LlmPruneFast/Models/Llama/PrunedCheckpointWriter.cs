using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// Writes a pruned model folder: a Hugging Face LLaMA checkpoint (config.json, model.safetensors, tokenizer and the
/// source's carried files), <c>model.onnx</c> (the pruned model's graph with logits, no taps) and
/// <c>pruning-plan.json</c>. The folder appears only when complete; the source is only read.
/// </summary>
public static class PrunedCheckpointWriter
{
    public const string PlanFileName = PlanJson.FileName;

    /// <summary>
    /// Writes <paramref name="outDir"/> from <paramref name="source"/>, the <paramref name="plan"/> and its sliced
    /// layers (<see cref="PrunedModel.View"/>: the untouched tensors are read one at a time), stored as
    /// <paramref name="output"/> says (default: the input's dtypes and layout). model.onnx is built from the weights as
    /// written, so it computes exactly what the checkpoint holds (after F16/BF16 rounding), and streamed to disk tensor
    /// by tensor (<see cref="LlamaOnnxBuilder.Write"/>). Returns the pruned config
    /// and the files written (absolute paths).
    /// </summary>
    /// <exception cref="OutputConflictException">The output equals, lies inside or contains the source, or is not empty.</exception>
    public static (LlamaConfig Config, IReadOnlyList<string> Files) Write(string outDir, LlamaCheckpoint source, PruningPlan plan,
        IReadOnlyList<SlicedFfnLayer> layers, CancellationToken cancellationToken = default, PrunedOutputOptions? output = null)
    {
        output ??= new PrunedOutputOptions();
        string[] inputs = [source.Directory];
        AtomicOutputFolder.CheckOutput(outDir, inputs);
        var planBytes = PlanJson.Serialize(plan); // validates before anything is written
        var (config, tensors) = PrunedModel.View(source.Config, source.Tensors, layers);
        using var folder = AtomicOutputFolder.Create(outDir, inputs);
        LargeGarbage.ReturnToSystem(); // what the layer stage freed, so the write's peak starts from the live set
        // The checkpoint writer fills our (empty) temporary folder atomically; the graph and plan go beside it.
        LlamaCheckpointWriter.Write(folder.TempPath, config, tensors, source.TokenizerPath,
            LlamaCheckpointWriteOptions.CarryFrom(source) with
            {
                StoreAs = output.DType is TensorDType dtype ? _ => dtype : SafeTensorsWriter.KeepDType,
                MaxShardBytes = output.MaxShardBytes,
                Sharded = source.Tensors is SafeTensorsSharded,
            }, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        // Streamed: each weight is read from the checkpoint just written and appended to model.onnx.data (when the model
        // is over 256 MB), so the write holds about one tensor, not the whole float32 graph.
        using (var written = SafeTensorsFolder.Open(folder.TempPath))
            LlamaOnnxBuilder.Write(config, written, folder.TempPath);
        File.WriteAllBytes(folder.PathOf(PlanFileName), planBytes);
        cancellationToken.ThrowIfCancellationRequested();
        var names = Directory.GetFiles(folder.TempPath).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        folder.Commit();
        return (config, names.Select(n => Path.Combine(folder.FinalPath, n!)).ToArray());
    }
}
