namespace Postern.Protocols.Smtp.Client;

/// <summary>
/// What one outbound SMTP/LMTP client session says and how long it waits. Timeouts follow RFC 5321
/// §4.5.3.2; a timeout ends the session (it is marked unusable and the call throws
/// <see cref="SmtpConnectionException"/> with <see cref="SmtpConnectionFailure.Timeout"/>).
/// </summary>
public sealed record SmtpClientOptions
{
    /// <summary>Our name in EHLO/HELO/LHLO: a domain name or an address literal.</summary>
    public string LocalHostname { get; init; } = "localhost";

    /// <summary>LMTP (RFC 2033): LHLO instead of EHLO (no HELO fallback), and one reply per accepted recipient after the message.</summary>
    public bool Lmtp { get; init; }

    /// <summary>Not used by the session: the caller's limit for the TCP connect (kept here so one record carries all client timeouts).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The TLS handshake after <c>220</c> to STARTTLS (and, for the caller, on implicit-TLS connections).</summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>RFC 5321 §4.5.3.2.1: the 220 greeting.</summary>
    public TimeSpan GreetingTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>EHLO, HELO, STARTTLS, AUTH, RSET and other commands that RFC 5321 gives no figure of their own.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>RFC 5321 §4.5.3.2.2: the reply to MAIL.</summary>
    public TimeSpan MailTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>RFC 5321 §4.5.3.2.3: the reply to each RCPT.</summary>
    public TimeSpan RcptTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>RFC 5321 §4.5.3.2.4: the 354 reply to DATA.</summary>
    public TimeSpan DataInitiationTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>RFC 5321 §4.5.3.2.5: each write of message data (and the reply to an intermediate BDAT chunk).</summary>
    public TimeSpan DataBlockTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>RFC 5321 §4.5.3.2.6: the reply after the final dot (or BDAT LAST); for LMTP, each per-recipient reply.</summary>
    public TimeSpan EndOfDataTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>QUIT's reply; short, since nothing depends on it.</summary>
    public TimeSpan QuitTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest reply line accepted, CRLF included; a longer one is a protocol error.</summary>
    public int MaxReplyLineLength { get; init; } = 4096;

    /// <summary>Most lines in one (multi-line) reply; more is a protocol error.</summary>
    public int MaxReplyLines { get; init; } = 100;

    /// <summary>Send the body with BDAT when the peer offers CHUNKING (RFC 3030).</summary>
    public bool UseChunking { get; init; } = true;

    /// <summary>Send MAIL, the RCPTs (and DATA) in one write when the peer offers PIPELINING (RFC 2920).</summary>
    public bool UsePipelining { get; init; } = true;

    /// <summary>The octets gathered for one BDAT chunk before it is sent (the last chunk may be smaller).</summary>
    public int ChunkSize { get; init; } = 128 * 1024;
}
