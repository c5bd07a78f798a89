using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// Finds feed-forward blocks in a foreign ONNX graph by pattern, starting from every down-projection candidate (a
/// MatMul/Gemm whose weight is a 2-D initializer taking f > d inputs to d outputs) and walking up its input z through
/// elementwise ops to the up projection(s):
/// <list type="bullet">
/// <item>projection: MatMul(x, W[d, f]), MatMul(x, Transpose(W[f, d])), Gemm (either transB), or one output of a
/// Split of such a MatMul (fused gate/up), each with an optional Add of a bias initializer [f];</item>
/// <item>activation: Erf-form GELU, Tanh-form GELU, Gelu/FastGelu ops, Relu, x * Sigmoid(x); gated when the walk ends
/// at two projections (the one under the non-linearity is the gate);</item>
/// <item>down: MatMul/Gemm back to d, with an optional Add of a bias initializer [d].</item>
/// </list>
/// A candidate whose shape fits but whose surroundings do not is listed with the reason; a block whose width is read
/// outside it (e.g. by Shape), whose weight is shared, or that overlaps another block is rejected as fatal.
/// </summary>
public static class FfnBlockFinder
{
    private static readonly HashSet<string> Elementwise = new(StringComparer.Ordinal)
        { "Mul", "Add", "Sub", "Div", "Pow", "Erf", "Tanh", "Sigmoid", "Relu", "Gelu", "FastGelu", "Neg", "Sqrt", "Identity" };
    private static readonly HashSet<string> Nonlinear = new(StringComparer.Ordinal) { "Erf", "Tanh", "Sigmoid", "Relu", "Gelu", "FastGelu" };

    /// <summary>A projection d -> f (or the down projection f -> d) as found in the graph.</summary>
    private sealed record Projection(string Output, string Input, NodeProto Node, WeightSlice Weight, string? Bias, List<NodeProto> Nodes, NodeProto? Split, string? SplitValue);

    public static FfnSearch Find(GraphIndex ix)
    {
        var blocks = new List<OnnxFfnBlock>();
        var rejected = new List<RejectedCandidate>();
        foreach (var node in ix.Graph.Node)
        {
            if (node.OpType is not ("MatMul" or "Gemm") || node.Domain is not ("" or "ai.onnx")) continue;
            var down = Weight(ix, node, down: true);
            if (down == null || down.Count <= down.Hidden) continue; // not shaped like f -> d with f > d
            try
            {
                blocks.Add(Block(ix, node, down, blocks.Count));
            }
            catch (CandidateException ex)
            {
                rejected.Add(new RejectedCandidate(GraphIndex.Describe(node), ex.Message, ex.Fatal));
            }
        }
        // Overlaps: one node or weight claimed by two blocks.
        var owner = new Dictionary<NodeProto, OnnxFfnBlock>(ReferenceEqualityComparer.Instance);
        var taken = new List<OnnxFfnBlock>();
        foreach (var b in blocks)
        {
            var clash = b.Nodes.FirstOrDefault(owner.ContainsKey);
            if (clash != null)
            {
                rejected.Add(new RejectedCandidate(GraphIndex.Describe(b.DownNode),
                    $"ambiguous match: node {GraphIndex.Describe(clash)} also belongs to the block ending at {GraphIndex.Describe(owner[clash].DownNode)}", true));
                continue;
            }
            foreach (var n in b.Nodes) owner[n] = b;
            taken.Add(b with { Index = taken.Count });
        }
        // Up-shaped projections no block took: say why (e.g. a classifier head).
        foreach (var node in ix.Graph.Node)
        {
            if (node.OpType is not ("MatMul" or "Gemm") || owner.ContainsKey(node) || rejected.Any(r => r.Node == GraphIndex.Describe(node))) continue;
            if (Weight(ix, node, down: false) is { } up && up.Count > up.Hidden)
                rejected.Add(new RejectedCandidate(GraphIndex.Describe(node),
                    $"projects {up.Hidden} -> {up.Count} but its output does not reach a projection back to {up.Hidden} through an activation", false));
        }
        return new FfnSearch(taken, rejected);
    }

    private sealed class CandidateException(string message, bool fatal = false) : Exception(message)
    {
        public bool Fatal { get; } = fatal;
    }

