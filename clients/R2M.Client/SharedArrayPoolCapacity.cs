using System.Buffers;
using System.Globalization;

namespace R2M.Client;

/// <summary>
/// Raises how many arrays of one size <see cref="ArrayPool{T}.Shared"/> keeps per core, for
/// processes that receive large gRPC messages through <see cref="System.Net.Http.SocketsHttpHandler"/>.
/// </summary>
/// <remarks>
/// HttpClient buffers each HTTP/2 response stream in 16 KiB arrays rented from the shared pool, up
/// to the stream's flow-control window (R2MClient opens 8 MiB: up to 512 arrays in flight per
/// stream). The pool keeps 32 arrays of a size per core by default, so past that every rent
/// allocates and every return drops the array: in the 1 MiB streaming benchmark that was a third of
/// all allocated bytes and a quarter of the throughput (docs/grpc.md). The runtime reads the
/// capacity once, from the environment variable <see cref="EnvironmentVariable"/>, when the pool is
/// first used; so a host calls <see cref="TryRaise"/> first thing in <c>Main</c>. The library never
/// calls it: it changes the whole process.
/// </remarks>
public static class SharedArrayPoolCapacity
{
    /// <summary>The runtime's setting (System.Private.CoreLib, SharedArrayPoolStatics).</summary>
    public const string EnvironmentVariable = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";

    /// <summary>The runtime's default number of arrays of one size kept per core.</summary>
    public const int DefaultArraysPerCore = 32;

    /// <summary>Room for two 8 MiB stream windows of 16 KiB arrays on a two-core machine.</summary>
    public const int RecommendedArraysPerCore = 512;

    /// <summary>
    /// Sets <see cref="EnvironmentVariable"/> (unless the environment already sets it) and checks
    /// that the pool honours it. Returns false when the pool keeps no more than the default, e.g.
    /// because something in the process used it before this call.
    /// </summary>
    public static bool TryRaise(int arraysPerCore = RecommendedArraysPerCore)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(arraysPerCore, DefaultArraysPerCore);
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(EnvironmentVariable)))
        {
            Environment.SetEnvironmentVariable(EnvironmentVariable, arraysPerCore.ToString(CultureInfo.InvariantCulture));
        }

        return KeepsMoreThanDefault(ArrayPool<byte>.Shared);
    }

    /// <summary>
    /// Returns one more small array than a default pool can hold (32 per core plus the calling
    /// thread's own slot) and rents them back: only a raised pool hands every one of them back.
    /// </summary>
    internal static bool KeepsMoreThanDefault(ArrayPool<byte> pool)
    {
        const int probeLength = 16; // the smallest bucket: the probe leaves a few hundred bytes pooled
        var count = (DefaultArraysPerCore * Environment.ProcessorCount) + 2;
        var first = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            first[i] = pool.Rent(probeLength);
        }

        var returned = new HashSet<byte[]>(first, ReferenceEqualityComparer.Instance);
        foreach (var array in first)
        {
            pool.Return(array);
        }

        var back = 0;
        for (var i = 0; i < count; i++)
        {
            first[i] = pool.Rent(probeLength);
            back += returned.Contains(first[i]) ? 1 : 0;
        }

        foreach (var array in first)
        {
            pool.Return(array);
        }

        return back == count;
    }
}
