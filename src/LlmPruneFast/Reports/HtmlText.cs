using System.Globalization;
using System.Text;

namespace LlmPruneFast.Reports;

/// <summary>Escaping and invariant number formatting shared by the HTML page and its SVG charts.</summary>
internal static class HtmlText
{
    /// <summary>
    /// Text made safe for element content and double- or single-quoted attributes (also valid XML): &amp; &lt; &gt;
    /// " ' are replaced by character references, and control characters other than tab/newline (not allowed in
    /// XML) by U+FFFD.
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var sb = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                case '\t' or '\n' or '\r': sb.Append(c); break;
                default: sb.Append(c < ' ' || c is '\uFFFE' or '\uFFFF' ? '\uFFFD' : c); break;
            }
        }
        return sb.ToString();
    }

    /// <summary>An SVG coordinate: at most two decimals, invariant, no exponent.</summary>
    public static string Coord(double v) => Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>A value for people: 4 significant digits, thousands grouped for large magnitudes, invariant.</summary>
    public static string Number(double v)
    {
        if (double.IsNaN(v)) return "n/a";
        if (double.IsInfinity(v)) return v > 0 ? "inf" : "-inf";
        double a = Math.Abs(v);
        if (a == 0) return "0";
        if (a >= 1e6 && a == Math.Floor(a)) return v.ToString("#,0", CultureInfo.InvariantCulture);
        if (a >= 1e4) return v.ToString("#,0", CultureInfo.InvariantCulture);
        if (a < 1e-3) return v.ToString("0.###e+0", CultureInfo.InvariantCulture);
        return v.ToString("G4", CultureInfo.InvariantCulture);
    }

    /// <summary>An integer count with thousands separators.</summary>
    public static string Count(double v) => v.ToString("#,0", CultureInfo.InvariantCulture);

    /// <summary>A fraction as a percentage with one decimal.</summary>
    public static string Percent(double fraction) => (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>A byte count in B, KiB, MiB or GiB (binary units), 3 significant digits.</summary>
    public static string Bytes(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        int u = 0;
        while (Math.Abs(bytes) >= 1024 && u < units.Length - 1) { bytes /= 1024; u++; }
        string format = u == 0 || Math.Abs(bytes) >= 100 ? "0" : Math.Abs(bytes) >= 10 ? "0.#" : "0.##";
        return bytes.ToString(format, CultureInfo.InvariantCulture) + " " + units[u];
    }
}
