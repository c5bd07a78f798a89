namespace LlmPruneFast.Information;

/// <summary>
/// Parameters of every estimator; each estimator reads the ones it uses (see <see cref="MiEstimators.Create"/>).
/// </summary>
public sealed record MiEstimatorOptions
{
    /// <summary>Plug-in: number of equal-frequency bins B per variable (2..256).</summary>
    public int Bins { get; init; } = 16;

    /// <summary>Plug-in: add the Miller-Madow correction ((m_x-1)+(m_y-1)-(m_xy-1))/(2S), m = occupied bins.</summary>
    public bool MillerMadow { get; init; }

    /// <summary>KSG: number of neighbours k (1..S-1).</summary>
    public int K { get; init; } = 3;

    /// <summary>KSG: negative estimates become 0 (as scikit-learn does). Turn off for null distributions.</summary>
    public bool ClipNegative { get; init; } = true;

    /// <summary>KSG: jitter added after scaling. <see cref="KsgJitter.None"/> (default) is deterministic on the data.</summary>
    public KsgJitter Jitter { get; init; } = KsgJitter.None;

    /// <summary>Renyi: entropy order alpha (&gt; 0, != 1). alpha = 2 takes the exact eigenvalue-free path.</summary>
    public double Alpha { get; init; } = 2.0;

    /// <summary>Renyi: Gaussian-kernel bandwidth rule per variable.</summary>
    public Bandwidth Bandwidth { get; init; } = Bandwidth.Silverman;

    /// <summary>Seed for every random choice (median-heuristic subsample, tuned-rule shuffles, permutation nulls).</summary>
    public int Seed { get; init; } = 0;
}

/// <summary>KSG jitter mode.</summary>
public enum KsgJitter
{
    /// <summary>No jitter: ties are handled by the strict inequalities of the definition.</summary>
    None,

    /// <summary>
    /// Exactly scikit-learn 1.2's <c>random_state=0</c> jitter: after scaling, x += 1e-10*max(1, mean|x|)*g_s and
    /// y += 1e-10*max(1, mean|y|)*h_s where g (first S) and h (next S) are numpy's legacy RandomState(0)
    /// standard normals (MT19937 + polar Box-Muller). Used to reproduce the reference values bit for bit.
    /// </summary>
    SklearnRandomState0,
}

/// <summary>Bandwidth rule of the Renyi estimator's Gaussian kernel, sigma per variable v of S samples.</summary>
public readonly record struct Bandwidth(BandwidthRule Rule, double Value)
{
    /// <summary>sigma = 1.06 * std(v) * S^(-1/5), std with ddof 0.</summary>
    public static Bandwidth Silverman => new(BandwidthRule.Silverman, 0);

    /// <summary>sigma = std(v) * S^(-1/5) (Scott's factor for one dimension), std with ddof 0.</summary>
    public static Bandwidth Scott => new(BandwidthRule.Scott, 0);

    /// <summary>sigma = median of |v_a - v_b| over seeded random index pairs a != b (all pairs when S(S-1)/2 &lt;= 65536).</summary>
    public static Bandwidth Median => new(BandwidthRule.Median, 0);

    /// <summary>Silverman times a per-layer factor chosen from shuffled pairs (see <see cref="RenyiBandwidthTuner"/>).</summary>
    public static Bandwidth Tuned => new(BandwidthRule.Tuned, 0);

    /// <summary>The same sigma for every variable.</summary>
    public static Bandwidth Fixed(double sigma) => new(BandwidthRule.Fixed, sigma);

    /// <summary>Parses "silverman", "scott", "median", "tuned" or a positive number.</summary>
    public static Bandwidth Parse(string text)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "silverman": return Silverman;
            case "scott": return Scott;
            case "median": return Median;
            case "tuned": return Tuned;
        }
        if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double s)
            && s > 0 && double.IsFinite(s))
            return Fixed(s);
        throw new BadArgumentException($"--bandwidth '{text}' is not silverman, scott, median, tuned or a positive number");
    }

    public override string ToString() => Rule == BandwidthRule.Fixed
        ? Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)
        : Rule.ToString().ToLowerInvariant();
}

public enum BandwidthRule { Silverman, Scott, Median, Tuned, Fixed }
