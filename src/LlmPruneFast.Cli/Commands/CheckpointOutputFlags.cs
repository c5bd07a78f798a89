using System.Globalization;
using LlmPruneFast.Models;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>--dtype</c> and <c>--max-shard-mb</c> of the commands that write a checkpoint (prune, apply, widen): parsed
/// and checked before any work.
/// </summary>
internal static class CheckpointOutputFlags
{
    public const string DTypeHelp = "Stored weight type of the written checkpoint: f32 | f16 | bf16 (rounded to nearest, ties to even). " +
        "Default: each tensor as the input stores it.";
    public const string MaxShardHelp = "Shard size limit in MB (10^6 bytes; default 5000, transformers' \"5GB\"): weights over it are written as " +
        "model-0000i-of-0000N.safetensors + model.safetensors.index.json; a sharded input always gives a sharded output.";
    public const double DefaultMaxShardMb = PrunedOutputOptions.DefaultMaxShardBytes / 1e6;

    /// <summary>The stored type named by <c>--dtype</c>; null = keep the input's.</summary>
    /// <exception cref="BadArgumentException">Not f32, f16 or bf16.</exception>
    public static TensorDType? ParseDType(string? value) => value?.ToLowerInvariant() switch
    {
        null => null,
        "f32" or "float32" => TensorDType.F32,
        "f16" or "float16" => TensorDType.F16,
        "bf16" or "bfloat16" => TensorDType.BF16,
        _ => throw new BadArgumentException($"--dtype {value} is not a stored weight type; expected f32, f16 or bf16"),
    };

    /// <summary>Bytes of <c>--max-shard-mb</c> (null: the default).</summary>
    /// <exception cref="BadArgumentException">Not a positive number of at least one byte.</exception>
    public static long ShardBytes(double? megabytes)
    {
        double mb = megabytes ?? DefaultMaxShardMb;
        if (!double.IsFinite(mb) || mb * 1e6 < 1 || mb * 1e6 > long.MaxValue)
            throw new BadArgumentException($"--max-shard-mb must be a positive number of MB, got {mb.ToString(CultureInfo.InvariantCulture)}");
        return (long)(mb * 1e6);
    }

    public static PrunedOutputOptions Options(string? dtype, double? maxShardMb) => new(ParseDType(dtype), ShardBytes(maxShardMb));
}
