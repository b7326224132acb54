namespace R2M.Tensors.Tests;

/// <summary>Stored-precision weights: rounding, raw bytes, and Linear over them equal to f32 Linear over the rounded weights.</summary>
public sealed class WeightMatrixTests
{
    [Theory]
    [InlineData(1f, (ushort)0x3f80)]
    [InlineData(1.00390625f, (ushort)0x3f80)]   // exactly half-way: ties to even (down)
    [InlineData(1.01171875f, (ushort)0x3f82)]   // half-way above an odd mantissa: ties to even (up)
    [InlineData(-2.5f, (ushort)0xc020)]
    [InlineData(float.PositiveInfinity, (ushort)0x7f80)]
    public void F32ToBf16_RoundsToNearestEven(float value, ushort expected) =>
        Assert.Equal(expected, Precision.F32ToBf16(value));

    [Fact]
    public void F32ToBf16_NaN_StaysNaN() => Assert.True(float.IsNaN(Precision.Bf16ToF32(Precision.F32ToBf16(float.NaN))));

    [Theory]
    [InlineData(WeightPrecision.F32)]
    [InlineData(WeightPrecision.BF16)]
    [InlineData(WeightPrecision.F16)]
    public void CopyFrom_ThenCopyTo_GivesRoundedValues(WeightPrecision p)
    {
        var rng = new Random(1);
        var src = TestUtil.RandomFloats(rng, 7 * 9, 3);
        var m = new WeightMatrix(7, 9, p);
        m.CopyFrom(src);
        var back = new float[src.Length];
        m.CopyTo(back);
        var rounded = (float[])src.Clone();
        Precision.Round(rounded, p);
        Assert.Equal(rounded, back);
        Assert.Equal(7 * 9 * Precision.Size(p), m.Bytes.Length);
    }

    [Fact]
    public void CopyFromBytes_WrongLength_ThrowsNamingTheSize()
    {
        var m = new WeightMatrix(2, 3, WeightPrecision.BF16);
        var e = Assert.Throws<ArgumentException>(() => m.CopyFromBytes(new byte[10]));
        Assert.Contains("needs 12", e.Message);
    }

    public static TheoryData<int, WeightPrecision> Cases()
    {
        var d = new TheoryData<int, WeightPrecision>();
        foreach (var rows in new[] { 1, 3, 8, 16, 17, 40, 130 })
        {
            foreach (var p in new[] { WeightPrecision.F32, WeightPrecision.BF16, WeightPrecision.F16 })
            {
                d.Add(rows, p);
            }
        }
        return d;
    }

    /// <summary>Few rows (decode kernel) and many rows (blocked GEMM widening while packing) both.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void LinearForward_StoredWeights_MatchesF32LinearOnRoundedWeights(int rows, WeightPrecision p)
    {
        // in = 300 spans two k slices (KC = 256) of the blocked GEMM.
        foreach (var inF in new[] { 70, 300 })
            LinearCase(rows, p, inF);
    }

    private static void LinearCase(int rows, WeightPrecision p, int inF)
    {
        var rng = new Random(rows);
        int outF = 300;
        var x = TestUtil.RandomFloats(rng, rows * inF);
        var w = TestUtil.RandomFloats(rng, outF * inF);
        var bias = TestUtil.RandomFloats(rng, outF);
        var m = new WeightMatrix(outF, inF, p);
        m.CopyFrom(w);
        Precision.Round(w, p);
        var expected = new float[rows * outF];
        var actual = new float[rows * outF];
        Gemm.SgemmManaged(false, true, rows, outF, inF, 1f, x, inF, w, inF, 0f, expected, outF);
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < outF; j++)
            {
                expected[r * outF + j] += bias[j];
            }
        }
        Linear.Forward(actual, x, m, bias, rows);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * Math.Max(1, Math.Abs(expected[i])), $"{p} rows={rows} at {i}: {actual[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void LinearForward_ShortInput_ThrowsNamingInput()
    {
        var m = new WeightMatrix(4, 5, WeightPrecision.BF16);
        var e = Assert.Throws<ArgumentException>(() => Linear.Forward(new float[8], new float[9], m, default, 2));
        Assert.Equal("input", e.ParamName);
    }
}
