using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// Where one projection's neurons live in a 2-D float32 initializer: entries [<see cref="Offset"/>,
/// <see cref="Offset"/> + <see cref="Count"/>) along axis <see cref="NeuronAxis"/> (0 = rows, 1 = columns); the
/// other axis has length <see cref="Hidden"/>. A fused projection (one MatMul for gate and up, then Split) gives
/// two slices of one initializer.
/// </summary>
public sealed record WeightSlice(string Initializer, int NeuronAxis, int Offset, int Count, int Hidden);

/// <summary>
/// One feed-forward block found in a foreign graph: [gate], up (weights d -> f), an activation, down (f -> d),
/// optional biases. Neuron j is entry j of every slice. <see cref="ActivationTensor"/> is the down projection's
/// input z (what capture taps). <see cref="Nodes"/> are the block's own nodes; <see cref="Internal"/> the values
/// they produce that nothing outside the block reads (checked when found), so the width can change safely.
/// </summary>
public sealed record OnnxFfnBlock
{
    /// <summary>Block index in graph order (the pruner's layer index).</summary>
    public required int Index { get; init; }
    /// <summary>f: neurons.</summary>
    public required int Width { get; init; }
    /// <summary>d: hidden size.</summary>
    public required int Hidden { get; init; }
    /// <summary>gelu, gelu-tanh, relu, silu, ... ; gated forms swiglu, geglu, reglu, gated-*.</summary>
    public required string Activation { get; init; }
    public WeightSlice? Gate { get; init; }
    public required WeightSlice Up { get; init; }
    public required WeightSlice Down { get; init; }
    public string? GateBias { get; init; }
    public string? UpBias { get; init; }
    public string? DownBias { get; init; }
    /// <summary>z, the input of the down projection.</summary>
    public required string ActivationTensor { get; init; }
    /// <summary>The down MatMul/Gemm.</summary>
    public required NodeProto DownNode { get; init; }
    /// <summary>Split node of a fused gate/up projection and the output index of gate and up, when fused.</summary>
    public NodeProto? Split { get; init; }
    public required IReadOnlyList<NodeProto> Nodes { get; init; }
    public required IReadOnlyList<string> Internal { get; init; }

    public bool Gated => Gate != null;

    /// <summary>Weights and biases of the block: (2 or 3) * f * d + bias lengths.</summary>
    public long Parameters => (long)Width * Hidden * (Gated ? 3 : 2)
        + (GateBias != null ? Width : 0) + (UpBias != null ? Width : 0) + (DownBias != null ? Hidden : 0);
}

/// <summary>A node that looked like part of an FFN and was not taken, and why. Fatal ones stop pruning.</summary>
public sealed record RejectedCandidate(string Node, string Reason, bool Fatal);

/// <summary>What <see cref="FfnBlockFinder.Find"/> saw: the blocks (graph order) and the candidates it did not take.</summary>
public sealed record FfnSearch(IReadOnlyList<OnnxFfnBlock> Blocks, IReadOnlyList<RejectedCandidate> Rejected);
