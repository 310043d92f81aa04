using Postern.Protocols.Smtp;
using DsnReturn = Postern.Core.Storage.Queue.DsnReturn;

namespace Postern.Delivery.Dsn;

/// <summary>The RFC 3464 §2.3.3 Action of one recipient.</summary>
public enum DsnAction
{
    /// <summary>Delivery failed for good (a 5xx, or the queue lifetime ran out).</summary>
    Failed = 0,

    /// <summary>Not delivered yet; still being retried (a delay warning).</summary>
    Delayed = 1,

    /// <summary>Delivered to the recipient's mailbox (a success DSN, NOTIFY=SUCCESS).</summary>
    Delivered = 2,

    /// <summary>Handed to a server that does not speak DSN, so no further notification may come.</summary>
    Relayed = 3,

    /// <summary>Delivered to an alias or list, which passed it on to its members.</summary>
    Expanded = 4,
}

/// <summary>What happened to one recipient, as the queue engine saw it.</summary>
public sealed record DsnRecipient
{
    /// <summary>The address the message was last sent to (RCPT TO), e.g. <c>bob@example.org</c>.</summary>
    public required string FinalRecipient { get; init; }

    /// <summary>The ORCPT address as the client gave it (xtext-decoded), or null when it gave none.</summary>
    public string? OriginalRecipient { get; init; }

    /// <summary>The ORCPT addr-type (<c>rfc822</c>, <c>utf-8</c>, ...).</summary>
    public string OriginalRecipientType { get; init; } = "rfc822";

    public required DsnAction Action { get; init; }

    /// <summary>The enhanced status to report. When null it comes from <see cref="RemoteReply"/> (its enhanced code, or
    /// X.0.0 from its basic code) or, without a reply, from the action (5.0.0, 4.0.0, 2.0.0).</summary>
    public EnhancedStatusCode? Status { get; init; }

    /// <summary>The remote server's reply that decided this result, if a server answered.</summary>
    public SmtpReply? RemoteReply { get; init; }

    /// <summary>The host name (or address literal) of the server that answered, for Remote-MTA.</summary>
    public string? RemoteMta { get; init; }

    /// <summary>Our own explanation when no server answered (connection refused, TLS policy, null MX, lifetime
    /// expired...); written as Diagnostic-Code <c>X-Postern; ...</c> when there is no <see cref="RemoteReply"/>.</summary>
    public string? Diagnostic { get; init; }

    public DateTimeOffset? LastAttemptDate { get; init; }

    /// <summary>For <see cref="DsnAction.Delayed"/>: when the queue gives up.</summary>
    public DateTimeOffset? WillRetryUntil { get; init; }

    /// <summary>A queued recipient's addresses (RCPT TO and ORCPT) with the action; the caller adds status and diagnostic.</summary>
    public static DsnRecipient FromQueued(Core.Storage.Queue.QueuedRecipient recipient, DsnAction action)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        var original = recipient.OriginalRecipientParts;
        return new DsnRecipient
        {
            FinalRecipient = recipient.Address,
            OriginalRecipient = original?.Address,
            OriginalRecipientType = original?.Type ?? "rfc822",
            Action = action,
        };
    }
}

/// <summary>Everything a delivery status notification says about one queued message.</summary>
public sealed record DsnReport
{
    /// <summary>Our host name (the Reporting-MTA and the domain of the MAILER-DAEMON From).</summary>
    public required string ReportingMta { get; init; }

    /// <summary>The original envelope sender (MAIL FROM), to whom the DSN goes. Empty for the null sender, for which no
    /// DSN is ever made.</summary>
    public required string EnvelopeSender { get; init; }

    /// <summary>The ENVID the client gave (xtext-decoded), or null.</summary>
    public string? EnvelopeId { get; init; }

    /// <summary>When we accepted the original message.</summary>
    public DateTimeOffset? ArrivalDate { get; init; }

    /// <summary>True when the original was sent with SMTPUTF8: the DSN then uses the RFC 6533 media types.</summary>
    public bool SmtpUtf8 { get; init; }

    /// <summary>RET: <see cref="DsnReturn.Full"/> returns the whole message (within
    /// <see cref="DsnOptions.MaxReturnedMessageBytes"/>); anything else returns the headers only.</summary>
    public DsnReturn Return { get; init; }

    /// <summary>The original message as queued.</summary>
    public ReadOnlyMemory<byte> OriginalMessage { get; init; }

    /// <summary>The recipients this DSN reports on (the engine picks them by NOTIFY and state).</summary>
    public required IReadOnlyList<DsnRecipient> Recipients { get; init; }

    /// <summary>Our queue id of the original, written as X-Postern-Queue-ID when given.</summary>
    public string? QueueId { get; init; }
}

/// <summary>Settings of the DSN builder.</summary>
public sealed record DsnOptions
{
    /// <summary>Default: 1 MiB.</summary>
    public const long DefaultMaxReturnedMessageBytes = 1024 * 1024;

    /// <summary>With RET=FULL, the largest original returned whole; a larger one is returned as its headers only.
    /// Returned headers are cut to this size too.</summary>
    public long MaxReturnedMessageBytes { get; init; } = DefaultMaxReturnedMessageBytes;

    /// <summary>The display name of the MAILER-DAEMON From address.</summary>
    public string DisplayName { get; init; } = "Mail Delivery System";

    /// <summary>The product named in the human-readable part.</summary>
    public string ProductName { get; init; } = "Postern";

    /// <summary>Clock for Date and the Message-ID.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Randomness for the boundary and the Message-ID.</summary>
    public Random Random { get; init; } = Random.Shared;
}
