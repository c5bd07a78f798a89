using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;

namespace LlmPruneFast.Information;

/// <summary>
/// Activation matrices on disk: raw little-endian float32, S x N row-major (S = file bytes / (4 N)), or NumPy .npy
/// (version 1-3 header; dtype '&lt;f4' or '&lt;f8'; C order or fortran_order True; shape (S, N)). float64 values are
/// rounded to float32. Also writes float32 matrices as raw or .npy, to a temporary name renamed at the end.
/// </summary>
public static partial class ActivationFiles
{
    /// <summary>Reads <paramref name="path"/>; <paramref name="columns"/> = N (for .npy it must match the header's).</summary>
    public static ActivationMatrix Read(string path, int columns)
    {
        if (columns < 1) throw new BadArgumentException($"--cols {columns} must be at least 1");
        if (!File.Exists(path)) throw new MissingInputException($"input file '{path}' does not exist");
        using var stream = File.OpenRead(path);
        return Read(stream, path, columns);
    }

    /// <summary>Reads from a seekable <paramref name="stream"/>; <paramref name="path"/> names it in errors.</summary>
    public static ActivationMatrix Read(Stream stream, string path, int columns)
    {
        if (columns < 1) throw new BadArgumentException($"--cols {columns} must be at least 1");
        var magic = new byte[6];
        int got = stream.ReadAtLeast(magic, 6, throwOnEndOfStream: false);
        stream.Position = 0;
        bool npy = got == 6 && magic[0] == 0x93 && Encoding.ASCII.GetString(magic, 1, 5) == "NUMPY";
        return npy ? ReadNpy(path, stream, columns) : ReadRaw(path, stream, columns);
    }

    private static ActivationMatrix ReadRaw(string path, Stream stream, int columns)
    {
        long bytes = stream.Length, rowBytes = 4L * columns;
        if (bytes == 0) throw new BadDataException($"{path}: file is empty");
        if (bytes % rowBytes != 0)
            throw new BadDataException($"{path}: {bytes} bytes is not a multiple of N x 4 = {rowBytes} bytes (N = {columns} float32 columns per row)");
        long rows = bytes / rowBytes;
        if (rows > int.MaxValue || rows * columns > Array.MaxLength)
            throw new MemoryBudgetException($"{path}: {rows} x {columns} values exceed the {Array.MaxLength} one matrix holds; use fewer rows");
        var data = new float[rows * columns];
        ReadFloats(stream, data, bigEndian: false, path);
        return ActivationMatrix.FromRowMajor((int)rows, columns, data);
    }

