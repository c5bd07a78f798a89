using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Models.Onnx;

/// <summary>The ONNX graph against the float64 reference forward, on small random configs with padding.</summary>
public sealed class LlamaOnnxGraphTests
{
    public static TheoryData<string> Configs => ["gqa_tied", "mha_untied_bias_nonuniform", "mqa_headdim", "single_layer_odd"];

    private static LlamaConfig Named(string name) => name switch
    {
        "gqa_tied" => RandomLlama.Config(hidden: 16, heads: 4, kvHeads: 2, headDim: 4, layers: 2, ffn: 24),
        "mha_untied_bias_nonuniform" => RandomLlama.Config(hidden: 12, heads: 2, kvHeads: 2, headDim: 6, tied: false, mlpBias: true, widths: [12, 7, 20]),
        "mqa_headdim" => RandomLlama.Config(hidden: 16, heads: 4, kvHeads: 1, headDim: 6, layers: 2, ffn: 10, tied: false),
        "single_layer_odd" => RandomLlama.Config(hidden: 10, heads: 5, kvHeads: 5, headDim: 2, layers: 1, ffn: 3, vocab: 17),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void LogitsAndTapsEqualReference_WithLeftAndRightPadding(string name)
    {
        var config = Named(name);
        using var tensors = RandomLlama.Tensors(config, seed: name.Length);
        var model = LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true });
        using var runner = OnnxLlamaRunner.Create(model, new OnnxRunnerOptions { IntraOpThreads = 1 });
        int[][] seqs = [RandomLlama.Ids(9, config.VocabSize, 1), RandomLlama.Ids(4, config.VocabSize, 2), RandomLlama.Ids(1, config.VocabSize, 3)];

        foreach (var side in new[] { PadSide.Right, PadSide.Left })
        {
            var batch = TokenBatch.Create(seqs, side, padId: 0);
            var result = runner.Run(batch, taps: true);
            Assert.All(result.Logits, v => Assert.True(float.IsFinite(v))); // padding rows included
            for (int r = 0; r < seqs.Length; r++)
            {
                var reference = new ReferenceLlamaForward(config, tensors, seqs[r].Length);
                var acts = new Dictionary<(int, int), double[]>();
                reference.FfnActivation = (l, p, a) => acts[(l, p)] = (double[])a.Clone();
                for (int t = 0; t < seqs[r].Length; t++)
                {
                    var expected = reference.Step(seqs[r][t], t);
                    var actual = result.LogitsAt(r, batch.Column(r, t));
                    for (int v = 0; v < expected.Length; v++)
                        Assert.True(Math.Abs(actual[v] - expected[v]) < 1e-4, $"{side} row {r} pos {t} vocab {v}: {actual[v]} vs {expected[v]}");
                    for (int l = 0; l < config.NumHiddenLayers; l++)
                    {
                        int n = config.FfnWidth(l);
                        var tap = result.Taps![l].AsSpan((r * batch.Seq + batch.Column(r, t)) * n, n);
                        for (int j = 0; j < n; j++)
                            Assert.True(Math.Abs(tap[j] - acts[(l, t)][j]) < 1e-4, $"{side} tap {l} row {r} pos {t} neuron {j}: {tap[j]} vs {acts[(l, t)][j]}");
                    }
                }
            }
        }
    }

    [Fact]
    public void TwoRunsAndTwoSessions_GiveBitIdenticalLogits()
    {
        var config = RandomLlama.Config(hidden: 32, heads: 4, kvHeads: 2, headDim: 8, layers: 2, ffn: 40, vocab: 64);
        using var tensors = RandomLlama.Tensors(config, seed: 5);
        var model = LlamaOnnxBuilder.Build(config, tensors);
        var batch = TokenBatch.Create([RandomLlama.Ids(30, 64, 7), RandomLlama.Ids(21, 64, 8)], PadSide.Left);
        using var a = OnnxLlamaRunner.Create(model, new OnnxRunnerOptions { IntraOpThreads = 2 });
        using var b = OnnxLlamaRunner.Create(model, new OnnxRunnerOptions { IntraOpThreads = 2 });
        var first = a.Run(batch).Logits;
        Assert.Equal(first, a.Run(batch).Logits);
        Assert.Equal(first, b.Run(batch).Logits);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void FusedAndSeparateProjections_AndTapsOnlyGraph_AgreeWithinRounding(string name)
    {
        var config = Named(name);
        using var tensors = RandomLlama.Tensors(config, seed: name.Length + 3);
        var batch = TokenBatch.Create([RandomLlama.Ids(11, config.VocabSize, 4), RandomLlama.Ids(6, config.VocabSize, 5)], PadSide.Left);
        var options = new OnnxRunnerOptions { IntraOpThreads = 1 };
        using var fused = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true }), options);
        using var separate = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true, FuseProjections = false }), options);
        using var tapsOnly = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true, Logits = false }), options);
        var a = fused.Run(batch, taps: true);
        var b = separate.Run(batch, taps: true);
        var c = tapsOnly.Run(batch, taps: true);
        Assert.Empty(c.Logits);
        for (int i = 0; i < a.Logits.Length; i++) Assert.True(Math.Abs(a.Logits[i] - b.Logits[i]) < 1e-5, $"logit {i}: {a.Logits[i]} vs {b.Logits[i]}");
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            Assert.Equal(a.Taps![l], c.Taps![l]); // same nodes up to the last tap: bit-identical
            for (int i = 0; i < a.Taps[l].Length; i++) Assert.True(Math.Abs(a.Taps[l][i] - b.Taps![l][i]) < 1e-5, $"tap {l} [{i}]: {a.Taps[l][i]} vs {b.Taps[l][i]}");
        }
    }

    [Fact]
    public void ShapeDisagreeingWithConfig_IsBadModelFile()
    {
        var config = RandomLlama.Config();
        using var tensors = RandomLlama.Tensors(config with { IntermediateSize = 25 }, seed: 1);
        var ex = Assert.Throws<BadModelFileException>(() => LlamaOnnxBuilder.Build(config, tensors));
        Assert.Contains(LlamaTensorNames.Gate(0), ex.Message);
    }

    [Fact]
    public void TooLongSequenceOrBadToken_IsBadArgument()
    {
        var config = RandomLlama.Config(positions: 8);
        using var tensors = RandomLlama.Tensors(config, seed: 2);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        Assert.Throws<BadArgumentException>(() => runner.Run(new long[9], Enumerable.Repeat(1L, 9).ToArray(), 1, 9));
        Assert.Throws<BadArgumentException>(() => runner.Run([config.VocabSize], [1], 1, 1));
    }
}
