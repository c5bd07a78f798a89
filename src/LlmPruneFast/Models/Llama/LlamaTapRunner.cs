using LlmPruneFast.Capture;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.Llama;

/// <summary>Taps of a LLaMA graph built with <see cref="LlamaOnnxOptions.Taps"/>.</summary>
internal sealed class LlamaTapRunner(ModelProto graph, int threads, bool cuda = false) : ITapRunner
{
    private readonly OnnxLlamaRunner _runner = OnnxLlamaRunner.Create(graph, new OnnxRunnerOptions { IntraOpThreads = threads, UseCuda = cuda });

    public float[][] Run(TokenBatch batch) => _runner.Run(batch, taps: true).Taps!;

    public void Dispose() => _runner.Dispose();
}
