using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace LlmPruneFast.Models;

/// <summary>
/// Conversions between stored 16-bit floats and float32. Widening is exact (every F16 and BF16 value is a float32
/// value); narrowing rounds to nearest, ties to even, as PyTorch does.
/// </summary>
public static class FloatWidening
{
    /// <summary>Bytes per element of a stored dtype.</summary>
    public static int SizeOf(TensorDType dtype) => dtype switch
    {
        TensorDType.F32 => 4,
        TensorDType.F16 or TensorDType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>Converts little-endian stored elements of <paramref name="dtype"/> to float32.</summary>
    public static void ToFloat32(TensorDType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (source.Length != destination.Length * SizeOf(dtype))
            throw new ArgumentException($"{source.Length} bytes of {dtype} do not hold {destination.Length} elements");
        switch (dtype)
        {
            case TensorDType.F32:
                source.CopyTo(MemoryMarshal.AsBytes(destination));
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case TensorDType.BF16:
                // bfloat16 is the upper half of a float32: shifting its bits up 16 places is the exact value.
                var bits = MemoryMarshal.Cast<byte, ushort>(source);
                var output = MemoryMarshal.Cast<float, uint>(destination);
                for (int i = 0; i < bits.Length; i++) output[i] = (uint)bits[i] << 16;
                break;
        }
    }

    /// <summary>Converts float32 to stored little-endian elements of <paramref name="dtype"/> (round to nearest even).</summary>
    public static void FromFloat32(TensorDType dtype, ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (destination.Length != source.Length * SizeOf(dtype))
            throw new ArgumentException($"{destination.Length} bytes of {dtype} do not hold {source.Length} elements");
        switch (dtype)
        {
            case TensorDType.F32:
                MemoryMarshal.AsBytes(source).CopyTo(destination);
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<byte, Half>(destination));
                break;
            case TensorDType.BF16:
                var output = MemoryMarshal.Cast<byte, ushort>(destination);
                for (int i = 0; i < source.Length; i++) output[i] = ToBFloat16Bits(source[i]);
                break;
        }
    }

    /// <summary>The bfloat16 bits nearest to <paramref name="value"/> (ties to even); NaN stays a quiet NaN.</summary>
    public static ushort ToBFloat16Bits(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }
}
