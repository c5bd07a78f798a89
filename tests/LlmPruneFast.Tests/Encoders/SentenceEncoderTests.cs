using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Tests.Encoders;

/// <summary>MiniLM through ONNX Runtime: pooling, batching and the encoder evaluations on a few sentences.</summary>
public sealed class SentenceEncoderTests
{
    private static readonly string[] Sentences =
    [
        "A man is playing the cello.", "A man seated is playing the cello.", "Three men are playing chess.",
        "A woman is slicing an onion.", "The stock market fell sharply on Monday after the announcement.",
    ];

    [Fact]
    public void Embeddings_do_not_depend_on_batching_or_padding()
    {
        using var big = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { BatchSize = 32, IntraOpThreads = 1 });
        using var single = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { BatchSize = 1, IntraOpThreads = 1 });
        Assert.Equal(384, big.Dimension);
        var a = big.Embed(Sentences);
        var b = single.Embed(Sentences);
        for (int i = 0; i < Sentences.Length; i++)
            Assert.True(EncoderEvaluation.Cosine(a[i], b[i]) > 0.999999, $"sentence {i}");
        Assert.True(EncoderEvaluation.Cosine(a[0], a[1]) > EncoderEvaluation.Cosine(a[0], a[4]));
    }

    [Fact]
    public void Mean_pooling_averages_the_unmasked_token_states_and_cls_takes_the_first()
    {
        using var mean = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { IntraOpThreads = 1 });
        using var cls = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { Pooling = Pooling.Cls, IntraOpThreads = 1 });
        var ids = mean.Feed.Encode(Sentences[0], 512);
        var states = mean.RunStates(TokenBatch.Create([ids]));
        int d = mean.Dimension;
        var expectedMean = new float[d];
        for (int t = 0; t < ids.Length; t++)
            for (int j = 0; j < d; j++) expectedMean[j] += states[t * d + j] / ids.Length;
        var m = mean.Embed([Sentences[0], Sentences[4]])[0]; // batched with a longer sentence: padded
        var c = cls.Embed([Sentences[0], Sentences[4]])[0];
        for (int j = 0; j < d; j++)
        {
            Assert.Equal(expectedMean[j], m[j], 4);
            Assert.Equal(states[j], c[j], 4);
        }
    }

    [Fact]
    public void Fidelity_of_a_model_with_itself_is_one_and_latency_is_measured()
    {
        using var a = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { IntraOpThreads = 1 });
        using var b = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { IntraOpThreads = 1, Pooling = Pooling.Cls });
        var same = EncoderEvaluation.Fidelity(a, a, Sentences);
        Assert.Equal(1.0, same.MeanCosine, 6);
        Assert.Equal(Sentences.Length, same.Sentences);
        var other = EncoderEvaluation.Fidelity(a, b, Sentences); // a genuinely different embedding scores lower
        Assert.True(other.MeanCosine < 0.99 && other.MinCosine <= other.MeanCosine);
        var (la, lb) = EncoderEvaluation.Latency(a, b, batch: 2, seq: 16, warmup: 1, repeats: 2);
        Assert.Equal((2, 16), (la.Batch, la.Seq));
        Assert.True(la.MedianMs > 0 && lb.MedianMs > 0);
    }

    [Fact]
    public void Statistics_describe_the_embeddings()
    {
        using var e = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { IntraOpThreads = 1 });
        var s = EncoderEvaluation.Statistics(e, Sentences);
        Assert.Equal((5, 384), (s.Sentences, s.Dimension));
        Assert.InRange(s.MeanNorm, s.MinNorm, s.MaxNorm);
        Assert.InRange(s.MeanPairCosine, -1, 1);
    }
}
