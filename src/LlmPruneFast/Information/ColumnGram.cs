using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmPruneFast.Information;

/// <summary>
/// Blocks of the Gram matrix G^T G of a column-major S x N float32 matrix: out[r, c] = dot(col(i0+r), col(j0+c)).
/// A 4 x 4 register-blocked micro-kernel streams eight columns at once (16 accumulators, two loads per four FMAs)
/// with 512-bit vectors where the CPU has them, 256-bit otherwise; float32 products, float32 accumulators per lane.
/// </summary>
public static class ColumnGram
{
    /// <summary>Fills <paramref name="tile"/> (rows x cols, row-major) with the dot products of the two column ranges.</summary>
    public static void Tile(ReadOnlySpan<float> data, int s, int i0, int rows, int j0, int cols, Span<float> tile)
    {
        int r = 0;
        for (; r + 4 <= rows; r += 4)
        {
            int c = 0;
            for (; c + 4 <= cols; c += 4) Block4x4(data, s, i0 + r, j0 + c, tile.Slice(r * cols + c), cols);
            for (; c < cols; c++)
                for (int rr = r; rr < r + 4; rr++) tile[rr * cols + c] = TensorPrimitives.Dot(data.Slice((i0 + rr) * s, s), data.Slice((j0 + c) * s, s));
        }
        for (; r < rows; r++)
            for (int c = 0; c < cols; c++) tile[r * cols + c] = TensorPrimitives.Dot(data.Slice((i0 + r) * s, s), data.Slice((j0 + c) * s, s));
    }

