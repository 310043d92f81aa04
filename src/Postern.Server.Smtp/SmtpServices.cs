using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.MessageLog;
using Postern.Core.Storage.Queue;
using Postern.Delivery.Srs;
using Postern.Mailboxes;
using Postern.Security;
using Postern.Tenants;

namespace Postern.Server.Smtp;

/// <summary>What the SMTP listeners need from the services layer (shared by all sessions).</summary>
public sealed record SmtpServices(
    RecipientResolver Resolver,
    LocalDeliveryService Delivery,
    IBlobStore Blobs,
    IMailboxStore Mailboxes,
    IQueueStore Queue,
    MessageLogWriter MessageLog,
    Authenticator Authenticator,
    TimeProvider Time)
{
    public SmtpPolicy Policy { get; init; } = new();

    /// <summary>The checks run in every session, in order (SPF, filters ... as they are added).</summary>
    public IReadOnlyList<ISmtpCheck> Checks { get; init; } = [];

    public GreetingPassCache GreetingPasses { get; } = new(Time);

    /// <summary>AUTH brute-force protection (shared with IMAP and POP3); null: none.</summary>
    public AuthGuard? AuthGuard { get; init; }

    /// <summary>Connection, message, recipient and byte rates per client and account; null: none.</summary>
    public RateLimiter? RateLimits { get; init; }

    /// <summary>Rewrites the envelope sender of forwarded mail and decodes bounces to it; null: forwards keep the sender.</summary>
    public SrsRewriter? Srs { get; init; }

    /// <summary>Checks unknown recipients of relay domains set to "probe" with the customer's server; null: such domains accept every address.</summary>
    public IRecipientVerifier? RecipientVerifier { get; init; }

    /// <summary>The resolver for client names (forward-confirmed reverse DNS in Received) and, later, SPF; null: no look-ups.</summary>
    public Dns.IDnsResolver? Dns { get; init; }

    /// <summary>The longest wait for a client's reverse-DNS name; without an answer by then the name is left out.</summary>
    public TimeSpan ReverseLookupTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>What kind of SMTP listener a connection arrived on.</summary>
public enum SmtpListenerKind
{
    /// <summary>Port 25: mail from the internet for our domains; STARTTLS offered; no relaying.</summary>
    Mx,

    /// <summary>Port 587 (STARTTLS) or 465 (implicit TLS): authenticated users sending mail anywhere.</summary>
    Submission,

    /// <summary>LMTP (RFC 2033): a trusted MTA in front hands over mail for local mailboxes.</summary>
    Lmtp,
}
