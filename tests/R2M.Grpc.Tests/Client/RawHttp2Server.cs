using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace R2M.Grpc.Tests.Client;

/// <summary>
/// A bare Kestrel HTTP/2 (cleartext, prior knowledge) endpoint whose every response is written by
/// the test's handler, so client tests can produce exactly the wire behaviour they need: a missing
/// grpc-status, a trailers-only reply, an HTTP error status, an RST_STREAM with a given code.
/// </summary>
internal sealed class RawHttp2Server : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RawHttp2Server(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    public string Address { get; }

    public static async Task<RawHttp2Server> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return new RawHttp2Server(app, app.Urls.First());
    }

    /// <summary>Reads the whole request body and splits it into (compressed flag, payload) messages.</summary>
    public static async Task<List<(bool Compressed, byte[] Payload)>> ReadMessagesAsync(HttpRequest request)
    {
        using var ms = new MemoryStream();
        await request.Body.CopyToAsync(ms);
        var data = ms.ToArray();
        var messages = new List<(bool, byte[])>();
        for (var i = 0; i + 5 <= data.Length;)
        {
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(i + 1));
            messages.Add((data[i] == 1, data.AsSpan(i + 5, length).ToArray()));
            i += 5 + length;
        }

        return messages;
    }

    /// <summary>Writes one length-prefixed message; <paramref name="compressed"/> sets the flag byte only.</summary>
    public static async Task WriteMessageAsync(HttpResponse response, byte[] payload, bool compressed = false)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        await response.Body.WriteAsync(frame);
        await response.Body.FlushAsync();
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}
