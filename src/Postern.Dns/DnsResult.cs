using System.Net;

namespace Postern.Dns;

/// <summary>The result of resolving one name and type, after following CNAMEs.</summary>
public sealed record DnsResult
{
    /// <summary>The outcome.</summary>
    public required DnsStatus Status { get; init; }

    /// <summary>The name asked about, normalised (lower-case A-labels, no trailing dot).</summary>
    public required string Name { get; init; }

    /// <summary>The type asked about.</summary>
    public required DnsRecordType Type { get; init; }

    /// <summary>The name at the end of the CNAME chain (equal to <see cref="Name"/> when there was none).</summary>
    public string CanonicalName { get; init; } = string.Empty;

    /// <summary>The records of the asked type owned by <see cref="CanonicalName"/>; empty unless Success.</summary>
    public IReadOnlyList<DnsRecord> Records { get; init; } = [];

    /// <summary>The CNAME records followed, in order.</summary>
    public IReadOnlyList<CnameRecord> CnameChain { get; init; } = [];

    /// <summary>The AD bit as the server(s) reported it (every answer in the chain had AD=1).</summary>
    public bool AuthenticData { get; init; }

    /// <summary>
    /// True when <see cref="AuthenticData"/> is set and every answer came from a server on loopback, the only
    /// case where the AD bit can be trusted (RFC 6698 / RFC 7672: DANE needs a validating resolver on this host).
    /// </summary>
    public bool IsAuthenticated { get; init; }

    /// <summary>How long this result may be kept: the smallest TTL in the answer, or the negative TTL (RFC 2308).</summary>
    public TimeSpan TimeToLive { get; init; }

    /// <summary>A human-readable reason for failures.</summary>
    public string? Error { get; init; }

    /// <summary>The server that gave the final answer, if any.</summary>
    public IPEndPoint? Server { get; init; }

    /// <summary>True when served from the cache.</summary>
    public bool FromCache { get; init; }

    /// <summary>True when <see cref="Status"/> is Success.</summary>
    public bool IsSuccess => Status == DnsStatus.Success;

    /// <summary>The records of one record class (for example <c>RecordsOf&lt;MxRecord&gt;()</c>).</summary>
    public IEnumerable<T> RecordsOf<T>() where T : DnsRecord => Records.OfType<T>();

    /// <summary>A failure result that carries no records.</summary>
    public static DnsResult Failure(string name, DnsRecordType type, DnsStatus status, string? error) =>
        new() { Status = status, Name = name, CanonicalName = name, Type = type, Error = error };
}

/// <summary>A typed result of one of the convenience look-ups.</summary>
/// <typeparam name="T">What was looked up: addresses, MX records, host names...</typeparam>
public sealed record DnsResult<T>
{
    /// <summary>The outcome. For address look-ups, Success when either A or AAAA gave addresses.</summary>
    public required DnsStatus Status { get; init; }

    /// <summary>The name asked about, normalised.</summary>
    public required string Name { get; init; }

    /// <summary>The name at the end of the CNAME chain.</summary>
    public string CanonicalName { get; init; } = string.Empty;

    /// <summary>The values found; empty unless Success.</summary>
    public IReadOnlyList<T> Values { get; init; } = [];

    /// <summary>The AD bit as reported.</summary>
    public bool AuthenticData { get; init; }

    /// <summary>AD set and the answer came from a loopback server (see <see cref="DnsResult.IsAuthenticated"/>).</summary>
    public bool IsAuthenticated { get; init; }

    /// <summary>The TTL of the answer.</summary>
    public TimeSpan TimeToLive { get; init; }

    /// <summary>A reason for failures.</summary>
    public string? Error { get; init; }

    /// <summary>True when <see cref="Status"/> is Success.</summary>
    public bool IsSuccess => Status == DnsStatus.Success;

    /// <summary>Builds a typed result from a raw result and the values taken from it.</summary>
    public static DnsResult<T> From(DnsResult result, IReadOnlyList<T> values)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new()
        {
            Status = result.Status,
            Name = result.Name,
            CanonicalName = result.CanonicalName,
            Values = values,
            AuthenticData = result.AuthenticData,
            IsAuthenticated = result.IsAuthenticated,
            TimeToLive = result.TimeToLive,
            Error = result.Error,
        };
    }
}
