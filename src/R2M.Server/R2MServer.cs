using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using R2M.Grpc;
using R2M.Server.Internal;
using R2M.Server.Internal.Services;
using ServingStatus = R2M.Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace R2M.Server;

/// <summary>Builds and runs r2m-server: the r2m.v1 services, health, reflection and /metrics on one HTTP/2 endpoint.</summary>
public static class R2MServer
{
    /// <summary>Short command-line flags and the configuration keys they set.</summary>
    public static IReadOnlyDictionary<string, string> SwitchMappings { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--policy"] = "R2M:PolicyPath",
        ["--reward-model"] = "R2M:RewardModelPath",
        ["--host"] = "R2M:Host",
        ["--port"] = "R2M:Port",
        ["--api-key"] = "R2M:ApiKey",
        ["--api-key-for-all"] = "R2M:ApiKeyRequiredForAll",
        ["--checkpoint-root"] = "R2M:CheckpointRoot",
        ["--resume-from"] = "R2M:ResumeFrom",
        ["--store-bytes"] = "R2M:RolloutStoreBytes",
        ["--max-receive-bytes"] = "R2M:MaxReceiveMessageBytes",
        ["--max-send-bytes"] = "R2M:MaxSendMessageBytes",
        ["--batch-window-ms"] = "R2M:ScoreBatchWindowMs",
        ["--max-batch"] = "R2M:ScoreMaxBatch",
        ["--attention-dim"] = "R2M:AttentionDim",
        ["--seed"] = "R2M:Seed",
        ["--metrics-port"] = "R2M:MetricsPort",
        ["--learning-rate-rm"] = "R2M:RewardLearningRate",
        ["--learning-rate-policy"] = "R2M:PolicyLearningRate",
    };

    /// <summary>
    /// Builds the server: configuration (appsettings.json, R2M__* environment variables, command
    /// line), models loaded (errors name the file), Kestrel bound to Host:Port over cleartext HTTP/2.
    /// <paramref name="configure"/> runs after configuration binding (tests set paths and port 0 here).
    /// </summary>
    public static WebApplication Build(string[] args, Action<R2MServerOptions>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, SwitchMappings.ToDictionary());
        var options = builder.Configuration.GetSection(R2MServerOptions.SectionName).Get<R2MServerOptions>() ?? new R2MServerOptions();
        configure?.Invoke(options);
        options.Validate();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddR2MGrpc(o =>
        {
            o.MaxReceiveMessageSize = options.MaxReceiveMessageBytes;
            o.MaxSendMessageSize = options.MaxSendMessageBytes;
            o.EnableDetailedErrors = options.DetailedErrors;
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            var ip = options.ListenAddress();
            k.ListenGrpc(new IPEndPoint(ip, options.Port));
            if (options.MetricsPort is { } mp)
            {
                // Prometheus scrapes over HTTP/1.1; the gRPC endpoint is HTTP/2 only (prior knowledge).
                k.Listen(ip, mp, l => l.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1);
            }
            // Streams carry many messages; the per-message limit above is what bounds memory.
            k.Limits.MaxRequestBodySize = null;
            k.Limits.Http2.InitialConnectionWindowSize = 16 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 8 * 1024 * 1024;
        });

        var app = builder.Build();
        var time = app.Services.GetRequiredService<TimeProvider>();
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("R2M.Server");
        var state = new ServerState(options, metrics, logger, time);
        ((IApplicationBuilder)app).Properties[StateKey] = state;
        app.Lifetime.ApplicationStopped.Register(() => state.DisposeAsync().AsTask().GetAwaiter().GetResult());
        if (options.ResumeFrom is { Length: > 0 } resume)
        {
            var dir = Directory.Exists(resume) ? Path.GetFullPath(resume) : CheckpointStore.Resolve(options, resume, "");
            if (!File.Exists(Path.Combine(dir, "state.safetensors")))
            {
                throw new InvalidOperationException($"R2M:ResumeFrom '{resume}': no checkpoint at '{dir}'");
            }

            CheckpointStore.Load(state, dir, rewardOnly: false);
            ServerLog.Checkpoint(logger, "resumed", dir, state.PolicyVersion, state.RmVersion, 0);
        }

        var grpc = app.Services.GetRequiredService<IOptions<GrpcServerOptions>>().Value;
        grpc.Interceptors.Add(new CallInterceptor(options, metrics, logger, time));
        if (CallInterceptor.CreateAuth(options) is { } auth)
        {
            grpc.Interceptors.Add(auth); // inside CallInterceptor: rejections are logged and counted
        }
        app.MapGrpcService(new PolicyService(state).CreateDefinition());
        app.MapGrpcService(new RewardModelService(state).CreateDefinition());
        app.MapGrpcService(new AdminService(state).CreateDefinition());
        app.MapGrpcHealthService();
        app.MapGrpcReflectionService();
        var health = app.Services.GetRequiredService<GrpcHealthService>();
        foreach (var service in new[] { "r2m.v1.Policy", "r2m.v1.RewardModel", "r2m.v1.Admin" })
        {
            health.SetStatus(service, ServingStatus.Serving);
        }

        app.MapGet("/metrics", () => Results.Text(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8"));
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var address = $"http://{options.Host}:{GetPort(app)}";
            ServerLog.Listening(logger, address);
            // The one parseable startup line (tests and `r2m-client demo` read the port from it when Port is 0).
            Console.Out.WriteLine($"r2m-server listening on {address}");
            Console.Out.Flush();
        });
        return app;
    }

    private const string StateKey = "r2m.server.state";

    /// <summary>The hosted state of an app made by <see cref="Build"/> (tests reach the admin gate through it).</summary>
    internal static ServerState GetState(WebApplication app) => (ServerState)((IApplicationBuilder)app).Properties[StateKey]!;

    /// <summary>The bound port (useful with Port 0) once the app has started.</summary>
    public static int GetPort(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
            ?? throw new InvalidOperationException("the server has no address feature");
        var first = addresses.FirstOrDefault() ?? throw new InvalidOperationException("the server is not listening yet");
        return new Uri(first.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal)).Port;
    }

    /// <summary>Entry point: builds, runs until Ctrl+C / SIGTERM; exit code 1 with a message on a startup error.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length > 0 && args[0] == "health")
        {
            return await HealthProbe.RunAsync(args[1..]).ConfigureAwait(false);
        }

        WebApplication app;
        try
        {
            app = Build(args);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException or Models.Safetensors.CheckpointException or Tokenizers.TokenizerFormatException)
        {
            await Console.Error.WriteLineAsync($"r2m-server: {e.Message}").ConfigureAwait(false);
            return 1;
        }

        await app.RunAsync().ConfigureAwait(false);
        return 0;
    }
}
