using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using Microsoft.ML.OnnxRuntime;

namespace LlmPruneFast.Tests.Encoders;

/// <summary>
/// all-MiniLM-L6-v2 pruned 30% by flap through the library's generic path (the pieces perf's encoder-table reuses):
/// the pruned model.onnx runs in ONNX Runtime with the original inputs and stays close to dense, and the engine's
/// flap removes exactly the neurons an independent FLAP score on the same captured activations would. Needs only the
/// NuGet-restored model (no ../shared): calibration and evaluation are seeded template sentences.
/// </summary>
public sealed class MiniLmFlapPruneTests
{
    private static readonly string[] Subjects = ["A man", "A woman", "The child", "Two dogs", "A young girl", "An old farmer", "The chef", "A group of students", "My neighbour", "The pilot"];
    private static readonly string[] Verbs = ["is playing", "is cooking", "was painting", "is reading about", "is riding", "watched", "is cleaning", "is carrying", "found", "is talking about"];
    private static readonly string[] Objects = ["a guitar", "the red bicycle", "a large pizza", "an old newspaper", "the kitchen floor", "a small boat", "some fresh bread", "the football match", "a wooden chair", "the mountain trail"];
    private static readonly string[] Tails = ["", " in the park", " before dinner", " with great care", " at the station", " near the river", " after school", " on a rainy day"];

    /// <summary>Distinct seeded sentences "subject verb object tail."; <paramref name="seed"/> picks a disjoint-enough draw.</summary>
    private static string[] Sentences(int count, int seed)
    {
        var rng = new Random(seed);
        var set = new HashSet<string>(StringComparer.Ordinal);
        while (set.Count < count)
            set.Add($"{Subjects[rng.Next(Subjects.Length)]} {Verbs[rng.Next(Verbs.Length)]} {Objects[rng.Next(Objects.Length)]}{Tails[rng.Next(Tails.Length)]}.");
        return [.. set];
    }

    [Fact]
    public void Flap_30_percent_runs_with_original_inputs_keeps_fidelity_and_matches_an_independent_flap()
    {
        using var tmp = new TempFolder();
        var graph = OnnxGraphModel.Open(MiniLm.Folder);
        var feed = GraphFeeds.For(graph.Folder, graph.Inputs.Select(i => i.Name).ToArray());
        var calibrationSentences = Sentences(300, seed: 1);
        var settings = new PruneSettings
        {
            Method = "flap",
            Ratio = 0.3,
            Compensation = CompensationKind.Bias,
            Calibration = new CalibrationOptions { Samples = 2048, Seed = 0, MaxLength = 128 },
        };
        var outcome = PrunablePipeline.Run(new OnnxGraphPrunable(graph, feed), SentenceFile.AsParagraphs(calibrationSentences), "templates", settings);
        string prunedDir = tmp["pruned"];
        OnnxGraphSlicer.Write(prunedDir, graph, outcome.Plan, outcome.Layers);

        // Every FFN block narrower by the plan, and the same graph inputs (names, element types) as the original.
        Assert.Equal(graph.Blocks.Select(b => b.Width - (int)Math.Round(0.3 * b.Width)), outcome.Layers.Select(l => l.Width));
        Assert.Equal(outcome.Layers.Select(l => l.Width), OnnxGraphModel.Open(prunedDir).Blocks.Select(b => b.Width));
        using (var original = new InferenceSession(Path.Combine(MiniLm.Folder, "model.onnx")))
        using (var pruned = new InferenceSession(Path.Combine(prunedDir, "model.onnx")))
            Assert.Equal(original.InputMetadata.Select(kv => (kv.Key, kv.Value.ElementType)), pruned.InputMetadata.Select(kv => (kv.Key, kv.Value.ElementType)));

        // Held-out sentences (another seed; calibration ones removed): the pruned encoder runs and stays close to dense.
        var heldOut = Sentences(200, seed: 2).Except(calibrationSentences).ToArray();
        using (var dense = SentenceEncoder.Open(MiniLm.Folder))
        using (var prunedEncoder = SentenceEncoder.Open(prunedDir))
        {
            var fidelity = EncoderEvaluation.Fidelity(dense, prunedEncoder, heldOut);
            Assert.True(fidelity.MeanCosine > 0.8, $"fidelity {fidelity.MeanCosine:F4} of flap 30% + bias on {heldOut.Length} held-out sentences");
            Assert.True(fidelity.MeanCosine < 0.99999, "pruning changed nothing: the pruned model is not the one being run");
        }

        // Independent FLAP (An et al. 2024): fluctuation_j = Var(z_j) * ||W_down row j||^2 on the same captured
        // activations; the k lowest go, k as the plan removes per layer.
        for (int l = 0; l < graph.Blocks.Count; l++)
        {
            var block = graph.Blocks[l];
            var acts = outcome.Calibration.Layers[l];
            var down = graph.Index.Initializer(block.Down.Initializer)!;
            Assert.Equal([block.Width, block.Hidden], down.Dims.Select(d => (int)d)); // torch MatMul weight: [in = neurons, out = hidden]
            var w = new float[block.Width * block.Hidden];
            if (down.RawData.Length > 0) Buffer.BlockCopy(down.RawData.ToByteArray(), 0, w, 0, w.Length * 4);
            else down.FloatData.CopyTo(w, 0);
            var z = acts.Data.Span;
            var score = new double[block.Width];
            for (int j = 0; j < block.Width; j++)
            {
                double mean = 0, sq = 0, norm = 0;
                for (int s = 0; s < acts.Rows; s++) mean += z[s * acts.Columns + j];
                mean /= acts.Rows;
                for (int s = 0; s < acts.Rows; s++) { double d = z[s * acts.Columns + j] - mean; sq += d * d; }
                for (int h = 0; h < block.Hidden; h++) norm += (double)w[j * block.Hidden + h] * w[j * block.Hidden + h];
                score[j] = sq / acts.Rows * norm;
            }
            var removed = outcome.Plan.Layer(l)!.Removed.Select(r => r.Neuron).Order().ToArray();
            var expected = Enumerable.Range(0, block.Width).OrderBy(j => score[j]).Take(removed.Length).Order().ToArray();
            Assert.Equal(expected, removed);
        }
    }
}
