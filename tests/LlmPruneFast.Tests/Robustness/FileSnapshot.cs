using System.Security.Cryptography;

namespace LlmPruneFast.Tests.Robustness;

/// <summary>The exact bytes of a file, or of every file under a folder (relative path -> SHA-256), to prove nothing changed.</summary>
public static class FileSnapshot
{
    public static IReadOnlyDictionary<string, string> Of(string path)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (File.Exists(path)) result[""] = Hash(path);
        else if (Directory.Exists(path))
            foreach (var f in Directory.EnumerateFileSystemEntries(path, "*", SearchOption.AllDirectories))
                result[Path.GetRelativePath(path, f)] = File.Exists(f) ? Hash(f) : "<dir>";
        return result;
    }

    private static string Hash(string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));

    /// <summary>Asserts <paramref name="path"/> still holds exactly <paramref name="before"/>.</summary>
    public static void AssertUnchanged(IReadOnlyDictionary<string, string> before, string path)
    {
        var after = Of(path);
        Assert.Equal(before.Keys, after.Keys);
        foreach (var (k, v) in before) Assert.True(v == after[k], $"'{Path.Combine(path, k)}' changed");
    }
}
