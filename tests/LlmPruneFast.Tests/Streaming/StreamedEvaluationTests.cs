using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Streaming;

/// <summary>Layer-streamed evaluation (perplexity, KL, top-1) against the whole-model graph on the real stories260K.</summary>
public sealed class StreamedEvaluationTests
{
    private static readonly Lazy<(LlamaConfig Config, InMemoryTensorSource Tensors)> Pruned = new(() =>
    {
        // Global budget (per-layer widths differ) and bias compensation (every layer gets FFN biases): the pruned
        // layouts the layer graph must load.
        var settings = new PruneSettings
        {
            Method = "flap", Ratio = 0.3, Seed = 1, Budget = BudgetKind.Global, Compensation = CompensationKind.Bias,
            Calibration = new CalibrationOptions { Samples = 512, Seed = 1, Threads = 1 }, Threads = 1,
        };
        var prepared = StreamingPruner.Prepare(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer), Stories260K.Calibration(30_000), "calib", settings, CaptureMode.Dense);
        var outcome = StreamingPruner.Run(prepared, new LlamaModel(Stories260K.Config, Stories260K.Tensors, name: "stories260K"));
        return PrunedModel.Build(Stories260K.Config, Stories260K.Tensors, outcome.Layers);
    });

    private static string EvalText => string.Join("\n\n", Stories260K.EvalParagraphs(30));

    /// <summary>A streamed source with a head chunk of 37 positions (so rows are cut into several head runs).</summary>
    private static LayerStreamedLogits Streamed(LlamaConfig config, ITensorSource tensors, LayerStreamOptions? options = null) =>
        new(config, tensors, options ?? new LayerStreamOptions { Threads = 1 }) { ChunkBytes = 37L * config.VocabSize * sizeof(float) };

    private static OnnxLlamaRunner Whole(LlamaConfig config, ITensorSource tensors) =>
        OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors), new OnnxRunnerOptions { IntraOpThreads = 1 });

    private static void AssertSame(PerplexityResult whole, PerplexityResult streamed, string what)
    {
        Assert.Equal(whole.Tokens, streamed.Tokens);
        Assert.Equal(whole.Sequences, streamed.Sequences);
        Assert.Equal(whole.Protocol, streamed.Protocol);
        double relative = Math.Abs(streamed.MeanNll - whole.MeanNll) / whole.MeanNll;
        Assert.True(relative <= 1e-5, $"{what}: streamed NLL {streamed.MeanNll:R} vs whole-model {whole.MeanNll:R} (relative {relative:E2})");
    }

    public static TheoryData<bool> DenseOrPruned() => [false, true];

    [SharedTheory]
    [MemberData(nameof(DenseOrPruned))]
    public void Paragraphs_StreamedEqualsWholeModel(bool pruned)
    {
        var (config, tensors) = pruned ? Pruned.Value : (Stories260K.Config, Stories260K.Tensors);
        var paragraphs = Stories260K.EvalParagraphs(20);
        using var runner = Whole(config, tensors);
        var whole = new Perplexity(runner, 4).Paragraphs(Stories260K.Tokenizer, paragraphs, config.MaxPositionEmbeddings);
        var streamed = new Perplexity(Streamed(config, tensors), 4).Paragraphs(Stories260K.Tokenizer, paragraphs, config.MaxPositionEmbeddings);
        AssertSame(whole, streamed, pruned ? "pruned paragraphs" : "dense paragraphs");
        Assert.True(whole.Tokens > 1000);
    }

    [SharedTheory]
    [InlineData(false, 64, 64)]
    [InlineData(false, 128, 48)]
    [InlineData(true, 64, 64)]
    [InlineData(true, 128, 48)]
    public void Windows_StreamedEqualsWholeModel(bool pruned, int window, int stride)
    {
        var (config, tensors) = pruned ? Pruned.Value : (Stories260K.Config, Stories260K.Tensors);
        using var runner = Whole(config, tensors);
        var whole = new Perplexity(runner, 3).Windows(Stories260K.Tokenizer, EvalText, window, stride);
        var streamed = new Perplexity(Streamed(config, tensors), 3).Windows(Stories260K.Tokenizer, EvalText, window, stride);
        AssertSame(whole, streamed, $"{(pruned ? "pruned" : "dense")} windows {window}/{stride}");
        Assert.True(whole.Sequences > 3); // several batches, one of them partial
    }

    [SharedFact]
    public void KlAndTop1_StreamedEqualWholeModel_AndPrunedDiffers()
    {
        var (pc, pt) = Pruned.Value;
        var sequences = Stories260K.EvalSequences(12);
        using var dense = Whole(Stories260K.Config, Stories260K.Tensors);
        using var pruned = Whole(pc, pt);
        var whole = ModelComparison.Compare(dense, pruned, sequences, batchSize: 5);
        var streamed = ModelComparison.Compare(Streamed(Stories260K.Config, Stories260K.Tensors), Streamed(pc, pt), sequences, batchSize: 5);
        Assert.Equal(whole.Positions, streamed.Positions);
        Assert.True(whole.MeanKl > 0.01, $"pruning should move the distribution, KL {whole.MeanKl}");
        Assert.True(Math.Abs(streamed.MeanKl - whole.MeanKl) <= 1e-5 * whole.MeanKl, $"KL {streamed.MeanKl:R} vs {whole.MeanKl:R}");
        Assert.Equal(whole.Top1Agreement, streamed.Top1Agreement);
        // Mixed: a whole-model dense reference against a streamed pruned model.
        var mixed = ModelComparison.Compare(new RunnerLogitsSource(dense), Streamed(pc, pt), sequences, batchSize: 5);
        Assert.True(Math.Abs(mixed.MeanKl - whole.MeanKl) <= 1e-5 * whole.MeanKl);
    }

    [SharedFact]
    public void JointPass_GivesBothPerplexitiesAndTheComparison_OfSeparateWholeModelRuns()
    {
        var (pc, pt) = Pruned.Value;
        var paragraphs = Stories260K.EvalParagraphs(12);
        int max = Stories260K.Config.MaxPositionEmbeddings;
        using var dense = Whole(Stories260K.Config, Stories260K.Tensors);
        using var pruned = Whole(pc, pt);
        var before = new Perplexity(dense).Paragraphs(Stories260K.Tokenizer, paragraphs, max);
        var after = new Perplexity(pruned).Paragraphs(Stories260K.Tokenizer, paragraphs, max);
        var fidelity = ModelComparison.Compare(dense, pruned, Stories260K.EvalSequences(12));
        var (sequences, protocol) = Perplexity.ParagraphSequences(p => Stories260K.Tokenizer.Encode(p), paragraphs, max);
        var (a, b, f) = JointEvaluation.Run(Streamed(Stories260K.Config, Stories260K.Tensors), Streamed(pc, pt), sequences.Select(q => q.Ids).ToArray(), protocol, 5);
        AssertSame(before, a, "joint dense");
        AssertSame(after, b, "joint pruned");
        Assert.True(b.MeanNll > a.MeanNll + 0.05);
        Assert.Equal(fidelity.Positions, f.Positions);
        Assert.True(Math.Abs(f.MeanKl - fidelity.MeanKl) <= 1e-5 * fidelity.MeanKl);
        Assert.Equal(fidelity.Top1Agreement, f.Top1Agreement);
    }

    [SharedFact]
    public void ScratchFile_GivesTheInMemoryResult_AndIsRemoved()
    {
        using var dir = new TempFolder();
        var config = Stories260K.Config;
        var memory = new Perplexity(Streamed(config, Stories260K.Tensors), 3).Windows(Stories260K.Tokenizer, EvalText, 96, 96);
        var progress = new List<EvaluationProgress>();
        var scratch = new Perplexity(Streamed(config, Stories260K.Tensors, new LayerStreamOptions { Threads = 1, HiddenInMemoryLimitBytes = 0, ScratchFolder = dir.Path }), 3)
            .Windows(Stories260K.Tokenizer, EvalText, 96, 96, new SynchronousProgress(p => { progress.Add(p); if (p.Stage.StartsWith("layer", StringComparison.Ordinal)) Assert.Single(Directory.GetFiles(dir.Path)); }));
        Assert.Equal(memory.MeanNll, scratch.MeanNll);
        Assert.Equal(memory.Tokens, scratch.Tokens);
        Assert.Empty(Directory.GetFiles(dir.Path));
        // Progress names each layer of the stream, then the logits.
        Assert.Contains(progress, p => p.Stage == $"layer {config.NumHiddenLayers}/{config.NumHiddenLayers}" && p.Done == p.Total);
        Assert.Contains(progress, p => p.Stage == "layer logits");
    }

    [SharedFact]
    public void TooLong_Refused_BeforeAnyLayerRuns()
    {
        var config = Stories260K.Config;
        var ids = Enumerable.Range(0, config.MaxPositionEmbeddings + 1).Select(i => 1 + i % 100).ToArray();
        var e = Assert.Throws<BadArgumentException>(() => new Perplexity(Streamed(config, Stories260K.Tensors)).Score([new ScoredSequence(ids, 1)], "test"));
        Assert.Contains("exceeds the model's", e.Message);
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<EvaluationProgress> report) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => report(value);
    }
}
