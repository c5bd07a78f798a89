using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// How many token positions a graph holds, read from its position tables: an ONNX graph does not declare its
/// context length, but a learned position embedding (BERT, GPT-2) or a precomputed RoPE cos/sin cache is a constant
/// whose first axis is the positions, read with indices the graph computes (Gather) or cut to the sequence length
/// (Slice on axis 0). A sequence longer than that table makes ONNX Runtime fail inside the graph, so the pipeline
/// caps its sequences at the limit instead.
/// </summary>
public static class PositionTables
{
    /// <summary>Ops that pass a value through unchanged in content (only its shape or type), traced back to find where indices come from.</summary>
    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal) { "Cast", "Unsqueeze", "Squeeze", "Reshape", "Identity", "Flatten", "Expand" };

    /// <summary>The smallest position table's length and the node that reads it, or null when the graph has none.</summary>
    public static (int Positions, string Node)? Limit(GraphIndex index)
    {
        (int Positions, string Node)? best = null;
        foreach (var node in index.Graph.Node)
        {
            long? rows = node.OpType switch
            {
                "Gather" => GatheredRows(index, node),
                "Slice" => SlicedRows(index, node),
                _ => null,
            };
            if (rows is >= 2 and <= int.MaxValue && (best == null || rows < best.Value.Positions))
                best = ((int)rows, GraphIndex.Describe(node));
        }
        return best;
    }

    /// <summary>Rows of a constant table gathered on axis 0 at computed positions (not token ids, not fixed indices).</summary>
    private static long? GatheredRows(GraphIndex index, NodeProto gather)
    {
        if (gather.Input.Count < 2 || GraphIndex.IntAttribute(gather, "axis", 0) != 0) return null;
        if (index.Constant(gather.Input[0]) is not { Dims.Count: >= 2 } table) return null;
        string origin = Origin(index, gather.Input[1]);
        if (index.IsConstant(origin) || index.Producer(origin) is { OpType: "ConstantOfShape" }) return null; // fixed indices (e.g. token type 0)
        // A graph input read directly is token ids or token types, unless it is named as positions.
        if (index.Producer(origin) == null && !origin.Contains("position", StringComparison.OrdinalIgnoreCase)) return null;
        return table.Dims[0];
    }

    /// <summary>Rows of a constant table cut on axis 0 to a length the graph computes (a cache sliced to the sequence).</summary>
    private static long? SlicedRows(GraphIndex index, NodeProto slice)
    {
        if (slice.Input.Count < 3 || index.Constant(slice.Input[0]) is not { Dims.Count: >= 2 } table) return null;
        if (index.IsConstant(slice.Input[2])) return null; // a fixed cut is the graph's structure, not the sequence
        var axes = slice.Input.Count > 3 && slice.Input[3].Length > 0 ? index.Constant(slice.Input[3]) is { } a ? GraphIndex.Int64s(a) : null : [0];
        return axes is [0] ? table.Dims[0] : null;
    }

    private static string Origin(GraphIndex index, string value)
    {
        for (int hops = 0; hops < 16 && index.Producer(value) is { } p && PassThrough.Contains(p.OpType) && p.Input.Count > 0; hops++)
            value = p.Input[0];
        return value;
    }
}
