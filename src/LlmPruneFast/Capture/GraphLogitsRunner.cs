using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Capture;

/// <summary>
/// A foreign decoder graph as an <see cref="ILogitsRunner"/>: its inputs made by an <see cref="IGraphFeed"/>, its
/// logits read from the output named <c>logits</c> (or its only output). Owns its native session: dispose it.
/// </summary>
public sealed class GraphLogitsRunner : ILogitsRunner, IDisposable
{
    private readonly GraphSession _session;
    private readonly string _output;

    /// <exception cref="UnsupportedArchitectureException">No output that holds logits [batch, seq, vocab].</exception>
    public GraphLogitsRunner(ModelProto graph, IGraphFeed feed, int threads = 0, bool cuda = false)
    {
        var outputs = graph.Graph.Output;
        _output = outputs.FirstOrDefault(o => o.Name == "logits")?.Name
                  ?? (outputs.Count == 1 ? outputs[0].Name : null)
                  ?? throw new UnsupportedArchitectureException($"ONNX graph '{graph.Graph.Name}' has no output named 'logits' and {outputs.Count} outputs ({string.Join(", ", outputs.Select(o => o.Name))}): cannot tell which holds the next-token logits");
        _session = new GraphSession(graph, feed, threads, cuda);
        try
        {
            // The vocabulary may be symbolic in the declared shape: ask the graph once, on the feed's leading token
            // (the pad id when the tokenizer adds none, as Qwen2's does not).
            var probe = TokenBatch.Create([feed.Encode("", 1) is { Length: > 0 } lead ? lead : [feed.PadId]], feed.Side, feed.PadId);
            int values = _session.Run(probe, [_output])[0].Length;
            if (values <= 0 || values % probe.Seq != 0)
                throw new UnsupportedArchitectureException($"graph output '{_output}' holds {values} values for one token; expected [batch, seq, vocab] logits");
            Vocab = values / probe.Seq;
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    public int Vocab { get; }

    /// <summary>A foreign graph does not declare its positions: no limit is checked here (see the callers' truncation).</summary>
    public int MaxPositions => int.MaxValue;

    public RunResult Run(TokenBatch batch)
    {
        var logits = _session.Run(batch, [_output])[0];
        if (logits.Length != (long)batch.Batch * batch.Seq * Vocab)
            throw new UnsupportedArchitectureException($"graph output '{_output}' holds {logits.Length} values for a {batch.Batch} x {batch.Seq} batch; expected {Vocab} logits per token");
        return new RunResult { Batch = batch.Batch, Seq = batch.Seq, Vocab = Vocab, Logits = logits };
    }

    public void Dispose() => _session.Dispose();
}
