namespace LlmPruneFast.Cli.Commands;

/// <summary><c>--tokenizer</c> of the verbs that read a decoder checkpoint (prune, apply, eval, report, generate): a llama2.c .bin's tokenizer.</summary>
internal static class ModelInputFlags
{
    public const string TokenizerHelp = "With a llama2.c .bin --model: its SentencePiece tokenizer (.model); default: tokenizer.model (or tokenizer.json) beside the .bin. " +
        "Refused with any other model (a folder's tokenizer is its own).";

    /// <summary>Refuses <c>--tokenizer</c> with a model that is not a llama2.c .bin (ONNX graphs and encoders read their own).</summary>
    /// <exception cref="BadArgumentException"><paramref name="tokenizer"/> is given.</exception>
    public static void RejectTokenizer(string? tokenizer, string model)
    {
        if (tokenizer != null)
            throw new BadArgumentException($"--tokenizer applies to a llama2.c .bin model only; '{model}' is read with its own tokenizer");
    }
}
