using System.Net;
using Postern.Delivery.Engine;
using Postern.Delivery.TlsPolicy;

namespace Postern.Host.Configuration;

/// <summary>The <c>Delivery</c> section: the outbound queue and SMTP client (docs/delivery.md).</summary>
public sealed class DeliveryConfig
{
    /// <summary>Deliver queued mail (off: mail stays queued, e.g. on a node that only receives).</summary>
    public bool Enabled { get; set; } = true;

    public int MaxConnections { get; set; } = 100;

    public int MaxConnectionsPerDestination { get; set; } = 10;

    public int MaxMessagesPerConnection { get; set; } = 100;

    public TimeSpan ConnectionIdleTime { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan FirstRetryInterval { get; set; } = TimeSpan.FromMinutes(5);

    public TimeSpan MaxRetryInterval { get; set; } = TimeSpan.FromHours(4);

    public TimeSpan QueueLifetime { get; set; } = TimeSpan.FromDays(5);

    /// <summary>For relay domains without their own queueLifetimeDays; absent: <see cref="QueueLifetime"/>.</summary>
    public TimeSpan? RelayQueueLifetime { get; set; }

    /// <summary>00:00:00 switches delay warnings off.</summary>
    public TimeSpan DelayWarningAfter { get; set; } = TimeSpan.FromHours(4);

    public TimeSpan DestinationBackoff { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan MaxDestinationBackoff { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>ipv6-first, ipv4-first, ipv4-only, ipv6-only.</summary>
    public string IpPreference { get; set; } = "ipv6-first";

    public string? SourceAddressV4 { get; set; }

    public string? SourceAddressV6 { get; set; }

    /// <summary>host[:port], e.g. <c>smtp.provider.example:587</c>; internet mail goes there instead of the MX.</summary>
    public string? Smarthost { get; set; }

    public string? SmarthostUser { get; set; }

    public string? SmarthostPassword { get; set; }

    /// <summary>TLS level towards the smarthost: none, may, encrypt, verify (default: encrypt when a user is set, else may).</summary>
    public string? SmarthostTls { get; set; }

    /// <summary>Per destination domain (exact, <c>.example.com</c> for subdomains, <c>*</c> for all): <c>host[:port]</c>, or <c>lmtp:host:port</c>.</summary>
    public Dictionary<string, string> Transports { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Per internet destination domain: none, may, encrypt, verify.</summary>
    public Dictionary<string, string> TlsPolicies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public bool MtaSts { get; set; } = true;

    public bool Dane { get; set; } = true;

    /// <summary>TESTS ONLY: the port used for MX delivery instead of 25.</summary>
    public int? MxPortOverride { get; set; }

    /// <summary>TESTS ONLY: a PEM file of extra trust roots for certificate checks.</summary>
    public string? TrustRootsFile { get; set; }

    internal static void Validate(DeliveryConfig d, List<string> problems)
    {
        if (d.MaxConnections is < 1 or > 10_000)
        {
            problems.Add("Delivery:MaxConnections: must be between 1 and 10000");
        }

        if (d.MaxConnectionsPerDestination < 1 || d.MaxConnectionsPerDestination > d.MaxConnections)
        {
            problems.Add("Delivery:MaxConnectionsPerDestination: must be between 1 and Delivery:MaxConnections");
        }

        if (d.FirstRetryInterval < TimeSpan.FromSeconds(1) || d.MaxRetryInterval < d.FirstRetryInterval)
        {
            problems.Add("Delivery:FirstRetryInterval: must be at least 00:00:01 and at most Delivery:MaxRetryInterval");
        }

        if (d.QueueLifetime < TimeSpan.FromMinutes(1) || d.QueueLifetime > TimeSpan.FromDays(365))
        {
            problems.Add("Delivery:QueueLifetime: must be between 00:01:00 and 365.00:00:00");
        }

        if (ParsePreference(d.IpPreference) is null)
        {
            problems.Add($"Delivery:IpPreference: '{d.IpPreference}' is not one of ipv6-first, ipv4-first, ipv4-only, ipv6-only");
        }

        foreach (var (name, text) in new[] { ("SourceAddressV4", d.SourceAddressV4), ("SourceAddressV6", d.SourceAddressV6) })
        {
            if (text is not null && !IPAddress.TryParse(text, out _))
            {
                problems.Add($"Delivery:{name}: '{text}' is not an IP address");
            }
        }

        if (d.Smarthost is { } s && ParseHop(s, null) is null)
        {
            problems.Add($"Delivery:Smarthost: '{s}' is not host[:port]");
        }

        if (d.SmarthostTls is { } st && AdminTlsPolicy.ParseLevel(st) is null)
        {
            problems.Add($"Delivery:SmarthostTls: '{st}' is not one of none, may, encrypt, verify");
        }

        foreach (var (domain, hop) in d.Transports)
        {
            if (ParseHop(hop, null) is null)
            {
                problems.Add($"Delivery:Transports:{domain}: '{hop}' is not host[:port] or lmtp:host:port");
            }
        }

        foreach (var (domain, level) in d.TlsPolicies)
        {
            if (AdminTlsPolicy.ParseLevel(level) is null)
            {
                problems.Add($"Delivery:TlsPolicies:{domain}: '{level}' is not one of none, may, encrypt, verify");
            }
        }

        if (d.MxPortOverride is < 1 or > 65535)
        {
            problems.Add("Delivery:MxPortOverride: must be a TCP port");
        }

        if (d.TrustRootsFile is { } f && !File.Exists(f))
        {
            problems.Add($"Delivery:TrustRootsFile: '{f}' does not exist");
        }
    }

    internal static IpPreference? ParsePreference(string text) => text.ToLowerInvariant() switch
    {
        "ipv6-first" => Postern.Delivery.Engine.IpPreference.Ipv6First,
        "ipv4-first" => Postern.Delivery.Engine.IpPreference.Ipv4First,
        "ipv4-only" => Postern.Delivery.Engine.IpPreference.Ipv4Only,
        "ipv6-only" => Postern.Delivery.Engine.IpPreference.Ipv6Only,
        _ => null,
    };

    /// <summary><c>host</c>, <c>host:port</c>, <c>[addr]:port</c>, <c>lmtp:host:port</c>.</summary>
    internal static NextHop? ParseHop(string text, AdminTlsLevel? tls, string? user = null, string? password = null)
    {
        var t = text.Trim();
        var lmtp = false;
        if (t.StartsWith("lmtp:", StringComparison.OrdinalIgnoreCase))
        {
            lmtp = true;
            t = t[5..];
        }
        else if (t.StartsWith("smtp:", StringComparison.OrdinalIgnoreCase))
        {
            t = t[5..];
        }

        string host;
        var port = 25;
        if (t.StartsWith('['))
        {
            var close = t.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return null;
            }

            host = t[..(close + 1)];
            var rest = t[(close + 1)..];
            if (rest.Length > 0 && (!rest.StartsWith(':') || !int.TryParse(rest[1..], out port)))
            {
                return null;
            }
        }
        else
        {
            var colon = t.LastIndexOf(':');
            host = colon < 0 ? t : t[..colon];
            if (colon >= 0 && !int.TryParse(t[(colon + 1)..], out port))
            {
                return null;
            }
        }

        if (host.Length == 0 || port is < 1 or > 65535 || host.Contains(' ', StringComparison.Ordinal))
        {
            return null;
        }

        return new NextHop(host, port, tls, user, password, lmtp);
    }
}
