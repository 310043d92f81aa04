using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;
using Postern.Protocols.Smtp;

namespace Postern.Delivery.Engine;

/// <summary>How a destination is reached.</summary>
public enum RouteKind
{
    /// <summary>The MX records of the domain (or the domain itself, the implicit MX).</summary>
    Mx = 0,

    /// <summary>A relay domain's own servers (the customer's mail servers behind the gateway).</summary>
    Relay = 1,

    /// <summary>A configured transport override for the domain.</summary>
    Transport = 2,

    /// <summary>The configured smarthost.</summary>
    Smarthost = 3,

    /// <summary>Postern's own mailboxes.</summary>
    Local = 4,
}

/// <summary>One host to try, in order. <see cref="Addresses"/> null: resolved (A/AAAA) when its turn comes.</summary>
/// <param name="Host">The host name (or address literal text) as configured or found in the MX.</param>
/// <param name="Port">The TCP port.</param>
/// <param name="Addresses">Fixed addresses (an address literal), or null.</param>
/// <param name="Configured">Named by an admin (relay server, transport, smarthost) rather than found in DNS.</param>
public sealed record RouteHost(string Host, int Port, IReadOnlyList<IPAddress>? Addresses, bool Configured);

/// <summary>Where a destination's mail goes, or why it cannot go now (or ever).</summary>
public sealed record RoutePlan
{
    public required RouteKind Kind { get; init; }

    /// <summary>The destination domain.</summary>
    public required string Domain { get; init; }

    public IReadOnlyList<RouteHost> Hosts { get; init; } = [];

    /// <summary>The MX answer was DNSSEC-authenticated (or the hosts are configured).</summary>
    public bool MxAuthenticated { get; init; }

    public AdminTlsPolicy? AdminTls { get; init; }

    /// <summary>The configured hop (for AUTH and LMTP), when the route is a transport or the smarthost.</summary>
    public NextHop? Hop { get; init; }

    /// <summary>The domain when it is ours.</summary>
    public OwnDomain? Own { get; init; }

    /// <summary>When set, nothing can be tried: the reply every recipient gets (4xx: retry, 5xx: bounce).</summary>
    public SmtpReply? Failure { get; init; }

    /// <summary>Our own words for <see cref="Failure"/> (the DSN diagnostic).</summary>
    public string? FailureDetail { get; init; }

    public bool IsPermanentFailure => Failure is { IsPermanentFailure: true };
}

/// <summary>
/// Routing per recipient domain: relay domain → the customer's servers (priority order, random among equals);
/// a transport override; the smarthost; otherwise MX (RFC 5321 §5.1): null MX (RFC 7505) fails at once with
/// 5.1.10, a domain that does not exist with 5.1.2, no MX means the domain itself (implicit MX), MX preference
/// order with a random order among equal preferences. DNS trouble is temporary.
/// </summary>
public sealed class DeliveryRouter(DeliveryOptions options, IDnsResolver dns, IDeliveryDirectory directory, Random? random = null)
{
    private readonly Random _random = random ?? Random.Shared;

    /// <summary>The plan for a destination key (a domain, or <c>relay:domain</c>).</summary>
    public async Task<RoutePlan> PlanAsync(string destinationKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destinationKey);
        var relayKey = destinationKey.StartsWith("relay:", StringComparison.Ordinal);
        var domain = (relayKey ? destinationKey["relay:".Length..] : destinationKey).ToLowerInvariant();
        var own = await directory.FindDomainAsync(domain, cancellationToken).ConfigureAwait(false);
        if (own is not null && (relayKey || !own.Hosted) && own.Relay)
        {
            return RelayPlan(domain, own);
        }

        if (own is { Hosted: true })
        {
            return new RoutePlan { Kind = RouteKind.Local, Domain = domain, Own = own };
        }

        if (own is not null)
        {
            return Fail(RouteKind.Local, domain, new SmtpReply(550, new EnhancedStatusCode(5, 1, 2), "Domain has no mailboxes and no mail servers"), "our own domain has neither mailboxes nor mail servers");
        }

        var admin = FindTlsPolicy(domain);
        if (FindTransport(domain) is { } hop)
        {
            return HopPlan(RouteKind.Transport, domain, hop, admin);
        }

        if (options.Smarthost is { } smarthost)
        {
            return HopPlan(RouteKind.Smarthost, domain, smarthost, admin);
        }

