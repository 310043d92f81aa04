using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Protocols.Smtp.Client;

/// <summary>Why <see cref="SmtpClientSession.SendAsync"/> sent nothing. Each comes with a synthetic reply in <see cref="SmtpTransactionResult.LocalReply"/>.</summary>
public enum SmtpLocalFailure
{
    None = 0,

    /// <summary>REQUIRETLS asked but the session is not encrypted or the peer does not offer REQUIRETLS: 550 5.7.30 (RFC 8689 §5).</summary>
    RequireTlsUnavailable = 1,

    /// <summary>The message needs SMTPUTF8 and the peer does not offer it: 553 5.6.7 (RFC 6531 §3.4, a permanent failure; RFC 6533 DSN).</summary>
    SmtpUtf8Unsupported = 2,

    /// <summary>The message is larger than the peer's SIZE: 552 5.3.4 (permanent).</summary>
    MessageTooBig = 3,

    /// <summary>8-bit content and no 8BITMIME at the peer: 554 5.6.3. The caller converts the message to 7-bit and sends again.</summary>
    EightBitUnsupported = 4,

    /// <summary>BODY=BINARYMIME content and no BINARYMIME+CHUNKING at the peer (or chunking off): 554 5.6.3; convert and send again.</summary>
    BinaryUnsupported = 5,

    /// <summary>The reverse path cannot be put on the wire (control characters, brackets, spaces): 553 5.1.7.</summary>
    InvalidSender = 6,

    /// <summary>No recipient address can be put on the wire (each has 553 5.1.3).</summary>
    NoValidRecipients = 7,
}

/// <summary>Where a recipient stands after a transaction.</summary>
public enum SmtpRecipientOutcome
{
    /// <summary>The peer took responsibility (2xx after the data, or for LMTP this recipient's 2xx).</summary>
    Delivered = 0,

    /// <summary>A temporary failure (4xx, or the transaction never reached this recipient's final reply): retry.</summary>
    Deferred = 1,

    /// <summary>A permanent failure (5xx): bounce.</summary>
    Failed = 2,
}

/// <summary>One recipient's replies: RCPT's and the one that decided (MAIL's, RCPT's, DATA's or the final one).</summary>
public sealed record SmtpRecipientResult(SmtpRecipient Recipient, SmtpRecipientOutcome Outcome, SmtpReply? RcptReply, SmtpReply? Reply)
{
    /// <summary>The peer accepted the RCPT.</summary>
    public bool Accepted => RcptReply is { IsPositive: true } && !RefusedLocally;

    /// <summary>The address could not go on the wire; <see cref="Reply"/> is synthetic and nothing was sent for it.</summary>
    public bool RefusedLocally { get; init; }
}

/// <summary>
/// What one <see cref="SmtpClientSession.SendAsync"/> did. Replies are results, never exceptions: a 4xx/5xx at any
/// step shows here, per recipient. <see cref="LocalFailure"/> other than None means nothing was sent.
/// </summary>
public sealed record SmtpTransactionResult
{
    public SmtpLocalFailure LocalFailure { get; init; }

    /// <summary>The synthetic reply for a local failure (what a DSN would quote).</summary>
    public SmtpReply? LocalReply { get; init; }

    public SmtpReply? MailReply { get; init; }

    /// <summary>Every recipient of the envelope, in order.</summary>
    public IReadOnlyList<SmtpRecipientResult> Recipients { get; init; } = [];

    /// <summary>
    /// DATA's reply when it was not 354, a failed intermediate BDAT's reply, or (SMTP) the final reply after the
    /// message. For LMTP the final replies are per recipient (<see cref="SmtpRecipientResult.Reply"/>) and this is
    /// the last of them.
    /// </summary>
    public SmtpReply? DataReply { get; init; }

    /// <summary>The message content went out (DATA's dot or BDAT LAST was sent).</summary>
    public bool ContentSent { get; init; }

