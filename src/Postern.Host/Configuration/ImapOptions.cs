namespace Postern.Host.Configuration;

/// <summary>Rules for the IMAP listeners (imap on 143 with STARTTLS, imaps on 993). See docs/imap.md.</summary>
public sealed class ImapOptions
{
    /// <summary>Largest message APPEND accepts, in bytes (announced as APPENDLIMIT).</summary>
    public long MaxMessageSize { get; set; } = 50L * 1024 * 1024;

    /// <summary>Longest command line (literals excluded), in bytes.</summary>
    public int MaxLineLength { get; set; } = 64 * 1024;

    /// <summary>Allow LOGIN and AUTHENTICATE without TLS from anywhere (never do this outside tests).</summary>
    public bool AllowPlaintextAuth { get; set; }

    /// <summary>Networks whose clients may log in without TLS (a webmail or proxy on the same host), as Dovecot treats loopback.</summary>
    public List<string> SecureNetworks { get; set; } = ["127.0.0.0/8", "::1/128"];

    /// <summary>Idle time of a logged-in session before it is closed (RFC 9051: at least 30 minutes).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Idle time before login.</summary>
    public TimeSpan PreAuthIdleTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Logged-in sessions one account may hold at once (clients open several per account).</summary>
    public int MaxConnectionsPerAccount { get; set; } = 50;

    /// <summary>Users who may log in as any other user with SASL PLAIN's authorization identity.</summary>
    public List<string> MasterUsers { get; set; } = [];
}