    private static OnnxFfnBlock Block(GraphIndex ix, NodeProto downNode, WeightSlice down, int index)
    {
        int f = down.Count, d = down.Hidden;
        string z = downNode.Input[0];
        var nodes = new List<NodeProto> { downNode };
        if (ix.Producer(downNode.Input[1]) is { OpType: "Transpose" } dt) nodes.Add(dt);
        // ---- walk up from z through elementwise ops to the projections ----
        var leaves = new List<Projection>();
        var walked = new List<NodeProto>();
        var vectors = new List<string>();
        Walk(ix, z, f, leaves, walked, new HashSet<string>(StringComparer.Ordinal), vectors);
        // Only once the walk reached projections on every path is this an FFN whose constants matter.
        if (vectors.Count > 0) throw new CandidateException(vectors[0], true);
        var nonlinear = walked.Where(n => Nonlinear.Contains(n.OpType)).ToList();
        if (nonlinear.Count == 0)
            throw new CandidateException($"no activation between the projections into '{z}'");
        var distinct = leaves.DistinctBy(l => l.Output).ToList();
        Projection up;
        Projection? gate = null;
        if (distinct.Count == 1) up = distinct[0];
        else if (distinct.Count == 2)
        {
            // The gate is the projection the non-linearity reads; the other is only multiplied in.
            var underActivation = nonlinear.SelectMany(n => ReachedLeaves(ix, n, distinct)).Distinct().ToList();
            if (underActivation.Count != 1)
                throw new CandidateException($"ambiguous match: both projections into '{z}' pass through a non-linearity, so neither is the plain up projection", true);
            gate = underActivation[0];
            up = distinct.First(p => p != gate);
        }
        else throw new CandidateException($"ambiguous match: {distinct.Count} projections feed '{z}'", true);
        string activation = ActivationName(nonlinear, walked, gate != null);

        foreach (var p in distinct)
        {
            if (p.Weight.Count != f)
                throw new CandidateException($"projection {GraphIndex.Describe(p.Node)} has width {p.Weight.Count}, the down projection reads {f}");
            if (p.Weight.Hidden != d)
                throw new CandidateException($"projection {GraphIndex.Describe(p.Node)} reads {p.Weight.Hidden} features, the down projection writes {d}");
        }
        if (gate != null && gate.Input != up.Input)
            throw new CandidateException($"gate {GraphIndex.Describe(gate.Node)} and up {GraphIndex.Describe(up.Node)} read different inputs");

        // ---- down bias ----
        string? downBias = null;
        string downOut = downNode.Output[0];
        string blockOutput = downOut;
        if (downNode.OpType == "Gemm" && downNode.Input.Count > 2 && downNode.Input[2].Length > 0)
            downBias = BiasName(ix, downNode.Input[2], d) ?? throw new CandidateException($"Gemm bias '{downNode.Input[2]}' is not a [{d}] initializer");
        else if (ix.Consumers(downOut) is [{ OpType: "Add" } add] && !ix.IsGraphOutput(downOut))
        {
            string other = add.Input[0] == downOut ? add.Input[1] : add.Input[0];
            if (BiasName(ix, other, d) is { } b) { downBias = b; nodes.Add(add); blockOutput = add.Output[0]; }
        }

        foreach (var p in distinct) nodes.AddRange(p.Nodes);
        nodes.AddRange(walked);
        nodes = nodes.Distinct().ToList();
        var split = distinct.Select(p => p.Split).FirstOrDefault(s => s != null);

        // ---- the width must stay private to the block ----
        var inBlock = new HashSet<NodeProto>(nodes, ReferenceEqualityComparer.Instance);
        var internalValues = new List<string>();
        foreach (var n in nodes)
            foreach (var o in n.Output)
            {
                if (o.Length == 0 || o == blockOutput) continue;
                if (n == split && !distinct.Any(p => p.SplitValue == o)) continue; // another output of a fused Split
                internalValues.Add(o);
                if (ix.IsGraphOutput(o))
                    throw new CandidateException($"the FFN width {f} is visible outside the block: '{o}' is a graph output", true);
                var outside = ix.Consumers(o).FirstOrDefault(c => !inBlock.Contains(c));
                if (outside != null)
                    throw new CandidateException($"the FFN width {f} is used outside the block: '{o}' is read by node {GraphIndex.Describe(outside)}", true);
            }
        // ---- weights and biases must belong to this block alone ----
        foreach (var (name, role) in new[] { (up.Weight.Initializer, "up"), (down.Initializer, "down"), (gate?.Weight.Initializer, "gate"),
                     (up.Bias, "up bias"), (gate?.Bias, "gate bias"), (downBias, "down bias") })
        {
            if (name == null) continue;
            var other = ix.Consumers(name).FirstOrDefault(c => !inBlock.Contains(c));
            if (other != null)
                throw new CandidateException($"{role} weight '{name}' is shared with node {GraphIndex.Describe(other)}", true);
            if (ix.IsGraphOutput(name) || ix.Graph.Input.Any(i => i.Name == name))
                throw new CandidateException($"{role} weight '{name}' is also a graph input or output", true);
        }

        return new OnnxFfnBlock
        {
            Index = index,
            Width = f,
            Hidden = d,
            Activation = activation,
            Gate = gate?.Weight,
            Up = up.Weight,
            Down = down,
            GateBias = gate?.Bias,
            UpBias = up.Bias,
            DownBias = downBias,
            ActivationTensor = z,
            DownNode = downNode,
            Split = split,
            Nodes = nodes.OrderBy(ix.Order).ToArray(),
            Internal = internalValues.Distinct().ToArray(),
        };
    }

