namespace LlmPruneFast.Pruning;

/// <summary>How the kept neurons make up for the removed ones (see <see cref="Compensator"/>).</summary>
public enum CompensationKind { None, Bias, Partner, Refit }

/// <summary>Names of <see cref="CompensationKind"/> as used on the command line and in plans.</summary>
public static class CompensationKinds
{
    public static string Name(CompensationKind kind) => kind switch
    {
        CompensationKind.None => "none",
        CompensationKind.Bias => "bias",
        CompensationKind.Partner => "partner",
        CompensationKind.Refit => "refit",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static bool TryParse(string? name, out CompensationKind kind)
    {
        (bool ok, kind) = name switch
        {
            "none" => (true, CompensationKind.None),
            "bias" => (true, CompensationKind.Bias),
            "partner" => (true, CompensationKind.Partner),
            "refit" => (true, CompensationKind.Refit),
            _ => (false, CompensationKind.None),
        };
        return ok;
    }

    public static CompensationKind Parse(string name) => TryParse(name, out var k) ? k
        : throw new BadArgumentException($"unknown compensation '{name}' (expected none, bias, partner or refit)");
}

/// <summary>
/// Compensation settings. <see cref="Ridge"/> is relative: the refit adds lambda = Ridge * tr(C)/N to the
/// diagonal of the kept covariance, C the layer's activation covariance (so it is scale-free and equal to the
/// damping of <c>obs</c>, whose optimal update is exactly this refit).
/// </summary>
public sealed record CompensationOptions(CompensationKind Kind, double Ridge = CompensationOptions.DefaultRidge)
{
    public const double DefaultRidge = 0.01;

    public CompensationInfo ToInfo() => new(CompensationKinds.Name(Kind),
        Kind == CompensationKind.Refit ? new PlanParameters().Set("ridge", Ridge) : new PlanParameters());

    public static CompensationOptions FromInfo(CompensationInfo info)
    {
        var kind = CompensationKinds.Parse(info.Kind);
        double ridge = info.Parameters.GetDouble("ridge", DefaultRidge);
        if (!(ridge >= 0)) throw new BadArgumentException($"compensation ridge {ridge} must be >= 0");
        return new CompensationOptions(kind, ridge);
    }
}
