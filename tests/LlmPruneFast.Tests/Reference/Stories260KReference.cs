using System.Text.Json;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Reference;

/// <summary>The reference outputs of stories260K in ../shared/reference/stories260K.json (an independent float64 forward).</summary>
public sealed class Stories260KReference
{
    public sealed record Top5(int Pos, int InputId, int[] Ids, double[] Logits);

    public required int[] PromptIdsWithBos { get; init; }
    public required int[] GreedyIds { get; init; }
    public required Top5[] LogitsTop5 { get; init; }
    public required double MeanNll { get; init; }

    public static Stories260KReference Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.Stories260KReference));
        var root = doc.RootElement;
        static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
        return new Stories260KReference
        {
            PromptIdsWithBos = Ints(root.GetProperty("prompt_ids_with_bos")),
            GreedyIds = Ints(root.GetProperty("greedy_ids")),
            LogitsTop5 = root.GetProperty("logits_top5").EnumerateArray().Select(e => new Top5(
                e.GetProperty("pos").GetInt32(), e.GetProperty("input_id").GetInt32(), Ints(e.GetProperty("top5_ids")),
                e.GetProperty("top5_logits").EnumerateArray().Select(x => x.GetDouble()).ToArray())).ToArray(),
            MeanNll = root.GetProperty("mean_nll").GetDouble(),
        };
    }

    /// <summary>Token ids fed at positions 0..n-1: the prompt, then the greedy continuation.</summary>
    public int[] Sequence(int n) => PromptIdsWithBos.Concat(GreedyIds).Take(n).ToArray();

    /// <summary>
    /// Asserts a model (given as config + tensors, run through <see cref="ReferenceLlamaForward"/>) reproduces the
    /// reference: top-5 ids and logits within <paramref name="tolerance"/> at every listed position, and the whole
    /// greedy continuation.
    /// </summary>
    public void AssertReproducedBy(LlamaConfig config, ITensorSource tensors, double tolerance = 1e-3)
    {
        int n = LogitsTop5.Max(t => t.Pos) + 1;
        var ids = Sequence(n);
        var logits = ReferenceLlamaForward.Logits(config, tensors, ids);
        AssertTop5(logits, ids, tolerance);
        var greedy = ReferenceLlamaForward.Greedy(config, tensors, PromptIdsWithBos, GreedyIds.Length);
        Assert.Equal(GreedyIds, greedy);
    }

    /// <summary>Asserts the top-5 ids and logits of <paramref name="logits"/> [positions, vocab] at every listed position.</summary>
    public void AssertTop5(float[,] logits, int[] ids, double tolerance = 1e-3)
    {
        foreach (var t in LogitsTop5)
        {
            Assert.Equal(t.InputId, ids[t.Pos]);
            var row = Enumerable.Range(0, logits.GetLength(1)).Select(v => (Id: v, Logit: logits[t.Pos, v]))
                .OrderByDescending(x => x.Logit).ThenBy(x => x.Id).Take(5).ToArray();
            Assert.Equal(t.Ids, row.Select(x => x.Id).ToArray());
            for (int i = 0; i < 5; i++)
                Assert.True(Math.Abs(row[i].Logit - t.Logits[i]) <= tolerance,
                    $"pos {t.Pos} rank {i}: logit {row[i].Logit} vs reference {t.Logits[i]}");
        }
    }
}
