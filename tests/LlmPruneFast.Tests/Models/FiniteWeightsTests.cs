using System.Runtime.InteropServices;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models;

/// <summary>
/// <see cref="FiniteWeights"/>: the raw-bit scan of stored F32/F16/BF16 agrees with widening and testing each value,
/// and opening a checkpoint scans without widening it.
/// </summary>
public sealed class FiniteWeightsTests
{
    public static TheoryData<TensorDType> DTypes => [TensorDType.F32, TensorDType.F16, TensorDType.BF16];

    /// <summary>Stored bytes of <paramref name="dtype"/> holding the given bit patterns (F32: uint; 16-bit: ushort).</summary>
    private static byte[] Stored(TensorDType dtype, IEnumerable<ulong> bits) => dtype == TensorDType.F32
        ? MemoryMarshal.AsBytes(bits.Select(b => (uint)b).ToArray().AsSpan()).ToArray()
        : MemoryMarshal.AsBytes(bits.Select(b => (ushort)b).ToArray().AsSpan()).ToArray();

    /// <summary>Positive +Inf, -Inf, a quiet NaN and a negative signalling-style NaN of each dtype.</summary>
    private static ulong[] NonFinite(TensorDType dtype) => dtype switch
    {
        TensorDType.F32 => [0x7F800000, 0xFF800000, 0x7FC00000, 0xFF800001],
        TensorDType.F16 => [0x7C00, 0xFC00, 0x7E00, 0xFC01],
        _ => [0x7F80, 0xFF80, 0x7FC0, 0xFF81],
    };

    /// <summary>Edge finite values: zeros, smallest subnormals, largest subnormals, max, -max, one.</summary>
    private static ulong[] FiniteEdges(TensorDType dtype) => dtype switch
    {
        TensorDType.F32 => [0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000],
        TensorDType.F16 => [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x7BFF, 0xFBFF, 0x3C00],
        _ => [0x0000, 0x8000, 0x0001, 0x8001, 0x007F, 0x7F7F, 0xFF7F, 0x3F80],
    };

    [Theory, MemberData(nameof(DTypes))]
    public void FiniteEdgeValues_AreNotFlagged(TensorDType dtype)
    {
        // Long enough for whole vectors (several per unrolled step) and a scalar tail.
        var bits = Enumerable.Range(0, 1001).Select(i => FiniteEdges(dtype)[i % FiniteEdges(dtype).Length]);
        Assert.Equal(-1, FiniteWeights.IndexOfNonFinite(dtype, Stored(dtype, bits)));
    }

    [Theory, MemberData(nameof(DTypes))]
    public void EachNonFiniteValue_IsFoundAtItsIndex_InVectorsAndTail(TensorDType dtype)
    {
        foreach (var bad in NonFinite(dtype))
            foreach (int at in new[] { 0, 1, 37, 255, 256, 511, 999, 1000 })
            {
                var bits = Enumerable.Range(0, 1001).Select(i => i == at ? bad : FiniteEdges(dtype)[i % FiniteEdges(dtype).Length]).ToArray();
                Assert.Equal(at, FiniteWeights.IndexOfNonFinite(dtype, Stored(dtype, bits)));
                // a second bad value later does not hide the first
                if (at < 1000) bits[1000] = bad;
                Assert.Equal(at, FiniteWeights.IndexOfNonFinite(dtype, Stored(dtype, bits)));
            }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void RawScan_AgreesWithWideningEveryValue_OnRandomBitPatterns(TensorDType dtype)
    {
        var random = new Random(11 + (int)dtype);
        for (int trial = 0; trial < 200; trial++)
        {
            int length = random.Next(1, 700);
            // Mostly finite patterns; now and then an all-ones exponent (one in ~length/3 elements).
            var bits = Enumerable.Range(0, length).Select(_ =>
            {
                ulong b = (ulong)random.NextInt64(0, dtype == TensorDType.F32 ? 1L << 32 : 1L << 16);
                ulong exponent = NonFinite(dtype)[0];
                bool allOnes = random.Next(length * 3) == 0;
                return allOnes ? b | exponent : ((b & exponent) == exponent ? b & ~(exponent & (exponent >> 1)) : b);
            }).ToArray();
            var stored = Stored(dtype, bits);
            var widened = new float[length];
            FloatWidening.ToFloat32(dtype, stored, widened);
            int expected = Array.FindIndex(widened, v => !float.IsFinite(v));
            Assert.Equal(expected, FiniteWeights.IndexOfNonFinite(dtype, stored));
            Assert.Equal(expected, FiniteWeights.IndexOfNonFinite(widened));
        }
    }

    [Theory, MemberData(nameof(DTypes))]
    public void OpeningAStoredCheckpoint_WithANaN_NamesTheTensorAndElement(TensorDType dtype)
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir["tok.model"], [1, 2, 3]);
        var config = TinyLlama.Config();
        var tensors = TinyLlama.Tensors(config);
        string name = LlamaTensorNames.Up(1);
        tensors.GetData(name)[29] = float.NaN;
        // sharded, so the scan also goes through SafeTensorsSharded
        LlamaCheckpointWriter.Write(dir["m"], config, tensors, dir["tok.model"],
            new LlamaCheckpointWriteOptions { StoreAs = _ => dtype, MaxShardBytes = 600 });
        Assert.True(File.Exists(Path.Combine(dir["m"], SafeTensorsSharded.IndexFileName)));
        var ex = Assert.Throws<BadDataException>(() => LlamaCheckpoint.Open(dir["m"]));
        Assert.Contains($"tensor '{name}' holds NaN at element 29", ex.Message);
        Assert.Equal(ExitCodes.BadData, ex.ExitCode);
    }

    [Fact]
    public void OpeningAnF16Checkpoint_DoesNotWidenItsTensors()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir["tok.model"], [1, 2, 3]);
        var config = TinyLlama.Config() with { HiddenSize = 256, IntermediateSize = 512, NumAttentionHeads = 4, NumKeyValueHeads = 4, HeadDim = 64, VocabSize = 2048 };
        LlamaCheckpointWriter.Write(dir["m"], config, TinyLlama.Tensors(config), dir["tok.model"],
            new LlamaCheckpointWriteOptions { StoreAs = _ => TensorDType.F16 });
        long float32Bytes = 4 * LlamaTensorShapes.Expected(config).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
        using (LlamaCheckpoint.Open(dir["m"])) { } // warm-up: JIT and first-use allocations are not the checkpoint's
        long before = GC.GetAllocatedBytesForCurrentThread();
        using var checkpoint = LlamaCheckpoint.Open(dir["m"]);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Widening every tensor would allocate float32Bytes (about 7 MB here); parsing config and header is far less.
        Assert.True(allocated < float32Bytes / 8, $"Open allocated {allocated:N0} bytes; the model is {float32Bytes:N0} bytes as float32");
        // ... and the weights are still the F16 values, widened only when read.
        Assert.Equal(TensorDType.F16, checkpoint.Tensors.GetInfo(LlamaTensorNames.Embedding).DType);
    }
}
