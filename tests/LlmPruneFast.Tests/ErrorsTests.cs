namespace LlmPruneFast.Tests;

public class ErrorsTests
{
    [Fact]
    public void ExitCodesAreDistinctPerFamily()
    {
        LlmPruneException[] all =
        [
            new BadArgumentException("a"), new BadModelFileException("b"), new UnsupportedArchitectureException("c"),
            new MissingInputException("d"), new OutputConflictException("e"), new MemoryBudgetException("f"),
            new BadDataException("g"),
        ];
        var codes = all.Select(e => e.ExitCode).ToArray();
        Assert.Equal(codes.Length, codes.Distinct().Count());
        Assert.DoesNotContain(ExitCodes.Ok, codes);
        Assert.DoesNotContain(ExitCodes.Unexpected, codes);
    }
}
