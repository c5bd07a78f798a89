using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Models;

public sealed class Llama2cCheckpointTests
{
    [SharedFact]
    public void Stories260K_Config_MatchesHeader()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        Assert.Equal(64, config.HiddenSize);
        Assert.Equal(172, config.IntermediateSize);
        Assert.Equal(5, config.NumHiddenLayers);
        Assert.Equal(8, config.NumAttentionHeads);
        Assert.Equal(4, config.NumKeyValueHeads);
        Assert.Equal(8, config.HeadDim);
        Assert.Equal(512, config.VocabSize);
        Assert.Equal(512, config.MaxPositionEmbeddings);
        Assert.True(config.TieWordEmbeddings);
        Assert.False(tensors.Contains(LlamaTensorNames.LmHead));
        Assert.Equal([32L, 64L], tensors.GetInfo(LlamaTensorNames.K(4)).Shape);
        Assert.Equal([64L, 172L], tensors.GetInfo(LlamaTensorNames.Down(0)).Shape);
        // 2 + 9 * 5 tensors: embedding, final norm, 9 per layer.
        Assert.Equal(2 + 9 * 5, tensors.Names.Count);
    }

    [SharedFact]
    public void Stories260K_ReferenceForward_ReproducesReferenceJson()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        Stories260KReference.Load().AssertReproducedBy(config, tensors);
    }

    [SharedFact]
    public void Stories260K_WithoutRopePermutation_DoesNotReproduceReference()
    {
        // Guards the q/k permutation: undoing it must break the logits (so the test above can fail).
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            tensors.Add(LlamaTensorNames.Q(l), [64, 64], InversePermute(tensors.GetData(LlamaTensorNames.Q(l)), 8, 8, 64));
            tensors.Add(LlamaTensorNames.K(l), [32, 64], InversePermute(tensors.GetData(LlamaTensorNames.K(l)), 4, 8, 64));
        }
        var reference = Stories260KReference.Load();
        var ids = reference.Sequence(15);
        var logits = ReferenceLlamaForward.Logits(config, tensors, ids);
        Assert.ThrowsAny<Exception>(() => reference.AssertTop5(logits, ids));
    }

    [Fact]
    public void PermuteRopeRows_MovesEvenRowsToFirstHalfAndOddRowsToSecondHalf()
    {
        // 2 heads of size 4, 1 column: llama2.c rows 0..7 hold their own index.
        var permuted = Llama2cCheckpoint.PermuteRopeRows([0, 1, 2, 3, 4, 5, 6, 7], heads: 2, headSize: 4, cols: 1);
        Assert.Equal([0f, 2, 1, 3, 4, 6, 5, 7], permuted);
    }

    [Fact]
    public void Read_TruncatedFile_ThrowsBadModelFileNamingSizes()
    {
        var path = Path.Combine(Path.GetTempPath(), $"llmprune-trunc-{Guid.NewGuid():N}.bin");
        try
        {
            WriteTinyCheckpoint(path, truncateBy: 4);
            var ex = Assert.Throws<BadModelFileException>(() => Llama2cCheckpoint.Read(path));
            Assert.Contains(path, ex.Message);
            Assert.Contains("truncated", ex.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Read_UntiedTinyCheckpoint_ReadsClassifierAfterFreqCis()
    {
        var path = Path.Combine(Path.GetTempPath(), $"llmprune-untied-{Guid.NewGuid():N}.bin");
        try
        {
            WriteTinyCheckpoint(path, truncateBy: 0);
            var (config, tensors) = Llama2cCheckpoint.Read(path);
            Assert.False(config.TieWordEmbeddings);
            Assert.Equal(6, config.VocabSize);
            // WriteTinyCheckpoint fills every float with its index in the file; wcls starts after everything else.
            var head = tensors.ReadFloat32(LlamaTensorNames.LmHead);
            Assert.Equal(TinyFloatsBeforeHead, head[0]);
            Assert.Equal(TinyFloatsBeforeHead + 6 * 4 - 1, head[^1]);
            var embedding = tensors.ReadFloat32(LlamaTensorNames.Embedding);
            Assert.Equal(0f, embedding[0]);
        }
        finally { File.Delete(path); }
    }

    // dim 4, hidden 6, 1 layer, 2 heads (hs 2), 1 kv head, vocab -6 (untied), seq 3.
    private const int TinyFloatsBeforeHead = 6 * 4 + 4 + 16 + 2 * 8 + 16 + 4 + 3 * 24 + 4 + 3 * 1 * 2;

    internal static void WriteTinyCheckpoint(string path, int truncateBy)
    {
        using var w = new BinaryWriter(File.Create(path));
        foreach (var v in new[] { 4, 6, 1, 2, 1, -6, 3 }) w.Write(v);
        for (int i = 0; i < TinyFloatsBeforeHead + 6 * 4; i++) w.Write((float)i);
        w.Flush();
        w.BaseStream.SetLength(w.BaseStream.Length - truncateBy);
    }

    private static float[] InversePermute(float[] hf, int heads, int hs, int cols)
    {
        var result = new float[hf.Length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < hs / 2; i++)
            {
                Array.Copy(hf, (h * hs + i) * cols, result, (h * hs + 2 * i) * cols, cols);
                Array.Copy(hf, (h * hs + hs / 2 + i) * cols, result, (h * hs + 2 * i + 1) * cols, cols);
            }
        return result;
    }
}
