using R2M.Grpc.Internal;

namespace R2M.Grpc.Tests.Wire;

public sealed class TimeoutTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("4m", 40_000L)]
    [InlineData("5u", 50L)]
    [InlineData("100n", 1L)]
    [InlineData("101n", 2L)] // sub-tick nanoseconds round up
    [InlineData("1n", 1L)]
    [InlineData("0S", 0L)]
    [InlineData("99999999S", 999_999_990_000_000L)]
    public void TryParse_EachUnit_Ticks(string header, long ticks)
    {
        Assert.True(GrpcTimeout.TryParse(header, out var timeout));
        Assert.Equal(ticks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("123456789S")] // nine digits: over the 8-digit limit
    [InlineData("10s")]
    [InlineData("10h")]
    [InlineData("-1S")]
    [InlineData("1.5S")]
    [InlineData(" 1S")]
    public void TryParse_Malformed_False(string header)
    {
        Assert.False(GrpcTimeout.TryParse(header, out _));
    }

    [Theory]
    [InlineData(1L, "100n")]
    [InlineData(10_000L, "1000000n")]
    [InlineData(10_000_000L, "1000000u")]
    [InlineData(36_000_000_000L, "3600000m")]
    public void Format_PicksFinestUnitWithinEightDigits(long ticks, string expected)
    {
        Assert.Equal(expected, GrpcTimeout.Format(TimeSpan.FromTicks(ticks)));
    }

    [Fact]
    public void Format_NonPositive_SmallestLegalValue()
    {
        Assert.Equal("1n", GrpcTimeout.Format(TimeSpan.Zero));
        Assert.Equal("1n", GrpcTimeout.Format(TimeSpan.FromSeconds(-3)));
    }

    [Fact]
    public void FormatThenParse_ManyDurations_NeverShorterAndAtMostOneUnitLonger()
    {
        var rng = new Random(42);
        for (var i = 0; i < 2000; i++)
        {
            var ticks = (long)Math.Pow(10, rng.NextDouble() * 17); // 1 tick .. ~30 years
            var original = TimeSpan.FromTicks(Math.Max(1, ticks));
            var text = GrpcTimeout.Format(original);
            Assert.InRange(text.Length, 2, 9);
            Assert.True(GrpcTimeout.TryParse(text, out var parsed), text);
            Assert.True(parsed >= original, $"{original} -> {text} -> {parsed}");
            Assert.True(parsed - original <= UnitOf(text[^1]), $"{original} -> {text} -> {parsed}");
        }
    }

    [Fact]
    public void Format_HugeDuration_HoursCappedAtEightDigits()
    {
        Assert.Equal("99999999H", GrpcTimeout.Format(TimeSpan.MaxValue));
    }

    private static TimeSpan UnitOf(char unit) => unit switch
    {
        'H' => TimeSpan.FromHours(1),
        'M' => TimeSpan.FromMinutes(1),
        'S' => TimeSpan.FromSeconds(1),
        'm' => TimeSpan.FromMilliseconds(1),
        'u' => TimeSpan.FromMicroseconds(1),
        _ => TimeSpan.FromTicks(1),
    };
}
