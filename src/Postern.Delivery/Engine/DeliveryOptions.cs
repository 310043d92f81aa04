using System.Net;
using Postern.Delivery.TlsPolicy;

namespace Postern.Delivery.Engine;

/// <summary>Which address family to try first when a host has both.</summary>
public enum IpPreference
{
    /// <summary>IPv6 first, then IPv4 (RFC 6724's default order).</summary>
    Ipv6First = 0,
    Ipv4First = 1,
    Ipv4Only = 2,
    Ipv6Only = 3,
}

/// <summary>A fixed next hop for some destinations (a transport override, or the smarthost).</summary>
/// <param name="Host">A host name (resolved with A/AAAA, no MX) or an address literal.</param>
/// <param name="Port">The TCP port.</param>
/// <param name="Tls">The admin TLS level for this hop (null: the destination domain's, or may).</param>
/// <param name="User">AUTH user (PLAIN or LOGIN, only over TLS), or null for none.</param>
/// <param name="Password">AUTH password.</param>
/// <param name="Lmtp">Speak LMTP instead of SMTP.</param>
public sealed record NextHop(string Host, int Port = 25, AdminTlsLevel? Tls = null, string? User = null, string? Password = null, bool Lmtp = false)
{
    public override string ToString() => $"{Host}:{Port}";
}

/// <summary>Settings of the delivery engine (configuration section <c>Delivery</c>).</summary>
public sealed record DeliveryOptions
{
    /// <summary>Our host name: EHLO, Reporting-MTA of DSNs, loop detection.</summary>
    public required string Hostname { get; init; }

    /// <summary>Connections open at once, over all destinations.</summary>
    public int MaxConnections { get; init; } = 100;

    /// <summary>Connections open at once to one destination (a domain, a relay domain's server list, the smarthost).</summary>
    public int MaxConnectionsPerDestination { get; init; } = 10;

    /// <summary>Messages sent over one connection before it is closed and a new one opened.</summary>
    public int MaxMessagesPerConnection { get; init; } = 100;

    /// <summary>How long an idle connection is kept for the next message to the same destination.</summary>
    public TimeSpan ConnectionIdleTime { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Recipients leased from the queue at most at once (what waits in memory for a connection).</summary>
    public int MaxRecipientsInFlight { get; init; } = 2000;

    /// <summary>How often the queue is looked at for due mail when nothing wakes the engine.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The lease on claimed recipients; renewed while they wait or are being sent.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>First retry after a temporary failure; each later one waits twice as long, up to <see cref="MaxRetryInterval"/>.</summary>
    public TimeSpan FirstRetryInterval { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan MaxRetryInterval { get; init; } = TimeSpan.FromHours(4);

    /// <summary>How long mail is retried before it bounces (RFC 5321 §4.5.4.1: at least 4-5 days).</summary>
    public TimeSpan QueueLifetime { get; init; } = TimeSpan.FromDays(5);

    /// <summary>For relay domains without a lifetime of their own; null means <see cref="QueueLifetime"/>.</summary>
    public TimeSpan? RelayQueueLifetime { get; init; }

    /// <summary>A delay warning DSN goes to the sender after this long (0: never).</summary>
    public TimeSpan DelayWarningAfter { get; init; } = TimeSpan.FromHours(4);

    /// <summary>A destination found unreachable is tried again after this long, doubling per failure up to <see cref="MaxDestinationBackoff"/>.</summary>
    public TimeSpan DestinationBackoff { get; init; } = TimeSpan.FromMinutes(1);

    public TimeSpan MaxDestinationBackoff { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often a held domain's queue is looked at again (a release through the command line makes it due at once).</summary>
    public TimeSpan HoldRecheckInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>MX hosts tried per attempt at most (RFC 5321 §5.1 asks for a configurable limit).</summary>
    public int MaxMxHosts { get; init; } = 5;

    /// <summary>Addresses tried per attempt at most, over all hosts.</summary>
    public int MaxAddresses { get; init; } = 10;

    public IpPreference IpPreference { get; init; } = IpPreference.Ipv6First;

    /// <summary>Local source address for IPv4 connections, or null for the system's choice.</summary>
    public IPAddress? SourceAddressV4 { get; init; }

    /// <summary>Local source address for IPv6 connections, or null for the system's choice.</summary>
    public IPAddress? SourceAddressV6 { get; init; }

    /// <summary>All internet mail goes to this host instead of the MX (with AUTH and TLS as set); relay domains still go to their own servers.</summary>
    public NextHop? Smarthost { get; init; }

    /// <summary>Next hops per destination domain (exact domain, or <c>.example.com</c> for its subdomains), before MX and smarthost.</summary>
    public IReadOnlyDictionary<string, NextHop> Transports { get; init; } = new Dictionary<string, NextHop>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Admin TLS policies for internet destination domains (relay domains carry theirs in their settings).</summary>
    public IReadOnlyDictionary<string, AdminTlsPolicy> TlsPolicies { get; init; } = new Dictionary<string, AdminTlsPolicy>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Look up MTA-STS policies for MX delivery.</summary>
    public bool MtaSts { get; init; } = true;

    /// <summary>Use DANE when the resolver gives authenticated answers.</summary>
    public bool Dane { get; init; } = true;

    /// <summary>
    /// TESTS ONLY: the TCP port used for MX (and implicit MX) delivery instead of 25, so tests can run destination
    /// servers on loopback. Never set it in production.
    /// </summary>
    public int? MxPortOverride { get; init; }

    /// <summary>Our own SMTP listening endpoints: a next hop that is one of them is a configuration error, not a loop.</summary>
    public IReadOnlyList<IPEndPoint> OwnEndpoints { get; init; } = [];

    /// <summary>Settings of each SMTP client session (timeouts as RFC 5321 §4.5.3.2; LocalHostname is set from <see cref="Hostname"/>).</summary>
    public Protocols.Smtp.Client.SmtpClientOptions Client { get; init; } = new();

    /// <summary>Trust roots for certificate checks (tests inject a private CA); null for the system's.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2Collection? TrustRoots { get; init; }

    /// <summary>Messages up to this size are read into memory to be sent; larger ones are streamed from the store.</summary>
    public int InMemoryMessageLimit { get; init; } = 4 * 1024 * 1024;
}
