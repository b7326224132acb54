using System.Text;
using R2M.Models.Gguf;
using R2M.Tensors;

namespace R2M.Models.Tests;

/// <summary>
/// The GGUF writer read back by an independent reader written here from the GGUF v3 spec: header,
/// metadata, tensor infos (reversed dims, ggml types), 32-byte alignment, and the tensor bytes - incl.
/// the regrouped qkv rows and the f16/bf16 conversions.
/// </summary>
public sealed class GgufTests : IDisposable
{
    private readonly string _dir = TestSupport.NewTempDir("gguf");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed record TensorInfo(string Name, long[] Dims, uint Type, long Offset);

    private sealed class Reader
    {
        public Dictionary<string, object> Meta { get; } = [];
        public Dictionary<string, TensorInfo> Tensors { get; } = [];
        public byte[] Bytes { get; }
        public long DataStart { get; }

        public Reader(string path)
        {
            Bytes = File.ReadAllBytes(path);
            using var r = new BinaryReader(new MemoryStream(Bytes));
            Assert.Equal("GGUF", Encoding.ASCII.GetString(r.ReadBytes(4)));
            Assert.Equal(3u, r.ReadUInt32());
            var nTensors = r.ReadUInt64();
            var nMeta = r.ReadUInt64();
            for (ulong i = 0; i < nMeta; i++)
            {
                var key = Str(r);
                Meta[key] = Value(r, r.ReadUInt32());
            }
            for (ulong i = 0; i < nTensors; i++)
            {
                var name = Str(r);
                var dims = new long[r.ReadUInt32()];
                for (var d = 0; d < dims.Length; d++)
                    dims[d] = (long)r.ReadUInt64();
                Tensors[name] = new TensorInfo(name, dims, r.ReadUInt32(), (long)r.ReadUInt64());
            }
            DataStart = (r.BaseStream.Position + 31) / 32 * 32;
        }

        public ReadOnlySpan<byte> Data(string name, int elementSize)
        {
            var t = Tensors[name];
            Assert.Equal(0, t.Offset % 32);
            return Bytes.AsSpan((int)(DataStart + t.Offset), (int)(t.Dims.Aggregate(1L, (a, d) => a * d) * elementSize));
        }

        private static string Str(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes((int)r.ReadUInt64()));

        private static object Value(BinaryReader r, uint type) => type switch
        {
            4 => r.ReadUInt32(),
            5 => r.ReadInt32(),
            6 => r.ReadSingle(),
            7 => r.ReadByte() != 0,
            8 => Str(r),
            9 => Array(r),
            _ => throw new InvalidDataException($"type {type}"),
        };

        private static object[] Array(BinaryReader r)
        {
            var type = r.ReadUInt32();
            var n = (long)r.ReadUInt64();
            var xs = new object[n];
            for (var i = 0; i < n; i++)
                xs[i] = Value(r, type);
            return xs;
        }
    }

    [Theory]
    [InlineData(WeightPrecision.F32, 0u, 4)]
    [InlineData(WeightPrecision.F16, 1u, 2)]
    [InlineData(WeightPrecision.BF16, 30u, 2)]
    public void WriteGptNeoX_ReadBack_MetadataNamesShapesAndBytes(WeightPrecision p, uint ggmlType, int size)
    {
        var m = TestModels.Create(TestModels.NeoX());
        var c = m.Config;
        var path = Path.Combine(_dir, $"m-{p}.gguf");
        GgufExport.WriteGptNeoX(m, path, p);
        var g = new Reader(path);

        Assert.Equal("gptneox", g.Meta["general.architecture"]);
        Assert.Equal((uint)c.HiddenSize, g.Meta["gptneox.embedding_length"]);
        Assert.Equal((uint)c.NumLayers, g.Meta["gptneox.block_count"]);
        Assert.Equal((uint)c.RotaryDims, g.Meta["gptneox.rope.dimension_count"]);
        Assert.Equal(true, g.Meta["gptneox.use_parallel_residual"]);
        Assert.Equal(c.VocabSize, ((object[])g.Meta["tokenizer.ggml.tokens"]).Length);
        Assert.Equal(4 + 12 * c.NumLayers, g.Tensors.Count);

        var embd = g.Tensors["token_embd.weight"];
        Assert.Equal(new long[] { c.HiddenSize, c.VocabSize }, embd.Dims);
        Assert.Equal(ggmlType, embd.Type);
        Assert.Equal(0u, g.Tensors["blk.1.attn_norm.bias"].Type);
        Assert.Equal(ToF32(g.Data("output.weight", size), p), Rounded(m.Parameter("embed_out.weight"), p));
        Assert.Equal(ToF32(g.Data("blk.1.ffn_down.weight", size), p), Rounded(m.Parameter("gpt_neox.layers.1.mlp.dense_4h_to_h.weight"), p));

        // qkv rows regrouped: GGUF row (part * C + h * hd + d) is HF row (h * 3hd + part * hd + d).
        var qkv = ToF32(g.Data("blk.0.attn_qkv.weight", size), p);
        var hfQkv = Rounded(m.Parameter("gpt_neox.layers.0.attention.query_key_value.weight"), p);
        var bias = ToF32(g.Data("blk.0.attn_qkv.bias", 4), WeightPrecision.F32);
        var hfBias = m.Parameter("gpt_neox.layers.0.attention.query_key_value.bias").ToArray();
        int hd = c.HeadDim, hid = c.HiddenSize;
        for (var part = 0; part < 3; part++)
            for (var h = 0; h < c.NumHeads; h++)
                for (var d = 0; d < hd; d++)
                {
                    int row = part * hid + h * hd + d, hfRow = h * 3 * hd + part * hd + d;
                    Assert.Equal(hfQkv.AsSpan(hfRow * hid, hid).ToArray(), qkv.AsSpan(row * hid, hid).ToArray());
                    Assert.Equal(hfBias[hfRow], bias[row]);
                }
    }

    [Fact]
    public void WriteGptNeoX_LlamaModel_Refused()
    {
        var m = TestModels.Create(TestModels.Llama());
        var e = Assert.Throws<NotSupportedException>(() => GgufExport.WriteGptNeoX(m, Path.Combine(_dir, "x.gguf"), WeightPrecision.F32));
        Assert.Contains("llama", e.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "x.gguf")));
    }

    private static float[] Rounded(Span<float> x, WeightPrecision p)
    {
        var r = x.ToArray();
        Precision.Round(r, p);
        return r;
    }

    private static float[] ToF32(ReadOnlySpan<byte> bytes, WeightPrecision p)
    {
        var r = new float[bytes.Length / Precision.Size(p)];
        switch (p)
        {
            case WeightPrecision.F32: System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).CopyTo(r); break;
            case WeightPrecision.F16: Precision.F16ToF32(bytes, r); break;
            default: Precision.Bf16ToF32(bytes, r); break;
        }
        return r;
    }
}
