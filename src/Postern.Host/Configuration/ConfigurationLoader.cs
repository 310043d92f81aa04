using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;
using Postern.Primitives;

namespace Postern.Host.Configuration;

/// <summary>Bad configuration: start-up stops with exit code 2 and this message, which names the key.</summary>
public sealed class ConfigurationException(IReadOnlyList<string> problems)
    : Exception("Configuration error:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  " + p)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>Where configuration comes from, in rising precedence: the JSON file, <c>POSTERN__</c> environment variables, <c>--set</c> overrides.</summary>
public sealed record ConfigurationSources(string? ConfigFile, string? DataFolder, IReadOnlyList<string> Overrides)
{
    public static ConfigurationSources Default { get; } = new(null, null, []);
}

/// <summary>A validated configuration, with the listeners resolved to ports and addresses.</summary>
public sealed record LoadedConfiguration(PosternOptions Options, IConfigurationRoot Root, string DataFolder, string Hostname, bool HostnameGuessed, IReadOnlyList<ResolvedListener> Listeners, string? ConfigFile);

public sealed record ResolvedListener(KnownListener Known, bool Enabled, IPAddress Address, int Port, ListenerConfig Config)
{
    public bool Implemented => ListenerCatalog.Implemented.Contains(Known.Name);
}

public static class ConfigurationLoader
{
    public const string EnvironmentPrefix = "POSTERN__";
    public const string DefaultConfigFile = "postern.json";

    public static LoadedConfiguration Load(ConfigurationSources sources, IDictionary<string, string?>? environment = null)
    {
        var problems = new List<string>();
        var builder = new ConfigurationBuilder();
        var configFile = sources.ConfigFile;
        if (configFile is not null)
        {
            if (!File.Exists(configFile))
            {
                throw new ConfigurationException([$"--config: the file '{configFile}' does not exist"]);
            }
        }
        else if (File.Exists(DefaultConfigFile))
        {
            configFile = Path.GetFullPath(DefaultConfigFile);
        }

        if (configFile is not null)
        {
            builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }

        if (environment is null)
        {
            builder.AddEnvironmentVariables(EnvironmentPrefix);
        }
        else
        {
            builder.AddInMemoryCollection(environment
                .Where(kv => kv.Key.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
                .Select(kv => new KeyValuePair<string, string?>(kv.Key[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), kv.Value)));
        }

        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in sources.Overrides)
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                problems.Add($"--set '{item}': expected Section:Key=value");
                continue;
            }