    /// <summary>Walks from <paramref name="value"/> towards the graph inputs through elementwise ops, collecting projections.</summary>
    private static void Walk(GraphIndex ix, string value, int width, List<Projection> leaves, List<NodeProto> walked, HashSet<string> seen,
        List<string>? vectors = null)
    {
        if (!seen.Add(value) || ix.IsConstant(value)) return;
        if (FindProjection(ix, value, width) is { } p) { leaves.Add(p); return; }
        var producer = ix.Producer(value)
            ?? throw new CandidateException($"'{value}' is a graph input, not the output of an up projection");
        if (!Elementwise.Contains(producer.OpType) || producer.Domain is not ("" or "ai.onnx" or "com.microsoft"))
            throw new CandidateException($"'{value}' comes from {GraphIndex.Describe(producer)}, not from an activation of an up projection");
        if (!walked.Contains(producer)) walked.Add(producer);
        foreach (var input in producer.Input)
        {
            if (input.Length == 0) continue;
            // A constant with more than one value inside the activation (e.g. FastGelu's bias, a per-channel scale)
            // would have to shrink with the width; only scalars are understood there.
            if (ix.Constant(input) is { } c && c.Dims.Aggregate(1L, (a, b) => a * b) > 1)
                vectors?.Add($"node {GraphIndex.Describe(producer)} inside the activation applies the constant '{input}' of shape [{string.Join(", ", c.Dims)}]; only scalar constants are supported there");
            Walk(ix, input, width, leaves, walked, seen, vectors);
        }
    }

    /// <summary>The projections among <paramref name="candidates"/> that <paramref name="node"/> reads, directly or through elementwise ops.</summary>
    private static IEnumerable<Projection> ReachedLeaves(GraphIndex ix, NodeProto node, List<Projection> candidates)
    {
        var leaves = new List<Projection>();
        try
        {
            foreach (var input in node.Input)
                if (input.Length > 0) Walk(ix, input, candidates[0].Weight.Count, leaves, [], new HashSet<string>(StringComparer.Ordinal));
        }
        catch (CandidateException) { }
        return candidates.Where(c => leaves.Any(l => l.Output == c.Output));
    }

    private static string ActivationName(List<NodeProto> nonlinear, List<NodeProto> walked, bool gated)
    {
        var kinds = nonlinear.Select(n => n.OpType switch
        {
            "Erf" => "gelu",
            "Gelu" => n.Attribute.FirstOrDefault(a => a.Name == "approximate")?.S.ToStringUtf8() == "tanh" ? "gelu-tanh" : "gelu",
            "FastGelu" => "gelu-tanh",
            "Tanh" => walked.Any(w => w.OpType is "Pow" or "Mul") ? "gelu-tanh" : "tanh",
            "Sigmoid" => walked.Any(w => w.OpType == "Mul" && w.Input.Contains(n.Output[0])) ? "silu" : "sigmoid",
            "Relu" => "relu",
            _ => n.OpType.ToLowerInvariant(),
        }).Distinct().ToList();
        if (kinds.Count != 1)
            throw new CandidateException($"unrecognised activation: {string.Join(" and ", kinds)} mixed");
        string kind = kinds[0];
        if (!gated) return kind;
        return kind switch { "silu" => "swiglu", "gelu" => "geglu", "relu" => "reglu", _ => "gated-" + kind };
    }

    /// <summary>The projection (d -> <paramref name="width"/>, optional bias) whose output is <paramref name="value"/>, or null.</summary>
    private static Projection? FindProjection(GraphIndex ix, string value, int width)
    {
        var producer = ix.Producer(value);
        if (producer == null) return null;
        if (producer.OpType == "Add")
        {
            for (int side = 0; side < 2; side++)
            {
                string inner = producer.Input[side], other = producer.Input[1 - side];
                if (BiasName(ix, other, width) is not { } bias) continue;
                if (ix.Consumers(inner).Count != 1 || ix.IsGraphOutput(inner)) continue;
                if (Bare(ix, inner) is { } bare && bare.Bias == null)
                {
                    var nodes = new List<NodeProto>(bare.Nodes) { producer };
                    return bare with { Output = value, Bias = bias, Nodes = nodes };
                }
            }
            return null;
        }
        return Bare(ix, value);
    }

