using System.Runtime.InteropServices;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// Reads a llama2.c legacy checkpoint (<c>export.py --version 0</c>, the format of Karpathy's tinyllamas) into
/// Hugging Face <c>LlamaForCausalLM</c> tensors.
/// </summary>
/// <remarks>
/// Layout: a header of 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
/// a negative vocab_size means the classifier is not tied to the embedding), then float32 arrays, matrices
/// [out, in] row-major: token_embedding [V,D], rms_att [L,D], wq [L,D,D], wk [L,KV,D], wv [L,KV,D], wo [L,D,D],
/// rms_ffn [L,D], w1 [L,H,D], w2 [L,D,H], w3 [L,H,D], rms_final [D], freq_cis_real [seq,hs/2],
/// freq_cis_imag [seq,hs/2], and wcls [V,D] only when untied. KV = n_kv_heads * hs, hs = D / n_heads.
/// </remarks>
public static class Llama2cCheckpoint
{
    private const int HeaderBytes = 7 * sizeof(int);

    /// <summary>
    /// Reads <paramref name="binPath"/>; returns its configuration and float32 tensors under <see cref="LlamaTensorNames"/>,
    /// with q/k rows permuted to the rotate-half RoPE convention of transformers (see <see cref="PermuteRopeRows"/>).
    /// </summary>
    /// <exception cref="MissingInputException">The file does not exist.</exception>
    /// <exception cref="BadModelFileException">The header is not sane or the file size disagrees with it.</exception>
    public static (LlamaConfig Config, InMemoryTensorSource Tensors) Read(string binPath)
    {
        if (!File.Exists(binPath)) throw new MissingInputException($"llama2.c checkpoint '{binPath}' does not exist");
        using var stream = new FileStream(binPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Read(stream, binPath);
    }

    /// <summary>Reads a checkpoint from <paramref name="stream"/> (seekable); <paramref name="binPath"/> names it in errors.</summary>
    public static (LlamaConfig Config, InMemoryTensorSource Tensors) Read(Stream stream, string binPath)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("llama2.c checkpoints are little-endian");
        long found = stream.Length;
        if (found < HeaderBytes)
            throw new BadModelFileException($"llama2.c checkpoint '{binPath}' is truncated: expected at least {HeaderBytes} header bytes, found {found}");
        Span<int> h = stackalloc int[7];
        stream.ReadExactly(MemoryMarshal.AsBytes(h));
        int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kvHeads = h[4], vocabSigned = h[5], seqLen = h[6];
        bool tied = vocabSigned > 0;
        int vocab = vocabSigned == int.MinValue ? 0 : Math.Abs(vocabSigned); // -2^31 has no positive counterpart

        string Bad(string what) => $"llama2.c checkpoint '{binPath}' has an invalid header: {what} " +
            $"(dim {dim}, hidden_dim {hidden}, n_layers {layers}, n_heads {heads}, n_kv_heads {kvHeads}, vocab_size {vocabSigned}, seq_len {seqLen})";
        if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || vocab <= 0 || seqLen <= 0)
            throw new BadModelFileException(Bad("every field must be positive (vocab_size may be negative)"));
        if (dim % heads != 0) throw new BadModelFileException(Bad("dim must be a multiple of n_heads"));
        if (heads % kvHeads != 0) throw new BadModelFileException(Bad("n_heads must be a multiple of n_kv_heads"));
        int hs = dim / heads;
        if (hs % 2 != 0) throw new BadModelFileException(Bad("the head size dim / n_heads must be even for RoPE"));
        long kvDim = (long)kvHeads * hs;
        if (dim > ConfigLimits.MaxHidden || hidden > ConfigLimits.MaxIntermediate || layers > ConfigLimits.MaxLayers || heads > ConfigLimits.MaxHeads ||
            vocab > ConfigLimits.MaxVocab || seqLen > ConfigLimits.MaxPositions)
            throw new BadModelFileException(Bad($"a field is out of range (at most dim {ConfigLimits.MaxHidden}, hidden_dim {ConfigLimits.MaxIntermediate}, " +
                $"n_layers {ConfigLimits.MaxLayers}, n_heads {ConfigLimits.MaxHeads}, vocab_size {ConfigLimits.MaxVocab}, seq_len {ConfigLimits.MaxPositions})"));

        long floats = (long)vocab * dim                       // token_embedding
            + (long)layers * dim                               // rms_att
            + (long)layers * dim * dim * 2                     // wq, wo
            + (long)layers * kvDim * dim * 2                   // wk, wv
            + (long)layers * dim                               // rms_ffn
            + (long)layers * hidden * dim * 3                  // w1, w2, w3
            + dim                                              // rms_final
            + (long)seqLen * (hs / 2) * 2                      // freq_cis_real, freq_cis_imag
            + (tied ? 0 : (long)vocab * dim);                  // wcls
        long expected = HeaderBytes + floats * sizeof(float);
        if (found != expected)
            throw new BadModelFileException(found < expected
                ? $"llama2.c checkpoint '{binPath}' is truncated: the header implies {expected} bytes, found {found}"
                : $"llama2.c checkpoint '{binPath}' has trailing data: the header implies {expected} bytes, found {found}");

