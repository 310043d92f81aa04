using System.Net;
using static Postern.Dns.Tests.Wire;

namespace Postern.Dns.Tests;

/// <summary>Byte layouts written by hand from RFC 1035 §4.1 (and RFC 6891 for OPT).</summary>
public class CodecGoldenTests
{
    // id 1234, flags RD|AD (0x0120), QD=1 AN=0 NS=0 AR=1; example.com A IN; OPT: root, type 41, class=1232, ttl 0, rdlen 0.
    private static readonly byte[] GoldenQuery = Concat(
        Hex("12 34  01 20  00 01  00 00  00 00  00 01"),
        Name("example.com"), Hex("00 01  00 01"),
        Hex("00  00 29  04 d0  00 00 00 00  00 00"));

    // id beef, QR|RD|RA|AD (0x81a0); example.com MX; two MX answers whose names point back to the question (offset 12).
    private static readonly byte[] GoldenMxResponse = Concat(
        Hex("be ef  81 a0  00 01  00 02  00 00  00 00"),
        Name("example.com"), Hex("00 0f  00 01"),
        Hex("c0 0c  00 0f  00 01  00 00 0e 10  00 09  00 0a"), Hex("04"), Ascii("mail"), Hex("c0 0c"),
        Hex("c0 0c  00 0f  00 01  00 00 0e 10  00 08  00 05"), Hex("03"), Ascii("mx2"), Hex("c0 0c"));

    [Fact]
    public void Query_is_encoded_with_RD_AD_and_an_OPT_record_advertising_1232_bytes()
    {
        var query = DnsMessage.CreateQuery(0x1234, "example.com", DnsRecordType.A);

        Assert.Equal(GoldenQuery, DnsMessageCodec.Encode(query));
    }

    [Fact]
    public void Query_without_EDNS_has_no_additional_record()
    {
        var bytes = DnsMessageCodec.Encode(DnsMessage.CreateQuery(0x1234, "example.com", DnsRecordType.A, edns: false));

        Assert.Equal(Concat(Hex("12 34  01 20  00 01  00 00  00 00  00 00"), Name("example.com"), Hex("00 01 00 01")), bytes);
    }

    [Fact]
    public void Golden_query_parses_back_to_its_fields()
    {
        Assert.True(DnsMessageCodec.TryParse(GoldenQuery, out var m, out var error), error);

        Assert.Equal(0x1234, m.Id);
        Assert.False(m.IsResponse);
        Assert.True(m.RecursionDesired);
        Assert.True(m.AuthenticData);
        Assert.Equal(new DnsQuestion("example.com", DnsRecordType.A), Assert.Single(m.Questions));
        Assert.Equal(1232, m.Opt!.UdpPayloadSize);
        Assert.False(m.Opt.DnssecOk);
    }

    [Fact]
    public void Compressed_MX_response_is_decoded()
    {
        Assert.True(DnsMessageCodec.TryParse(GoldenMxResponse, out var m, out var error), error);

        Assert.Equal(0xbeef, m.Id);
        Assert.True(m.IsResponse);
        Assert.True(m.RecursionAvailable);
        Assert.True(m.AuthenticData);
        Assert.Equal(DnsResponseCode.NoError, m.ResponseCode);
        Assert.Equal(
            [new MxRecord("example.com", 3600, 10, "mail.example.com"), new MxRecord("example.com", 3600, 5, "mx2.example.com")],
            m.Answers.Cast<MxRecord>());
    }

    [Fact]
    public void Encoder_compresses_names_exactly_like_the_hand_built_response()
    {
        Assert.True(DnsMessageCodec.TryParse(GoldenMxResponse, out var m, out _));

        Assert.Equal(GoldenMxResponse, DnsMessageCodec.Encode(m));
    }

