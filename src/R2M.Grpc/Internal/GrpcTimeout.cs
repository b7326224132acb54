namespace R2M.Grpc.Internal;

/// <summary>
/// <c>grpc-timeout</c> (PROTOCOL-HTTP2.md): "Timeout → TimeoutValue TimeoutUnit", TimeoutValue a
/// positive integer of at most 8 ASCII digits, TimeoutUnit one of H (hours), M (minutes),
/// S (seconds), m (milliseconds), u (microseconds), n (nanoseconds).
/// </summary>
internal static class GrpcTimeout
{
    public const long MaxValue = 99_999_999;

    // Units from finest to coarsest, as nanoseconds per unit, for the formatter.
    private static readonly (char Unit, long Nanos)[] Units =
    [
        ('n', 1L),
        ('u', 1_000L),
        ('m', 1_000_000L),
        ('S', 1_000_000_000L),
        ('M', 60_000_000_000L),
        ('H', 3_600_000_000_000L),
    ];

    /// <summary>
    /// Parses a header value. Zero is accepted and means "already expired" (grpc-core does the
    /// same). Sub-tick nanoseconds round up so a deadline is never shortened.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out TimeSpan timeout)
    {
        timeout = default;
        if (text.Length < 2 || text.Length > 9)
        {
            return false;
        }

        long value = 0;
        foreach (var c in text[..^1])
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        long ticks;
        switch (text[^1])
        {
            case 'H': ticks = value * TimeSpan.TicksPerHour; break;
            case 'M': ticks = value * TimeSpan.TicksPerMinute; break;
            case 'S': ticks = value * TimeSpan.TicksPerSecond; break;
            case 'm': ticks = value * TimeSpan.TicksPerMillisecond; break;
            case 'u': ticks = value * TimeSpan.TicksPerMicrosecond; break;
            case 'n': ticks = (value + 99) / 100; break; // one tick is 100 ns
            default: return false;
        }

        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>
    /// Formats with the finest unit that fits in 8 digits, rounding up. Non-positive timeouts
    /// format as "1n" (the smallest legal value); callers should fail such calls locally instead.
    /// </summary>
    public static string Format(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return "1n";
        }

        // Ticks are 100 ns; nanos fit in a long for every TimeSpan below ~29 years, beyond that
        // the nanos overflow, so work in ticks for the coarse units.
        foreach (var (unit, nanos) in Units)
        {
            var value = nanos >= 100
                ? CeilDiv(timeout.Ticks, nanos / 100)
                : (timeout.Ticks <= long.MaxValue / 100 ? timeout.Ticks * 100 : long.MaxValue);
            if (value <= MaxValue)
            {
                return value.ToString(System.Globalization.CultureInfo.InvariantCulture) + unit;
            }
        }

        return MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture) + "H";
    }

    private static long CeilDiv(long a, long b) => (a / b) + (a % b == 0 ? 0 : 1);
}
