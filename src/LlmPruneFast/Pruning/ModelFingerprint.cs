using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace LlmPruneFast.Pruning;

/// <summary>
/// Identity of the dense model a plan was made for: hidden size, FFN width of every layer and a SHA-256 of the
/// FFN weights. A plan is applied only to a model with the same fingerprint (the name/path is informative only).
/// </summary>
public sealed record ModelFingerprint(string Name, int HiddenSize, IReadOnlyList<int> Widths, string FfnSha256)
{
    /// <summary>Number of layers.</summary>
    public int Layers => Widths.Count;

    /// <summary>Fingerprint of a model from all of its FFN layers (in index order 0..L-1).</summary>
    public static ModelFingerprint Compute(string name, IEnumerable<FfnLayer> layers)
    {
        using var hasher = new FfnHasher();
        int hidden = -1;
        var widths = new List<int>();
        foreach (var layer in layers)
        {
            if (layer.Index != widths.Count)
                throw new BadArgumentException($"fingerprint: layers must come in order 0..L-1, found layer {layer.Index} at position {widths.Count}");
            if (hidden >= 0 && layer.Hidden != hidden)
                throw new BadModelFileException($"fingerprint: layer {layer.Index} has hidden size {layer.Hidden}, expected {hidden}");
            hidden = layer.Hidden;
            widths.Add(layer.Neurons);
            hasher.Append(layer);
        }
        if (widths.Count == 0) throw new BadArgumentException("fingerprint: the model has no FFN layers");
        return new ModelFingerprint(name, hidden, widths, hasher.Finish());
    }

    /// <summary>
    /// Throws <see cref="BadArgumentException"/> naming the first difference when <paramref name="actual"/> is not
    /// the model this fingerprint describes.
    /// </summary>
    public void EnsureMatches(ModelFingerprint actual)
    {
        if (actual.HiddenSize != HiddenSize)
            throw new BadArgumentException($"plan made for another model: hidden size {HiddenSize} in the plan, {actual.HiddenSize} in '{actual.Name}'");
        if (actual.Layers != Layers)
            throw new BadArgumentException($"plan made for another model: {Layers} layers in the plan, {actual.Layers} in '{actual.Name}'");
        for (int l = 0; l < Layers; l++)
            if (actual.Widths[l] != Widths[l])
                throw new BadArgumentException($"plan made for another model: layer {l} FFN width {Widths[l]} in the plan, {actual.Widths[l]} in '{actual.Name}'");
        if (!string.Equals(actual.FfnSha256, FfnSha256, StringComparison.OrdinalIgnoreCase))
            throw new BadArgumentException($"plan made for another model: FFN weights hash {FfnSha256[..12]}... in the plan (model '{Name}'), {actual.FfnSha256[..12]}... in '{actual.Name}'");
    }
}

/// <summary>
/// Incremental SHA-256 over FFN layers: for each layer, the little-endian int32s (index, N, D) then the float32
/// bytes of gate, up, down, gate bias, up bias, down bias (each absent part contributes a zero-length marker).
/// Feed layers one at a time so a large model is hashed without holding it whole.
/// </summary>
public sealed class FfnHasher : IDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public void Append(FfnLayer layer)
    {
        Span<int> header = [layer.Index, layer.Neurons, layer.Hidden];
        _hash.AppendData(MemoryMarshal.AsBytes(header));
        AppendPart(layer.Gate);
        AppendPart(layer.Up);
        AppendPart(layer.Down);
        AppendPart(layer.GateBias ?? ReadOnlyMemory<float>.Empty);
        AppendPart(layer.UpBias ?? ReadOnlyMemory<float>.Empty);
        AppendPart(layer.DownBias ?? ReadOnlyMemory<float>.Empty);
    }

    private void AppendPart(ReadOnlyMemory<float> values)
    {
        Span<long> length = [values.Length];
        _hash.AppendData(MemoryMarshal.AsBytes(length));
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("FFN hash assumes a little-endian machine");
        _hash.AppendData(MemoryMarshal.AsBytes(values.Span));
    }

    /// <summary>Lower-case hex digest.</summary>
    public string Finish() => Convert.ToHexStringLower(_hash.GetHashAndReset());

    public void Dispose() => _hash.Dispose();
}
