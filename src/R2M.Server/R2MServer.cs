using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using R2M.Server.Internal;
using R2M.Server.Internal.Checkpoints;
using R2M.Server.Internal.Hosting;
using R2M.Server.Internal.Services;

namespace R2M.Server;

/// <summary>
/// Builds and runs r2m-server: the r2m.v1 services on Grpc.AspNetCore (Kestrel, HTTP/2), health,
/// reflection and, on its own HTTP/1.1 port, /metrics.
/// </summary>
public static class R2MServer
{
    /// <summary>Short command-line flags and the configuration keys they set (the API key has none: see <see cref="R2MServerOptions.ApiKey"/>).</summary>
    public static IReadOnlyDictionary<string, string> SwitchMappings { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["--policy"] = "R2M:PolicyPath",
        ["--reward-model"] = "R2M:RewardModelPath",
        ["--host"] = "R2M:Host",
        ["--port"] = "R2M:Port",
        ["--api-key-file"] = "R2M:ApiKeyFile",
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
        ["--certificate"] = "R2M:CertificatePath",
        ["--certificate-key"] = "R2M:CertificateKeyPath",
        ["--learning-rate-rm"] = "R2M:RewardLearningRate",
        ["--learning-rate-policy"] = "R2M:PolicyLearningRate",
        ["--max-text-bytes"] = "R2M:MaxTextBytes",
        ["--max-hidden-bytes-per-item"] = "R2M:MaxHiddenStateBytesPerItem",
        ["--max-inflight-bytes-per-stream"] = "R2M:MaxInFlightBytesPerStream",
        ["--max-inflight-bytes"] = "R2M:MaxInFlightBytes",
        ["--allow-unauthenticated-network"] = "R2M:AllowUnauthenticatedNetwork",
    };

    /// <summary>
    /// Builds the server: configuration (appsettings.json, R2M__* environment variables, command
    /// line), options validated, Kestrel bound to Host:Port over HTTP/2 (TLS when a certificate is
    /// configured). The models load after the port is bound (health NOT_SERVING until then).
    /// <paramref name="configure"/> runs after configuration binding (tests set paths and port 0 here).
    /// </summary>
    public static WebApplication Build(string[] args, Action<R2MServerOptions>? configure = null) =>
        BuildHost(args, configure, hostModels: true, mapServices: null);

    /// <summary>
    /// The host of <see cref="Build"/>; without models it serves what <paramref name="mapServices"/>
    /// maps instead (the interop and hostile-input test services), through the same configuration.
    /// </summary>
    internal static WebApplication BuildHost(string[] args, Action<R2MServerOptions>? configure, bool hostModels,
        Action<WebApplication>? mapServices, Action<IServiceCollection>? services = null)
    {
        RefuseKeyOnCommandLine(args);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, SwitchMappings.ToDictionary());
        var options = builder.Configuration.GetSection(R2MServerOptions.SectionName).Get<R2MServerOptions>() ?? new R2MServerOptions();
        configure?.Invoke(options);
        var validator = new R2MServerOptionsValidator(hostModels);
        if (validator.Validate(null, options) is { Failed: true } failed)
        {
            throw new OptionsValidationException(R2MServerOptions.SectionName, typeof(R2MServerOptions), failed.Failures);
        }

        builder.Services.AddSingleton<IValidateOptions<R2MServerOptions>>(validator);
        builder.Services.AddSingleton<IOptions<R2MServerOptions>>(Microsoft.Extensions.Options.Options.Create(options));
        GrpcHost.Configure(builder, options);
        if (hostModels)
        {
            ModelServices.Add(builder.Services);
        }

        services?.Invoke(builder.Services);
        var app = builder.Build();
        if (hostModels)
        {
            app.MapGrpcService<PolicyService>();
            app.MapGrpcService<RewardModelService>();
            app.MapGrpcService<AdminService>();
        }

        mapServices?.Invoke(app);
        GrpcHost.Map(app, servingWhenStarted: !hostModels);
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("R2M.Server");
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var address = $"{(options.CertificatePath is null ? "http" : "https")}://{options.Host}:{GetPort(app)}";
            ServerLog.Listening(logger, address);
            // The one parseable startup line (tests and `r2m-client demo` read the port from it when Port is 0).
            Console.Out.WriteLine($"r2m-server listening on {address}");
            Console.Out.Flush();
        });
        return app;
    }

    /// <summary>Completes once the models are loaded and any checkpoint restored (tests wait for this after StartAsync).</summary>
    internal static Task LoadedAsync(WebApplication app) => app.Services.GetRequiredService<ModelHost>().Ready;

    /// <summary>The gRPC port (the first endpoint; useful with Port 0) once the app has started.</summary>
    public static int GetPort(WebApplication app) => GetPorts(app)[0];

    /// <summary>The metrics port (R2M:MetricsPort, resolved when 0) once the app has started.</summary>
    public static int GetMetricsPort(WebApplication app) => GetPorts(app) is { Count: > 1 } p ? p[1] : throw new InvalidOperationException("R2M:MetricsPort is not set");

    private static List<int> GetPorts(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
            ?? throw new InvalidOperationException("the server has no address feature");
        if (addresses.Count == 0) throw new InvalidOperationException("the server is not listening yet");
        return addresses.Select(a => new Uri(a.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal)).Port).ToList();
    }

    /// <summary>Entry point: builds, runs until Ctrl+C / SIGTERM; exit code 1 with a message on a start-up or model-loading error.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length > 0 && args[0] == "health")
        {
            if (ServerCommandLine.HealthHelp(args[1..]) is { } help)
            {
                await Console.Out.WriteAsync(help).ConfigureAwait(false);
                return 0;
            }

            return await HealthProbe.RunAsync(args[1..]).ConfigureAwait(false);
        }

        if (ServerCommandLine.Handle(args, SwitchMappings, Console.Out, Console.Error) is { } exitCode)
        {
            return exitCode;
        }

        WebApplication app;
        try
        {
            app = Build(args);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ArgumentException or OptionsValidationException)
        {
            await Console.Error.WriteLineAsync($"r2m-server: {e.Message}").ConfigureAwait(false);
            return 1;
        }

        // Taken before running: RunAsync disposes the container when the host stops (SIGTERM), and a
        // lookup afterwards would end the process with ObjectDisposedException instead of its exit code.
        var models = app.Services.GetRequiredService<ModelHost>();
        try
        {
            await app.RunAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or System.Security.Cryptography.CryptographicException)
        {
            // Kestrel could not bind (port in use) or load the certificate.
            await Console.Error.WriteLineAsync($"r2m-server: {e.Message}").ConfigureAwait(false);
            return 1;
        }

        return models.Ready.IsCompletedSuccessfully ? 0 : 1;
    }

    /// <summary>
    /// A key on the command line is readable by every user of the machine (ps, /proc/PID/cmdline),
    /// so r2m-server refuses one: R2M:ApiKey comes from appsettings.json or R2M__ApiKey, or the
    /// file named by --api-key-file.
    /// </summary>
    private static void RefuseKeyOnCommandLine(string[] args)
    {
        foreach (var a in args)
        {
            var flag = a.Split('=', 2)[0].TrimStart('-', '/');
            if (flag.Equals("api-key", StringComparison.OrdinalIgnoreCase) || flag.EndsWith("R2M:ApiKey", StringComparison.OrdinalIgnoreCase)
                || flag.EndsWith("R2M__ApiKey", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"'{a.Split('=', 2)[0]}': the API key is not accepted on the command line (other users can read a process's arguments); set R2M__ApiKey in the environment or give --api-key-file FILE");
            }
        }
    }
}
