using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Google.Protobuf;
using R2M.Grpc.Internal;
using R2M.Grpc.Tests.Interop;

namespace R2M.Grpc.Tests.Wire;

public sealed class FramingTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly Func<ReadOnlySequence<byte>, EchoRequest> Parse = EchoRequest.Parser.ParseFrom;

    [Fact]
    public void WriteMessage_Identity_PrefixThenBytes()
    {
        var message = new EchoRequest { Payload = ByteString.CopyFromUtf8("abc") };
        var writer = new ArrayBufferWriter<byte>();

        MessageFraming.WriteMessage(writer, message, new MessageWriteOptions(int.MaxValue, null));

        var bytes = writer.WrittenSpan;
        Assert.Equal(0, bytes[0]);
        Assert.Equal((uint)message.CalculateSize(), BinaryPrimitives.ReadUInt32BigEndian(bytes[1..]));
        Assert.Equal(message.ToByteArray(), bytes[5..].ToArray());
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(MessageFraming.ContiguousWriteLimit - 8)] // serialized size just under the limit
    [InlineData(MessageFraming.ContiguousWriteLimit + 1)]
    public void WriteMessage_LargeIdentity_OneSpanUpToLimitSameBytesPastIt(int payloadBytes)
    {
        var payload = new byte[payloadBytes];
        new Random(payloadBytes).NextBytes(payload);
        var message = new EchoRequest { Payload = UnsafeByteOperations.UnsafeWrap(payload), DelayMs = 3 };
        var size = message.CalculateSize();
        var writer = new RecordingWriter();

        MessageFraming.WriteMessage(writer, message, new MessageWriteOptions(int.MaxValue, null));

        var bytes = writer.Inner.WrittenSpan;
        Assert.Equal((uint)size, BinaryPrimitives.ReadUInt32BigEndian(bytes[1..]));
        Assert.True(bytes[MessageFraming.HeaderSize..].SequenceEqual(message.ToByteArray()));
        if (size <= MessageFraming.ContiguousWriteLimit)
        {
            Assert.Equal([MessageFraming.HeaderSize + size], writer.SizeHints); // prefix and message in one span
        }
        else
        {
            Assert.Equal(MessageFraming.HeaderSize, writer.SizeHints[0]); // streamed through the writer's blocks
            Assert.True(writer.SizeHints.Count > 1);
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData("gzip")]
    [InlineData("deflate")]
    public async Task WriteThenRead_OneByteAtATime_SameMessages(string? encoding)
    {
        var messages = Enumerable.Range(0, 5)
            .Select(i => new EchoRequest { Payload = ByteString.CopyFrom(new byte[i * 300]), DelayMs = i })
            .ToArray();
        var writer = new ArrayBufferWriter<byte>();
        foreach (var m in messages)
        {
            MessageFraming.WriteMessage(writer, m, new MessageWriteOptions(int.MaxValue, encoding));
        }

        var pipe = new Pipe();
        var feed = FeedAsync(pipe.Writer, writer.WrittenMemory, chunk: 1);
        var read = new List<EchoRequest>();
        while (true)
        {
            var (ok, message) = await MessageFraming.ReadMessageAsync(pipe.Reader, new MessageReadOptions(1 << 20, encoding), Parse, default)
                .AsTask().WaitAsync(Wait);
            if (!ok)
            {
                break;
            }

            read.Add(message);
        }

        await feed;
        Assert.Equal(messages, read);
    }

    [Fact]
    public async Task Read_ClaimedFourGiB_ResourceExhaustedFromPrefixAlone()
    {
        var pipe = new Pipe();
        var prefix = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(1), uint.MaxValue);
        await pipe.Writer.WriteAsync(prefix); // the writer is never completed: no more bytes will come

        var ex = await Assert.ThrowsAsync<RpcException>(() =>
            MessageFraming.ReadMessageAsync(pipe.Reader, new MessageReadOptions(4 << 20, null), Parse, default).AsTask().WaitAsync(Wait));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Contains("4294967295", ex.Status.Detail);
    }

    [Fact]
    public async Task Read_StreamEndsInsideMessage_Internal()
    {
        var frame = Frame(new EchoRequest { Payload = ByteString.CopyFrom(new byte[50]) });

        var ex = await ReadFailureAsync(frame[..20], new MessageReadOptions(1000, null));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public async Task Read_StreamEndsInsidePrefix_Internal()
    {
        var ex = await ReadFailureAsync([0, 0], new MessageReadOptions(1000, null));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public async Task Read_CompressedFlagOnIdentityCall_Internal()
    {
        var frame = Frame(new EchoRequest());
        frame[0] = 1;

        var ex = await ReadFailureAsync(frame, new MessageReadOptions(1000, "identity"));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public async Task Read_FlagTwo_Internal()
    {
        var frame = Frame(new EchoRequest());
        frame[0] = 2;

        var ex = await ReadFailureAsync(frame, new MessageReadOptions(1000, null));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
    }

    [Fact]
    public async Task Read_GarbageMessage_InternalWithoutParserText()
    {
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0x0F];
        var frame = new byte[5 + garbage.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)garbage.Length);
        garbage.CopyTo(frame, 5);

        var ex = await ReadFailureAsync(frame, new MessageReadOptions(1000, null));

        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.Equal("Failed to deserialize the message.", ex.Status.Detail);
    }

    [Fact]
    public async Task Read_DecompressedSizeOverLimit_ResourceExhausted()
    {
        var writer = new ArrayBufferWriter<byte>();
        MessageFraming.WriteMessage(writer, new EchoRequest { Payload = ByteString.CopyFrom(new byte[100_000]) },
            new MessageWriteOptions(int.MaxValue, "gzip"));
        Assert.True(writer.WrittenCount < 10_000);

        var ex = await ReadFailureAsync(writer.WrittenSpan.ToArray(), new MessageReadOptions(10_000, "gzip"));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
    }

    [Fact]
    public void Write_OverSendLimit_ResourceExhaustedAndNothingWritten()
    {
        var writer = new ArrayBufferWriter<byte>();

        var ex = Assert.Throws<RpcException>(() => MessageFraming.WriteMessage(writer,
            new EchoRequest { Payload = ByteString.CopyFrom(new byte[200]) }, new MessageWriteOptions(100, null)));

        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);
        Assert.Equal(0, writer.WrittenCount);
    }

    [Fact]
    public async Task Read_FromStream_ViaCreateReader()
    {
        var bytes = Frame(new EchoRequest { DelayMs = 9 }).Concat(Frame(new EchoRequest { DelayMs = 10 })).ToArray();
        var reader = MessageFraming.CreateReader(new MemoryStream(bytes));

        var first = await MessageFraming.ReadMessageAsync(reader, new MessageReadOptions(100, null), Parse, default);
        var second = await MessageFraming.ReadMessageAsync(reader, new MessageReadOptions(100, null), Parse, default);
        var end = await MessageFraming.ReadMessageAsync(reader, new MessageReadOptions(100, null), Parse, default);

        Assert.Equal(9, first.Message.DelayMs);
        Assert.Equal(10, second.Message.DelayMs);
        Assert.False(end.Ok);
    }

    /// <summary>Records every size hint; hands out at most 64 KiB unless a larger hint asks for more.</summary>
    private sealed class RecordingWriter : IBufferWriter<byte>
    {
        public ArrayBufferWriter<byte> Inner { get; } = new();

        public List<int> SizeHints { get; } = [];

        public void Advance(int count) => Inner.Advance(count);

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            SizeHints.Add(sizeHint);
            var memory = Inner.GetMemory(sizeHint);
            return memory[..Math.Min(memory.Length, Math.Max(sizeHint, 64 * 1024))];
        }

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }

    private static byte[] Frame(IMessage message)
    {
        var writer = new ArrayBufferWriter<byte>();
        MessageFraming.WriteMessage(writer, message, new MessageWriteOptions(int.MaxValue, null));
        return writer.WrittenSpan.ToArray();
    }

    private static async Task<RpcException> ReadFailureAsync(byte[] bytes, MessageReadOptions options)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(bytes);
        await pipe.Writer.CompleteAsync();
        return await Assert.ThrowsAsync<RpcException>(() =>
            MessageFraming.ReadMessageAsync(pipe.Reader, options, Parse, default).AsTask().WaitAsync(Wait));
    }

    private static async Task FeedAsync(PipeWriter writer, ReadOnlyMemory<byte> bytes, int chunk)
    {
        for (var i = 0; i < bytes.Length; i += chunk)
        {
            await writer.WriteAsync(bytes.Slice(i, Math.Min(chunk, bytes.Length - i)));
        }

        await writer.CompleteAsync();
    }
}
