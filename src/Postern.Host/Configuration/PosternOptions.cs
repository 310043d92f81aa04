namespace Postern.Host.Configuration;

/// <summary>The whole configuration file (appsettings-style JSON, <c>POSTERN__SECTION__KEY</c>, command-line overrides).</summary>
public sealed class PosternOptions
{
    public ServerOptions Server { get; set; } = new();

    /// <summary>Listeners by name (smtp, submission, submissions, lmtp, imap, imaps, pop3, pop3s, managesieve, https).</summary>
    public Dictionary<string, ListenerConfig> Listeners { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public TlsOptions Tls { get; set; } = new();

    public LogOptions Log { get; set; } = new();

    public StorageOptions Storage { get; set; } = new();

    public AdminOptions Admin { get; set; } = new();

    public SmtpOptions Smtp { get; set; } = new();

    public ImapOptions Imap { get; set; } = new();

    public SecurityOptions Security { get; set; } = new();

    public DnsOptions Dns { get; set; } = new();

    /// <summary>The outbound queue (docs/delivery.md).</summary>
    public DeliveryConfig Delivery { get; set; } = new();

    public RecipientVerificationOptions RecipientVerification { get; set; } = new();
}

/// <summary>The DNS stub resolver every network-facing part uses (Postern.Dns). Unset values come from /etc/resolv.conf.</summary>
public sealed class DnsOptions
{
    /// <summary>Resolvers to ask, in order: <c>address</c> or <c>address:port</c> (<c>[v6]:port</c>). Empty: resolv.conf's. DANE needs a validating resolver on loopback.</summary>
    public List<string> Servers { get; set; } = [];

    /// <summary>How long to wait for one server's answer; unset: resolv.conf's, else 5 s.</summary>
    public TimeSpan? Timeout { get; set; }

    /// <summary>Rounds over all servers; unset: resolv.conf's, else 2.</summary>
    public int? Attempts { get; set; }

    /// <summary>Cached answers live at least this long.</summary>
    public TimeSpan MinimumCacheTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Cached answers live at most this long.</summary>
    public TimeSpan MaximumCacheTtl { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Negative answers (NXDOMAIN, no data) live at most this long (RFC 2308).</summary>
    public TimeSpan MaximumNegativeCacheTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most cached results.</summary>
    public int CacheEntries { get; set; } = 10_000;

    /// <summary>Look up SMTP clients' names (forward-confirmed reverse DNS) for Received.</summary>
    public bool ReverseLookups { get; set; } = true;
}

public sealed class ServerOptions
{
    /// <summary>The server's FQDN: banners, EHLO, Received, Message-IDs, DSNs, the self-signed certificate's SAN.</summary>
    public string? Hostname { get; set; }

    /// <summary>Where everything lives (SQLite files, blobs, TLS material). Created 0700.</summary>
    public string DataFolder { get; set; } = "./data";

    /// <summary><c>quickstart</c> (unprivileged ports) or <c>standard</c> (25, 465, 587, 143, 993, 110, 995, 4190, 443).</summary>
    public string Ports { get; set; } = "quickstart";

    /// <summary>Address the listeners bind by default: <c>::</c> is dual-stack (IPv4 too).</summary>
    public string BindAddress { get; set; } = "::";

    /// <summary>How long sessions in progress may take to finish after SIGTERM before they are told to go.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>IANA time zone for human-facing dates (digests, reports). Stored times are always UTC.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>Where mail for the bare &lt;postmaster&gt; goes.</summary>
    public string? Postmaster { get; set; }

    /// <summary>Running as root is refused unless this is true (bind low ports with CAP_NET_BIND_SERVICE instead).</summary>
    public bool AllowRoot { get; set; }
}

public sealed class ListenerConfig
{
    public bool Enabled { get; set; } = true;

    /// <summary>Port; 0 picks a free one (tests).</summary>
    public int? Port { get; set; }

    /// <summary>Address to bind; default <see cref="ServerOptions.BindAddress"/>.</summary>
    public string? Address { get; set; }

    /// <summary>Networks (CIDR) whose connections start with a PROXY protocol header (HAProxy).</summary>
    public List<string> ProxyProtocolFrom { get; set; } = [];

    public int MaxConnections { get; set; } = 1000;

    public int MaxConnectionsPerIp { get; set; } = 50;

    /// <summary>LMTP only: also listen on this Unix domain socket (mode 0660), e.g. for Postfix's <c>lmtp:unix:</c> transport.</summary>
    public string? UnixSocket { get; set; }

    /// <summary>Permissions of <see cref="UnixSocket"/>, in octal; connecting needs write permission.</summary>
    public string UnixSocketMode { get; set; } = "0660";
}

public sealed class TlsOptions
{
    /// <summary>PEM certificate chain for every name not matched below; empty means the self-signed one.</summary>
    public string? Certificate { get; set; }

    public string? Key { get; set; }

    /// <summary>Certificates chosen by SNI.</summary>
    public List<SniCertificate> Certificates { get; set; } = [];

    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

public sealed class SniCertificate
{
    public List<string> Names { get; set; } = [];

    public string Certificate { get; set; } = string.Empty;

    public string Key { get; set; } = string.Empty;
}

public sealed class LogOptions
{
    /// <summary><c>text</c> (human-readable) or <c>json</c> (one JSON object per line).</summary>
    public string Format { get; set; } = "text";

    /// <summary>Trace, Debug, Information, Warning, Error, Critical.</summary>
    public string Level { get; set; } = "Information";
}

public sealed class StorageOptions
{
    /// <summary><c>sqlite</c>: the embedded default. (PostgreSQL comes with scale-out.)</summary>
    public string Backend { get; set; } = "sqlite";

