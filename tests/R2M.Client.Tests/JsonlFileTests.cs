using R2M.Client.Training;

namespace R2M.Client.Tests;

public sealed class JsonlFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("r2m-jsonl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void ReadPrompts_ValidLines_ReadsPromptsAndIdsSkippingBlankLines()
    {
        string path = Write("p.jsonl", "{\"prompt\": \"héllo\", \"id\": \"a\"}\n\n{\"prompt\": \"two\"}\n");
        var records = JsonlFile.ReadPrompts(path);
        Assert.Equal([new PromptRecord("héllo", "a"), new PromptRecord("two", null)], records);
    }

    [Fact]
    public void ReadPairs_ValidLine_ReadsAllFields()
    {
        string path = Write("pairs.jsonl", "{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": \"r\"}\r\n");
        Assert.Equal(new PairRecord("p", "c", "r", null), Assert.Single(JsonlFile.ReadPairs(path)));
    }

    [Theory]
    [InlineData("{\"prompt\": \"ok\"}\n{\"promt\": \"typo\"}\n", ":2: unknown field \"promt\"")]
    [InlineData("{\"prompt\": \"ok\"}\n{\"prompt\": 3}\n", ":2: field \"prompt\" must be a string")]
    [InlineData("{\"prompt\": \"ok\"}\n\n{\"prompt\": \"x\"\n", ":3: not valid JSON")]
    [InlineData("[1, 2]\n", ":1: expected a JSON object")]
    [InlineData("{\"id\": \"x\"}\n", ":1: field \"prompt\" is required")]
    [InlineData("\n\n", "no records")]
    public void ReadPrompts_BadLine_ErrorNamesFileAndLine(string text, string expected)
    {
        string path = Write("bad.jsonl", text);
        var e = Assert.Throws<InvalidDataException>(() => JsonlFile.ReadPrompts(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ReadPairs_MissingRejected_ErrorNamesField()
    {
        string path = Write("pairs.jsonl", "{\"prompt\": \"p\", \"chosen\": \"c\"}\n");
        var e = Assert.Throws<InvalidDataException>(() => JsonlFile.ReadPairs(path));
        Assert.Contains(path + ":1: field \"rejected\" is required", e.Message);
    }

    [Fact]
    public void ReadPrompts_InvalidUtf8_ErrorNamesLine()
    {
        string path = Path.Combine(_dir, "bin.jsonl");
        File.WriteAllBytes(path, [.. "{\"prompt\": \"ok\"}\n"u8, (byte)'{', 0xC3, 0x28, (byte)'}', (byte)'\n']);
        var e = Assert.Throws<InvalidDataException>(() => JsonlFile.ReadPrompts(path));
        Assert.Contains(path + ":2: not valid UTF-8", e.Message);
    }

    [Fact]
    public void ReadPrompts_NoFile_FileNotFoundNamingPath()
    {
        string path = Path.Combine(_dir, "absent.jsonl");
        var e = Assert.Throws<FileNotFoundException>(() => JsonlFile.ReadPrompts(path));
        Assert.Contains(path, e.Message);
    }
}
