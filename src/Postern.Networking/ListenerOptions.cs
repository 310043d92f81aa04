using System.Net;

namespace Postern.Networking;

/// <summary>How a listener uses TLS.</summary>
public enum TlsMode
{
    /// <summary>Plain text only.</summary>
    None = 0,

    /// <summary>Plain text first; the protocol may upgrade with STARTTLS/STLS.</summary>
    StartTls = 1,

    /// <summary>TLS from the first byte (SMTPS 465, IMAPS 993, POP3S 995).</summary>
    Implicit = 2,
}

/// <summary>
/// One listener: a name for logs, the end points it binds, TLS, PROXY protocol and limits.
/// </summary>
/// <param name="Name">Name used in logs and metrics, e.g. "smtp" or "submissions".</param>
public sealed record ListenerOptions(string Name)
{
    /// <summary>
    /// End points to bind. <c>[::]:port</c> (IPv6Any) binds dual-stack with IPV6_V6ONLY off, so IPv4 clients
    /// arrive too (their addresses are normalised to IPv4). Port 0 picks a free port.
    /// </summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; init; } = [new IPEndPoint(IPAddress.IPv6Any, 25)];

    /// <summary>
    /// Also (or only, with no <see cref="EndPoints"/>) listen on this Unix domain socket, e.g. for an MTA on the
    /// same machine handing mail over by LMTP. A stale socket file is replaced; the socket is made mode 0660.
    /// Clients on it appear as 127.0.0.1.
    /// </summary>
    public string? UnixSocketPath { get; init; }

    /// <summary>Permissions given to the socket file at <see cref="UnixSocketPath"/>.</summary>
    public UnixFileMode UnixSocketMode { get; init; } = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;

    /// <summary>TLS mode; <see cref="TlsMode.StartTls"/> and <see cref="TlsMode.Implicit"/> need a certificate selector.</summary>
    public TlsMode Tls { get; init; } = TlsMode.None;

    /// <summary>
    /// Networks (CIDR) whose connections MUST start with a PROXY v1 or v2 header. A PROXY header from any
    /// other peer is refused and the connection closed.
    /// </summary>
    public IReadOnlyList<IPNetwork> ProxyProtocolTrustedNetworks { get; init; } = [];

    /// <summary>Sessions at once on this listener; the connection over it is handed over flagged <see cref="ConnectionLimit.TotalExceeded"/>.</summary>
    public int MaxConnections { get; init; } = 1000;

    /// <summary>Sessions at once from one client address; over it the connection is flagged <see cref="ConnectionLimit.PerAddressExceeded"/>.</summary>
    public int MaxConnectionsPerAddress { get; init; } = 20;

    /// <summary>
    /// Over-limit connections handed to the handler at once (so it can send its "too many connections" reply).
    /// Beyond this, further connections are closed at once without a reply, so a flood cannot pile up sessions.
    /// </summary>
    public int MaxOverLimitConnections { get; init; } = 100;

    /// <summary>Time allowed for the TLS handshake (implicit TLS and STARTTLS) and for the PROXY header.</summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>After <see cref="ConnectionContext.ShutdownDeadline"/> fires, how long handlers get to say goodbye before being aborted.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Listen backlog.</summary>
    public int Backlog { get; init; } = 512;

    /// <summary>Size of each read from the socket into the input pipe.</summary>
    public int ReadBufferSize { get; init; } = 4096;

    /// <summary>A disabled listener is not started.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>True when <paramref name="address"/> lies in <see cref="ProxyProtocolTrustedNetworks"/>.</summary>
    public bool IsTrustedProxy(IPAddress address)
    {
        var normalised = Addresses.Normalise(address);
        foreach (var network in ProxyProtocolTrustedNetworks)
        {
            if (network.Contains(normalised))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Whether a connection arrived over a connection limit. The protocol answers its own "too many connections" reply and closes.</summary>
public enum ConnectionLimit
{
    /// <summary>Within limits.</summary>
    None = 0,

    /// <summary>The listener's total <see cref="ListenerOptions.MaxConnections"/> is reached.</summary>
    TotalExceeded = 1,

    /// <summary>This client address already has <see cref="ListenerOptions.MaxConnectionsPerAddress"/> sessions.</summary>
    PerAddressExceeded = 2,
}
