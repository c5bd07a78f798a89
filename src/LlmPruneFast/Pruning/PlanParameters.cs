using System.Collections;
using System.Globalization;

namespace LlmPruneFast.Pruning;

/// <summary>
/// Named scalar parameters (of a method, estimator or compensation) as they appear in a plan: values are
/// double, long, bool or string; keys are kept in ordinal order so the JSON is deterministic.
/// </summary>
public sealed class PlanParameters : IEnumerable<KeyValuePair<string, object>>
{
    private readonly SortedDictionary<string, object> _values = new(StringComparer.Ordinal);

    public int Count => _values.Count;

    /// <summary>Sets a number; an integral value that fits a long is stored as long (as it reads back from JSON).</summary>
    public PlanParameters Set(string key, double value)
    {
        if (!double.IsFinite(value)) throw new BadArgumentException($"parameter '{key}' must be finite, found {value}");
        _values[key] = value == Math.Floor(value) && Math.Abs(value) < 9e15 ? (object)(long)value : value;
        return this;
    }

    public PlanParameters Set(string key, long value) { _values[key] = value; return this; }
    public PlanParameters Set(string key, bool value) { _values[key] = value; return this; }
    public PlanParameters Set(string key, string value) { _values[key] = value; return this; }

    public bool Contains(string key) => _values.ContainsKey(key);

    /// <summary>The value as a double; <paramref name="fallback"/> when absent.</summary>
    public double GetDouble(string key, double fallback) => _values.TryGetValue(key, out var v)
        ? v switch
        {
            double d => d,
            long l => l,
            _ => throw new BadArgumentException($"parameter '{key}' must be a number, found '{v}'"),
        }
        : fallback;

    public long GetInt64(string key, long fallback) => _values.TryGetValue(key, out var v)
        ? v switch
        {
            long l => l,
            _ => throw new BadArgumentException($"parameter '{key}' must be an integer, found '{Format(v)}'"),
        }
        : fallback;

    public string GetString(string key, string fallback) => _values.TryGetValue(key, out var v)
        ? v as string ?? throw new BadArgumentException($"parameter '{key}' must be text, found '{Format(v)}'")
        : fallback;

    public bool GetBool(string key, bool fallback) => _values.TryGetValue(key, out var v)
        ? v is bool b ? b : throw new BadArgumentException($"parameter '{key}' must be true or false, found '{Format(v)}'")
        : fallback;

    /// <summary>Invariant text of a value, for messages.</summary>
    public static string Format(object v) => v switch
    {
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };

    public PlanParameters Clone()
    {
        var c = new PlanParameters();
        foreach (var (k, v) in _values) c._values[k] = v;
        return c;
    }

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator() => _values.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => string.Join(", ", _values.Select(kv => $"{kv.Key}={Format(kv.Value)}"));
}