    /// <summary>Below this much free space (MB) new mail is refused with a temporary error.</summary>
    public long MinimumFreeSpaceMegabytes { get; set; } = 256;

    /// <summary>Days the message log is kept.</summary>
    public int MessageLogRetentionDays { get; set; } = 30;
}

public sealed class AdminOptions
{
    /// <summary>The first global admin's login, created on first start.</summary>
    public string InitialLogin { get; set; } = "admin";

    /// <summary>The first admin's password; if unset a one-time password is generated and printed once.</summary>
    public string? InitialPassword { get; set; }
}

/// <summary>Rules for the SMTP, submission and LMTP listeners.</summary>
public sealed class SmtpOptions
{
    /// <summary>Largest message accepted, in bytes (announced in EHLO SIZE).</summary>
    public long MaxMessageSize { get; set; } = 50L * 1024 * 1024;

    /// <summary>Recipients per transaction; more get 452 4.5.3 and are sent again by the client in another transaction.</summary>
    public int MaxRecipients { get; set; } = 100;

    /// <summary><c>normalize</c> (bare CR/LF in DATA stored as CRLF, never an end of data) or <c>reject</c> (550 5.5.2).</summary>
    public string BareLineEnds { get; set; } = "normalize";

    /// <summary>More Received fields than this: 554 5.4.6 (a mail loop).</summary>
    public int MaxReceivedHeaders { get; set; } = 100;

    /// <summary>Offer AUTH on the MX listener (after STARTTLS).</summary>
    public bool AuthOnMx { get; set; }

    /// <summary>Offer AUTH without TLS (never do this outside tests or a trusted network).</summary>
    public bool AuthWithoutTls { get; set; }

    /// <summary>A full mailbox answers 552 5.2.2 instead of 452 4.2.2.</summary>
    public bool OverQuotaPermanent { get; set; }

    /// <summary>Name the authenticated user in the Received field.</summary>
    public bool ReceivedShowsAuthenticatedUser { get; set; }

    /// <summary>On the MX listener, the wait before greeting a client seen for the first time; a client that talks during it is refused. 0 turns it off.</summary>
    public TimeSpan GreetingDelay { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Networks exempt from the greeting wait and the rate limits (relaying always needs AUTH).</summary>
    public List<string> TrustedNetworks { get; set; } = ["127.0.0.0/8", "::1/128"];

    /// <summary>Refused commands before 421 4.7.0 and disconnection.</summary>
    public int MaxErrors { get; set; } = 10;

    /// <summary>After 3 refused commands, each further refusal waits this long (spam bots and dictionary attacks slow down).</summary>
    public TimeSpan ErrorDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A silent client gets 421 4.4.2 after this (RFC 5321 asks for at least 5 minutes).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>However busy, a session ends with 421 4.4.2 after this long (a message being received is dropped, never half-stored).</summary>
    public TimeSpan MaxSessionTime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The growing error delay (<see cref="ErrorDelay"/> times the errors past 3) stops growing here.</summary>
    public TimeSpan MaxErrorDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Commands a client may send before a successful hello and, on submission, before AUTH.</summary>
    public int MaxCommandsBeforeAuth { get; set; } = 20;

    /// <summary>Longest command line in bytes, CRLF included (RFC 5321 §4.5.3.1.4: at least 512); longer ones get 500 5.5.6.</summary>
    public int MaxLineLength { get; set; } = 2048;

    /// <summary>Accounts that may sign in for any user with AUTH PLAIN (authorization identity = the user, login and password = the master's), like Dovecot's master users.</summary>
    public List<string> MasterUsers { get; set; } = [];

    /// <summary>Announce REQUIRETLS (RFC 8689) on TLS sessions: such messages are only ever relayed over verified TLS.</summary>
    public bool RequireTls { get; set; } = true;

    /// <summary>Rewrite the envelope sender of forwarded mail with SRS (so SPF passes downstream).</summary>
    public bool Srs { get; set; } = true;

    /// <summary>The domain SRS addresses are made in; the server's hostname when unset. Its MX must point at us.</summary>
    public string? SrsDomain { get; set; }
}

/// <summary>Brute-force protection and rate limits (shared by every protocol; counts live in the key-value store).</summary>
public sealed class SecurityOptions
{
    public bool AuthProtection { get; set; } = true;

    /// <summary>Failed logins from one IPv4 address or IPv6 /64 before it is locked out.</summary>
    public int AuthMaxFailuresPerIp { get; set; } = 10;

    /// <summary>The window those failures are counted in.</summary>
    public TimeSpan AuthFailureWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>The first lockout; each repeat doubles it, up to 24 hours.</summary>
    public TimeSpan AuthLockout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Failed logins to one account from clients that never logged in to it, before such clients are held off.</summary>
    public int AuthMaxFailuresPerAccount { get; set; } = 20;

    public bool RateLimits { get; set; } = true;

    /// <summary>0 switches a limit off.</summary>
    public int ConnectionsPerIpPerMinute { get; set; } = 60;

    public int MessagesPerIpPerHour { get; set; } = 3_000;

    public int MessagesPerAccountPerHour { get; set; } = 500;

    public int RecipientsPerAccountPerHour { get; set; } = 1_000;

    public int RecipientsPerIpPerHour { get; set; } = 10_000;

    public long BytesPerAccountPerHour { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Bytes per hour from one unauthenticated client address; 0 (the default) is no limit.</summary>
    public long BytesPerIpPerHour { get; set; }
}
