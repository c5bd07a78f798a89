namespace LlmPruneFast.Models;

/// <summary>
/// How a pruned (or widened) checkpoint stores its weights, whatever its family's writer: <paramref name="DType"/> for
/// every tensor (null: each tensor as the input stored it), sharded like Hugging Face over
/// <paramref name="MaxShardBytes"/> bytes or when the input was sharded.
/// </summary>
public sealed record PrunedOutputOptions(TensorDType? DType = null, long MaxShardBytes = PrunedOutputOptions.DefaultMaxShardBytes)
{
    /// <summary>Shard size limit of a written checkpoint when none is given (bytes; transformers' "5GB").</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;
}
