namespace Postern.Protocols.Smtp.Session;

/// <summary>An immutable snapshot of what one SMTP or LMTP session offers and allows.</summary>
public sealed record SmtpSessionOptions
{
    public string Hostname { get; init; } = "localhost";

    /// <summary>LMTP (RFC 2033): LHLO instead of HELO/EHLO, one reply per recipient after the message.</summary>
    public bool Lmtp { get; init; }

    /// <summary>When set, the greeting is this reply (e.g. 554 5.7.1) and the session ends.</summary>
    public SmtpReply? GreetingRefusal { get; init; }

    /// <summary>Largest message in octets (RFC 1870 SIZE), after dot-unstuffing.</summary>
    public long MaxMessageSize { get; init; } = 50L * 1024 * 1024;

    /// <summary>Accepted recipients per transaction; more get 452 4.5.3.</summary>
    public int MaxRecipients { get; init; } = 100;

    /// <summary>Longest command line, CRLF included.</summary>
    public int MaxLineLength { get; init; } = 2048;

    /// <summary>Refused commands before the session answers 421 4.7.0 and closes.</summary>
    public int MaxErrors { get; init; } = 10;

    /// <summary>Errors after which each further refusal is answered only after <see cref="ErrorDelay"/>.</summary>
    public int SoftErrorLimit { get; init; } = 3;

    /// <summary>The pause before answering a client past <see cref="SoftErrorLimit"/>, multiplied by the errors past it; zero for none.</summary>
    public TimeSpan ErrorDelay { get; init; }

    /// <summary>The longest pause before one answer, however many errors came before it.</summary>
    public TimeSpan MaxErrorDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Commands accepted before a successful hello (and, when <see cref="AuthRequired"/>, before AUTH).</summary>
    public int MaxCommandsBeforeAuth { get; init; } = 20;

    public bool StartTlsOffered { get; init; }

    /// <summary>The transport is already encrypted (implicit TLS, port 465).</summary>
    public bool TlsActive { get; init; }

    public bool AuthOffered { get; init; }

    /// <summary>Offer AUTH without TLS (RFC 4954 §4 advises against it).</summary>
    public bool AuthAllowedWithoutTls { get; init; }

    /// <summary>Submission: MAIL before AUTH is refused with 530 5.7.0.</summary>
    public bool AuthRequired { get; init; }

    public bool SmtpUtf8 { get; init; } = true;

    public bool EightBitMime { get; init; } = true;

    public bool Chunking { get; init; } = true;

    public bool Dsn { get; init; } = true;

    public bool RequireTls { get; init; }

    /// <summary>Bare CR or LF inside DATA: stored as CRLF (the default) or the message refused with 550 5.5.2.</summary>
    public BareLineEndHandling BareLineEnds { get; init; } = BareLineEndHandling.Normalize;

    /// <summary>
    /// How long to wait before the greeting, watching for a client that talks first (a spam bot that does
    /// not wait for the banner): such a client gets 554 5.5.1 and is disconnected. Zero sends the greeting at once.
    /// </summary>
    public TimeSpan GreetingDelay { get; init; }
}
