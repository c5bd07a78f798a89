using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.OnnxGraph;

namespace LlmPruneFast.Tests.Encoders;

/// <summary>
/// The generic graph capture keeps each sentence's [CLS] activations (the position the sample leaves out) as leading
/// rows, on all-MiniLM-L6-v2 (needs only the NuGet-restored model).
/// </summary>
public sealed class MiniLmLeadingCaptureTests
{
    [Fact]
    public void ClsRows_AreThePositionZeroRowsOfACaptureSamplingEveryPosition_AtTheirShare()
    {
        var graph = OnnxGraphModel.Open(MiniLm.Folder);
        var feed = GraphFeeds.For(graph.Folder, graph.Inputs.Select(i => i.Name).ToArray());
        var prunable = new OnnxGraphPrunable(graph, feed);
        var sentences = File.ReadAllLines(Cli.EncoderPruneCliTests.Calibration).Where(l => l.Length > 0).Take(24).ToArray();
        string text = SentenceFile.AsParagraphs(sentences);
        CalibrationSet Capture(int samples, bool includeCls) =>
            prunable.Capture(text, "sentences", new CalibrationOptions { Samples = samples, IncludeBos = includeCls, MaxLength = 128, BatchSize = 5 }, null, default);
        long eligible = Capture(2, false).EligiblePositions;
        // Every position sampled: [CLS] left out (kept as leading rows), then sampled too; same sentences, same batches.
        var without = Capture((int)eligible, false);
        var with = Capture((int)(eligible + sentences.Length), true);
        Assert.Equal(sentences.Length, without.SequencesRun);
        var clsRows = Enumerable.Range(0, with.Samples).Where(r => with.Positions[r].Position == 0).ToArray();
        Assert.Equal(sentences.Length, clsRows.Length);
        for (int l = 0; l < graph.Blocks.Count; l++)
        {
            int n = graph.Blocks[l].Width;
            var leading = without.Layers[l].Leading!;
            Assert.Equal((sentences.Length, n), (leading.Rows, leading.Columns));
            Assert.Equal((double)sentences.Length / without.TokensRun, leading.Share, 15);
            var expected = clsRows.SelectMany(r => with.Layers[l].Data.Slice(r * n, n).ToArray()).ToArray();
            Assert.Equal(expected, leading.Data.ToArray());
            Assert.Null(with.Layers[l].Leading);
        }
        // [CLS] sees the whole sentence: its rows differ from sentence to sentence (the rows are mapped, not repeated).
        var first = without.Layers[3].Leading!.Data;
        int w = graph.Blocks[3].Width;
        Assert.NotEqual(first.Slice(0, w).ToArray(), first.Slice(w, w).ToArray());
    }
}
