using System.Net;
using System.Net.Security;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace R2M.Interop.Tests.Server;

/// <summary>grpc.health.v1 (Grpc.HealthCheck: Check and Watch) and TLS from configuration on r2m-server's host.</summary>
public sealed class HealthAndTlsTests
{
    [Fact]
    public async Task HealthCheck_WholeServerEachServiceAndUnknown_ServingOrNotFound()
    {
        await using var server = await InteropHost.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var health = new Health.HealthClient(channel);

        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = InteropTest.Descriptor.FullName })).Status);
        var e = await Assert.ThrowsAsync<RpcException>(() => health.CheckAsync(new HealthCheckRequest { Service = "nope" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task HealthWatch_StatusChanges_StreamsCurrentThenEachChange()
    {
        await using var server = await InteropHost.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var impl = (Grpc.HealthCheck.HealthServiceImpl)server.Services.GetService(typeof(Grpc.HealthCheck.HealthServiceImpl))!;
        using var call = new Health.HealthClient(channel).Watch(new HealthCheckRequest { Service = "svc" });

        async Task<ServingStatus> NextAsync()
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20)));
            return call.ResponseStream.Current.Status;
        }

        Assert.Equal(ServingStatus.ServiceUnknown, await NextAsync());
        impl.SetStatus("svc", ServingStatus.Serving);
        Assert.Equal(ServingStatus.Serving, await NextAsync());
        impl.SetStatus("svc", ServingStatus.NotServing);
        Assert.Equal(ServingStatus.NotServing, await NextAsync());
        impl.ClearStatus("svc");
        Assert.Equal(ServingStatus.ServiceUnknown, await NextAsync());
    }

    [Fact]
    public async Task Tls_CertificateFromConfiguration_NegotiatesH2AndServes()
    {
        using var certificate = new TestCertificate();
        await using var server = await InteropHost.StartAsync(o => (o.CertificatePath, o.CertificateKeyPath) = (certificate.CertificatePath, certificate.KeyPath));
        var https = new UriBuilder(server.Address) { Host = "localhost" }.Uri;
        Assert.Equal("https", https.Scheme);

        // Grpc.Net.Client trusting exactly this certificate.
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = certificate.Validate;
        using var channel = GrpcChannel.ForAddress(https, new GrpcChannelOptions { HttpHandler = handler });
        var reply = await new InteropTest.InteropTestClient(channel).EchoAsync(new EchoRequest { Payload = ByteString.CopyFromUtf8("tls") });
        Assert.Equal("tls", reply.Payload.ToStringUtf8());

        // A raw caller that demands HTTP/2 exactly: success means ALPN chose "h2".
        using var tls = new SslStream(await ConnectAsync(server.Port), leaveInnerStreamOpen: false, certificate.Validate);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        });
        Assert.Equal(SslApplicationProtocol.Http2, tls.NegotiatedApplicationProtocol);
    }

    private static async Task<Stream> ConnectAsync(int port)
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
    }
}
