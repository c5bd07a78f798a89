using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Evaluation;

/// <summary>The real stories260K, through our ONNX graph in ONNX Runtime, against ../shared/reference/stories260K.json.</summary>
public sealed class Stories260KOnnxTests
{
    private static (LlamaConfig Config, InMemoryTensorSource Tensors) Load() => Llama2cCheckpoint.Read(SharedData.Stories260KBin);

    [SharedFact]
    public void Top5LogitsAtEveryReferencePosition_MatchWithin1e3()
    {
        var reference = Stories260KReference.Load();
        var (config, tensors) = Load();
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        int n = reference.LogitsTop5.Max(t => t.Pos) + 1;
        var ids = reference.Sequence(n);
        var result = runner.Run(ids.Select(i => (long)i).ToArray(), Enumerable.Repeat(1L, n).ToArray(), 1, n);
        var logits = new float[n, runner.Vocab];
        for (int p = 0; p < n; p++)
            for (int v = 0; v < runner.Vocab; v++) logits[p, v] = result.LogitsAt(0, p)[v];
        reference.AssertTop5(logits, ids, tolerance: 1e-3);
    }

    [SharedFact]
    public void GreedyContinuationOfReferencePrompt_EqualsReferenceIds()
    {
        var reference = Stories260KReference.Load();
        var (config, tensors) = Load();
        var tokenizer = ModelTokenizer.Load(SharedData.Stories260KTokenizer);
        var prompt = tokenizer.Encode("Once upon a time, there was a dog named");
        Assert.Equal(reference.PromptIdsWithBos, prompt);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        var generated = GreedyGenerator.Generate(runner, prompt, reference.GreedyIds.Length);
        Assert.Equal(reference.GreedyIds, generated);
    }

    [SharedFact]
    public void MeanNllOnFirst40Paragraphs_IsReferenceWithin1e4()
    {
        var reference = Stories260KReference.Load();
        var (config, tensors) = Load();
        var tokenizer = ModelTokenizer.Load(SharedData.Stories260KTokenizer);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        var paragraphs = TextCorpus.Paragraphs(TextCorpus.Read(SharedData.TinyStories), 40);
        var result = new Perplexity(runner, batchSize: 8).Paragraphs(tokenizer, paragraphs, config.MaxPositionEmbeddings);
        Assert.Equal(40, result.Sequences);
        Assert.Equal(4059, result.Tokens);
        Assert.True(Math.Abs(result.MeanNll - reference.MeanNll) < 1e-4, $"mean NLL {result.MeanNll} vs reference {reference.MeanNll}");
        Assert.True(Math.Abs(reference.MeanNll - 1.356505) < 1e-6);
    }
}
