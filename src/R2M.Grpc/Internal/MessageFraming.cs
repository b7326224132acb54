using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Pipelines;
using Google.Protobuf;

namespace R2M.Grpc.Internal;

/// <summary>
/// Length-prefixed messages (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"):
/// Compressed-Flag (1 byte, 0 or 1) · Message-Length (4 bytes, big-endian unsigned) · Message.
/// Message boundaries are independent of DATA frame boundaries.
/// </summary>
internal static class MessageFraming
{
    public const int HeaderSize = 5;

    /// <summary>
    /// Reads the next message from <paramref name="reader"/> and parses it in place. Returns false
    /// when the stream ended cleanly before a new message. The claimed length is checked against
    /// <paramref name="options"/>' limit as soon as the 5-byte prefix is in, so a claimed 4 GiB
    /// message is refused without buffering it; a stream that ends mid-message is INTERNAL.
    /// </summary>
    public static async ValueTask<(bool Ok, T Message)> ReadMessageAsync<T>(
        PipeReader reader, MessageReadOptions options, Func<ReadOnlySequence<byte>, T> parse, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                reader.AdvanceTo(buffer.Start);
                throw new OperationCanceledException("Message read was canceled.");
            }

            bool hasHeader;
            bool compressed;
            long length;
            try
            {
                hasHeader = TryReadHeader(buffer, options, out compressed, out length);
            }
            catch
            {
                // Leave the reader usable (a read must be followed by AdvanceTo) before failing the call.
                reader.AdvanceTo(buffer.Start);
                throw;
            }

            if (hasHeader && buffer.Length >= HeaderSize + length)
            {
                var payload = buffer.Slice(HeaderSize, length);
                try
                {
                    return (true, compressed ? ParseCompressed(payload, options, parse) : ParseChecked(payload, parse));
                }
                finally
                {
                    reader.AdvanceTo(payload.End);
                }
            }

            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                if (buffer.Length == 0)
                {
                    return (false, default!);
                }

                throw new RpcException(new Status(StatusCode.Internal,
                    "Incomplete message: the stream ended inside a length-prefixed message."));
            }

            // Nothing consumed, everything examined: wake up when more bytes arrive.
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Reads from a <see cref="Stream"/> (e.g. an HTTP response body) through a pipe.</summary>
    public static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));

    /// <summary>
    /// Parses and validates the 5-byte prefix when present. Throws INTERNAL for a flag other than
    /// 0/1 or a compressed message on an identity call (docs/specs.md section 1: "Flag 1 without a
    /// non-identity grpc-encoding -> INTERNAL"), RESOURCE_EXHAUSTED for a length over the limit.
    /// </summary>
    public static bool TryReadHeader(ReadOnlySequence<byte> buffer, MessageReadOptions options, out bool compressed, out long length)
    {
        compressed = false;
        length = 0;
        if (buffer.Length < HeaderSize)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        var flag = header[0];
        length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        if (flag > 1)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"Invalid compressed flag {flag} in message prefix."));
        }

        compressed = flag == 1;
        if (compressed && GrpcCompression.IsIdentity(options.Encoding))
        {
            throw new RpcException(new Status(StatusCode.Internal,
                "Compressed message received but no grpc-encoding was negotiated for the call."));
        }

        if (length > options.MaxMessageSize)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"Received message of {length} bytes exceeds the maximum configured message size ({options.MaxMessageSize} bytes)."));
        }

        return true;
    }

    /// <summary>
    /// Writes one message: prefix, then the serialized message, compressed when
    /// <paramref name="options"/> names a non-identity encoding. The size limit applies to the
    /// serialized (uncompressed) message; past it RESOURCE_EXHAUSTED and nothing is written.
    /// </summary>
    public static void WriteMessage(IBufferWriter<byte> writer, IMessage message, MessageWriteOptions options)
    {
        var size = message.CalculateSize();
        if (size > options.MaxMessageSize)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"Sending message of {size} bytes exceeds the maximum configured message size ({options.MaxMessageSize} bytes)."));
        }

        if (GrpcCompression.IsIdentity(options.Encoding))
        {
            WriteIdentity(writer, message, size);
            return;
        }

        WriteCompressed(writer, message, size, options);
    }

    /// <summary>
    /// Messages up to this size are serialized into one contiguous span. A pipe hands out a buffer
    /// of the requested size (Kestrel's pipe rents it from the shared array pool past its 4 KiB
    /// blocks), and protobuf's span writer copies a large bytes field in one move instead of one
    /// 4 KiB block at a time. Larger messages stream through the writer's own blocks, so a 64 MiB
    /// message never needs a 64 MiB buffer.
    /// </summary>
    public const int ContiguousWriteLimit = 8 * 1024 * 1024;

    private static void WriteIdentity(IBufferWriter<byte> writer, IMessage message, int size)
    {
        if (size <= ContiguousWriteLimit)
        {
            var span = writer.GetSpan(HeaderSize + size);
            WriteHeader(span, compressed: false, (uint)size);
            message.WriteTo(span.Slice(HeaderSize, size));
            writer.Advance(HeaderSize + size);
            return;
        }

        WriteHeader(writer.GetSpan(HeaderSize), compressed: false, (uint)size);
        writer.Advance(HeaderSize);
        message.WriteTo(writer);
    }

    /// <summary>Writes the 5-byte prefix into <paramref name="destination"/>.</summary>
    public static void WriteHeader(Span<byte> destination, bool compressed, uint length)
    {
        destination[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(destination[1..], length);
    }

    private static void WriteCompressed(IBufferWriter<byte> writer, IMessage message, int size, MessageWriteOptions options)
    {
        var raw = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            message.WriteTo(raw.AsSpan(0, size));
            using var compressed = new MemoryStream();
            GrpcCompression.Compress(options.Encoding!, raw.AsSpan(0, size), options.CompressionLevel, compressed);
            var length = (int)compressed.Length;
            var span = writer.GetSpan(HeaderSize);
            WriteHeader(span, compressed: true, (uint)length);
            writer.Advance(HeaderSize);
            writer.Write(compressed.GetBuffer().AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    private static T ParseChecked<T>(ReadOnlySequence<byte> payload, Func<ReadOnlySequence<byte>, T> parse)
    {
        try
        {
            return parse(payload);
        }
        catch (InvalidProtocolBufferException)
        {
            // "INTERNAL: parse errors" (statuscodes.md); the parser's text is not sent to the peer.
            throw new RpcException(new Status(StatusCode.Internal, "Failed to deserialize the message."));
        }
    }

    private static T ParseCompressed<T>(ReadOnlySequence<byte> payload, MessageReadOptions options, Func<ReadOnlySequence<byte>, T> parse)
    {
        var buffer = GrpcCompression.Decompress(options.Encoding!, payload, options.MaxMessageSize, out var length);
        try
        {
            return ParseChecked(new ReadOnlySequence<byte>(buffer, 0, length), parse);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>Limits for reading: the call's request encoding and the max message size.</summary>
internal readonly record struct MessageReadOptions(int MaxMessageSize, string? Encoding);

/// <summary>Limits for writing: the call's response encoding, its level, and the max message size.</summary>
internal readonly record struct MessageWriteOptions(int MaxMessageSize, string? Encoding, CompressionLevel CompressionLevel = CompressionLevel.Fastest);
