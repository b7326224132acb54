using System.Globalization;
using System.Reflection;
using R2M.Api;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// What r2m-server does with its arguments before the host is built: --help / -h, --version, and
/// unknown flags. Microsoft.Extensions.Configuration's command-line provider accepts any
/// "--key value", so a mistyped flag (--prot 0) would otherwise be ignored silently and the server
/// would start on the default; here it is an error with the nearest known flag.
/// </summary>
internal static class ServerCommandLine
{
    /// <summary>Exit code of bad usage (as r2m-client).</summary>
    public const int UsageError = 2;

    /// <summary>Returns an exit code when the arguments were handled here (help, version, a usage error), or null to start the server.</summary>
    public static int? Handle(string[] args, IReadOnlyDictionary<string, string> switches, TextWriter stdout, TextWriter stderr)
    {
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string name = arg.Split('=', 2)[0];
            switch (name)
            {
                case "--help" or "-h" or "-?":
                    stdout.Write(Help(switches));
                    return 0;
                case "--version":
                    stdout.WriteLine($"r2m-server {Version()}");
                    return 0;
            }

            if (!arg.StartsWith('-'))
            {
                stderr.WriteLine($"r2m-server: unexpected argument '{arg}' (flags take the form --name VALUE; see r2m-server --help)");
                return UsageError;
            }

            // A configuration key (--R2M:Port 0, --Logging:LogLevel:Default Debug), a known flag, or
            // --api-key (refused later with its own message: a key on the command line leaks).
            bool known = name.Contains(':', StringComparison.Ordinal) || switches.ContainsKey(name) || name == "--api-key";
            if (!known)
            {
                string? nearest = NameSuggestions.Nearest(name, switches.Keys);
                stderr.WriteLine($"r2m-server: unknown option '{name}'" + (nearest is null ? "" : $"; did you mean '{nearest}'?") + " (see r2m-server --help)");
                return UsageError;
            }

            if (!arg.Contains('=', StringComparison.Ordinal))
            {
                if (i + 1 >= args.Length || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && name != "--api-key"))
                {
                    stderr.WriteLine($"r2m-server: option '{name}' needs a value");
                    return UsageError;
                }

                i++; // its value
            }
        }

        return null;
    }

    /// <summary>The help of <c>r2m-server health</c>, or null when the arguments are not a help request.</summary>
    public static string? HealthHelp(string[] args) =>
        args.Any(a => a is "--help" or "-h" or "-?")
            ? "usage: r2m-server health [--address URL] [--timeout-s N]\n\n" +
              "One grpc.health.v1 Check of the whole server; exit 0 when SERVING, 1 otherwise (a container health check).\n\n" +
              "  --address URL    server to probe (default: $R2M_HEALTH_ADDRESS, else http://127.0.0.1:50051)\n" +
              "  --timeout-s N    deadline of the check in seconds (default: 3)\n"
            : null;

    private static string Version() =>
        typeof(ServerCommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(ServerCommandLine).Assembly.GetName().Version?.ToString() ?? "unknown";

    private static string Help(IReadOnlyDictionary<string, string> switches)
    {
        var defaults = new R2MServerOptions();
        var properties = typeof(R2MServerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToArray();
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("usage: r2m-server --policy DIR --reward-model DIR [options]");
        sb.AppendLine("       r2m-server health [--address URL] [--timeout-s N]");
        sb.AppendLine();
        sb.AppendLine("Hosts a policy and an R2M reward model over gRPC (docs/server.md). Every setting is a");
        sb.AppendLine("configuration key: appsettings.json, an environment variable R2M__Key, or --R2M:Key VALUE;");
        sb.AppendLine("the common ones have the short flags below. The API key is never a flag: use --api-key-file");
        sb.AppendLine("or R2M__ApiKey.");
        sb.AppendLine();
        sb.AppendLine("Options:");
        foreach ((string flag, string key) in switches.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            string property = key[(key.IndexOf(':', StringComparison.Ordinal) + 1)..];
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {flag,-34} {key} (default: {Default(properties, defaults, property)})");
        }

        sb.AppendLine("  --help, -h                         this help");
        sb.AppendLine("  --version                          the server's version");
        sb.AppendLine();
        sb.AppendLine("Every configuration key (default):");
        foreach (PropertyInfo p in properties.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {R2MServerOptions.SectionName}:{p.Name} ({Default(properties, defaults, p.Name)})");
        }

        return sb.ToString();
    }

    private static string Default(PropertyInfo[] properties, R2MServerOptions defaults, string name) =>
        properties.FirstOrDefault(p => p.Name == name)?.GetValue(defaults) is { } v
            ? Convert.ToString(v, CultureInfo.InvariantCulture) ?? "-"
            : "unset";
}
