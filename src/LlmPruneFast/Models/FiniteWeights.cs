namespace LlmPruneFast.Models;

/// <summary>
/// Refuses weights holding NaN or ±Inf (exit 8) before they are evaluated or pruned. Why: a non-finite weight makes
/// every figure downstream NaN, which would otherwise be printed as a result with exit 0.
/// </summary>
public static class FiniteWeights
{
    /// <summary>Scans every tensor of <paramref name="tensors"/>; <see cref="BadDataException"/> naming the first bad one.</summary>
    public static void Check(ITensorSource tensors, string source)
    {
        foreach (var name in tensors.Names)
        {
            float[] values = tensors is InMemoryTensorSource memory ? memory.GetData(name) : tensors.ReadFloat32(name);
            int bad = IndexOfNonFinite(values);
            if (bad >= 0)
                throw new BadDataException($"{source}: tensor '{name}' holds {values[bad]} at element {bad}; weights must be finite");
        }
    }

    /// <summary>Index of the first NaN or infinity, or -1.</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }
}
