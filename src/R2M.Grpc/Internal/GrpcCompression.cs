using System.Buffers;
using System.IO.Compression;

namespace R2M.Grpc.Internal;

/// <summary>
/// Message compression (grpc/grpc doc/compression.md). Each message is compressed on its own and
/// flagged with the frame's compressed bit. "gzip" is RFC 1952; "deflate" is the zlib format of
/// RFC 1950 (what grpc-core and grpc-java send under that name).
/// </summary>
internal static class GrpcCompression
{
    public const string Identity = "identity";
    public const string Gzip = "gzip";
    public const string Deflate = "deflate";

    /// <summary>The value this implementation sends as <c>grpc-accept-encoding</c>.</summary>
    public const string AcceptEncodingValue = "identity,gzip,deflate";

    public static bool IsSupported(string? encoding) =>
        encoding is null or Identity or Gzip or Deflate;

    public static bool IsIdentity(string? encoding) => encoding is null or "" or Identity;

    /// <summary>True when a comma-separated accept list (e.g. "identity, gzip") names the encoding.</summary>
    public static bool AcceptListContains(string? acceptList, string encoding)
    {
        if (string.IsNullOrEmpty(acceptList))
        {
            return false;
        }

        foreach (var range in acceptList.AsSpan().Split(','))
        {
            if (acceptList.AsSpan()[range].Trim().Equals(encoding, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Compresses one serialized message into <paramref name="output"/>.</summary>
    public static void Compress(string encoding, ReadOnlySpan<byte> message, CompressionLevel level, Stream output)
    {
        using var stream = CreateCompressor(encoding, output, level);
        stream.Write(message);
    }

    /// <summary>
    /// Decompresses one message. The output is limited to <paramref name="maxSize"/> bytes so a small
    /// compressed frame cannot expand into unbounded memory; past it RESOURCE_EXHAUSTED. Corrupt
    /// data is INTERNAL ("decompression failure", docs/specs.md section 1). The returned array is
    /// rented from <see cref="ArrayPool{T}.Shared"/>; return it after use.
    /// </summary>
    public static byte[] Decompress(string encoding, ReadOnlySequence<byte> compressed, int maxSize, out int length)
    {
        var input = ArrayPool<byte>.Shared.Rent(checked((int)compressed.Length));
        var output = ArrayPool<byte>.Shared.Rent(Math.Max(256, (int)Math.Min(maxSize + 1L, compressed.Length * 4L)));
        length = 0;
        try
        {
            compressed.CopyTo(input);
            using var source = new MemoryStream(input, 0, (int)compressed.Length, writable: false);
            using var stream = CreateDecompressor(encoding, source);
            while (true)
            {
                if (length == output.Length)
                {
                    output = Grow(output, length, maxSize);
                }

                var read = stream.Read(output, length, output.Length - length);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > maxSize)
                {
                    throw new RpcException(new Status(StatusCode.ResourceExhausted,
                        $"Received message exceeds the maximum configured message size ({maxSize} bytes) after decompression."));
                }
            }

            return output;
        }
        catch (InvalidDataException)
        {
            ArrayPool<byte>.Shared.Return(output);
            throw new RpcException(new Status(StatusCode.Internal, $"Failed to decompress message with '{encoding}'."));
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(output);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
        }
    }

    private static byte[] Grow(byte[] buffer, int used, int maxSize)
    {
        // One byte past the limit is enough to detect an oversize message.
        var size = (int)Math.Min((long)buffer.Length * 2, maxSize + 1L);
        size = Math.Max(size, used + 1);
        var bigger = ArrayPool<byte>.Shared.Rent(size);
        buffer.AsSpan(0, used).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(buffer);
        return bigger;
    }

    private static Stream CreateCompressor(string encoding, Stream output, CompressionLevel level) => encoding switch
    {
        Gzip => new GZipStream(output, level, leaveOpen: true),
        Deflate => new ZLibStream(output, level, leaveOpen: true),
        _ => throw new ArgumentException($"Unsupported grpc-encoding '{encoding}'.", nameof(encoding)),
    };

    private static Stream CreateDecompressor(string encoding, Stream input) => encoding switch
    {
        Gzip => new GZipStream(input, CompressionMode.Decompress),
        Deflate => new ZLibStream(input, CompressionMode.Decompress),
        _ => throw new RpcException(new Status(StatusCode.Internal, $"Unsupported grpc-encoding '{encoding}'.")),
    };
}