    /// <summary>Sent with BDAT (CHUNKING) rather than DATA.</summary>
    public bool UsedChunking { get; init; }

    /// <summary>NOTIFY/ORCPT/RET/ENVID were passed on (the peer offers DSN).</summary>
    public bool DsnParametersSent { get; init; }

    /// <summary>The session can carry another transaction (no 421, no connection failure, the transaction is closed).</summary>
    public bool ConnectionUsable { get; init; }

    public bool AllDelivered => LocalFailure == SmtpLocalFailure.None && Recipients.All(r => r.Outcome == SmtpRecipientOutcome.Delivered);
}

/// <summary>What the STARTTLS exchange gave. <see cref="Established"/> is false only for a reply other than 220 (then nothing else is set).</summary>
public sealed record SmtpTlsResult
{
    /// <summary>STARTTLS's reply.</summary>
    public required SmtpReply Reply { get; init; }

    public bool Established { get; init; }

    public SslProtocols Protocol { get; init; }

    public TlsCipherSuite? CipherSuite { get; init; }

    /// <summary>The peer's certificate, as presented (a copy the caller may keep).</summary>
    public X509Certificate2? RemoteCertificate { get; init; }

    /// <summary>The chain as the system built it, leaf first (copies), for DANE and policy checks by the caller.</summary>
    public IReadOnlyList<X509Certificate2> Chain { get; init; } = [];

    /// <summary>The chain's status flags, combined over its elements.</summary>
    public X509ChainStatusFlags ChainStatus { get; init; }

    /// <summary>What the system's validation said (untrusted root, name mismatch, no certificate).</summary>
    public SslPolicyErrors PolicyErrors { get; init; } = SslPolicyErrors.RemoteCertificateNotAvailable;

    /// <summary>The certificate passed the system's validation (chain to a trusted root and the name matched <c>TargetHost</c>).</summary>
    public bool CertificateValid => PolicyErrors == SslPolicyErrors.None;

    /// <summary>What the caller's validation callback answered (or, without one, <see cref="CertificateValid"/>).</summary>
    public bool CertificateAccepted { get; init; }

    /// <summary>The EHLO/LHLO reply sent over TLS (capabilities were reset by the handshake, RFC 3207 §4.2).</summary>
    public SmtpReply? EhloReply { get; init; }
}

/// <summary>Why AUTH was not even tried.</summary>
public enum SmtpAuthRefusal
{
    None = 0,

    /// <summary>The session is not encrypted and plaintext was not allowed: credentials were not sent.</summary>
    NotEncrypted = 1,

    /// <summary>The peer offers no AUTH.</summary>
    NotOffered = 2,

    /// <summary>The peer offers neither PLAIN nor LOGIN.</summary>
    NoSupportedMechanism = 3,
}

/// <summary>The outcome of AUTH: <see cref="Reply"/> is the peer's last reply (235 on success), null when refused locally.</summary>
public sealed record SmtpAuthResult(bool Succeeded, string? Mechanism, SmtpReply? Reply, SmtpAuthRefusal LocalRefusal = SmtpAuthRefusal.None);

public enum SmtpProbeOutcome
{
    /// <summary>RCPT was accepted.</summary>
    Accepted = 0,

    /// <summary>RCPT was refused with 5xx: the address does not exist there (or is refused for good).</summary>
    Refused = 1,

    /// <summary>A 4xx, or MAIL was refused (the recipient could not be asked): answer "try later".</summary>
    Temporary = 2,
}

/// <summary>A recipient probe (callout): <see cref="Reply"/> is the reply that decided (RCPT's, or MAIL's when MAIL failed).</summary>
public sealed record SmtpProbeResult(SmtpProbeOutcome Outcome, SmtpReply Reply, SmtpReply? MailReply, SmtpReply? RcptReply)
{
    /// <summary>RSET after the probe succeeded: the session can be used again.</summary>
    public bool ConnectionUsable { get; init; }
}