    [Fact]
    public void Every_supported_type_is_decoded_from_hand_built_RDATA()
    {
        var tlsaData = Enumerable.Repeat((byte)0xaa, 32).ToArray();
        var message = new List<byte>();

        // Header: id 7, QR|AA, QD 1, AN 9, NS 1, AR 1.
        message.AddRange(Hex("00 07  84 00  00 01  00 09  00 01  00 01"));

        // Question at offset 12: example.com TXT IN.
        message.AddRange(Concat(Name("example.com"), Hex("00 10  00 01")));

        // TXT with two character-strings "v=spf1" "-all".
        message.AddRange(Concat(Hex("c0 0c  00 10  00 01  00 00 01 2c  00 0c  06"), Ascii("v=spf1"), Hex("04"), Ascii("-all")));

        // A 192.0.2.1.
        message.AddRange(Hex("c0 0c  00 01  00 01  00 00 01 2c  00 04  c0 00 02 01"));

        // www.example.com AAAA 2001:db8::1.
        message.AddRange(Concat(Hex("03"), Ascii("www"),
            Hex("c0 0c  00 1c  00 01  00 00 01 2c  00 10  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01")));

        // _sip._tcp SRV 10 60 5060 sip.example.com (target uncompressed, RFC 2782).
        message.AddRange(Concat(Hex("04"), Ascii("_sip"), Hex("04"), Ascii("_tcp"),
            Hex("c0 0c  00 21  00 01  00 00 01 2c  00 17  00 0a  00 3c  13 c4"), Name("sip.example.com")));

        // _25._tcp.mail TLSA 3 1 1 aa*32.
        message.AddRange(Concat(Hex("03"), Ascii("_25"), Hex("04"), Ascii("_tcp"), Hex("04"), Ascii("mail"),
            Hex("c0 0c  00 34  00 01  00 00 01 2c  00 23  03 01 01"), tlsaData));

        // PTR host.example.com.
        message.AddRange(Concat(Hex("c0 0c  00 0c  00 01  00 00 01 2c  00 07  04"), Ascii("host"), Hex("c0 0c")));

        // alias CNAME www.
        message.AddRange(Concat(Hex("05"), Ascii("alias"), Hex("c0 0c  00 05  00 01  00 00 01 2c  00 06  03"), Ascii("www"),
            Hex("c0 0c")));

        // NS ns1.
        message.AddRange(Concat(Hex("c0 0c  00 02  00 01  00 00 01 2c  00 06  03"), Ascii("ns1"), Hex("c0 0c")));

        // Unknown type 0xff00 with 3 bytes.
        message.AddRange(Hex("c0 0c  ff 00  00 01  00 00 01 2c  00 03  01 02 03"));

        // Authority: SOA ns1 hostmaster 1 3600 600 86400 300.
        message.AddRange(Concat(Hex("c0 0c  00 06  00 01  00 00 0e 10  00 27  03"), Ascii("ns1"), Hex("c0 0c  0a"),
            Ascii("hostmaster"), Hex("c0 0c  00 00 00 01  00 00 0e 10  00 00 02 58  00 01 51 80  00 00 01 2c")));

        // Additional: OPT payload 4096, extended rcode 0, version 0, DO set.
        message.AddRange(Hex("00  00 29  10 00  00 00 80 00  00 00"));

        Assert.True(DnsMessageCodec.TryParse(message.ToArray(), out var m, out var error), error);

        Assert.True(m.IsAuthoritativeAnswer);
        var txt = Assert.IsType<TxtRecord>(m.Answers[0]);
        Assert.Equal(["v=spf1", "-all"], txt.Strings);
        Assert.Equal("v=spf1-all", txt.Text);
        Assert.Equal(new ARecord("example.com", 300, IPAddress.Parse("192.0.2.1")), m.Answers[1]);
        Assert.Equal(new AaaaRecord("www.example.com", 300, IPAddress.Parse("2001:db8::1")), m.Answers[2]);
        Assert.Equal(new SrvRecord("_sip._tcp.example.com", 300, 10, 60, 5060, "sip.example.com"), m.Answers[3]);
        var tlsa = Assert.IsType<TlsaRecord>(m.Answers[4]);
        Assert.Equal(("_25._tcp.mail.example.com", (byte)3, (byte)1, (byte)1), (tlsa.Name, tlsa.CertificateUsage, tlsa.Selector, tlsa.MatchingType));
        Assert.Equal(tlsaData, tlsa.CertificateAssociationData);
        Assert.Equal(new PtrRecord("example.com", 300, "host.example.com"), m.Answers[5]);
        Assert.Equal(new CnameRecord("alias.example.com", 300, "www.example.com"), m.Answers[6]);
        Assert.Equal(new NsRecord("example.com", 300, "ns1.example.com"), m.Answers[7]);
        var unknown = Assert.IsType<UnknownRecord>(m.Answers[8]);
        Assert.Equal((DnsRecordType)0xff00, unknown.Type);
        Assert.Equal(new byte[] { 1, 2, 3 }, unknown.Data);
        Assert.Equal(new SoaRecord("example.com", 3600, "ns1.example.com", "hostmaster.example.com", 1, 3600, 600, 86400, 300),
            Assert.Single(m.Authorities));
        Assert.Equal(4096, m.Opt!.UdpPayloadSize);
        Assert.True(m.Opt.DnssecOk);

        // Re-encoding gives a message that reads back to the same records.
        Assert.True(DnsMessageCodec.TryParse(DnsMessageCodec.Encode(m), out var again, out error), error);
        Assert.Equal(m.Answers.Count, again.Answers.Count);
        Assert.Equal(m.Answers.Skip(1).Where(r => r is not TlsaRecord and not UnknownRecord), again.Answers.Skip(1).Where(r => r is not TlsaRecord and not UnknownRecord));
        Assert.Equal("v=spf1-all", ((TxtRecord)again.Answers[0]).Text);
        Assert.Equal(m.Authorities, again.Authorities);
    }

