using System.Runtime.InteropServices;
using Google.Protobuf;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.Onnx;

/// <summary>
/// Appends nodes, initializers, inputs and outputs to an ONNX graph with short, readable value names. Each
/// <see cref="Op"/> call is one ONNX node and returns the name of its (first) output. With <paramref name="externalData"/>
/// the initializers go to an external data file as they are added (see <see cref="StreamedExternalData"/>).
/// </summary>
internal sealed class OnnxGraphWriter(string graphName, StreamedExternalData? externalData = null)
{
    private readonly GraphProto _graph = new() { Name = graphName };
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <summary>One node with one output named <paramref name="output"/> (made unique).</summary>
    public string Op(string opType, string output, string[] inputs, params AttributeProto[] attributes) =>
        OpMulti(opType, [output], inputs, attributes)[0];

    /// <summary>One node with several outputs.</summary>
    public string[] OpMulti(string opType, string[] outputs, string[] inputs, params AttributeProto[] attributes)
    {
        var names = outputs.Select(Unique).ToArray();
        var node = new NodeProto { OpType = opType, Name = names[0] + "/" + opType };
        node.Input.AddRange(inputs);
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return names;
    }

    /// <summary>A float32 initializer (row-major data, shape <paramref name="dims"/>); the name is kept as given.</summary>
    public string Float(string name, long[] dims, ReadOnlySpan<float> data)
    {
        if (!_names.Add(name)) throw new InvalidOperationException($"duplicate ONNX value name '{name}'");
        return AddFloat(name, dims, data);
    }

    /// <summary>A float32 scalar constant (shape []).</summary>
    public string Scalar(string name, float value) => AddFloat(Unique(name), [], [value]);

    private string AddFloat(string name, long[] dims, ReadOnlySpan<float> data) =>
        AddRaw(name, TensorProto.Types.DataType.Float, dims, MemoryMarshal.AsBytes(data)); // ONNX raw_data is little-endian, as is every platform .NET runs on

    /// <summary>An initializer of <paramref name="bytes"/>: copied into raw_data, or written straight to the external data file.</summary>
    private string AddRaw(string name, TensorProto.Types.DataType type, long[]? dims, ReadOnlySpan<byte> bytes)
    {
        var t = new TensorProto { Name = name, DataType = (int)type };
        if (dims != null) t.Dims.AddRange(dims);
        if (externalData != null && externalData.Reserve(bytes.Length))
            externalData.AddExternal(t, bytes);
        else
        {
            t.RawData = UnsafeByteOperations.UnsafeWrap(bytes.ToArray());
            externalData?.AddInline(t);
        }
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>An int64 constant: a 1-D tensor of <paramref name="values"/>, or a scalar when <paramref name="scalar"/>.</summary>
    public string Int64(string name, long[] values, bool scalar = false) =>
        AddRaw(Unique(name), TensorProto.Types.DataType.Int64, scalar ? null : [values.Length], MemoryMarshal.AsBytes(values.AsSpan()));

    /// <summary>A graph input; a dimension is a fixed size (long) or a symbolic name (string).</summary>
    public void Input(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        _names.Add(name);
        _graph.Input.Add(ValueInfo(name, type, dims));
    }

    /// <summary>Declares an existing value as a graph output.</summary>
    public void Output(string name, TensorProto.Types.DataType type, params object[] dims) =>
        _graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>The model: IR version 8, default operator set at <paramref name="opset"/>.</summary>
    public ModelProto ToModel(int opset, string producer, IEnumerable<KeyValuePair<string, string>> metadata)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = producer, ProducerVersion = typeof(OnnxGraphWriter).Assembly.GetName().Version?.ToString() ?? "", Graph = _graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        foreach (var kv in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = kv.Key, Value = kv.Value });
        return model;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private string Unique(string name)
    {
        if (_names.Add(name)) return name;
        for (int i = 1; ; i++)
            if (_names.Add($"{name}_{i}")) return $"{name}_{i}";
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d switch
            {
                string p => new TensorShapeProto.Types.Dimension { DimParam = p },
                long v => new TensorShapeProto.Types.Dimension { DimValue = v },
                int v => new TensorShapeProto.Types.Dimension { DimValue = v },
                _ => throw new ArgumentException($"dimension {d} is neither a size nor a name"),
            });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
