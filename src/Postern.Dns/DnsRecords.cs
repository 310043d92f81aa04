using System.Net;
using System.Text;

namespace Postern.Dns;

/// <summary>A resource record. <see cref="Name"/> is in presentation form (see <see cref="DnsName"/>).</summary>
public abstract record DnsRecord(string Name, DnsRecordType Type, DnsClass Class, uint Ttl);

/// <summary>An IPv4 address record.</summary>
public sealed record ARecord(string Name, uint Ttl, IPAddress Address, DnsClass Class = DnsClass.IN)
    : DnsRecord(Name, DnsRecordType.A, Class, Ttl);

/// <summary>An IPv6 address record.</summary>
public sealed record AaaaRecord(string Name, uint Ttl, IPAddress Address, DnsClass Class = DnsClass.IN)
    : DnsRecord(Name, DnsRecordType.AAAA, Class, Ttl);

/// <summary>A mail exchanger. A "null MX" (RFC 7505) has <see cref="Exchange"/> ".".</summary>
public sealed record MxRecord(string Name, uint Ttl, ushort Preference, string Exchange, DnsClass Class = DnsClass.IN)
    : DnsRecord(Name, DnsRecordType.MX, Class, Ttl);

/// <summary>
/// A TXT record: one or more character-strings of up to 255 bytes each. SPF and DKIM read <see cref="Text"/>,
/// the strings joined without separator (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
/// </summary>
public sealed record TxtRecord(string Name, uint Ttl, IReadOnlyList<byte[]> RawStrings, DnsClass Class = DnsClass.IN)
    : DnsRecord(Name, DnsRecordType.TXT, Class, Ttl)
{
    /// <summary>Builds a TXT record from text strings (UTF-8 encoded).</summary>
    public static TxtRecord FromStrings(string name, uint ttl, params string[] strings) =>
        new(name, ttl, strings.Select(Encoding.UTF8.GetBytes).ToArray());

    /// <summary>Each character-string decoded as UTF-8 (invalid bytes become U+FFFD).</summary>
    public IReadOnlyList<string> Strings => RawStrings.Select(s => Encoding.UTF8.GetString(s)).ToArray();

    /// <summary>All character-strings concatenated, then decoded as UTF-8.</summary>
    public string Text => Encoding.UTF8.GetString(RawStrings.SelectMany(s => s).ToArray());
}

/// <summary>A pointer record (reverse lookups).</summary>
public sealed record PtrRecord(string Name, uint Ttl, string Target, DnsClass Class = DnsClass.IN)
    : DnsRecord(Name, DnsRecordType.PTR, Class, Ttl);

/// <summary>An alias: <see cref="DnsRecord.Name"/> is another name for <see cref="Target"/>.</summary>
public sealed record CnameRecord(string Name, uint Ttl, string Target, DnsClass Class = DnsClass.IN)
    : DnsRecord(Name, DnsRecordType.CNAME, Class, Ttl);

/// <summary>A name server record.</summary>
public sealed record NsRecord(string Name, uint Ttl, string Host, DnsClass Class = DnsClass.IN)
    : DnsRecord(Name, DnsRecordType.NS, Class, Ttl);

/// <summary>A service location record (RFC 2782).</summary>
public sealed record SrvRecord(string Name, uint Ttl, ushort Priority, ushort Weight, ushort Port, string Target,
    DnsClass Class = DnsClass.IN) : DnsRecord(Name, DnsRecordType.SRV, Class, Ttl);

/// <summary>Start of authority. <see cref="Minimum"/> bounds negative caching (RFC 2308 §4).</summary>
public sealed record SoaRecord(string Name, uint Ttl, string PrimaryServer, string ResponsibleMailbox, uint Serial,
    uint Refresh, uint Retry, uint Expire, uint Minimum, DnsClass Class = DnsClass.IN)
    : DnsRecord(Name, DnsRecordType.SOA, Class, Ttl);

/// <summary>A DANE TLSA record (RFC 6698).</summary>
public sealed record TlsaRecord(string Name, uint Ttl, byte CertificateUsage, byte Selector, byte MatchingType,
    byte[] CertificateAssociationData, DnsClass Class = DnsClass.IN) : DnsRecord(Name, DnsRecordType.TLSA, Class, Ttl);

/// <summary>
/// The EDNS0 pseudo-record (RFC 6891). Its class carries the UDP payload size and its TTL the extended
/// response code, version and DO flag; <see cref="Options"/> is the raw option data.
/// </summary>
public sealed record OptRecord(ushort UdpPayloadSize, byte ExtendedResponseCode, byte Version, bool DnssecOk, byte[] Options)
    : DnsRecord(DnsName.Root, DnsRecordType.OPT, (DnsClass)UdpPayloadSize,
        ((uint)ExtendedResponseCode << 24) | ((uint)Version << 16) | (DnssecOk ? 0x8000u : 0u));

/// <summary>A record of a type this library does not decode; the RDATA is kept as received.</summary>
public sealed record UnknownRecord(string Name, DnsRecordType Type, DnsClass Class, uint Ttl, byte[] Data)
    : DnsRecord(Name, Type, Class, Ttl);

/// <summary>A question: the name, type and class asked about.</summary>
public sealed record DnsQuestion(string Name, DnsRecordType Type, DnsClass Class = DnsClass.IN);