    private static void Block4x4(ReadOnlySpan<float> data, int s, int i, int j, Span<float> dst, int stride)
    {
        ref float a0 = ref Unsafe.AsRef(in data[i * s]);
        ref float a1 = ref Unsafe.Add(ref a0, s);
        ref float a2 = ref Unsafe.Add(ref a1, s);
        ref float a3 = ref Unsafe.Add(ref a2, s);
        ref float b0 = ref Unsafe.AsRef(in data[j * s]);
        ref float b1 = ref Unsafe.Add(ref b0, s);
        ref float b2 = ref Unsafe.Add(ref b1, s);
        ref float b3 = ref Unsafe.Add(ref b2, s);
        Span<float> acc = stackalloc float[16];
        int k = 0;
        if (Vector512.IsHardwareAccelerated && s >= 16)
        {
            Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default,
                c10 = default, c11 = default, c12 = default, c13 = default,
                c20 = default, c21 = default, c22 = default, c23 = default,
                c30 = default, c31 = default, c32 = default, c33 = default;
            for (; k + 16 <= s; k += 16)
            {
                var x0 = Vector512.LoadUnsafe(ref a0, (nuint)k); var x1 = Vector512.LoadUnsafe(ref a1, (nuint)k);
                var x2 = Vector512.LoadUnsafe(ref a2, (nuint)k); var x3 = Vector512.LoadUnsafe(ref a3, (nuint)k);
                var y = Vector512.LoadUnsafe(ref b0, (nuint)k);
                c00 = Vector512.FusedMultiplyAdd(x0, y, c00); c10 = Vector512.FusedMultiplyAdd(x1, y, c10);
                c20 = Vector512.FusedMultiplyAdd(x2, y, c20); c30 = Vector512.FusedMultiplyAdd(x3, y, c30);
                y = Vector512.LoadUnsafe(ref b1, (nuint)k);
                c01 = Vector512.FusedMultiplyAdd(x0, y, c01); c11 = Vector512.FusedMultiplyAdd(x1, y, c11);
                c21 = Vector512.FusedMultiplyAdd(x2, y, c21); c31 = Vector512.FusedMultiplyAdd(x3, y, c31);
                y = Vector512.LoadUnsafe(ref b2, (nuint)k);
                c02 = Vector512.FusedMultiplyAdd(x0, y, c02); c12 = Vector512.FusedMultiplyAdd(x1, y, c12);
                c22 = Vector512.FusedMultiplyAdd(x2, y, c22); c32 = Vector512.FusedMultiplyAdd(x3, y, c32);
                y = Vector512.LoadUnsafe(ref b3, (nuint)k);
                c03 = Vector512.FusedMultiplyAdd(x0, y, c03); c13 = Vector512.FusedMultiplyAdd(x1, y, c13);
                c23 = Vector512.FusedMultiplyAdd(x2, y, c23); c33 = Vector512.FusedMultiplyAdd(x3, y, c33);
            }
            acc[0] = Vector512.Sum(c00); acc[1] = Vector512.Sum(c01); acc[2] = Vector512.Sum(c02); acc[3] = Vector512.Sum(c03);
            acc[4] = Vector512.Sum(c10); acc[5] = Vector512.Sum(c11); acc[6] = Vector512.Sum(c12); acc[7] = Vector512.Sum(c13);
            acc[8] = Vector512.Sum(c20); acc[9] = Vector512.Sum(c21); acc[10] = Vector512.Sum(c22); acc[11] = Vector512.Sum(c23);
            acc[12] = Vector512.Sum(c30); acc[13] = Vector512.Sum(c31); acc[14] = Vector512.Sum(c32); acc[15] = Vector512.Sum(c33);
        }
        else if (Vector256.IsHardwareAccelerated && s >= 8)
        {
            Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default,
                c10 = default, c11 = default, c12 = default, c13 = default,
                c20 = default, c21 = default, c22 = default, c23 = default,
                c30 = default, c31 = default, c32 = default, c33 = default;
            for (; k + 8 <= s; k += 8)
            {
                var x0 = Vector256.LoadUnsafe(ref a0, (nuint)k); var x1 = Vector256.LoadUnsafe(ref a1, (nuint)k);
                var x2 = Vector256.LoadUnsafe(ref a2, (nuint)k); var x3 = Vector256.LoadUnsafe(ref a3, (nuint)k);
                var y = Vector256.LoadUnsafe(ref b0, (nuint)k);
                c00 = Vector256.FusedMultiplyAdd(x0, y, c00); c10 = Vector256.FusedMultiplyAdd(x1, y, c10);
                c20 = Vector256.FusedMultiplyAdd(x2, y, c20); c30 = Vector256.FusedMultiplyAdd(x3, y, c30);
                y = Vector256.LoadUnsafe(ref b1, (nuint)k);
                c01 = Vector256.FusedMultiplyAdd(x0, y, c01); c11 = Vector256.FusedMultiplyAdd(x1, y, c11);
                c21 = Vector256.FusedMultiplyAdd(x2, y, c21); c31 = Vector256.FusedMultiplyAdd(x3, y, c31);
                y = Vector256.LoadUnsafe(ref b2, (nuint)k);
                c02 = Vector256.FusedMultiplyAdd(x0, y, c02); c12 = Vector256.FusedMultiplyAdd(x1, y, c12);
                c22 = Vector256.FusedMultiplyAdd(x2, y, c22); c32 = Vector256.FusedMultiplyAdd(x3, y, c32);
                y = Vector256.LoadUnsafe(ref b3, (nuint)k);
                c03 = Vector256.FusedMultiplyAdd(x0, y, c03); c13 = Vector256.FusedMultiplyAdd(x1, y, c13);
                c23 = Vector256.FusedMultiplyAdd(x2, y, c23); c33 = Vector256.FusedMultiplyAdd(x3, y, c33);
            }
            acc[0] = Vector256.Sum(c00); acc[1] = Vector256.Sum(c01); acc[2] = Vector256.Sum(c02); acc[3] = Vector256.Sum(c03);
            acc[4] = Vector256.Sum(c10); acc[5] = Vector256.Sum(c11); acc[6] = Vector256.Sum(c12); acc[7] = Vector256.Sum(c13);
            acc[8] = Vector256.Sum(c20); acc[9] = Vector256.Sum(c21); acc[10] = Vector256.Sum(c22); acc[11] = Vector256.Sum(c23);
            acc[12] = Vector256.Sum(c30); acc[13] = Vector256.Sum(c31); acc[14] = Vector256.Sum(c32); acc[15] = Vector256.Sum(c33);
        }
        for (; k < s; k++)
        {
            float x0 = Unsafe.Add(ref a0, k), x1 = Unsafe.Add(ref a1, k), x2 = Unsafe.Add(ref a2, k), x3 = Unsafe.Add(ref a3, k);
            float y0 = Unsafe.Add(ref b0, k), y1 = Unsafe.Add(ref b1, k), y2 = Unsafe.Add(ref b2, k), y3 = Unsafe.Add(ref b3, k);
            acc[0] += x0 * y0; acc[1] += x0 * y1; acc[2] += x0 * y2; acc[3] += x0 * y3;
            acc[4] += x1 * y0; acc[5] += x1 * y1; acc[6] += x1 * y2; acc[7] += x1 * y3;
            acc[8] += x2 * y0; acc[9] += x2 * y1; acc[10] += x2 * y2; acc[11] += x2 * y3;
            acc[12] += x3 * y0; acc[13] += x3 * y1; acc[14] += x3 * y2; acc[15] += x3 * y3;
        }
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) dst[r * stride + c] = acc[r * 4 + c];
    }
}
