using Postern.Dns;

namespace Postern.Delivery.TlsPolicy;

/// <summary>What the TLSA look-up of an MX host found, for DANE (RFC 7672 §2.2). Persisted values: do not renumber.</summary>
public enum DaneTlsaStatus
{
    /// <summary>
    /// DANE does not apply: the MX host's name or addresses were not DNSSEC-authenticated, or the TLSA answer was
    /// not (an insecure zone, or a resolver that is not on loopback).
    /// </summary>
    NotApplicable = 0,

    /// <summary>Authenticated denial: the host publishes no TLSA records. DANE does not apply.</summary>
    NoRecords = 1,

    /// <summary>Authenticated TLSA records (usable or not, see <see cref="DaneTlsaState.UsableRecords"/>).</summary>
    Records = 2,

    /// <summary>
    /// The TLSA look-up failed (SERVFAIL, which a validating resolver also answers for bogus data, or a timeout)
    /// for a host whose name and addresses were authenticated: the host must not be used now (RFC 7672 §2.2).
    /// </summary>
    LookupFailed = 3,
}

/// <summary>The DANE state of one MX host: the <see cref="TlsPolicyResolver"/>'s DANE input.</summary>
public sealed record DaneTlsaState
{
    /// <summary>The outcome of the look-up.</summary>
    public required DaneTlsaStatus Status { get; init; }

    /// <summary>All TLSA records found (when <see cref="Status"/> is <see cref="DaneTlsaStatus.Records"/>).</summary>
    public IReadOnlyList<TlsaRecord> Records { get; init; } = [];

    /// <summary>The records DANE for SMTP can use: DANE-TA(2) and DANE-EE(3) with known selector and matching type (RFC 7672 §3.1).</summary>
    public IReadOnlyList<TlsaRecord> UsableRecords => DaneVerifier.UsableRecords(Records);

    /// <summary>Why the look-up failed, for logs.</summary>
    public string? Error { get; init; }

    /// <summary>DANE does not apply.</summary>
    public static DaneTlsaState NotApplicable { get; } = new() { Status = DaneTlsaStatus.NotApplicable };

    /// <summary>
    /// Classifies a TLSA answer. <paramref name="hostAuthenticated"/> says whether the MX record set (when there was
    /// an MX look-up) and the host's address records were DNSSEC-authenticated; when not, DANE does not apply
    /// whatever the TLSA answer (RFC 7672 §2.2.1, §2.2.2).
    /// </summary>
    public static DaneTlsaState FromLookup(DnsResult<TlsaRecord> tlsa, bool hostAuthenticated)
    {
        ArgumentNullException.ThrowIfNull(tlsa);
        if (!hostAuthenticated)
        {
            return NotApplicable;
        }

        if (tlsa.Status.IsDefinitive())
        {
            if (!tlsa.IsAuthenticated)
            {
                return NotApplicable;
            }

            return tlsa.IsSuccess && tlsa.Values.Count > 0
                ? new DaneTlsaState { Status = DaneTlsaStatus.Records, Records = tlsa.Values }
                : new DaneTlsaState { Status = DaneTlsaStatus.NoRecords };
        }

        return new DaneTlsaState
        {
            Status = DaneTlsaStatus.LookupFailed,
            Error = $"TLSA look-up of {tlsa.Name}: {tlsa.Status} {tlsa.Error}".TrimEnd(),
        };
    }

    /// <summary>Looks up <c>_port._tcp.host</c> TLSA records and classifies the answer (see <see cref="FromLookup"/>).</summary>
    public static async Task<DaneTlsaState> LookupAsync(IDnsResolver resolver, string host, bool hostAuthenticated,
        int port = 25, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        if (!hostAuthenticated)
        {
            return NotApplicable;
        }

        var result = await resolver.GetTlsaAsync(DnsName.TlsaName(TlsHostName.Normalize(host), port), cancellationToken)
            .ConfigureAwait(false);
        return FromLookup(result, hostAuthenticated);
    }
}