        return await MxPlanAsync(domain, admin, cancellationToken).ConfigureAwait(false);
    }

    private RoutePlan RelayPlan(string domain, OwnDomain own)
    {
        if (own.RelayHosts.Count == 0)
        {
            return Fail(RouteKind.Relay, domain, new SmtpReply(451, new EnhancedStatusCode(4, 3, 5), "No mail server is configured for this relay domain"), "relay domain without mail servers (configuration)");
        }

        var hosts = ShuffleWithinRank(own.RelayHosts, h => h.Priority)
            .Select(h => new RouteHost(h.Host, h.Port, Literal(h.Host), Configured: true))
            .ToList();
        var tls = own.Settings.TlsPolicy is { } level ? new AdminTlsPolicy(AdminTlsPolicy.ParseLevel(level) ?? AdminTlsLevel.May, own.Settings.TlsMatchNames.Count > 0 ? own.Settings.TlsMatchNames : null) : null;
        return new RoutePlan { Kind = RouteKind.Relay, Domain = domain, Hosts = hosts, MxAuthenticated = true, AdminTls = tls, Own = own };
    }

    private static RoutePlan HopPlan(RouteKind kind, string domain, NextHop hop, AdminTlsPolicy? admin) => new()
    {
        Kind = kind,
        Domain = domain,
        Hosts = [new RouteHost(hop.Host, hop.Port, Literal(hop.Host), Configured: true)],
        MxAuthenticated = true,
        AdminTls = hop.Tls is { } level ? new AdminTlsPolicy(level) : admin,
        Hop = hop,
    };

    private async Task<RoutePlan> MxPlanAsync(string domain, AdminTlsPolicy? admin, CancellationToken cancellationToken)
    {
        var port = options.MxPortOverride ?? 25;
        if (Literal(domain) is { } literal)
        {
            return new RoutePlan { Kind = RouteKind.Mx, Domain = domain, Hosts = [new RouteHost(domain, port, literal, Configured: false)], AdminTls = admin };
        }

        var mx = await dns.GetMxAsync(domain, cancellationToken).ConfigureAwait(false);
        switch (mx.Status)
        {
            case DnsStatus.Success:
                break;
            case DnsStatus.NxDomain:
                return Fail(RouteKind.Mx, domain, new SmtpReply(550, new EnhancedStatusCode(5, 1, 2), $"Domain {domain} does not exist"), $"DNS: {domain} does not exist (NXDOMAIN)");
            case DnsStatus.NoData:
                // RFC 5321 §5.1: no MX records, the domain itself is the mail exchanger (implicit MX).
                return new RoutePlan { Kind = RouteKind.Mx, Domain = domain, Hosts = [new RouteHost(domain, port, null, Configured: false)], MxAuthenticated = mx.IsAuthenticated, AdminTls = admin };
            default:
                return Fail(RouteKind.Mx, domain, new SmtpReply(451, new EnhancedStatusCode(4, 4, 3), $"MX lookup for {domain} failed"), $"DNS: MX lookup for {domain} failed: {mx.Status}{(mx.Error is null ? string.Empty : " (" + mx.Error + ")")}");
        }

        var records = mx.Values.Where(r => !IsNullMx(r)).ToList();
        if (records.Count == 0)
        {
            return Fail(RouteKind.Mx, domain, new SmtpReply(556, new EnhancedStatusCode(5, 1, 10), $"Domain {domain} does not accept mail (null MX)"), $"{domain} publishes a null MX (RFC 7505): it accepts no mail");
        }

        var hosts = ShuffleWithinRank(records, r => r.Preference)
            .Take(options.MaxMxHosts)
            .Select(r => new RouteHost(r.Exchange.TrimEnd('.'), port, null, Configured: false))
            .ToList();
        return new RoutePlan { Kind = RouteKind.Mx, Domain = domain, Hosts = hosts, MxAuthenticated = mx.IsAuthenticated, AdminTls = admin };
    }

    /// <summary>The addresses of a host in the configured family order; the answer's authentication comes along.</summary>
    public async Task<(IReadOnlyList<IPAddress> Addresses, bool Authenticated, DnsStatus Status, string? Error)> ResolveAsync(RouteHost host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.Addresses is { } fixedAddresses)
        {
            return (Order(fixedAddresses), true, DnsStatus.Success, null);
        }

        var result = await dns.GetAddressesAsync(host.Host, cancellationToken).ConfigureAwait(false);
        return (Order(result.Values), result.IsAuthenticated, result.Status, result.Error);
    }

    /// <summary>True when the endpoint is one of our own listeners (a loop, and a configuration error).</summary>
    public bool IsOwnEndpoint(IPAddress address, int port)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var own in options.OwnEndpoints)
        {
            if (own.Port != port)
            {
                continue;
            }

            var ownAddress = own.Address.IsIPv4MappedToIPv6 ? own.Address.MapToIPv4() : own.Address;
            if (ownAddress.Equals(address))
            {
                return true;
            }

            if ((ownAddress.Equals(IPAddress.Any) || ownAddress.Equals(IPAddress.IPv6Any)) && IsLocalAddress(address))
            {
                return true;
            }
        }

        return false;
    }

    private IReadOnlyList<IPAddress> Order(IReadOnlyList<IPAddress> addresses)
    {
        static bool V6(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv4MappedToIPv6;
        var list = options.IpPreference switch
        {
            IpPreference.Ipv4Only => addresses.Where(a => !V6(a)),
            IpPreference.Ipv6Only => addresses.Where(V6),
            IpPreference.Ipv4First => addresses.Where(a => !V6(a)).Concat(addresses.Where(V6)),
            _ => addresses.Where(V6).Concat(addresses.Where(a => !V6(a))),
        };
        return list.Distinct().ToList();
    }

    private NextHop? FindTransport(string domain) =>
        FindForDomain(options.Transports, domain) ?? (options.Transports.TryGetValue("*", out var any) ? any : null);

    private AdminTlsPolicy? FindTlsPolicy(string domain) => FindForDomain(options.TlsPolicies, domain);

    /// <summary>The entry for the domain itself, else for the nearest parent written as <c>.parent</c>.</summary>
    private static T? FindForDomain<T>(IReadOnlyDictionary<string, T> map, string domain)
        where T : class
    {
        if (map.Count == 0)
        {
            return null;
        }

        if (map.TryGetValue(domain, out var exact))
        {
            return exact;
        }

        for (var dot = domain.IndexOf('.', StringComparison.Ordinal); dot >= 0; dot = domain.IndexOf('.', dot + 1))
        {
            if (map.TryGetValue(domain[dot..], out var parent))
            {
                return parent;
            }
        }

        return null;
    }

    private List<T> ShuffleWithinRank<T>(IEnumerable<T> items, Func<T, int> rank)
    {
        var result = new List<T>();
        foreach (var group in items.GroupBy(rank).OrderBy(g => g.Key))
        {
            var members = group.ToArray();
            _random.Shuffle(members);
            result.AddRange(members);
        }

        return result;
    }

    private static bool IsNullMx(MxRecord r) => r.Exchange is "." or "";

    /// <summary>An address literal (<c>192.0.2.1</c>, <c>[192.0.2.1]</c>, <c>[IPv6:2001:db8::1]</c>) as an address.</summary>
    public static IReadOnlyList<IPAddress>? Literal(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var text = host.Trim();
        if (text.StartsWith('[') && text.EndsWith(']'))
        {
            text = text[1..^1];
            if (text.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            {
                text = text[5..];
            }
        }

        return IPAddress.TryParse(text, out var address) && (text.Contains(':', StringComparison.Ordinal) || text.Count(c => c == '.') == 3) ? [address] : null;
    }

    private static RoutePlan Fail(RouteKind kind, string domain, SmtpReply reply, string detail) =>
        new() { Kind = kind, Domain = domain, Failure = reply, FailureDetail = detail };

    private static HashSet<IPAddress>? _localAddresses;
    private static DateTimeOffset _localAddressesRead;

    private static bool IsLocalAddress(IPAddress address)
    {
        if (IPAddress.IsLoopback(address))
        {
            return true;
        }

        var now = DateTimeOffset.UtcNow;
        if (_localAddresses is null || now - _localAddressesRead > TimeSpan.FromMinutes(1))
        {
            try
            {
                _localAddresses = NetworkInterface.GetAllNetworkInterfaces()
                    .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                    .Select(u => u.Address)
                    .ToHashSet();
            }
            catch (NetworkInformationException)
            {
                _localAddresses = [];
            }

            _localAddressesRead = now;
        }

        return _localAddresses.Contains(address);
    }
}
