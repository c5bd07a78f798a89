using System.Runtime.InteropServices;
using LlmPruneFast.Models.Onnx.Proto;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// Lookup tables over one ONNX graph: which node produces a value, which nodes consume it, which values are
/// initializers or outputs of Constant nodes. Built once; the graph must not change while the index is used.
/// </summary>
public sealed class GraphIndex
{
    private readonly Dictionary<string, NodeProto> _producer = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeProto, int> _order = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> _graphOutputs;

    public GraphProto Graph { get; }

    public GraphIndex(GraphProto graph)
    {
        Graph = graph;
        foreach (var t in graph.Initializer) _initializers[t.Name] = t;
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            _order[node] = i;
            foreach (var o in node.Output)
                if (o.Length > 0) _producer[o] = node;
            foreach (var input in node.Input)
            {
                if (input.Length == 0) continue;
                if (!_consumers.TryGetValue(input, out var list)) _consumers[input] = list = [];
                if (!list.Contains(node)) list.Add(node);
            }
            // Nodes inside subgraphs (If/Loop bodies) may read outer values: count them as consumers of the parent node.
            foreach (var a in node.Attribute)
                foreach (var sub in a.Graphs.Append(a.G).Where(g => g != null))
                    foreach (var inner in sub.Node)
                        foreach (var input in inner.Input)
                        {
                            if (input.Length == 0) continue;
                            if (!_consumers.TryGetValue(input, out var list)) _consumers[input] = list = [];
                            if (!list.Contains(node)) list.Add(node);
                        }
        }
        _graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The node that writes <paramref name="value"/>, or null for graph inputs and initializers.</summary>
    public NodeProto? Producer(string value) => _producer.GetValueOrDefault(value);

    /// <summary>Nodes reading <paramref name="value"/> (each once).</summary>
    public IReadOnlyList<NodeProto> Consumers(string value) => _consumers.TryGetValue(value, out var l) ? l : [];

    /// <summary>The initializer named <paramref name="value"/>, or null.</summary>
    public TensorProto? Initializer(string value) => _initializers.GetValueOrDefault(value);

    /// <summary>Position of <paramref name="node"/> in the graph's (topologically sorted) node list.</summary>
    public int Order(NodeProto node) => _order[node];

    public bool IsGraphOutput(string value) => _graphOutputs.Contains(value);

    /// <summary>The value's tensor when it is an initializer or the output of a Constant node (attribute <c>value</c>), else null.</summary>
    public TensorProto? Constant(string value)
    {
        if (Initializer(value) is { } t) return t;
        if (Producer(value) is { OpType: "Constant" } c)
            return c.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
        return null;
    }

    /// <summary>True when the value is fixed (initializer or Constant output).</summary>
    public bool IsConstant(string value) => Initializer(value) != null || Producer(value) is { OpType: "Constant" };

    /// <summary>The single float value of a constant holding one element (any rank), or null.</summary>
    public double? ScalarValue(string value)
    {
        if (Constant(value) is not { } t) return null;
        if (t.Dims.Aggregate(1L, (a, b) => a * b) != 1) return null;
        var values = Numbers(t);
        return values.Length == 1 ? values[0] : null;
    }

    /// <summary>A node's name for messages: its name, else its op type and first output.</summary>
    public static string Describe(NodeProto node) =>
        node.Name.Length > 0 ? $"'{node.Name}' ({node.OpType})" : $"{node.OpType} -> '{node.Output.FirstOrDefault()}'";

    /// <summary>Int attribute <paramref name="name"/> of <paramref name="node"/>, or <paramref name="fallback"/>.</summary>
    public static long IntAttribute(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

    public static float FloatAttribute(NodeProto node, string name, float fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;

    /// <summary>Values of a numeric constant as float64 (float, double, float16 excluded, integers); empty for other types.</summary>
    public static double[] Numbers(TensorProto t)
    {
        var raw = t.RawData.Span;
        switch ((DT)t.DataType)
        {
            case DT.Float:
                return raw.Length > 0 ? MemoryMarshal.Cast<byte, float>(raw).ToArray().Select(v => (double)v).ToArray() : t.FloatData.Select(v => (double)v).ToArray();
            case DT.Double:
                return raw.Length > 0 ? MemoryMarshal.Cast<byte, double>(raw).ToArray() : t.DoubleData.ToArray();
            case DT.Int64:
                return raw.Length > 0 ? MemoryMarshal.Cast<byte, long>(raw).ToArray().Select(v => (double)v).ToArray() : t.Int64Data.Select(v => (double)v).ToArray();
            case DT.Int32:
                return raw.Length > 0 ? MemoryMarshal.Cast<byte, int>(raw).ToArray().Select(v => (double)v).ToArray() : t.Int32Data.Select(v => (double)v).ToArray();
            default:
                return [];
        }
    }

    /// <summary>Values of an int64 constant (int32 widened), or null for other types.</summary>
    public static long[]? Int64s(TensorProto t) => (DT)t.DataType switch
    {
        DT.Int64 => t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray() : t.Int64Data.ToArray(),
        DT.Int32 => (t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, int>(t.RawData.Span).ToArray() : t.Int32Data.ToArray()).Select(v => (long)v).ToArray(),
        _ => null,
    };

    /// <summary>
    /// Values of a float32 tensor (raw_data or float_data). Other element types are refused: the pruner computes on
    /// float32 weights and writes them back in the same type.
    /// </summary>
    /// <exception cref="UnsupportedArchitectureException">The tensor is not float32.</exception>
    public static float[] Floats(TensorProto t)
    {
        if ((DT)t.DataType != DT.Float)
            throw new UnsupportedArchitectureException($"initializer '{t.Name}' is {(DT)t.DataType}; only float32 weights can be pruned");
        return t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : [.. t.FloatData];
    }
}
