using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text;

namespace Postern.Dns;

/// <summary>
/// Reads and writes DNS messages in wire format (RFC 1035 §4, name compression §4.1.4).
/// <see cref="TryParse"/> is total: any input gives a message or an error text, in time linear in its length.
/// </summary>
public static class DnsMessageCodec
{
    /// <summary>Largest DNS message (TCP length prefix).</summary>
    public const int MaxMessageLength = 65535;

    private const int HeaderLength = 12;

    /// <summary>
    /// Parses a message. Returns false with a reason on any malformation: compression loops or forward pointers,
    /// pointers out of range, truncated records, counts larger than the data, labels or names too long,
    /// RDATA that does not match its type. A message with TC=1 that ends early is returned with the
    /// records read so far (only its header and question are meaningful).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> data, [NotNullWhen(true)] out DnsMessage? message,
        [NotNullWhen(false)] out string? error)
    {
        message = null;
        if (data.Length < HeaderLength)
        {
            error = "message shorter than the 12-byte header";
            return false;
        }

        if (data.Length > MaxMessageLength)
        {
            error = "message longer than 65535 bytes";
            return false;
        }

        var id = BinaryPrimitives.ReadUInt16BigEndian(data);
        var flags = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        int qd = BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
        int an = BinaryPrimitives.ReadUInt16BigEndian(data[6..]);
        int ns = BinaryPrimitives.ReadUInt16BigEndian(data[8..]);
        int ar = BinaryPrimitives.ReadUInt16BigEndian(data[10..]);
        var truncated = (flags & 0x0200) != 0;

        var pos = HeaderLength;
        var questions = new List<DnsQuestion>(Math.Min(qd, 16));
        for (var i = 0; i < qd; i++)
        {
            if (!TryReadName(data, ref pos, out var qname, out error))
            {
                error = $"question {i + 1}: {error}";
                return false;
            }

            if (pos + 4 > data.Length)
            {
                error = $"question {i + 1}: truncated";
                return false;
            }

            var qtype = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(data[pos..]);
            var qclass = (DnsClass)BinaryPrimitives.ReadUInt16BigEndian(data[(pos + 2)..]);
            pos += 4;
            questions.Add(new DnsQuestion(qname, qtype, qclass));
        }

        var sections = new List<DnsRecord>[3];
        int[] counts = [an, ns, ar];
        string[] sectionNames = ["answer", "authority", "additional"];
        var stopped = false;
        for (var s = 0; s < 3; s++)
        {
            sections[s] = new List<DnsRecord>(Math.Min(counts[s], 64));
            for (var i = 0; i < counts[s] && !stopped; i++)
            {
                if (!TryReadRecord(data, ref pos, out var record, out error))
                {
                    if (truncated)
                    {
                        stopped = true;
                        break;
                    }

                    error = $"{sectionNames[s]} record {i + 1}: {error}";
                    return false;
                }

                sections[s].Add(record);
            }
        }

        var rcode = (ushort)(flags & 0x000F);
        var opt = sections[2].OfType<OptRecord>().FirstOrDefault();
        if (opt is not null)
        {
            rcode = (ushort)(rcode | (opt.ExtendedResponseCode << 4));
        }

        message = new DnsMessage
        {
            Id = id,
            IsResponse = (flags & 0x8000) != 0,
            Opcode = (byte)((flags >> 11) & 0xF),
            IsAuthoritativeAnswer = (flags & 0x0400) != 0,
            IsTruncated = truncated,
            RecursionDesired = (flags & 0x0100) != 0,
            RecursionAvailable = (flags & 0x0080) != 0,
            AuthenticData = (flags & 0x0020) != 0,
            CheckingDisabled = (flags & 0x0010) != 0,
            ResponseCode = (DnsResponseCode)rcode,
            Questions = questions,
            Answers = sections[0],
            Authorities = sections[1],
            Additionals = sections[2],
        };
        error = null;
        return true;
    }

    /// <summary>
    /// Reads a possibly compressed name at <paramref name="pos"/>, advancing past it. Every pointer must point
    /// strictly before the start of the labels it was reached from, so each jump goes backwards and the walk ends.
    /// </summary>
    internal static bool TryReadName(ReadOnlySpan<byte> data, ref int pos, [NotNullWhen(true)] out string? name,
        [NotNullWhen(false)] out string? error)
    {
        name = null;
        var sb = new StringBuilder();
        var p = pos;
        var limit = pos;
        var jumped = false;
        var wireLength = 0;
        var steps = 0;
        while (true)
        {
            // A name has at most 127 labels; more steps than that means a chain of pointers to pointers.
            if (++steps > 255)
            {
                error = "too many compression pointers in one name";
                return false;
            }

            if (p >= data.Length)
            {
                error = "name runs past the end of the message";
                return false;
            }

            var len = data[p];
            switch (len & 0xC0)
            {
                case 0x00:
                    if (len == 0)
                    {
                        wireLength++;
                        if (wireLength > DnsName.MaxWireLength)
                        {
                            error = "name longer than 255 bytes";
                            return false;
                        }

                        if (!jumped)
                        {
                            pos = p + 1;
                        }

                        name = sb.Length == 0 ? DnsName.Root : sb.ToString();
                        error = null;
                        return true;
                    }

                    if (p + 1 + len > data.Length)
                    {
                        error = "label runs past the end of the message";
                        return false;
                    }

                    wireLength += 1 + len;
                    if (wireLength > DnsName.MaxWireLength)
                    {
                        error = "name longer than 255 bytes";
                        return false;
                    }

                    if (sb.Length > 0)
                    {
                        sb.Append('.');
                    }

                    DnsName.AppendLabel(sb, data.Slice(p + 1, len));
                    p += 1 + len;
                    break;
                case 0xC0:
                    if (p + 1 >= data.Length)
                    {
                        error = "compression pointer runs past the end of the message";
                        return false;
                    }

                    var target = ((len & 0x3F) << 8) | data[p + 1];
                    if (target >= data.Length)
                    {
                        error = "compression pointer out of range";
                        return false;
                    }

                    if (target >= limit)
                    {
                        error = "compression pointer points forward or loops";
                        return false;
                    }

                    if (!jumped)
                    {
                        pos = p + 2;
                        jumped = true;
                    }

                    p = target;
                    limit = target;
                    break;
                default:
                    error = $"label length {len} uses a reserved label type (labels are at most 63 bytes)";
                    return false;
            }
        }
    }

    private static bool TryReadRecord(ReadOnlySpan<byte> data, ref int pos, [NotNullWhen(true)] out DnsRecord? record,
        [NotNullWhen(false)] out string? error)
    {
        record = null;
        if (!TryReadName(data, ref pos, out var name, out error))
        {
            return false;
        }

        if (pos + 10 > data.Length)
        {
            error = "record header truncated";
            return false;
        }

        var type = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(data[pos..]);
        var rawClass = BinaryPrimitives.ReadUInt16BigEndian(data[(pos + 2)..]);
        var rawTtl = BinaryPrimitives.ReadUInt32BigEndian(data[(pos + 4)..]);
        int rdLength = BinaryPrimitives.ReadUInt16BigEndian(data[(pos + 8)..]);
        pos += 10;
        if (pos + rdLength > data.Length)
        {
            error = "RDATA runs past the end of the message";
            return false;
        }

        var start = pos;
        var end = pos + rdLength;
        pos = end;
        var cls = (DnsClass)rawClass;

        // RFC 2181 §8: a TTL with the top bit set is read as zero.
        var ttl = rawTtl > int.MaxValue ? 0u : rawTtl;
        var rdata = data[start..end];
        var p = start;
        switch (type)
        {
            case DnsRecordType.A:
                if (rdLength != 4)
                {
                    error = "A record RDATA is not 4 bytes";
                    return false;
                }

                record = new ARecord(name, ttl, new IPAddress(rdata), cls);
                break;
            case DnsRecordType.AAAA:
                if (rdLength != 16)
                {
                    error = "AAAA record RDATA is not 16 bytes";
                    return false;
                }

                record = new AaaaRecord(name, ttl, new IPAddress(rdata), cls);
                break;
            case DnsRecordType.CNAME or DnsRecordType.PTR or DnsRecordType.NS:
                if (!TryReadRdataName(data, ref p, end, out var target, out error))
                {
                    return false;
                }

                record = type switch
                {
                    DnsRecordType.CNAME => new CnameRecord(name, ttl, target, cls),
                    DnsRecordType.PTR => new PtrRecord(name, ttl, target, cls),
                    _ => new NsRecord(name, ttl, target, cls),
                };
                break;
            case DnsRecordType.MX:
                if (rdLength < 3)
                {
                    error = "MX record RDATA too short";
                    return false;
                }

                p += 2;
                if (!TryReadRdataName(data, ref p, end, out var exchange, out error))
                {
                    return false;
                }

                record = new MxRecord(name, ttl, BinaryPrimitives.ReadUInt16BigEndian(rdata), exchange, cls);
                break;
            case DnsRecordType.SRV:
                if (rdLength < 7)
                {
                    error = "SRV record RDATA too short";
                    return false;
                }

                p += 6;
                if (!TryReadRdataName(data, ref p, end, out var srvTarget, out error))
                {
                    return false;
                }

                record = new SrvRecord(name, ttl, BinaryPrimitives.ReadUInt16BigEndian(rdata),
                    BinaryPrimitives.ReadUInt16BigEndian(rdata[2..]), BinaryPrimitives.ReadUInt16BigEndian(rdata[4..]),
                    srvTarget, cls);
                break;
            case DnsRecordType.SOA:
                if (!TryReadName(data[..end], ref p, out var mname, out error)
                    || !TryReadName(data[..end], ref p, out var rname, out error))
                {
                    error = $"SOA: {error}";
                    return false;
                }

                if (p + 20 != end)
                {
                    error = "SOA record RDATA length does not match its content";
                    return false;
                }

                var nums = data.Slice(p, 20);
                record = new SoaRecord(name, ttl, mname, rname, BinaryPrimitives.ReadUInt32BigEndian(nums),
                    BinaryPrimitives.ReadUInt32BigEndian(nums[4..]), BinaryPrimitives.ReadUInt32BigEndian(nums[8..]),
                    BinaryPrimitives.ReadUInt32BigEndian(nums[12..]), BinaryPrimitives.ReadUInt32BigEndian(nums[16..]),
                    cls);
                break;
            case DnsRecordType.TXT:
                var strings = new List<byte[]>();
                while (p < end)
                {
                    var len = data[p];
                    if (p + 1 + len > end)
                    {
                        error = "TXT character-string runs past its RDATA";
                        return false;
                    }

                    strings.Add(data.Slice(p + 1, len).ToArray());
                    p += 1 + len;
                }

                record = new TxtRecord(name, ttl, strings, cls);
                break;
            case DnsRecordType.TLSA:
                if (rdLength < 3)
                {
                    error = "TLSA record RDATA too short";
                    return false;
                }

                record = new TlsaRecord(name, ttl, rdata[0], rdata[1], rdata[2], rdata[3..].ToArray(), cls);
                break;
            case DnsRecordType.OPT:
                record = new OptRecord(rawClass, (byte)(rawTtl >> 24), (byte)(rawTtl >> 16), (rawTtl & 0x8000) != 0,
                    rdata.ToArray());
                break;
            default:
                record = new UnknownRecord(name, type, cls, ttl, rdata.ToArray());
                break;
        }

        error = null;
        return true;
    }

    private static bool TryReadRdataName(ReadOnlySpan<byte> data, ref int p, int end, [NotNullWhen(true)] out string? name,
        [NotNullWhen(false)] out string? error)
    {
        if (!TryReadName(data[..end], ref p, out name, out error))
        {
            return false;
        }

        if (p != end)
        {
            error = "RDATA length does not match its content";
            return false;
        }

        return true;
    }

    /// <summary>
    /// Writes a message in wire format, compressing owner names and the names inside NS, CNAME, PTR, MX and SOA
    /// (RFC 3597 §4: never inside other types). Throws <see cref="ArgumentException"/> for an invalid name,
    /// a TXT string over 255 bytes or a message over 65535 bytes.
    /// </summary>
    public static byte[] Encode(DnsMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var w = new Writer();
        w.U16(message.Id);
        var rcode = (int)message.ResponseCode;
        var flags = (message.IsResponse ? 0x8000 : 0) | ((message.Opcode & 0xF) << 11)
            | (message.IsAuthoritativeAnswer ? 0x0400 : 0) | (message.IsTruncated ? 0x0200 : 0)
            | (message.RecursionDesired ? 0x0100 : 0) | (message.RecursionAvailable ? 0x0080 : 0)
            | (message.AuthenticData ? 0x0020 : 0) | (message.CheckingDisabled ? 0x0010 : 0) | (rcode & 0xF);
        w.U16((ushort)flags);
        w.U16(checked((ushort)message.Questions.Count));
        w.U16(checked((ushort)message.Answers.Count));
        w.U16(checked((ushort)message.Authorities.Count));
        w.U16(checked((ushort)message.Additionals.Count));
        foreach (var q in message.Questions)
        {
            w.Name(q.Name, compress: true);
            w.U16((ushort)q.Type);
            w.U16((ushort)q.Class);
        }

        foreach (var r in message.Answers.Concat(message.Authorities).Concat(message.Additionals))
        {
            WriteRecord(w, r);
        }

        if (w.Length > MaxMessageLength)
        {
            throw new ArgumentException("message longer than 65535 bytes", nameof(message));
        }

        return w.ToArray();
    }

    private static void WriteRecord(Writer w, DnsRecord r)
    {
        w.Name(r.Name, compress: true);
        w.U16((ushort)r.Type);
        w.U16((ushort)r.Class);
        w.U32(r.Ttl);
        var lengthAt = w.Length;
        w.U16(0);
        switch (r)
        {
            case ARecord a:
                w.Bytes(a.Address.GetAddressBytes());
                break;
            case AaaaRecord a:
                w.Bytes(a.Address.GetAddressBytes());
                break;
            case CnameRecord c:
                w.Name(c.Target, compress: true);
                break;
            case PtrRecord p:
                w.Name(p.Target, compress: true);
                break;
            case NsRecord n:
                w.Name(n.Host, compress: true);
                break;
            case MxRecord m:
                w.U16(m.Preference);
                w.Name(m.Exchange, compress: true);
                break;
            case SrvRecord s:
                w.U16(s.Priority);
                w.U16(s.Weight);
                w.U16(s.Port);
                w.Name(s.Target, compress: false);
                break;
            case SoaRecord s:
                w.Name(s.PrimaryServer, compress: true);
                w.Name(s.ResponsibleMailbox, compress: true);
                w.U32(s.Serial);
                w.U32(s.Refresh);
                w.U32(s.Retry);
                w.U32(s.Expire);
                w.U32(s.Minimum);
                break;
            case TxtRecord t:
                foreach (var s in t.RawStrings)
                {
                    if (s.Length > 255)
                    {
                        throw new ArgumentException("TXT character-string longer than 255 bytes", nameof(r));
                    }

                    w.U8((byte)s.Length);
                    w.Bytes(s);
                }

                break;
            case TlsaRecord t:
                w.U8(t.CertificateUsage);
                w.U8(t.Selector);
                w.U8(t.MatchingType);
                w.Bytes(t.CertificateAssociationData);
                break;
            case OptRecord o:
                w.Bytes(o.Options);
                break;
            case UnknownRecord u:
                w.Bytes(u.Data);
                break;
            default:
                throw new ArgumentException($"cannot encode record type {r.GetType().Name}", nameof(r));
        }

        var rdLength = w.Length - lengthAt - 2;
        if (rdLength > ushort.MaxValue)
        {
            throw new ArgumentException("RDATA longer than 65535 bytes", nameof(r));
        }

        w.PatchU16(lengthAt, (ushort)rdLength);
    }

    private sealed class Writer
    {
        private readonly List<byte> _buffer = new(512);
        private readonly Dictionary<string, int> _names = new(StringComparer.Ordinal);

        public int Length => _buffer.Count;

        public void U8(byte value) => _buffer.Add(value);

        public void U16(ushort value)
        {
            _buffer.Add((byte)(value >> 8));
            _buffer.Add((byte)value);
        }

        public void U32(uint value)
        {
            U16((ushort)(value >> 16));
            U16((ushort)value);
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            foreach (var b in value)
            {
                _buffer.Add(b);
            }
        }

        public void PatchU16(int at, ushort value)
        {
            _buffer[at] = (byte)(value >> 8);
            _buffer[at + 1] = (byte)value;
        }

        public void Name(string name, bool compress)
        {
            if (!DnsName.TryGetLabels(name, out var labels, out var error))
            {
                throw new ArgumentException($"invalid name '{name}': {error}", nameof(name));
            }

            for (var i = 0; i < labels.Count; i++)
            {
                var key = SuffixKey(labels, i);
                if (compress && _names.TryGetValue(key, out var offset))
                {
                    U16((ushort)(0xC000 | offset));
                    return;
                }

                if (Length <= 0x3FFF && !_names.ContainsKey(key))
                {
                    _names[key] = Length;
                }

                U8((byte)labels[i].Length);
                Bytes(labels[i]);
            }

            U8(0);
        }

        public byte[] ToArray() => [.. _buffer];

        private static string SuffixKey(List<byte[]> labels, int from)
        {
            var sb = new StringBuilder();
            for (var i = from; i < labels.Count; i++)
            {
                sb.Append((char)labels[i].Length);
                foreach (var b in labels[i])
                {
                    sb.Append((char)(b is >= (byte)'A' and <= (byte)'Z' ? b + 32 : b));
                }
            }

            return sb.ToString();
        }
    }
}
