using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>Calibration capture on the real stories260K.</summary>
public sealed class CaptureTests
{
    private static CalibrationSet Capture(CalibrationOptions options, string? text = null) =>
        new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer).Capture(text ?? Stories260K.Calibration(20_000), "calib", options);

    [SharedFact]
    public void EveryRow_IsThatTokensActivationWhenItsParagraphRunsAlone()
    {
        var options = new CalibrationOptions { Samples = 300, Seed = 3, BatchSize = 5 };
        string text = Stories260K.Calibration(20_000);
        var set = Capture(options, text);
        Assert.Equal(300, set.Samples);
        Assert.Equal(Stories260K.Config.NumHiddenLayers, set.Layers.Count);
        var paragraphs = TextCorpus.Paragraphs(text);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors, new LlamaOnnxOptions { Taps = true, Logits = false }));
        int n = Stories260K.Config.IntermediateSize;
        // Rows are in text order, BOS never sampled, positions distinct.
        Assert.Equal(set.Positions.OrderBy(p => p.Sequence).ThenBy(p => p.Position), set.Positions);
        Assert.Equal(set.Positions.Count, set.Positions.Distinct().Count());
        Assert.DoesNotContain(set.Positions, p => p.Position == 0);
        foreach (int row in new[] { 0, 1, 77, 150, 299 })
        {
            var (q, pos) = set.Positions[row];
            var ids = Stories260K.Tokenizer.Encode(paragraphs[q]);
            var alone = runner.Run(ids.Select(i => (long)i).ToArray(), Enumerable.Repeat(1L, ids.Length).ToArray(), 1, ids.Length, taps: true);
            for (int l = 0; l < set.Layers.Count; l++)
            {
                var expected = alone.Taps![l].AsSpan(pos * n, n);
                var actual = set.Layers[l].Data.Span.Slice(row * n, n);
                for (int j = 0; j < n; j++)
                    Assert.True(Math.Abs(expected[j] - actual[j]) <= 1e-5 + 1e-5 * Math.Abs(expected[j]), $"row {row} layer {l} neuron {j}: {actual[j]} vs {expected[j]}");
            }
        }
    }

    [SharedFact]
    public void SameSeed_SameRows_OtherSeed_OtherPositions()
    {
        var a = Capture(new CalibrationOptions { Samples = 200, Seed = 1 });
        var b = Capture(new CalibrationOptions { Samples = 200, Seed = 1, BatchSize = 3 });
        var c = Capture(new CalibrationOptions { Samples = 200, Seed = 2 });
        Assert.Equal(a.Positions, b.Positions);
        Assert.Equal(a.Layers[2].Data.ToArray(), b.Layers[2].Data.ToArray());
        Assert.NotEqual(a.Positions, c.Positions);
    }

    [SharedFact]
    public void IncludeBos_AllowsPositionZero_AndCountsItAsEligible()
    {
        var without = Capture(new CalibrationOptions { Samples = 100 });
        var with = Capture(new CalibrationOptions { Samples = 100, IncludeBos = true });
        Assert.Equal(without.EligiblePositions + without.Sequences, with.EligiblePositions);
    }

    [SharedFact]
    public void LeadingRows_AreTheBosRowsOfACaptureSamplingEveryPosition_AtTheirShare()
    {
        // Every position sampled, once with BOS excluded (kept as leading rows) and once with BOS included: the same
        // sequences run in the same batches, so the leading rows are the included capture's position-0 rows exactly.
        string text = Stories260K.Calibration(3_000);
        long eligible = Capture(new CalibrationOptions { Samples = 2 }, text).EligiblePositions;
        var without = Capture(new CalibrationOptions { Samples = (int)eligible, BatchSize = 4 }, text);
        var with = Capture(new CalibrationOptions { Samples = (int)(eligible + without.Sequences), IncludeBos = true, BatchSize = 4 }, text);
        Assert.Equal(without.Sequences, without.SequencesRun);
        var bosRows = Enumerable.Range(0, with.Samples).Where(r => with.Positions[r].Position == 0).ToArray();
        Assert.Equal(without.SequencesRun, bosRows.Length);
        int n = Stories260K.Config.IntermediateSize;
        for (int l = 0; l < without.Layers.Count; l++)
        {
            var leading = without.Layers[l].Leading!;
            Assert.Equal((without.SequencesRun, n), (leading.Rows, leading.Columns));
            Assert.Equal((double)without.SequencesRun / without.TokensRun, leading.Share, 15);
            var expected = bosRows.SelectMany(r => with.Layers[l].Data.Slice(r * n, n).ToArray()).ToArray();
            Assert.Equal(expected, leading.Data.ToArray());
            Assert.Null(with.Layers[l].Leading);   // BOS sampled: nothing left out, the costs are as before
        }
        Assert.Equal((eligible + without.SequencesRun) * n * 4 * without.Layers.Count, without.StoreBytes);
    }

    [SharedFact]
    public void HeldOut_IsTheLastParagraphs_NeverSampled()
    {
        string text = Stories260K.Calibration(20_000);
        var set = Capture(new CalibrationOptions { Samples = 100, HeldOutSequences = 4 }, text);
        var paragraphs = TextCorpus.Paragraphs(text);
        Assert.Equal(Stories260K.Tokenizer.Encode(paragraphs[^1]), set.HeldOut[^1]);
        Assert.All(set.Positions, p => Assert.True(p.Sequence < paragraphs.Count - 4));
        var everyOther = Capture(new CalibrationOptions { Samples = 100, HeldOutSequences = 4, Layout = CalibrationLayout.Paragraphs }, text);
        Assert.Equal(paragraphs.Count - 4, everyOther.Sequences);
        Assert.Equal(set.HeldOut, everyOther.HeldOut);
    }

    [SharedFact]
    public void TextTooShort_IsBadArgumentWithTheCounts()
    {
        var e = Assert.Throws<BadArgumentException>(() => Capture(new CalibrationOptions { Samples = 5000 }, "Once upon a time.\n\nThe end."));
        Assert.Contains("in 2 windows of at most 256 tokens", e.Message);
        Assert.Contains("--samples 5000", e.Message);
    }

    [SharedFact]
    public void OverTheMemoryBudget_IsMemoryBudgetException_BeforeRunning()
    {
        var e = Assert.Throws<MemoryBudgetException>(() => Capture(new CalibrationOptions { Samples = 2000, MemoryBudgetBytes = 1 << 20 }));
        Assert.Contains("lower --samples", e.Message);
        long expected = CalibrationCapture.RequiredBytes(Stories260K.Config.Shape().FfnWidths, 2000, 0, 0);
        Assert.Equal(2000L * 5 * 172 * 4, expected);
    }

    [Fact]
    public void SamplePositions_AreDistinctSortedAndUniform()
    {
        var counts = new int[10];
        for (int seed = 0; seed < 2000; seed++)
        {
            var s = CalibrationCapture.SamplePositions(10, 3, seed);
            Assert.Equal(3, s.Distinct().Count());
            Assert.Equal(s.Order(), s);
            foreach (var v in s) counts[v]++;
        }
        // each position is chosen with probability 3/10: 600 of 2000 draws, binomial sd ~ 20
        Assert.All(counts, c => Assert.InRange(c, 500, 700));
    }
}
