using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Models;

public sealed class LlamaTokenizerLoaderTests
{
    [SharedFact]
    public void ReferencePrompt_EncodesToReferenceIds_AndDecodesBack()
    {
        var reference = Stories260KReference.Load();
        var tokenizer = LlamaTokenizerLoader.Load(SharedData.Stories260KTokenizer);
        const string prompt = "Once upon a time, there was a dog named";
        var ids = tokenizer.Encode(prompt);
        Assert.Equal(reference.PromptIdsWithBos, ids);
        Assert.Equal(prompt, tokenizer.Decode(ids.Skip(1)));
    }

    [SharedFact]
    public void ByteFallback_RoundTripsCharactersOutsideTheVocabulary()
    {
        var tokenizer = LlamaTokenizerLoader.Load(SharedData.Stories260KTokenizer, addBeginOfSentence: false);
        const string text = "Zoë saw a 🐶.";
        var ids = tokenizer.Encode(text);
        Assert.Contains(ids, id => id >= 3 && id < 3 + 256); // byte pieces <0x00>..<0xFF> follow <unk>, <s>, </s>
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [SharedTheory]
    [InlineData("x")]
    [InlineData(" I ")]
    [InlineData("é")]
    public void OneCharacterText_StillEncodes_AsTheFirstWordOfALongerText(string text)
    {
        var tokenizer = LlamaTokenizerLoader.Load(SharedData.Stories260KTokenizer);
        var ids = tokenizer.Encode(text);
        Assert.True(ids.Length >= 2, $"'{text}' encoded to [{string.Join(", ", ids)}]");
        Assert.Equal(1, ids[0]);
        Assert.Equal(text.Trim(), tokenizer.Decode(ids.Skip(1)));
        var longer = tokenizer.Encode(text.Trim() + " saw a cat"); // the library handles longer texts itself
        Assert.Equal(ids, longer.Take(ids.Length));
    }

    [Fact]
    public void MissingOrGarbageTokenizer_IsReportedByName()
    {
        Assert.Throws<MissingInputException>(() => LlamaTokenizerLoader.Load("/nonexistent/tokenizer.model"));
        string garbage = Path.Combine(Path.GetTempPath(), $"llmprune-garbage-{Environment.ProcessId}.model");
        File.WriteAllBytes(garbage, [1, 2, 3, 4, 5, 0xff, 0xff]);
        try
        {
            var ex = Assert.Throws<BadModelFileException>(() => LlamaTokenizerLoader.Load(garbage));
            Assert.Contains(garbage, ex.Message);
        }
        finally { File.Delete(garbage); }
    }
}
