using CsCheck;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Tests.Models.Onnx;

/// <summary>The tiled, parallel transposes equal the element-by-element definition, on every shape around the tile edges.</summary>
public sealed class TransposeTests
{
    private static float[] Matrix(int rows, int cols, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, rows * cols).Select(_ => (float)random.NextDouble()).ToArray();
    }

    [Fact]
    public void Transpose_EqualsTheDefinition() =>
        Gen.Select(Gen.Int[1, 80], Gen.Int[1, 80], Gen.Int, (r, c, s) => (r, c, s)).Sample(t =>
        {
            var m = Matrix(t.r, t.c, t.s);
            var got = LlamaLayerEmitter.Transpose(m, t.r, t.c);
            for (int r = 0; r < t.r; r++)
                for (int c = 0; c < t.c; c++)
                    Assert.Equal(m[r * t.c + c], got[c * t.r + r]);
        }, iter: 200);

    [Fact]
    public void SideBySide_EqualsTheDefinition_AndTheParallelPathToo()
    {
        // 3 matrices sharing cols; the second shape is over the size at which the strips run in parallel.
        foreach (var (rows, cols) in new[] { (new[] { 5, 33, 64 }, 31), (new[] { 300, 64, 700 }, 520) })
        {
            var ms = rows.Select((r, i) => Matrix(r, cols, i)).ToArray();
            var got = LlamaLayerEmitter.TransposeSideBySide(ms, rows, cols);
            int total = rows.Sum();
            for (int i = 0, offset = 0; i < ms.Length; offset += rows[i], i++)
                for (int r = 0; r < rows[i]; r++)
                    for (int c = 0; c < cols; c++)
                        Assert.Equal(ms[i][r * cols + c], got[(long)c * total + offset + r]);
        }
    }
}
