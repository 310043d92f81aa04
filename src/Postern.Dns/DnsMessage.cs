namespace Postern.Dns;

/// <summary>A DNS message (RFC 1035 §4.1): header, question and the three record sections.</summary>
public sealed class DnsMessage
{
    /// <summary>The EDNS0 UDP payload size we advertise (the DNS Flag Day 2020 recommendation).</summary>
    public const ushort DefaultUdpPayloadSize = 1232;

    /// <summary>The query identifier.</summary>
    public ushort Id { get; init; }

    /// <summary>QR: true for a response.</summary>
    public bool IsResponse { get; init; }

    /// <summary>The 4-bit operation code; 0 is a standard query.</summary>
    public byte Opcode { get; init; }

    /// <summary>AA: the answer comes from an authoritative server.</summary>
    public bool IsAuthoritativeAnswer { get; init; }

    /// <summary>TC: the message was truncated to fit the transport.</summary>
    public bool IsTruncated { get; init; }

    /// <summary>RD: recursion desired.</summary>
    public bool RecursionDesired { get; init; }

    /// <summary>RA: recursion available.</summary>
    public bool RecursionAvailable { get; init; }

    /// <summary>AD: authentic data (RFC 4035 §3.2.3; set in queries per RFC 6840 §5.7).</summary>
    public bool AuthenticData { get; init; }

    /// <summary>CD: checking disabled.</summary>
    public bool CheckingDisabled { get; init; }

    /// <summary>The response code, including the EDNS0 extended bits when an OPT record is present.</summary>
    public DnsResponseCode ResponseCode { get; init; }

    /// <summary>The question section.</summary>
    public IReadOnlyList<DnsQuestion> Questions { get; init; } = [];

    /// <summary>The answer section.</summary>
    public IReadOnlyList<DnsRecord> Answers { get; init; } = [];

    /// <summary>The authority section.</summary>
    public IReadOnlyList<DnsRecord> Authorities { get; init; } = [];

    /// <summary>The additional section (holds the OPT record, if any).</summary>
    public IReadOnlyList<DnsRecord> Additionals { get; init; } = [];

    /// <summary>The EDNS0 OPT record, if present.</summary>
    public OptRecord? Opt => Additionals.OfType<OptRecord>().FirstOrDefault();

    /// <summary>
    /// Builds a recursive query for one question with the AD bit set and, unless <paramref name="edns"/> is false,
    /// an OPT record advertising <paramref name="udpPayloadSize"/> bytes.
    /// </summary>
    public static DnsMessage CreateQuery(ushort id, string name, DnsRecordType type, bool edns = true,
        ushort udpPayloadSize = DefaultUdpPayloadSize) =>
        new()
        {
            Id = id,
            RecursionDesired = true,
            AuthenticData = true,
            Questions = [new DnsQuestion(name, type)],
            Additionals = edns ? [new OptRecord(udpPayloadSize, 0, 0, false, [])] : [],
        };
}