        var config = new LlamaConfig
        {
            HiddenSize = dim,
            IntermediateSize = hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = hs,
            RmsNormEps = 1e-5,
            RopeTheta = 10000.0,
            TieWordEmbeddings = tied,
            VocabSize = vocab,
            MaxPositionEmbeddings = seqLen,
            MlpBias = false,
            TorchDtype = "float32",
            BosTokenId = 1,
            EosTokenId = 2,
        };
        ConfigLimits.Check(config, binPath);

        var tensors = new InMemoryTensorSource();
        // Read one [layers, rows, cols] block and hand each layer's slice to the HF name.
        float[] ReadArray(long count)
        {
            var a = new float[checked((int)count)];
            stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan()));
            return a;
        }
        void ReadLayers(Func<int, string> name, int rows, int cols, int ropeHeads = 0)
        {
            for (int l = 0; l < layers; l++)
            {
                var w = ReadArray((long)rows * cols);
                if (ropeHeads > 0) w = PermuteRopeRows(w, ropeHeads, hs, cols);
                tensors.Add(name(l), cols == 1 ? [rows] : [rows, cols], w);
            }
        }

        tensors.Add(LlamaTensorNames.Embedding, [vocab, dim], ReadArray((long)vocab * dim));
        ReadLayers(LlamaTensorNames.AttentionNorm, dim, 1);
        ReadLayers(LlamaTensorNames.Q, dim, dim, ropeHeads: heads);
        ReadLayers(LlamaTensorNames.K, (int)kvDim, dim, ropeHeads: kvHeads);
        ReadLayers(LlamaTensorNames.V, (int)kvDim, dim);
        ReadLayers(LlamaTensorNames.O, dim, dim);
        ReadLayers(LlamaTensorNames.FfnNorm, dim, 1);
        ReadLayers(LlamaTensorNames.Gate, hidden, dim);   // w1
        ReadLayers(LlamaTensorNames.Down, dim, hidden);   // w2
        ReadLayers(LlamaTensorNames.Up, hidden, dim);     // w3
        tensors.Add(LlamaTensorNames.FinalNorm, [dim], ReadArray(dim));
        stream.Seek((long)seqLen * (hs / 2) * 2 * sizeof(float), SeekOrigin.Current); // freq_cis: recomputed from rope_theta
        if (!tied) tensors.Add(LlamaTensorNames.LmHead, [vocab, dim], ReadArray((long)vocab * dim));
        return (config, tensors);
    }

    /// <summary>
    /// Reorders the rows of a q or k projection [heads * hs, cols] from llama2.c's RoPE layout to transformers'.
    /// Within each head, HF row i (i &lt; hs/2) is llama2.c row 2i and HF row hs/2 + i is llama2.c row 2i + 1.
    /// </summary>
    /// <remarks>
    /// Why: llama2.c's run.c rotates interleaved pairs, (x[2i], x[2i+1]) by angle pos * theta^(-2i/hs), while
    /// transformers' <c>rotate_half</c> rotates the pair (x[i], x[i + hs/2]) by the same angle pos * theta^(-2i/hs),
    /// with the same sign convention (x0' = x0 cos - x1 sin, x1' = x0 sin + x1 cos). Moving row 2i to i and row
    /// 2i+1 to hs/2 + i makes the HF rotation act on exactly the values llama2.c rotated, with the same frequency.
    /// Applying the same permutation to q and k within every head leaves each q.k dot product, hence attention,
    /// unchanged; v and o are not rotated and keep their order. (This is the inverse of the permutation in
    /// transformers' convert_llama_weights_to_hf.)
    /// </remarks>
    public static float[] PermuteRopeRows(ReadOnlySpan<float> w, int heads, int headSize, int cols)
    {
        if (w.Length != (long)heads * headSize * cols)
            throw new ArgumentException($"expected {heads} x {headSize} x {cols} elements, got {w.Length}", nameof(w));
        var result = new float[w.Length];
        int half = headSize / 2;
        for (int hd = 0; hd < heads; hd++)
        {
            int baseRow = hd * headSize;
            for (int i = 0; i < half; i++)
            {
                w.Slice((baseRow + 2 * i) * cols, cols).CopyTo(result.AsSpan((baseRow + i) * cols, cols));
                w.Slice((baseRow + 2 * i + 1) * cols, cols).CopyTo(result.AsSpan((baseRow + half + i) * cols, cols));
            }
        }
        return result;
    }
}
