namespace Postern.Protocols.Smtp;

public enum SmtpVerb
{
    Unknown = 0,
    Helo,
    Ehlo,
    Lhlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
}

/// <summary>BODY= of MAIL FROM (RFC 6152, RFC 3030).</summary>
public enum BodyType
{
    SevenBit = 0,
    EightBitMime = 1,
    BinaryMime = 2,
}

/// <summary>RET= of MAIL FROM (RFC 3461).</summary>
public enum DsnReturn
{
    Unspecified = 0,
    Full = 1,
    Headers = 2,
}

/// <summary>NOTIFY= of RCPT TO (RFC 3461). Persisted in the queue: values fixed.</summary>
[Flags]
public enum DsnNotify
{
    /// <summary>Not given: failures (and delays) are reported, as RFC 3461 §5.1 says.</summary>
    Unspecified = 0,
    Never = 1,
    Success = 2,
    Failure = 4,
    Delay = 8,
}

/// <summary>
/// A path of MAIL FROM or RCPT TO. <see cref="IsNull"/> is the null reverse-path <c>&lt;&gt;</c>;
/// <see cref="IsPostmaster"/> is the bare <c>&lt;postmaster&gt;</c> of RFC 5321 §4.5.1. A source route
/// (<c>&lt;@a,@b:user@c&gt;</c>) is accepted and dropped, as RFC 5321 §4.1.2 asks.
/// </summary>
public sealed record SmtpPath(string LocalPart, string Domain, bool IsNull = false, bool IsPostmaster = false, bool IsAddressLiteral = false)
{
    public static SmtpPath Null { get; } = new(string.Empty, string.Empty, IsNull: true);

    /// <summary>True when the local part or the domain has characters outside ASCII (needs SMTPUTF8).</summary>
    public bool IsInternational => LocalPart.Any(c => c > 127) || Domain.Any(c => c > 127);

    public string Address => IsNull ? string.Empty : IsPostmaster ? "postmaster" : LocalPart + "@" + Domain;

    public override string ToString() => "<" + Address + ">";
}

public sealed record MailParameters(
    long? Size = null,
    BodyType Body = BodyType.SevenBit,
    bool SmtpUtf8 = false,
    DsnReturn Return = DsnReturn.Unspecified,
    string? EnvelopeId = null,
    string? Auth = null,
    bool RequireTls = false);

public sealed record RcptParameters(DsnNotify Notify = DsnNotify.Unspecified, string? OriginalRecipientType = null, string? OriginalRecipient = null)
{
    /// <summary>ORCPT as RFC 3464's Original-Recipient field has it, <c>addr-type;address</c> (xtext decoded), or null.</summary>
    public string? OriginalRecipientField => OriginalRecipient is null ? null : $"{OriginalRecipientType};{OriginalRecipient}";
}

/// <summary>One parsed command line, or the reply that explains why it could not be parsed.</summary>
public sealed record SmtpCommand(SmtpVerb Verb, string Argument)
{
    /// <summary>Set when the line was not a valid command: send this reply.</summary>
    public SmtpReply? Error { get; init; }

    /// <summary>HELO/EHLO/LHLO: the client's name (domain or address literal).</summary>
    public string? ClientName { get; init; }

    public SmtpPath? Path { get; init; }

    public MailParameters? MailParameters { get; init; }

    public RcptParameters? RcptParameters { get; init; }

    /// <summary>BDAT: the chunk size and whether it is the last chunk.</summary>
    public long ChunkSize { get; init; }

    public bool LastChunk { get; init; }

    /// <summary>AUTH: the mechanism (upper case) and the initial response (RFC 4954), "=" meaning empty.</summary>
    public string? Mechanism { get; init; }

    public string? InitialResponse { get; init; }

    public bool IsValid => Error is null;
}