    /// <summary>A MatMul/Gemm (or one Split output of a MatMul) with an initializer weight, without a separate bias Add.</summary>
    private static Projection? Bare(GraphIndex ix, string value)
    {
        var node = ix.Producer(value);
        if (node == null) return null;
        if (node.OpType is "MatMul" or "Gemm")
        {
            if (Weight(ix, node, down: false) is not { } w) return null;
            var nodes = new List<NodeProto> { node };
            if (ix.Producer(node.Input[1]) is { OpType: "Transpose" } t) nodes.Add(t);
            string? bias = null;
            if (node.OpType == "Gemm" && node.Input.Count > 2 && node.Input[2].Length > 0)
                bias = BiasName(ix, node.Input[2], w.Count) ?? throw new CandidateException($"Gemm bias '{node.Input[2]}' of {GraphIndex.Describe(node)} is not a [{w.Count}] initializer");
            return new Projection(value, node.Input[0], node, w, bias, nodes, null, null);
        }
        if (node.OpType == "Split")
        {
            var mm = ix.Producer(node.Input[0]);
            if (mm is not { OpType: "MatMul" } || ix.Consumers(node.Input[0]).Count != 1) return null;
            if (Weight(ix, mm, down: false) is not { } w) return null;
            if (GraphIndex.IntAttribute(node, "axis", 0) != -1)
                throw new CandidateException($"fused projection {GraphIndex.Describe(mm)}: Split {GraphIndex.Describe(node)} is not on the last axis (-1)");
            var sizes = SplitSizes(ix, node, w.Count);
            int k = node.Output.IndexOf(value);
            int offset = (int)sizes.Take(k).Sum();
            var nodes = new List<NodeProto> { mm, node };
            if (ix.Producer(mm.Input[1]) is { OpType: "Transpose" } t) nodes.Add(t);
            return new Projection(value, mm.Input[0], mm, w with { Offset = offset, Count = (int)sizes[k] }, null, nodes, node, value);
        }
        return null;
    }

    /// <summary>Sizes of a Split's outputs along its axis of total length <paramref name="total"/>.</summary>
    internal static long[] SplitSizes(GraphIndex ix, NodeProto split, int total)
    {
        if (split.Input.Count > 1 && split.Input[1].Length > 0)
            return ix.Constant(split.Input[1]) is { } t && GraphIndex.Int64s(t) is { } s ? s
                : throw new CandidateException($"Split {GraphIndex.Describe(split)}: sizes '{split.Input[1]}' are not a constant");
        if (split.Attribute.FirstOrDefault(a => a.Name == "split") is { } attr) return [.. attr.Ints];
        int n = split.Output.Count;
        if (total % n != 0) throw new CandidateException($"Split {GraphIndex.Describe(split)}: {total} columns do not split evenly into {n}");
        return Enumerable.Repeat((long)(total / n), n).ToArray();
    }

    /// <summary>Name of <paramref name="value"/> when it is a float32 initializer of shape [<paramref name="length"/>].</summary>
    private static string? BiasName(GraphIndex ix, string value, int length) =>
        ix.Initializer(value) is { } t && t.Dims.Count == 1 && t.Dims[0] == length && t.DataType == (int)TensorProto.Types.DataType.Float ? value : null;

    /// <summary>
    /// The weight of a MatMul/Gemm as a neuron slice. For an up projection (<paramref name="down"/> false) neurons are
    /// the output features; for a down projection, the input features. Null when the weight is not a 2-D initializer.
    /// </summary>
    private static WeightSlice? Weight(GraphIndex ix, NodeProto node, bool down)
    {
        if (node.Input.Count < 2) return null;
        bool transposed = false;
        string name = node.Input[1];
        var w = ix.Initializer(name);
        if (w == null && ix.Producer(name) is { OpType: "Transpose" } t && ix.Initializer(t.Input[0]) is { } inner)
        {
            var perm = t.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints;
            if (perm != null && perm.Count == 2 && (perm[0] != 1 || perm[1] != 0)) return null;
            if (ix.Consumers(name).Count != 1) return null;
            (w, transposed) = (inner, true);
        }
        if (w == null || w.Dims.Count != 2) return null;
        if (node.OpType == "Gemm")
        {
            if (GraphIndex.IntAttribute(node, "transA", 0) != 0 || GraphIndex.FloatAttribute(node, "alpha", 1f) != 1f || GraphIndex.FloatAttribute(node, "beta", 1f) != 1f) return null;
            if (GraphIndex.IntAttribute(node, "transB", 0) != 0) transposed = !transposed;
        }
        // As stored: the effective matrix is [in, out] = W or W^T.
        int rows = (int)w.Dims[0], cols = (int)w.Dims[1];
        int inAxis = transposed ? 1 : 0, outAxis = 1 - inAxis;
        int neuronAxis = down ? inAxis : outAxis;
        int neurons = neuronAxis == 0 ? rows : cols, hidden = neuronAxis == 0 ? cols : rows;
        return new WeightSlice(w.Name, neuronAxis, 0, neurons, hidden);
    }
}
