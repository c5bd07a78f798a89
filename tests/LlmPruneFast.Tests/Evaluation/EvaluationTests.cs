using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Models.Onnx;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Evaluation;

public sealed class EvaluationTests
{
    [Fact]
    public void Paragraphs_SplitOnBlankLines_StripDropEmpty_KeepFirstN()
    {
        const string text = "  one\nline two \n\n\n  \nsecond\r\n\r\nthird\n \t\nfourth\n";
        Assert.Equal(["one\nline two", "second", "third", "fourth"], TextCorpus.Paragraphs(text));
        Assert.Equal(["one\nline two", "second"], TextCorpus.Paragraphs(text, 2));
        Assert.Throws<BadArgumentException>(() => TextCorpus.Paragraphs(text, 0));
    }

    /// <summary>Mean NLL from the float64 reference forward over the same targets.</summary>
    private static double ReferenceNll(LlamaConfig config, ITensorSource tensors, IEnumerable<ScoredSequence> seqs, out long count)
    {
        double total = 0;
        count = 0;
        foreach (var s in seqs)
        {
            var logits = ReferenceLlamaForward.Logits(config, tensors, s.Ids);
            for (int t = Math.Max(1, s.FirstTarget); t < s.Ids.Length; t++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int v = 0; v < config.VocabSize; v++) max = Math.Max(max, logits[t - 1, v]);
                for (int v = 0; v < config.VocabSize; v++) sum += Math.Exp(logits[t - 1, v] - max);
                total -= logits[t - 1, s.Ids[t]] - max - Math.Log(sum);
                count++;
            }
        }
        return total / count;
    }

    [Fact]
    public void Score_BatchedWithPadding_EqualsReferenceNll_AndIndependentOfBatchSize()
    {
        var config = RandomLlama.Config(vocab: 50);
        using var tensors = RandomLlama.Tensors(config, seed: 3);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        ScoredSequence[] seqs = [new(RandomLlama.Ids(12, 50, 1), 1), new(RandomLlama.Ids(5, 50, 2), 3), new(RandomLlama.Ids(1, 50, 3), 1), new(RandomLlama.Ids(9, 50, 4), 1)];
        double expected = ReferenceNll(config, tensors, seqs, out long count);
        var one = new Perplexity(runner, batchSize: 1).Score(seqs, "test");
        var all = new Perplexity(runner, batchSize: 3).Score(seqs, "test");
        Assert.Equal(count, one.Tokens);
        Assert.Equal(11 + 2 + 0 + 8, one.Tokens);
        Assert.Equal(3, one.Sequences); // the 1-token sequence has nothing to score
        Assert.True(Math.Abs(one.MeanNll - expected) < 1e-5, $"{one.MeanNll} vs {expected}");
        Assert.True(Math.Abs(all.MeanNll - one.MeanNll) < 1e-6);
    }

    [SharedFact]
    public void Windows_ScoreEachTokenOnce_NewTokensOnlyWhenStrideIsShorter()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        using (tensors)
        {
            var tokenizer = ModelTokenizer.Load(SharedData.Stories260KTokenizer);
            using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
            string text = string.Join("\n\n", TextCorpus.Paragraphs(TextCorpus.Read(SharedData.TinyStories), 6));
            int n = tokenizer.Encode(text).Length;
            var ppl = new Perplexity(runner, batchSize: 4);
            var disjoint = ppl.Windows(tokenizer, text, window: 64, stride: 64);
            Assert.Equal(n - (n + 63) / 64, disjoint.Tokens); // every token but each window's first
            var sliding = ppl.Windows(tokenizer, text, window: 64, stride: 16);
            Assert.Equal(n - 1, sliding.Tokens); // every token but the first, once
            Assert.True(sliding.MeanNll < disjoint.MeanNll, "more context should predict better");
            Assert.Throws<BadArgumentException>(() => ppl.Windows(tokenizer, text, window: 64, stride: 65));
        }
    }

    [Fact]
    public void Compare_SameModelIsZeroKlFullAgreement_DifferentModelMatchesReferenceKl()
    {
        var config = RandomLlama.Config(vocab: 30);
        using var ta = RandomLlama.Tensors(config, seed: 1);
        using var tb = RandomLlama.Tensors(config, seed: 2);
        using var a = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, ta));
        using var a2 = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, ta));
        using var b = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tb));
        int[][] seqs = [RandomLlama.Ids(8, 30, 5), RandomLlama.Ids(3, 30, 6)];

        var same = ModelComparison.Compare(a, a2, seqs, batchSize: 2);
        Assert.Equal(0, same.MeanKl, 12);
        Assert.Equal(1.0, same.Top1Agreement);
        Assert.Equal(11, same.Positions);

        var diff = ModelComparison.Compare(a, b, seqs, batchSize: 1);
        double kl = 0;
        int agree = 0;
        foreach (var s in seqs)
        {
            var la = ReferenceLlamaForward.Logits(config, ta, s);
            var lb = ReferenceLlamaForward.Logits(config, tb, s);
            for (int t = 0; t < s.Length; t++)
            {
                var pa = Enumerable.Range(0, 30).Select(v => (double)la[t, v]).ToArray();
                var pb = Enumerable.Range(0, 30).Select(v => (double)lb[t, v]).ToArray();
                double za = Math.Log(pa.Sum(Math.Exp)), zb = Math.Log(pb.Sum(Math.Exp));
                kl += Enumerable.Range(0, 30).Sum(v => Math.Exp(pa[v] - za) * ((pa[v] - za) - (pb[v] - zb)));
                if (Array.IndexOf(pa, pa.Max()) == Array.IndexOf(pb, pb.Max())) agree++;
            }
        }
        Assert.True(Math.Abs(diff.MeanKl - kl / 11) < 1e-5, $"{diff.MeanKl} vs {kl / 11}");
        Assert.True(diff.MeanKl > 0.01);
        Assert.Equal(agree / 11.0, diff.Top1Agreement, 12);
    }
}