            overrides[item[..eq].Trim().Replace("__", ":", StringComparison.Ordinal)] = item[(eq + 1)..];
        }

        if (sources.DataFolder is not null)
        {
            overrides["Server:DataFolder"] = sources.DataFolder;
        }

        builder.AddInMemoryCollection(overrides);

        IConfigurationRoot root;
        try
        {
            root = builder.Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or IOException or System.Text.Json.JsonException)
        {
            throw new ConfigurationException([$"{configFile}: {e.Message}"]);
        }

        var options = new PosternOptions();
        try
        {
            root.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            problems.Add(DescribeBindError(e));
            throw new ConfigurationException(problems);
        }

        var (hostname, guessed) = ResolveHostname(options.Server.Hostname, problems);
        var dataFolder = Path.GetFullPath(options.Server.DataFolder);
        var listeners = ResolveListeners(options, problems);
        Validate(options, problems);
        if (problems.Count > 0)
        {
            throw new ConfigurationException(problems);
        }

        return new LoadedConfiguration(options, root, dataFolder, hostname, guessed, listeners, configFile);
    }

    private static void ValidateSmtp(SmtpOptions smtp, List<string> problems)
    {
        if (smtp.MaxMessageSize < 1024)
        {
            problems.Add("Smtp:MaxMessageSize: must be at least 1024 bytes");
        }

        if (smtp.MaxRecipients < 1)
        {
            problems.Add("Smtp:MaxRecipients: must be at least 1 (RFC 5321 asks for 100)");
        }

        if (!smtp.BareLineEnds.Equals("normalize", StringComparison.OrdinalIgnoreCase) && !smtp.BareLineEnds.Equals("reject", StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"Smtp:BareLineEnds: '{smtp.BareLineEnds}' is not 'normalize' or 'reject'");
        }

        if (smtp.MaxReceivedHeaders < 1)
        {
            problems.Add("Smtp:MaxReceivedHeaders: must be at least 1");
        }

        if (smtp.GreetingDelay < TimeSpan.Zero || smtp.GreetingDelay > TimeSpan.FromMinutes(1))
        {
            problems.Add("Smtp:GreetingDelay: must be between 00:00:00 and 00:01:00");
        }

        if (smtp.IdleTimeout < TimeSpan.FromSeconds(10) || smtp.IdleTimeout > TimeSpan.FromHours(1))
        {
            problems.Add("Smtp:IdleTimeout: must be between 00:00:10 and 01:00:00");
        }

        if (smtp.SrsDomain is { } srsDomain && !DomainName.TryParse(srsDomain, out _, out var srsError))
        {
            problems.Add($"Smtp:SrsDomain: '{srsDomain}' is not a domain name ({srsError})");
        }

        if (smtp.ErrorDelay < TimeSpan.Zero || smtp.ErrorDelay > TimeSpan.FromSeconds(30))
        {
            problems.Add("Smtp:ErrorDelay: must be between 00:00:00 and 00:00:30");
        }

        if (smtp.MaxSessionTime < TimeSpan.FromMinutes(1))
        {
            problems.Add("Smtp:MaxSessionTime: must be at least 00:01:00");
        }

        if (smtp.MaxErrorDelay < TimeSpan.Zero || smtp.MaxErrorDelay > TimeSpan.FromMinutes(5))
        {
            problems.Add("Smtp:MaxErrorDelay: must be between 00:00:00 and 00:05:00");
        }

        if (smtp.MaxCommandsBeforeAuth < 1)
        {
            problems.Add("Smtp:MaxCommandsBeforeAuth: must be at least 1");
        }

        if (smtp.MaxLineLength is < 512 or > 65536)
        {
            problems.Add("Smtp:MaxLineLength: must be between 512 (RFC 5321 §4.5.3.1.4) and 65536");
        }

        if (smtp.MaxErrors < 1)
        {
            problems.Add("Smtp:MaxErrors: must be at least 1");
        }

        foreach (var network in smtp.TrustedNetworks)
        {
            if (!IPNetwork.TryParse(network, out _))
            {
                problems.Add($"Smtp:TrustedNetworks: '{network}' is not a network in CIDR form (e.g. 192.0.2.0/24)");
            }
        }
    }

    private static string DescribeBindError(InvalidOperationException e)
    {
        // The binder names the key ("... at 'Server:Ports' ..." or "'Foo' was not found on type ...").
        var message = e.InnerException is null ? e.Message : $"{e.Message} ({e.InnerException.Message})";
        return message;
    }

    private static (string Hostname, bool Guessed) ResolveHostname(string? configured, List<string> problems)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (!DomainName.TryParse(configured, out var name, out var error))
            {
                problems.Add($"Server:Hostname: '{configured}' is not a fully qualified domain name ({error})");
                return (configured, false);
            }

            return (name!.Ascii, false);
        }

        var machine = System.Net.Dns.GetHostName();
        if (DomainName.TryParse(machine, out var guess, out _))
        {
            return (guess!.Ascii, true);
        }

        return (DomainName.TryParse(machine + ".localdomain", out var local, out _) ? local!.Ascii : "postern.localdomain", true);
    }

    private static List<ResolvedListener> ResolveListeners(PosternOptions options, List<string> problems)
    {
        var standard = options.Server.Ports.Equals("standard", StringComparison.OrdinalIgnoreCase);
        if (!standard && !options.Server.Ports.Equals("quickstart", StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"Server:Ports: '{options.Server.Ports}' is not 'quickstart' or 'standard'");
        }

        foreach (var name in options.Listeners.Keys)
        {
            if (ListenerCatalog.Find(name) is null)
            {
                problems.Add($"Listeners:{name}: unknown listener (known: {string.Join(", ", ListenerCatalog.All.Select(l => l.Name))})");
            }
        }

        IPAddress? defaultAddress = null;
        if (!IPAddress.TryParse(options.Server.BindAddress, out defaultAddress))
        {
            problems.Add($"Server:BindAddress: '{options.Server.BindAddress}' is not an IP address");
            defaultAddress = IPAddress.IPv6Any;
        }

        var result = new List<ResolvedListener>();
        foreach (var known in ListenerCatalog.All)
        {
            var config = options.Listeners.TryGetValue(known.Name, out var c) ? c : new ListenerConfig();
            var key = $"Listeners:{known.Name}";
            var port = config.Port ?? (standard ? known.StandardPort : known.QuickStartPort);
            if (port is < 0 or > 65535)
            {
                problems.Add($"{key}:Port: {port.ToString(CultureInfo.InvariantCulture)} is not a port number (0-65535)");
            }

            var address = known.LoopbackOnly ? IPAddress.Loopback : defaultAddress;
            if (config.Address is not null && !IPAddress.TryParse(config.Address, out address))
            {
                problems.Add($"{key}:Address: '{config.Address}' is not an IP address");
                address = defaultAddress;
            }

            foreach (var network in config.ProxyProtocolFrom)
            {
                if (!IPNetwork.TryParse(network, out _))
                {
                    problems.Add($"{key}:ProxyProtocolFrom: '{network}' is not a network in CIDR form (e.g. 10.0.0.0/8)");
                }
            }

            if (config.MaxConnections < 1)
            {
                problems.Add($"{key}:MaxConnections: must be at least 1");
            }

            if (config.UnixSocket is not null && known.Name != "lmtp")
            {
                problems.Add($"{key}:UnixSocket: only the lmtp listener can listen on a Unix socket (other clients must be seen by their address)");
            }

            if (!IsOctalMode(config.UnixSocketMode))
            {
                problems.Add($"{key}:UnixSocketMode: '{config.UnixSocketMode}' is not a file mode in octal (e.g. 0660)");
            }

            if (config.MaxConnectionsPerIp < 1)
            {
                problems.Add($"{key}:MaxConnectionsPerIp: must be at least 1");
            }

            result.Add(new ResolvedListener(known, config.Enabled, address!, port, config));
        }

        var clashes = result.Where(l => l.Enabled && l.Implemented && l.Port != 0).GroupBy(l => (l.Address, l.Port)).Where(g => g.Count() > 1);
        foreach (var clash in clashes)
        {
            problems.Add($"Listeners: {string.Join(" and ", clash.Select(l => l.Known.Name))} are all set to port {clash.Key.Port.ToString(CultureInfo.InvariantCulture)}");
        }

        return result;
    }

    private static void ValidateDns(DnsOptions dns, List<string> problems)
    {
        foreach (var server in dns.Servers)
        {
            if (ParseDnsServer(server) is null)
            {
                problems.Add($"Dns:Servers: '{server}' is not an address or address:port (e.g. 127.0.0.1, [::1]:5353)");
            }
        }

        if (dns.Timeout is { } t && (t < TimeSpan.FromMilliseconds(100) || t > TimeSpan.FromSeconds(30)))
        {
            problems.Add("Dns:Timeout: must be between 00:00:00.1 and 00:00:30");
        }

        if (dns.Attempts is < 1 or > 5)
        {
            problems.Add("Dns:Attempts: must be between 1 and 5");
        }

        if (dns.MinimumCacheTtl < TimeSpan.Zero || dns.MaximumCacheTtl < dns.MinimumCacheTtl || dns.MaximumNegativeCacheTtl < TimeSpan.Zero)
        {
            problems.Add("Dns:MinimumCacheTtl: must be at least 0 and at most Dns:MaximumCacheTtl");
        }

        if (dns.CacheEntries < 0)
        {
            problems.Add("Dns:CacheEntries: must be at least 0");
        }
    }

    /// <summary>A configured resolver: an address with port 53, or address:port.</summary>
    public static IPEndPoint? ParseDnsServer(string text)
    {
        if (IPAddress.TryParse(text, out var address))
        {
            return new IPEndPoint(address, 53);
        }

        return IPEndPoint.TryParse(text, out var endPoint) && endPoint.Port != 0 ? endPoint : null;
    }

    private static void Validate(PosternOptions options, List<string> problems)
    {
        ValidateSmtp(options.Smtp, problems);
        ValidateDns(options.Dns, problems);
        DeliveryConfig.Validate(options.Delivery, problems);
        options.RecipientVerification.Validate(problems);
        if (options.Server.ShutdownTimeout < TimeSpan.Zero || options.Server.ShutdownTimeout > TimeSpan.FromHours(1))
        {
            problems.Add("Server:ShutdownTimeout: must be between 00:00:00 and 01:00:00");
        }

        try
        {
            TimeZoneInfo.FindSystemTimeZoneById(options.Server.TimeZone);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            problems.Add($"Server:TimeZone: '{options.Server.TimeZone}' is not a known time zone (e.g. UTC, Europe/Berlin)");
        }

        if (options.Server.Postmaster is { } pm && !EmailAddress.TryParse(pm, out _, out var pmError))
        {
            problems.Add($"Server:Postmaster: {pmError}");
        }

        if (string.IsNullOrWhiteSpace(options.Server.DataFolder))
        {
            problems.Add("Server:DataFolder: must not be empty");
        }

        if ((options.Tls.Certificate is null) != (options.Tls.Key is null))
        {
            problems.Add("Tls:Certificate and Tls:Key: give both files or neither (neither uses the self-signed certificate)");
        }

        foreach (var (file, key) in new[] { (options.Tls.Certificate, "Tls:Certificate"), (options.Tls.Key, "Tls:Key") })
        {
            if (file is not null && !File.Exists(file))
            {
                problems.Add($"{key}: the file '{file}' does not exist");
            }
        }

        for (var i = 0; i < options.Tls.Certificates.Count; i++)
        {
            var sni = options.Tls.Certificates[i];
            var key = $"Tls:Certificates:{i.ToString(CultureInfo.InvariantCulture)}";
            if (sni.Names.Count == 0)
            {
                problems.Add($"{key}:Names: list the host names this certificate serves");
            }

            if (!File.Exists(sni.Certificate))
            {
                problems.Add($"{key}:Certificate: the file '{sni.Certificate}' does not exist");
            }

            if (!File.Exists(sni.Key))
            {
                problems.Add($"{key}:Key: the file '{sni.Key}' does not exist");
            }
        }

        if (options.Tls.HandshakeTimeout <= TimeSpan.Zero)
        {
            problems.Add("Tls:HandshakeTimeout: must be positive");
        }

        if (!options.Log.Format.Equals("text", StringComparison.OrdinalIgnoreCase) && !options.Log.Format.Equals("json", StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"Log:Format: '{options.Log.Format}' is not 'text' or 'json'");
        }

        if (!Enum.TryParse<Microsoft.Extensions.Logging.LogLevel>(options.Log.Level, ignoreCase: true, out _))
        {
            problems.Add($"Log:Level: '{options.Log.Level}' is not one of Trace, Debug, Information, Warning, Error, Critical");
        }

        if (!options.Storage.Backend.Equals("sqlite", StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"Storage:Backend: '{options.Storage.Backend}' is not available in this build (use 'sqlite')");
        }

        if (options.Storage.MinimumFreeSpaceMegabytes < 0)
        {
            problems.Add("Storage:MinimumFreeSpaceMegabytes: cannot be below zero");
        }

        if (options.Storage.MessageLogRetentionDays < 1)
        {
            problems.Add("Storage:MessageLogRetentionDays: must be at least 1");
        }

        if (string.IsNullOrWhiteSpace(options.Admin.InitialLogin))
        {
            problems.Add("Admin:InitialLogin: must not be empty");
        }
    }

    private static bool IsOctalMode(string text) =>
        text.Length is > 0 and <= 4 && text.All(c => c is >= '0' and <= '7');
}
