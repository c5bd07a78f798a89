namespace LlmPruneFast.Information;

/// <summary>
/// numpy's legacy <c>RandomState(seed).standard_normal</c> stream, written from its published definition so that the
/// KSG reference values (scikit-learn, <c>random_state=0</c>) can be reproduced exactly: MT19937 seeded by
/// init_genrand(seed); uniform doubles (a&gt;&gt;5, b&gt;&gt;6) -&gt; (a*2^26+b)/2^53; normals by the polar method, each
/// accepted pair giving f*x2 first and caching f*x1 for the next call.
/// </summary>
internal sealed class NumpyLegacyNormal
{
    private const int N = 624, M = 397;
    private readonly uint[] _mt = new uint[N];
    private int _pos;
    private bool _hasGauss;
    private double _gauss;

    public NumpyLegacyNormal(uint seed)
    {
        _mt[0] = seed;
        for (int i = 1; i < N; i++) _mt[i] = 1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i;
        _pos = N;
    }

    private uint NextUInt()
    {
        if (_pos >= N)
        {
            for (int i = 0; i < N; i++)
            {
                uint y = (_mt[i] & 0x8000_0000u) | (_mt[(i + 1) % N] & 0x7fff_ffffu);
                _mt[i] = _mt[(i + M) % N] ^ (y >> 1) ^ ((y & 1u) != 0 ? 0x9908_b0dfu : 0u);
            }
            _pos = 0;
        }
        uint x = _mt[_pos++];
        x ^= x >> 11;
        x ^= (x << 7) & 0x9d2c_5680u;
        x ^= (x << 15) & 0xefc6_0000u;
        x ^= x >> 18;
        return x;
    }

    public double NextDouble()
    {
        uint a = NextUInt() >> 5, b = NextUInt() >> 6;
        return (a * 67108864.0 + b) / 9007199254740992.0;
    }

    public double NextGaussian()
    {
        if (_hasGauss)
        {
            _hasGauss = false;
            return _gauss;
        }
        double x1, x2, r2;
        do
        {
            x1 = 2.0 * NextDouble() - 1.0;
            x2 = 2.0 * NextDouble() - 1.0;
            r2 = x1 * x1 + x2 * x2;
        } while (r2 >= 1.0 || r2 == 0.0);
        double f = Math.Sqrt(-2.0 * Math.Log(r2) / r2);
        _gauss = f * x1;
        _hasGauss = true;
        return f * x2;
    }

    /// <summary>The first <paramref name="count"/> normals of RandomState(seed).</summary>
    public static double[] First(uint seed, int count)
    {
        var g = new NumpyLegacyNormal(seed);
        var v = new double[count];
        for (int i = 0; i < count; i++) v[i] = g.NextGaussian();
        return v;
    }
}
