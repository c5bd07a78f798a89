using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>Calibration in sequences (windows by default, --calib-seqs N, --calib-len L, --calib-paragraphs) on the real stories260K.</summary>
public sealed class CalibrationSequencesTests
{
    private static CalibrationSet Capture(CalibrationOptions options, string text) =>
        new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer).Capture(text, "calib", options);

    private static CalibrationSample Draw(CalibrationOptions options, string text, bool causal = true) =>
        CalibrationSample.Draw(t => Stories260K.Tokenizer.Encode(t), Stories260K.Config.MaxPositionEmbeddings, Stories260K.Config.BosTokenId, text, "calib", options, causal);

    private static int Bos => Stories260K.Config.BosTokenId;

    [SharedFact]
    public void Windows_ByDefault_RunOnlyTheWindowsTheSampleNeeds()
    {
        string text = Stories260K.Calibration(60_000);
        var options = new CalibrationOptions { Samples = 700, Seed = 3, SequenceLength = 32 };
        var sample = Draw(options, text);
        // Minimal: the windows hold S eligible positions, and all but the last drawn paragraph's would not.
        Assert.True(sample.Eligible >= 700);
        Assert.True(sample.Eligible - 31 < 700, $"{sample.Eligible} eligible positions for S = 700: more windows than the sample needs");
        Assert.Equal(sample.Sequences.Sum(w => (long)w.Length), sample.TokensRun() + sample.Sequences.Where((_, q) => !sample.ToRun.Contains(q)).Sum(w => (long)w.Length));
        Assert.True(sample.TokensRun() < 700 + 32 * 3, $"{sample.TokensRun()} tokens run for S = 700");
        Assert.Equal(new CalibrationInfo("calib", 700, 3, sample.Sequences.Length, 32, Layout: CalibrationLayout.Windows), sample.Info);
        // Every window is at most L tokens and starts as a document does (BOS); a paragraph's windows are its tokens in order.
        var paragraphs = TextCorpus.Paragraphs(text);
        Assert.All(sample.Sequences, w => { Assert.InRange(w.Length, 2, 32); Assert.Equal(Bos, w[0]); });
        var byParagraph = sample.Positions.Select(p => p.Sequence).Distinct().ToArray();
        Assert.True(byParagraph.Length < paragraphs.Count / 4, $"{byParagraph.Length} of {paragraphs.Count} paragraphs drawn");
        int split = 0;
        foreach (var group in Enumerable.Range(0, sample.Sequences.Length).GroupBy(q => SourceOf(sample, q)).Where(g => g.Key >= 0))
        {
            var ids = Stories260K.Tokenizer.Encode(paragraphs[group.Key]);
            var joined = group.SelectMany((q, i) => i == 0 ? sample.Sequences[q] : sample.Sequences[q][1..]).ToArray();
            Assert.Equal(ids.Take(joined.Length), joined);
            if (group.Count() > 1) split++;
        }
        Assert.True(split > 0, "no paragraph longer than L = 32 was drawn");
        // Same seed: the same windows; another seed: others.
        Assert.Equal(sample.Positions, Draw(options with { BatchSize = 3 }, text).Positions);
        Assert.NotEqual(byParagraph.Order(), Draw(options with { Seed = 4 }, text).Positions.Select(p => p.Sequence).Distinct().Order());
    }

    /// <summary>The paragraph of window <paramref name="q"/>, from any sampled row inside it (-1 when none was sampled).</summary>
    private static int SourceOf(CalibrationSample sample, int q) =>
        sample.PerSequence.TryGetValue(q, out var rows) ? sample.Positions[rows[0].Row].Sequence : -1;

    [SharedFact]
    public void Windows_RowsAreTheirTokensActivations_WhenTheWindowRunsAlone()
    {
        string text = Stories260K.Calibration(30_000);
        var options = new CalibrationOptions { Samples = 400, Seed = 2, SequenceLength = 24, BatchSize = 5 };
        var sample = Draw(options, text);
        var set = Capture(options, text);
        Assert.Equal(sample.Positions, set.Positions);
        Assert.Equal(sample.TokensRun(), set.TokensRun);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors, new LlamaOnnxOptions { Taps = true, Logits = false }));
        int n = Stories260K.Config.IntermediateSize;
        var continuation = sample.PerSequence.First(kv => kv.Key > 0 && SourceOf(sample, kv.Key) == SourceOf(sample, kv.Key - 1));
        foreach (var (q, position, row) in new[] { continuation }.Concat(sample.PerSequence.Take(2))
            .Select(kv => (kv.Key, kv.Value[^1].Position, kv.Value[^1].Row)))
        {
            var ids = sample.Sequences[q];
            var alone = runner.Run(ids.Select(i => (long)i).ToArray(), Enumerable.Repeat(1L, ids.Length).ToArray(), 1, ids.Length, taps: true);
            for (int l = 0; l < set.Layers.Count; l++)
            {
                var expected = alone.Taps![l].AsSpan(position * n, n);
                var actual = set.Layers[l].Data.Span.Slice(row * n, n);
                for (int j = 0; j < n; j++) Assert.True(Math.Abs(expected[j] - actual[j]) <= 1e-5 + 1e-5 * Math.Abs(expected[j]), $"window {q} layer {l} row {row} neuron {j}");
            }
        }
    }

    [SharedFact]
    public void Windows_WithN_TakeNWindows_AndAModelOfSingleTextsUsesParagraphs()
    {
        string text = Stories260K.Calibration(60_000);
        var sample = Draw(new CalibrationOptions { Samples = 500, Seed = 4, Sequences = 40, SequenceLength = 64 }, text);
        Assert.Equal(40, sample.Sequences.Length);
        Assert.Equal(new CalibrationInfo("calib", 500, 4, 40, 64, Layout: CalibrationLayout.Windows), sample.Info);
        // An encoder-like (non-causal) model ignores the windows layout: every paragraph whole, as before windows.
        var single = Draw(new CalibrationOptions { Samples = 200, Seed = 1 }, text, causal: false);
        Assert.Equal(TextCorpus.Paragraphs(text).Count, single.Sequences.Length);
        Assert.Equal(new CalibrationInfo("calib", 200, 1), single.Info);
    }

    [SharedFact]
    public void Paragraphs_WithN_LieInsideNDrawnParagraphs_CutToL_AndRowsAreThoseTokens()
    {
        string text = Stories260K.Calibration(60_000);
        var paragraphs = TextCorpus.Paragraphs(text);
        var options = new CalibrationOptions { Samples = 500, Seed = 4, Sequences = 12, SequenceLength = 64, Layout = CalibrationLayout.Paragraphs };
        var set = Capture(options, text);
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
        var again = Capture(options with { BatchSize = 3 }, text);
        Assert.Equal(set.Positions, again.Positions);
        var other = Capture(options with { Seed = 5 }, text);
        Assert.NotEqual(drawn.Order(), other.Positions.Select(p => p.Sequence).Distinct().Order());
    }

    [SharedFact]
    public void Paragraphs_ByDefault_SampleOverEveryParagraph_AndRecordNoSequences()
    {
        string text = Stories260K.Calibration(20_000);
        var set = Capture(new CalibrationOptions { Samples = 200, Seed = 1, Layout = CalibrationLayout.Paragraphs }, text);
        Assert.Equal(TextCorpus.Paragraphs(text).Count, set.Sequences);
        Assert.Equal(new CalibrationInfo("calib", 200, 1), set.Info);
    }

    [SharedFact]
    public void TooFewTokens_IsBadArgument_NamingWhatToChange()
    {
        var e = Assert.Throws<BadArgumentException>(() =>
            Capture(new CalibrationOptions { Samples = 400, Sequences = 3, SequenceLength = 16 }, Stories260K.Calibration(20_000)));
        Assert.Contains("--calib-seqs", e.Message);
        var all = Assert.Throws<BadArgumentException>(() => Capture(new CalibrationOptions { Samples = 50_000 }, Stories260K.Calibration(20_000)));
        Assert.Contains("lower --samples", all.Message);
        Assert.Contains("windows of at most 256 tokens", all.Message);
        Assert.Throws<BadArgumentException>(() => Capture(new CalibrationOptions { Samples = 10, Sequences = -1 }, Stories260K.Calibration(20_000)));
        Assert.Throws<BadArgumentException>(() => Capture(new CalibrationOptions { Samples = 10, SequenceLength = 1 }, Stories260K.Calibration(20_000)));
    }

    [Fact]
    public void PlanJson_RoundTripsSequencesAndLayout_AndAPlanWithoutALayoutReadsAsParagraphs()
    {
        var with = new CalibrationInfo("c.txt", 100, 7, 128, 256);
        var windows = new CalibrationInfo("c.txt", 100, 7, 33, 256, Layout: CalibrationLayout.Windows);
        var plain = new CalibrationInfo("c.txt", 100, 7);
        Assert.Equal(with, RoundTrip(with));
        Assert.Equal(windows, RoundTrip(windows));
        Assert.Equal(plain, RoundTrip(plain));
        string plainJson = System.Text.Encoding.UTF8.GetString(PlanJson.Serialize(PlanWith(plain)));
        Assert.DoesNotContain("sequence", plainJson);
        Assert.DoesNotContain("layout", plainJson);
        Assert.Contains("\"sequence_length\"", System.Text.Encoding.UTF8.GetString(PlanJson.Serialize(PlanWith(with))));
        Assert.Contains("\"layout\": \"windows\"", System.Text.Encoding.UTF8.GetString(PlanJson.Serialize(PlanWith(windows))));
        var bad = System.Text.Encoding.UTF8.GetString(PlanJson.Serialize(PlanWith(windows))).Replace("\"windows\"", "\"packed\"");
        var e = Assert.Throws<BadModelFileException>(() => PlanJson.Parse(System.Text.Encoding.UTF8.GetBytes(bad)));
        Assert.Contains("$.calibration.layout", e.Message);
    }

    private static CalibrationInfo? RoundTrip(CalibrationInfo info) => PlanJson.Parse(PlanJson.Serialize(PlanWith(info))).Calibration;

    private static PruningPlan PlanWith(CalibrationInfo info) => LlmPruneFast.Tests.Pruning.PlanJsonTests.TwoLayerPlan().Plan with { Calibration = info };
}
