using System.Numerics;
using System.Runtime.InteropServices;

namespace LlmPruneFast.Models;

/// <summary>
/// Refuses weights holding NaN or ±Inf (exit 8) before they are evaluated or pruned. Why: a non-finite weight makes
/// every figure downstream NaN, which would otherwise be printed as a result with exit 0.
/// </summary>
/// <remarks>
/// Stored tensors (<see cref="IRawTensorSource"/>) are scanned in place on their raw bits, without widening or
/// allocating: in every IEEE-style format a value is NaN or infinite exactly when its exponent field is all ones
/// (F32 mask 0x7F800000, F16 0x7C00, BF16 0x7F80). Other sources are checked on their float32 values.
/// </remarks>
public static class FiniteWeights
{
    /// <summary>Bytes scanned per span: a multiple of every element size, below the 2 GiB a span can hold.</summary>
    private const int ChunkBytes = 1 << 30;

    /// <summary>Scans every tensor of <paramref name="tensors"/>; <see cref="BadDataException"/> naming the first bad one.</summary>
    public static void Check(ITensorSource tensors, string source)
    {
        foreach (var name in tensors.Names)
        {
            if (tensors is IRawTensorSource raw)
            {
                var info = raw.GetInfo(name);
                int size = FloatWidening.SizeOf(info.DType);
                long length = info.ElementCount * size;
                for (long start = 0; start < length; start += ChunkBytes)
                {
                    var bytes = raw.RawBytes(name, start, (int)Math.Min(ChunkBytes, length - start));
                    int bad = IndexOfNonFinite(info.DType, bytes);
                    if (bad >= 0)
                        throw Bad(source, name, Widen(info.DType, bytes.Slice(bad * size, size)), start / size + bad);
                }
                raw.ReleasePages(name);   // scanned: a checkpoint larger than memory is not kept resident by the check
                continue;
            }
            float[] values = tensors is InMemoryTensorSource memory ? memory.GetData(name) : tensors.ReadFloat32(name);
            int index = IndexOfNonFinite(values);
            if (index >= 0) throw Bad(source, name, values[index], index);
        }
    }

    /// <summary>Index of the first NaN or infinity, or -1.</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<float> values) => IndexOfAllOnes(MemoryMarshal.Cast<float, uint>(values), 0x7F800000u);

    /// <summary>Index (in elements) of the first NaN or infinity among stored little-endian elements of <paramref name="dtype"/>, or -1.</summary>
    public static int IndexOfNonFinite(TensorDType dtype, ReadOnlySpan<byte> stored)
    {
        if (stored.Length % FloatWidening.SizeOf(dtype) != 0)
            throw new ArgumentException($"{stored.Length} bytes are not whole {dtype} elements");
        return dtype switch
        {
            TensorDType.F32 => IndexOfAllOnes(MemoryMarshal.Cast<byte, uint>(stored), 0x7F800000u),
            TensorDType.F16 => IndexOfAllOnes(MemoryMarshal.Cast<byte, ushort>(stored), (ushort)0x7C00),
            TensorDType.BF16 => IndexOfAllOnes(MemoryMarshal.Cast<byte, ushort>(stored), (ushort)0x7F80),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
        };
    }

    /// <summary>First index whose bits have every bit of <paramref name="mask"/> set; whole vectors first, then the tail.</summary>
    private static int IndexOfAllOnes<T>(ReadOnlySpan<T> bits, T mask) where T : unmanaged, IBinaryInteger<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && bits.Length >= Vector<T>.Count)
        {
            var m = new Vector<T>(mask);
            var vectors = MemoryMarshal.Cast<T, Vector<T>>(bits);
            int v = 0;
            // Four vectors per test keeps the loop on memory bandwidth; the hit is located by the scalar scan below.
            for (; v + 4 <= vectors.Length; v += 4)
            {
                var any = Vector.Equals(vectors[v] & m, m) | Vector.Equals(vectors[v + 1] & m, m)
                    | Vector.Equals(vectors[v + 2] & m, m) | Vector.Equals(vectors[v + 3] & m, m);
                if (any != Vector<T>.Zero) break;
            }
            for (; v < vectors.Length; v++)
                if (Vector.EqualsAny(vectors[v] & m, m)) break;
            i = v * Vector<T>.Count;
        }
        for (; i < bits.Length; i++)
            if ((bits[i] & mask) == mask) return i;
        return -1;
    }

    private static float Widen(TensorDType dtype, ReadOnlySpan<byte> element)
    {
        Span<float> one = stackalloc float[1];
        FloatWidening.ToFloat32(dtype, element, one);
        return one[0];
    }

    private static BadDataException Bad(string source, string name, float value, long element) =>
        new($"{source}: tensor '{name}' holds {value} at element {element}; weights must be finite");
}
