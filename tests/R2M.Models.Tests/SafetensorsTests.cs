using System.Text;
using R2M.Models.Safetensors;

namespace R2M.Models.Tests;

public sealed class SafetensorsTests : IDisposable
{
    private readonly string _dir = TestSupport.NewTempDir("st");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>Writes a raw file: u64 LE header length, header JSON, data bytes.</summary>
    private string Raw(string name, string json, int dataBytes, long? headerLength = null)
    {
        var h = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + h.Length + dataBytes];
        BitConverter.GetBytes(headerLength ?? h.Length).CopyTo(bytes, 0);
        h.CopyTo(bytes, 8);
        File.WriteAllBytes(PathOf(name), bytes);
        return PathOf(name);
    }

    [Theory]
    [InlineData(SafetensorsDtype.F32)]
    [InlineData(SafetensorsDtype.F16)]
    [InlineData(SafetensorsDtype.BF16)]
    public void WriteRead_RoundTrip_ValuesWithinDtypePrecision(SafetensorsDtype dtype)
    {
        var rng = new Random(1);
        var a = Enumerable.Range(0, 37).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var b = new[] { 1.5f, -0.0f, -2048f };
        var path = PathOf("rt.safetensors");
        SafetensorsWriter.Write(path, [new("a", [37], a, dtype), new("b", [3], b, dtype), new("empty", [0, 4], Array.Empty<float>(), dtype)],
            new Dictionary<string, string> { ["format"] = "pt" });
        using var f = SafetensorsFile.Open(path);
        var tol = dtype switch { SafetensorsDtype.F32 => 0.0, SafetensorsDtype.F16 => 1e-3, _ => 8e-3 };
        var ra = f.ReadF32("a");
        for (var i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(ra[i] - a[i]) <= tol * Math.Abs(a[i]) + 1e-7, $"a[{i}] {ra[i]} vs {a[i]}");
        Assert.Equal(b, f.ReadF32("b"));
        Assert.Empty(f.ReadF32("empty"));
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(dtype, f.GetInfo("a").Dtype);
    }

    [Fact]
    public void Write_HeaderPaddedAndTensorsAligned()
    {
        var path = PathOf("align.safetensors");
        SafetensorsWriter.Write(path, [new("h", [3], new float[3], SafetensorsDtype.BF16), new("f", [5], new float[5])]);
        var bytes = File.ReadAllBytes(path);
        var n = BitConverter.ToInt64(bytes, 0);
        Assert.Equal(0, n % 8);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(0, f.GetInfo("f").Begin % 4);
        Assert.Equal(0, f.GetInfo("h").Begin % 2);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Open_RankZeroTensor_ReadsOneValue()
    {
        var path = PathOf("scalar.safetensors");
        SafetensorsWriter.Write(path, [new("s", [], new[] { 3.25f })]);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal([3.25f], f.ReadF32("s"));
    }

    [Fact]
    public void Open_TruncatedFile_NamesFileAndTensor()
    {
        var path = PathOf("trunc.safetensors");
        SafetensorsWriter.Write(path, [new("first", [4], new float[4]), new("second", [8], new float[8])]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Equal("second", e.TensorName);
        Assert.Contains("past the end", e.Message);
    }

    [Fact]
    public void Open_TooShortOrHeaderPastEnd_Throws()
    {
        File.WriteAllBytes(PathOf("tiny.safetensors"), [1, 2, 3]);
        Assert.Contains("too short", Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(PathOf("tiny.safetensors"))).Message);
        var p = Raw("hdr.safetensors", "{}", 0, headerLength: 1000);
        Assert.Contains("header length 1000", Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(p)).Message);
        var big = Raw("big.safetensors", "{}", 0, headerLength: 200_000_000);
        Assert.Contains("100,000,000", Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(big)).Message);
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "w", "unknown dtype 'F7'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "w", "needs 8 bytes")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "w", "past the end")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "b", "overlap")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "a", "hole")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "a", "duplicate")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "a", "non-negative")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "a", "end before begin")]
    public void Open_BadHeaderEntry_NamesTensor(string json, int dataBytes, string tensor, string problem)
    {
        var path = Raw("bad.safetensors", json, dataBytes);
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path));
        Assert.Equal(tensor, e.TensorName);
        Assert.Contains(problem, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("[1,2]", "not an object")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", "not a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "data buffer holds 8 bytes")]
    public void Open_BadHeader_NamesFile(string json, string problem)
    {
        var path = Raw("badh.safetensors", json, json.Contains("\"a\"", StringComparison.Ordinal) ? 8 : 0);
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path));
        Assert.Contains(problem, e.Message);
        Assert.StartsWith(path, e.Message);
    }

    [Fact]
    public void ReadF32_IntegerDtype_NamesTensor()
    {
        var path = Raw("int.safetensors", "{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
        using var f = SafetensorsFile.Open(path);
        var e = Assert.Throws<SafetensorsException>(() => f.ReadF32("ids"));
        Assert.Equal("ids", e.TensorName);
        Assert.Throws<SafetensorsException>(() => f.ReadF32("nope"));
    }

    [Fact]
    public void Open_MissingFile_Throws() =>
        Assert.Contains("not found", Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(PathOf("none.safetensors"))).Message);
}
