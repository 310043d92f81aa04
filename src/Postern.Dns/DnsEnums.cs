namespace Postern.Dns;

/// <summary>Resource record types (RFC 1035 §3.2.2 and later registrations).</summary>
public enum DnsRecordType : ushort
{
    A = 1,
    NS = 2,
    CNAME = 5,
    SOA = 6,
    PTR = 12,
    MX = 15,
    TXT = 16,
    AAAA = 28,
    SRV = 33,
    OPT = 41,
    DS = 43,
    RRSIG = 46,
    NSEC = 47,
    DNSKEY = 48,
    TLSA = 52,
    ANY = 255,
}

/// <summary>Resource record classes (RFC 1035 §3.2.4).</summary>
public enum DnsClass : ushort
{
    IN = 1,
    CH = 3,
    HS = 4,
    ANY = 255,
}

/// <summary>Response codes (RFC 1035 §4.1.1, extended by EDNS0).</summary>
public enum DnsResponseCode : ushort
{
    NoError = 0,
    FormatError = 1,
    ServerFailure = 2,
    NameError = 3,
    NotImplemented = 4,
    Refused = 5,
    BadVersion = 16,
}

/// <summary>The outcome of a resolution, as seen by a caller.</summary>
public enum DnsStatus
{
    /// <summary>The name exists and has records of the asked type.</summary>
    Success,

    /// <summary>The name exists but has no records of the asked type.</summary>
    NoData,

    /// <summary>The name does not exist (NXDOMAIN).</summary>
    NxDomain,

    /// <summary>The server answered SERVFAIL (for a validating resolver this includes DNSSEC-bogus data).</summary>
    ServerFailure,

    /// <summary>The server refused the query.</summary>
    Refused,

    /// <summary>The server answered FORMERR.</summary>
    FormatError,

    /// <summary>The server answered NOTIMP.</summary>
    NotImplemented,

    /// <summary>No usable answer arrived before the timeout, from any server.</summary>
    Timeout,

    /// <summary>The servers could not be reached (connection refused, network unreachable...).</summary>
    NetworkError,

    /// <summary>A server sent an answer that could not be parsed.</summary>
    MalformedResponse,

    /// <summary>The name given by the caller is not a valid DNS name; nothing was sent.</summary>
    InvalidName,

    /// <summary>The CNAME chain loops or is longer than the configured limit.</summary>
    CnameLoop,
}

/// <summary>Helpers on <see cref="DnsStatus"/>.</summary>
public static class DnsStatusExtensions
{
    /// <summary>True when the answer is definitive: the name has data, has none, or does not exist.</summary>
    public static bool IsDefinitive(this DnsStatus status) =>
        status is DnsStatus.Success or DnsStatus.NoData or DnsStatus.NxDomain;

    /// <summary>True for failures worth retrying later (SPF "temperror", SMTP 4xx).</summary>
    public static bool IsTemporaryFailure(this DnsStatus status) =>
        status is DnsStatus.ServerFailure or DnsStatus.Refused or DnsStatus.Timeout or DnsStatus.NetworkError
            or DnsStatus.MalformedResponse or DnsStatus.FormatError or DnsStatus.NotImplemented;
}
