namespace LlmPruneFast.Tests.Models;

/// <summary>A fresh folder under the system temp folder, deleted with everything in it on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"llmprune-test-{Guid.NewGuid():N}");

    public TempFolder() => Directory.CreateDirectory(Path);

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}

/// <summary>Hand-made safetensors bytes, for tests that need exact or deliberately broken files.</summary>
public static class SafeTensorsBytes
{
    public static byte[] Build(string headerJson, byte[] data, ulong? declaredHeaderLength = null)
    {
        var header = System.Text.Encoding.UTF8.GetBytes(headerJson);
        var result = new byte[8 + header.Length + data.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(result, declaredHeaderLength ?? (ulong)header.Length);
        header.CopyTo(result, 8);
        data.CopyTo(result, 8 + header.Length);
        return result;
    }
}