    [Fact]
    public void Extended_rcode_from_OPT_is_combined_with_the_header_rcode()
    {
        // rcode 0 in the header, extended rcode 1 in OPT → 16 (BADVERS).
        var message = Concat(Hex("00 01  80 00  00 00  00 00  00 00  00 01"), Hex("00  00 29  04 d0  01 00 00 00  00 00"));

        Assert.True(DnsMessageCodec.TryParse(message, out var m, out _));

        Assert.Equal(DnsResponseCode.BadVersion, m.ResponseCode);
    }

    [Fact]
    public void Escaped_label_bytes_survive_a_round_trip()
    {
        // A label containing a dot, a space and a byte 0xff.
        var message = Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  04 61 2e 20 ff  00  00 01 00 01"));

        Assert.True(DnsMessageCodec.TryParse(message, out var m, out _));
        Assert.Equal("a\\.\\032\\255", m.Questions[0].Name);
        Assert.Equal(message, DnsMessageCodec.Encode(m));
    }

    [Fact]
    public void TTL_with_the_top_bit_set_reads_as_zero()
    {
        var message = Concat(Hex("00 01  80 00  00 00  00 01  00 00  00 00"), Name("a"),
            Hex("00 01  00 01  80 00 00 00  00 04  7f 00 00 01"));

        Assert.True(DnsMessageCodec.TryParse(message, out var m, out _));

        Assert.Equal(0u, m.Answers[0].Ttl);
    }

    [Fact]
    public void Long_TXT_record_keeps_each_string_and_joins_them()
    {
        var part1 = new string('a', 255);
        var part2 = new string('b', 255);
        var part3 = "end";
        var response = new DnsMessage
        {
            IsResponse = true,
            Questions = [new DnsQuestion("k._domainkey.example.com", DnsRecordType.TXT)],
            Answers = [TxtRecord.FromStrings("k._domainkey.example.com", 60, part1, part2, part3)],
        };

        Assert.True(DnsMessageCodec.TryParse(DnsMessageCodec.Encode(response), out var m, out _));

        var txt = Assert.IsType<TxtRecord>(Assert.Single(m.Answers));
        Assert.Equal([part1, part2, part3], txt.Strings);
        Assert.Equal(part1 + part2 + part3, txt.Text);
    }

    [Fact]
    public void Encoding_a_TXT_string_over_255_bytes_is_refused()
    {
        var response = new DnsMessage { Answers = [TxtRecord.FromStrings("a", 1, new string('x', 256))] };

        Assert.Throws<ArgumentException>(() => DnsMessageCodec.Encode(response));
    }
}
