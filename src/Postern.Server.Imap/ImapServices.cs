using System.Net;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Tenants;
using Postern.Protocols.Imap;
using Postern.Security;
using Postern.Tenants;

namespace Postern.Server.Imap;

/// <summary>What the IMAP listeners need from the services layer (shared by all sessions).</summary>
public sealed record ImapServices(
    Authenticator Authenticator,
    IDirectoryStore Directory,
    IMailboxStore Mailboxes,
    IBlobStore Blobs,
    TimeProvider Time)
{
    public ImapPolicy Policy { get; init; } = new();

    /// <summary>Brute-force protection shared with SMTP AUTH and POP3; null: none.</summary>
    public AuthGuard? AuthGuard { get; init; }

    /// <summary>Messages whose \Recent flag has been given to a session (one per folder, process-wide).</summary>
    public RecentTracker Recent { get; } = new();

    /// <summary>Every folder's UIDs and flags in memory, refreshed by modseq (SELECT, FETCH FLAGS, flag searches).</summary>
    internal FolderIndexCache FolderIndex { get; } = new(Mailboxes);

    /// <summary>Authenticated sessions per account, for the per-account connection limit.</summary>
    public SessionCounter Sessions { get; } = new();

    /// <summary>Spam/ham training signals from moves into and out of Junk; null: not recorded.</summary>
    public IJunkTrainingSink? Training { get; init; }

    /// <summary>Turns a stored message into what IMAP caches (summary, full-text); null: computed lazily on first FETCH.</summary>
    public IMessagePreparer? Preparer { get; init; }
}

/// <summary>Settings of the IMAP listeners.</summary>
public sealed record ImapPolicy
{
    /// <summary>The name in the greeting.</summary>
    public string Hostname { get; init; } = "localhost";

    /// <summary>Allow LOGIN and AUTHENTICATE on a connection without TLS (LOGINDISABLED otherwise).</summary>
    public bool AllowPlaintextAuth { get; init; }

    /// <summary>Reader and parser limits (literal sizes, line length).</summary>
    public ImapLimits Limits { get; init; } = new();

    /// <summary>Idle time before logging in (RFC 9051 §5.4: at least 1 minute).</summary>
    public TimeSpan PreAuthIdleTimeout { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Idle time of an authenticated session (RFC 9051 §5.4: at least 30 minutes).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Authenticated sessions one account may hold at once.</summary>
    public int MaxConnectionsPerAccount { get; init; } = 50;

    /// <summary>Bad commands in a row before the connection is closed.</summary>
    public int MaxBadCommands { get; init; } = 20;

    /// <summary>Authentication failures on one connection before it is closed.</summary>
    public int MaxAuthFailures { get; init; } = 3;

    /// <summary>Networks whose clients may log in without TLS and are never throttled.</summary>
    public IReadOnlyList<IPNetwork> TrustedNetworks { get; init; } = [];

    /// <summary>Users who may log in as another (SASL PLAIN authorization identity).</summary>
    public IReadOnlySet<string> MasterUsers { get; init; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long IDLE waits for change notifications before re-checking the folder anyway.</summary>
    public TimeSpan IdlePollInterval { get; init; } = TimeSpan.FromSeconds(30);

    public bool IsTrusted(IPAddress address) => TrustedNetworks.Any(n => n.Contains(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address));
}

/// <summary>Where moves into and out of Junk are recorded (the filtering work consumes them).</summary>
public interface IJunkTrainingSink
{
    /// <summary>The user (<paramref name="user"/>, the login address) moved or copied a message into Junk (<paramref name="spam"/>) or out of it.</summary>
    ValueTask RecordAsync(string user, long accountId, StoredMessage message, bool spam, CancellationToken cancellationToken);
}

/// <summary>Prepares an appended message: the cached summary and the full-text of it.</summary>
public interface IMessagePreparer
{
    /// <summary>The summary JSON and the search text for the message bytes (the whole message as stored).</summary>
    (string? Summary, string? SearchText) Prepare(ReadOnlyMemory<byte> message);
}