    private static void ReadFloats(Stream stream, Span<float> dst, bool bigEndian, string path)
    {
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(dst);
        int read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
        if (read != bytes.Length) throw new BadDataException($"{path}: expected {bytes.Length} data bytes, found {read}");
        if (!BitConverter.IsLittleEndian || bigEndian)
            for (int i = 0; i < dst.Length; i++)
                dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(dst[i])));
    }

    private static ActivationMatrix ReadNpy(string path, Stream stream, int columns)
    {
        var pre = new byte[12];
        if (stream.ReadAtLeast(pre, 10, throwOnEndOfStream: false) < 10) throw new BadDataException($"{path}: truncated .npy header");
        int major = pre[6];
        int headerLen, headerStart;
        if (major == 1) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(pre.AsSpan(8)); headerStart = 10; }
        else if (major is 2 or 3) { headerLen = (int)BinaryPrimitives.ReadUInt32LittleEndian(pre.AsSpan(8)); headerStart = 12; }
        else throw new BadDataException($"{path}: unsupported .npy version {major}.{pre[7]}");
        if (headerLen <= 0 || headerLen > 1 << 20) throw new BadDataException($"{path}: .npy header length {headerLen} is not sane");
        stream.Position = headerStart;
        var hb = new byte[headerLen];
        if (stream.ReadAtLeast(hb, headerLen, throwOnEndOfStream: false) != headerLen) throw new BadDataException($"{path}: truncated .npy header");
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(hb);

        var descr = DescrRegex().Match(header);
        var fortran = FortranRegex().Match(header);
        var shape = ShapeRegex().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success) throw new BadDataException($"{path}: .npy header lacks descr, fortran_order or shape: {header.Trim()}");
        string dtype = descr.Groups[1].Value;
        int width = dtype switch
        {
            "<f4" => 4,
            "<f8" => 8,
            _ => throw new BadDataException($"{path}: .npy dtype '{dtype}' is not supported: expected '<f4' or '<f8'"),
        };
        bool fortranOrder = fortran.Groups[1].Value == "True";
        // Strict: each dimension plain decimal digits (no "200L", no names), as numpy writes them.
        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.TryParse(d, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long v) && v <= int.MaxValue ? v
                : throw new BadDataException($"{path}: .npy shape ({shape.Groups[1].Value}) holds '{d}', expected a non-negative integer")).ToArray();
        if (dims.Length != 2) throw new BadDataException($"{path}: .npy shape ({shape.Groups[1].Value}) must be 2-D (S, N)");
        if (dims[1] != columns) throw new BadArgumentException($"--cols {columns} does not match {path}'s shape ({dims[0]}, {dims[1]})");
        if (dims[0] < 1) throw new BadDataException($"{path}: .npy holds no rows");
        if (dims[0] * dims[1] > Array.MaxLength) throw new MemoryBudgetException($"{path}: {dims[0]} x {dims[1]} values exceed {Array.MaxLength}");
        int s = (int)dims[0];
        long count = dims[0] * dims[1];
        long dataStart = headerStart + headerLen;
        if (stream.Length - dataStart != count * width)
            throw new BadDataException($"{path}: .npy data is {stream.Length - dataStart} bytes, shape ({s}, {columns}) x {width} needs {count * width}");
        stream.Position = dataStart;
        var values = new float[count];
        if (width == 4) ReadFloats(stream, values, bigEndian: false, path);
        else
        {
            var buf = new byte[8 * 65536];
            long done = 0;
            while (done < count)
            {
                int n = (int)Math.Min(65536, count - done);
                if (stream.ReadAtLeast(buf, 8 * n, throwOnEndOfStream: false) < 8 * n) throw new BadDataException($"{path}: truncated .npy data");
                for (int i = 0; i < n; i++) values[done + i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(buf.AsSpan(8 * i));
                done += n;
            }
        }
        // Fortran order is column-major: exactly ActivationMatrix's layout.
        return fortranOrder ? ActivationMatrix.FromColumnMajor(s, columns, values) : ActivationMatrix.FromRowMajor(s, columns, values);
    }

    /// <summary>
    /// Writes a rows x cols float32 matrix (row-major <paramref name="data"/>) as .npy ('&lt;f4', C order) when the
    /// name ends in .npy, else as raw little-endian float32; via a temporary file renamed into place.
    /// </summary>
    public static void WriteMatrix(string path, ReadOnlySpan<float> data, int rows, int cols)
    {
        if ((long)rows * cols != data.Length) throw new ArgumentException($"{data.Length} values for a {rows} x {cols} matrix");
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) fs.Write(NpyHeader("<f4", rows, cols));
                var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(data);
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
                fs.Write(bytes);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            throw;
        }
    }

    /// <summary>A version 1.0 .npy header for a C-order 2-D array, padded so the data starts on a 64-byte boundary.</summary>
    public static byte[] NpyHeader(string descr, long rows, long cols, bool fortranOrder = false)
    {
        string dict = $"{{'descr': '{descr}', 'fortran_order': {(fortranOrder ? "True" : "False")}, 'shape': ({rows}, {cols}), }}";
        int total = 10 + dict.Length + 1;
        int pad = (64 - total % 64) % 64;
        string header = dict + new string(' ', pad) + "\n";
        var bytes = new byte[10 + header.Length];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header).CopyTo(bytes, 10);
        return bytes;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrRegex();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranRegex();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRegex();
}
