using Postern.Dns;

namespace Postern.Delivery.TlsPolicy;

/// <summary>
/// What one delivery attempt to one MX host demands of TLS, weakest first. The order is the strength order the
/// policy combiner uses (<see cref="Dane"/> ranks above <see cref="Verify"/>, as RFC 8461 §2 lets DANE take
/// precedence over MTA-STS). Persisted values: do not renumber.
/// </summary>
public enum TlsLevel
{
    /// <summary>Never send STARTTLS; deliver in plaintext.</summary>
    None = 0,

    /// <summary>
    /// Opportunistic TLS: send STARTTLS when the server offers it and accept any certificate. Plaintext is used when
    /// STARTTLS is not offered, and after a failed handshake the same host is tried once more in plaintext (what
    /// Postfix does for <c>may</c>).
    /// </summary>
    May = 1,

    /// <summary>TLS is mandatory, any certificate is accepted. No STARTTLS, or a failed handshake, defers.</summary>
    Encrypt = 2,

    /// <summary>
    /// TLS is mandatory, the certificate chain must lead to a trusted root and the certificate must name one of
    /// <see cref="TlsRequirement.ReferenceNames"/>.
    /// </summary>
    Verify = 3,

    /// <summary>TLS is mandatory and the certificate must match one of the usable TLSA records (RFC 7672).</summary>
    Dane = 4,
}

/// <summary>Where a TLS decision came from. Persisted values: do not renumber.</summary>
public enum TlsPolicySource
{
    /// <summary>No policy applied: the built-in default (opportunistic TLS).</summary>
    Default = 0,

    /// <summary>The admin's TLS policy for the destination domain.</summary>
    AdminPolicy = 1,

    /// <summary>The destination's MTA-STS policy in <c>enforce</c> mode (RFC 8461).</summary>
    MtaStsEnforce = 2,

    /// <summary>The destination's MTA-STS policy in <c>testing</c> mode: checked and reported, never enforced.</summary>
    MtaStsTesting = 3,

    /// <summary>DNSSEC-authenticated TLSA records of the MX host (RFC 7672).</summary>
    Dane = 4,

    /// <summary>The message was sent with REQUIRETLS (RFC 8689).</summary>
    RequireTls = 5,
}

/// <summary>
/// The TLS a delivery attempt to one MX host of one destination domain must use, as decided by
/// <see cref="TlsPolicyResolver"/>. The SMTP client gets its <c>SslClientAuthenticationOptions</c> from
/// <see cref="TlsPeerVerifier"/> built on this.
/// </summary>
public sealed record TlsRequirement
{
    /// <summary>The level that is enforced.</summary>
    public required TlsLevel Level { get; init; }

    /// <summary>The policy that set <see cref="Level"/>.</summary>
    public required TlsPolicySource Source { get; init; }

    /// <summary>Every policy that applied to this attempt, <see cref="Source"/> first.</summary>
    public IReadOnlyList<TlsPolicySource> Sources { get; init; } = [];

    /// <summary>The destination domain (lower-case A-labels).</summary>
    public required string Domain { get; init; }

    /// <summary>The MX host name (lower-case A-labels, no trailing dot); also the SNI name sent.</summary>
    public required string MxHost { get; init; }

    /// <summary>
    /// The names the certificate must carry under <see cref="TlsLevel.Verify"/> and for DANE-TA records under
    /// <see cref="TlsLevel.Dane"/> (RFC 6125 matching, a wildcard only as the whole left-most label).
    /// </summary>
    public IReadOnlyList<string> ReferenceNames { get; init; } = [];

    /// <summary>The usable TLSA records (DANE-TA and DANE-EE) under <see cref="TlsLevel.Dane"/>; empty otherwise.</summary>
    public IReadOnlyList<TlsaRecord> TlsaRecords { get; init; } = [];

    /// <summary>
    /// True when an MTA-STS policy in <c>testing</c> mode applies: the connection is made at <see cref="Level"/>,
    /// and what <c>enforce</c> would have refused (no STARTTLS, a failed handshake, a certificate that does not
    /// verify against <see cref="ReportOnlyReferenceNames"/>) is reported through <see cref="MtaStsTestingReporter"/>.
    /// </summary>
    public bool ReportOnly { get; init; }

    /// <summary>The names an <c>enforce</c> policy would have checked (the MX host name) when <see cref="ReportOnly"/>.</summary>
    public IReadOnlyList<string> ReportOnlyReferenceNames { get; init; } = [];

    /// <summary>
    /// What an MTA-STS <c>testing</c> policy would already have refused when the decision was made (the MX host is
    /// not in its <c>mx</c> list); reported then, so nothing more is reported for this attempt.
    /// </summary>
    public MtaStsTestingFailure? ReportOnlyFailure { get; init; }

    /// <summary>
    /// The message carries REQUIRETLS (RFC 8689): the server must advertise REQUIRETLS after STARTTLS and MAIL FROM
    /// passes it on; otherwise the message is not sent to this host.
    /// </summary>
    public bool RequireTls { get; init; }

    /// <summary>A short explanation for logs: which policies applied and why the level is what it is.</summary>
    public string Reason { get; init; } = string.Empty;

    /// <summary>True when STARTTLS is to be sent if the server offers it (every level but <see cref="TlsLevel.None"/>).</summary>
    public bool AttemptStartTls => Level != TlsLevel.None;

    /// <summary>True when delivery without TLS is not allowed: a missing STARTTLS or a failed handshake defers.</summary>
    public bool IsMandatory => Level >= TlsLevel.Encrypt;

    /// <summary>True when the server's certificate must be authenticated (<see cref="TlsLevel.Verify"/>, <see cref="TlsLevel.Dane"/>).</summary>
    public bool IsAuthenticated => Level >= TlsLevel.Verify;

    /// <summary>True when the message may go in plaintext because the server does not offer STARTTLS.</summary>
    public bool PlaintextWhenStartTlsNotOffered => Level <= TlsLevel.May;

    /// <summary>
    /// True when, after a failed TLS handshake, the same host may be tried once more without STARTTLS. Only for
    /// <see cref="TlsLevel.May"/>: this is Postfix's behaviour for opportunistic TLS (a peer with a broken TLS stack
    /// still gets mail), and it can only happen when no policy made TLS mandatory.
    /// </summary>
    public bool PlaintextRetryAfterHandshakeFailure => Level == TlsLevel.May;
}
