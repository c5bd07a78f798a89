using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>Calibration in sequences (--calib-seqs N, --calib-len L) on the real stories260K.</summary>
public sealed class CalibrationSequencesTests
{
    private static CalibrationSet Capture(CalibrationOptions options, string text) =>
        CalibrationCapture.Run(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, text, "calib", options);

    [SharedFact]
    public void Positions_LieInsideNDrawnParagraphs_CutToL_AndRowsAreThoseTokens()
    {
        string text = Stories260K.Calibration(60_000);
        var paragraphs = TextCorpus.Paragraphs(text);
        var set = Capture(new CalibrationOptions { Samples = 500, Seed = 4, Sequences = 12, SequenceLength = 64 }, text);
        Assert.True(paragraphs.Count > 12);
        Assert.Equal(12, set.Sequences);
        Assert.True(set.SequencesRun <= 12);
        var drawn = set.Positions.Select(p => p.Sequence).Distinct().ToArray();
        Assert.True(drawn.Length <= 12 && drawn.Length >= 8, $"{drawn.Length} paragraphs hold the 500 positions");
        Assert.All(set.Positions, p => Assert.InRange(p.Position, 1, 63));   // BOS excluded, cut to L = 64
        Assert.Equal(set.Positions.Count, set.Positions.Distinct().Count());
        Assert.True(set.EligiblePositions <= 12 * 63);
        Assert.Equal(new CalibrationInfo("calib", 500, 4, 12, 64), set.Info);
        // A row is its token's activation when the (cut) paragraph runs alone: sampling indices map back correctly.
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors, new LlamaOnnxOptions { Taps = true, Logits = false }));
        int n = Stories260K.Config.IntermediateSize;
        foreach (int row in new[] { 0, 250, 499 })
        {
            var (q, pos) = set.Positions[row];
            var ids = Stories260K.Tokenizer.Encode(paragraphs[q]).Take(64).ToArray();
            var alone = runner.Run(ids.Select(i => (long)i).ToArray(), Enumerable.Repeat(1L, ids.Length).ToArray(), 1, ids.Length, taps: true);
            var expected = alone.Taps![0].AsSpan(pos * n, n);
            var actual = set.Layers[0].Data.Span.Slice(row * n, n);
            for (int j = 0; j < n; j++) Assert.True(Math.Abs(expected[j] - actual[j]) <= 1e-5 + 1e-5 * Math.Abs(expected[j]), $"row {row} neuron {j}");
        }
        // Same seed: same paragraphs and rows; another seed: other paragraphs.
        var again = Capture(new CalibrationOptions { Samples = 500, Seed = 4, Sequences = 12, SequenceLength = 64, BatchSize = 3 }, text);
        Assert.Equal(set.Positions, again.Positions);
        var other = Capture(new CalibrationOptions { Samples = 500, Seed = 5, Sequences = 12, SequenceLength = 64 }, text);
        Assert.NotEqual(drawn.Order(), other.Positions.Select(p => p.Sequence).Distinct().Order());
    }

    [SharedFact]
    public void Default_SamplesOverEveryParagraph_AndRecordsNoSequences()
    {
        string text = Stories260K.Calibration(20_000);
        var set = Capture(new CalibrationOptions { Samples = 200, Seed = 1 }, text);
        Assert.Equal(TextCorpus.Paragraphs(text).Count, set.Sequences);
        Assert.Equal(new CalibrationInfo("calib", 200, 1), set.Info);
    }

    [SharedFact]
    public void TooFewTokensInTheSequences_IsBadArgument_NamingTheFlags()
    {
        var e = Assert.Throws<BadArgumentException>(() =>
            Capture(new CalibrationOptions { Samples = 400, Sequences = 3, SequenceLength = 16 }, Stories260K.Calibration(20_000)));
        Assert.Contains("--calib-seqs", e.Message);
        Assert.Throws<BadArgumentException>(() => Capture(new CalibrationOptions { Samples = 10, Sequences = -1 }, Stories260K.Calibration(20_000)));
    }

    [Fact]
    public void PlanJson_RoundTripsSequences_AndOmitsThemByDefault()
    {
        var with = new CalibrationInfo("c.txt", 100, 7, 128, 256);
        var plain = new CalibrationInfo("c.txt", 100, 7);
        Assert.Equal(with, RoundTrip(with));
        Assert.Equal(plain, RoundTrip(plain));
        Assert.DoesNotContain("sequence", System.Text.Encoding.UTF8.GetString(PlanJson.Serialize(PlanWith(plain))));
        Assert.Contains("\"sequence_length\"", System.Text.Encoding.UTF8.GetString(PlanJson.Serialize(PlanWith(with))));
    }

    private static CalibrationInfo? RoundTrip(CalibrationInfo info) => PlanJson.Parse(PlanJson.Serialize(PlanWith(info))).Calibration;

    private static PruningPlan PlanWith(CalibrationInfo info) => LlmPruneFast.Tests.Pruning.PlanJsonTests.TwoLayerPlan().Plan with { Calibration = info };
}
