namespace Postern.Protocols.Smtp.Client;

/// <summary>The step of the conversation a connection-level failure happened in.</summary>
public enum SmtpClientStage
{
    Greeting = 0,
    Ehlo = 1,
    StartTls = 2,
    Auth = 3,
    Mail = 4,
    Rcpt = 5,
    Data = 6,
    EndOfData = 7,
    Reset = 8,
    Quit = 9,
}

/// <summary>What went wrong with the connection (as opposed to a reply, which is a result).</summary>
public enum SmtpConnectionFailure
{
    /// <summary>An RFC 5321 §4.5.3.2 timeout (or the TLS handshake timeout) ran out.</summary>
    Timeout = 0,

    /// <summary>The peer closed the connection (between replies or in the middle of one).</summary>
    ConnectionClosed = 1,

    /// <summary>A socket or stream error (reset, broken pipe).</summary>
    NetworkError = 2,

    /// <summary>The bytes were not a valid reply: not a code, inconsistent multi-line codes, a line over the limit, too many lines.</summary>
    MalformedReply = 3,

    /// <summary>The TLS handshake after 220 failed (including a certificate the validation refused).</summary>
    TlsHandshakeFailed = 4,

    /// <summary>The peer sent bytes after its 220 to STARTTLS before the handshake (response injection, CVE-2011-0411 style).</summary>
    StartTlsInjection = 5,

    /// <summary>The session was already unusable (after an earlier failure, 421, QUIT or dispose).</summary>
    SessionUnusable = 6,
}

/// <summary>
/// The one exception of <see cref="SmtpClientSession"/> for connection-level trouble: always a temporary failure
/// (retry later, possibly elsewhere), always leaves the session unusable. Replies (4xx/5xx) are never thrown.
/// </summary>
public sealed class SmtpConnectionException : Exception
{
    public SmtpConnectionException(SmtpClientStage stage, SmtpConnectionFailure failure, string message, Exception? innerException = null)
        : base($"SMTP {stage}: {message}", innerException)
    {
        Stage = stage;
        Failure = failure;
    }

    public SmtpConnectionException()
        : this(SmtpClientStage.Greeting, SmtpConnectionFailure.NetworkError, "connection failure")
    {
    }

    public SmtpConnectionException(string message)
        : this(SmtpClientStage.Greeting, SmtpConnectionFailure.NetworkError, message)
    {
    }

    public SmtpConnectionException(string message, Exception innerException)
        : this(SmtpClientStage.Greeting, SmtpConnectionFailure.NetworkError, message, innerException)
    {
    }

    public SmtpClientStage Stage { get; }

    public SmtpConnectionFailure Failure { get; }

    /// <summary>For a failed TLS handshake: the certificate, chain and validation result seen before it failed.</summary>
    public SmtpTlsResult? Tls { get; init; }

    /// <summary>
    /// For a failure inside <see cref="SmtpClientSession.SendAsync"/>: what was known by then. A recipient with outcome
    /// <see cref="SmtpRecipientOutcome.Delivered"/> here got its final reply before the failure (LMTP); every other
    /// recipient is <see cref="SmtpRecipientOutcome.Deferred"/> or already refused.
    /// </summary>
    public SmtpTransactionResult? PartialResult { get; internal set; }
}
