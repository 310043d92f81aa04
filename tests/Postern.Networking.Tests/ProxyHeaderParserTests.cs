using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Networking.Tests;

public class ProxyHeaderParserTests
{
    private static byte[] V2(byte versionCommand, byte familyProtocol, byte[] payload)
    {
        var bytes = new byte[16 + payload.Length];
        ProxyHeaderParser.V2Signature.CopyTo(bytes);
        bytes[12] = versionCommand;
        bytes[13] = familyProtocol;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(14), (ushort)payload.Length);
        payload.CopyTo(bytes, 16);
        return bytes;
    }

    private static byte[] V2Inet(IPEndPoint source, IPEndPoint destination, byte[]? tlvs = null)
    {
        var v6 = source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        var size = v6 ? 16 : 4;
        var payload = new byte[(2 * size) + 4 + (tlvs?.Length ?? 0)];
        source.Address.GetAddressBytes().CopyTo(payload, 0);
        destination.Address.GetAddressBytes().CopyTo(payload, size);
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(2 * size), (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan((2 * size) + 2), (ushort)destination.Port);
        tlvs?.CopyTo(payload, (2 * size) + 4);
        return V2(0x21, (byte)(v6 ? 0x21 : 0x11), payload);
    }

    private static ProxyParseStatus Parse(byte[] bytes, out ProxyHeader header, out int consumed, out ProxyHeaderError error)
        => ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(bytes), out header, out consumed, out error);

    public static TheoryData<string, string?, int> ValidV1 => new()
    {
        { "PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\r\n", "192.0.2.10:40000", 25 },
        { "PROXY TCP6 2001:db8::10 2001:db8::1 40001 587\r\n", "[2001:db8::10]:40001", 587 },
        { "PROXY TCP6 ::ffff:192.0.2.77 ::ffff:192.0.2.1 1 2\r\n", "192.0.2.77:1", 2 },
        { "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "0.0.0.0:0", 65535 },
        { "PROXY UNKNOWN\r\n", null, 0 },
        { "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", null, 0 },
    };

    [Theory]
    [MemberData(nameof(ValidV1))]
    public void V1_header_gives_the_client_address(string text, string? source, int destinationPort)
    {
        var bytes = Encoding.ASCII.GetBytes(text + "EHLO x\r\n");
        var status = Parse(bytes, out var header, out var consumed, out _);

        Assert.Equal(ProxyParseStatus.Success, status);
        Assert.Equal(text.Length, consumed);
        Assert.Equal(1, header.Version);
        Assert.Equal(source, header.Source?.ToString());
        if (source is not null)
        {
            Assert.Equal(destinationPort, header.Destination!.Port);
        }
    }

    public static TheoryData<string, ProxyHeaderError> InvalidV1 => new()
    {
        { "PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\n", ProxyHeaderError.MalformedLine },
        { "PROXY TCP5 192.0.2.10 198.51.100.1 40000 25\r\n", ProxyHeaderError.UnknownProtocol },
        { "PROXY TCP4 192.0.2.10 198.51.100.1 40000\r\n", ProxyHeaderError.MalformedLine },
        { "PROXY TCP4 192.0.2.10 198.51.100.1 40000 25 9\r\n", ProxyHeaderError.MalformedLine },
        { "PROXY TCP4  192.0.2.10 198.51.100.1 40000 25\r\n", ProxyHeaderError.MalformedLine },
        { "PROXY TCP4 192.0.2.300 198.51.100.1 40000 25\r\n", ProxyHeaderError.BadAddress },
        { "PROXY TCP4 3221225994 198.51.100.1 40000 25\r\n", ProxyHeaderError.BadAddress },
        { "PROXY TCP4 2001:db8::1 198.51.100.1 40000 25\r\n", ProxyHeaderError.BadAddress },
        { "PROXY TCP6 192.0.2.10 2001:db8::1 40000 25\r\n", ProxyHeaderError.BadAddress },
        { "PROXY TCP6 fe80::1%eth0 2001:db8::1 40000 25\r\n", ProxyHeaderError.BadAddress },
        { "PROXY TCP4 192.0.2.10 198.51.100.1 65536 25\r\n", ProxyHeaderError.BadPort },
        { "PROXY TCP4 192.0.2.10 198.51.100.1 040 25\r\n", ProxyHeaderError.BadPort },
        { "PROXY TCP4 192.0.2.10 198.51.100.1 -1 25\r\n", ProxyHeaderError.BadPort },
        { "PROXY TCP4 192.0.2.10 198.51.100.1 4a 25\r\n", ProxyHeaderError.BadPort },
        { "EHLO client.example\r\n", ProxyHeaderError.NotProxyProtocol },
        { "proxy TCP4 192.0.2.10 198.51.100.1 1 2\r\n", ProxyHeaderError.NotProxyProtocol },
    };

    [Theory]
    [MemberData(nameof(InvalidV1))]
    public void Bad_v1_header_is_invalid_with_a_reason(string text, ProxyHeaderError expected)
    {
        var status = Parse(Encoding.ASCII.GetBytes(text), out _, out var consumed, out var error);

        Assert.Equal(ProxyParseStatus.Invalid, status);
        Assert.Equal(expected, error);
        Assert.Equal(0, consumed);
    }

    [Fact]
    public void V1_line_longer_than_107_bytes_is_refused_without_reading_further()
    {
        var text = "PROXY UNKNOWN " + new string('x', 200) + "\r\n";
        Assert.Equal(ProxyParseStatus.Invalid, Parse(Encoding.ASCII.GetBytes(text), out _, out _, out var error));
        Assert.Equal(ProxyHeaderError.LineTooLong, error);

        var exactly107 = "PROXY UNKNOWN " + new string('x', 107 - 16) + "\r\n";
        Assert.Equal(107, exactly107.Length);
        Assert.Equal(ProxyParseStatus.Success, Parse(Encoding.ASCII.GetBytes(exactly107), out _, out var consumed, out _));
        Assert.Equal(107, consumed);
    }

    [Fact]
    public void V2_proxy_ipv4_with_tlvs_gives_the_client_address_and_skips_the_tlvs()
    {
        var tlvs = new byte[] { 0x01, 0x00, 0x02, (byte)'h', (byte)'2', 0x05, 0x00, 0x03, 1, 2, 3, 0x04, 0x00, 0x00 };
        var bytes = V2Inet(IPEndPoint.Parse("203.0.113.5:51000"), IPEndPoint.Parse("198.51.100.1:465"), tlvs);
        var withData = bytes.Concat("hello"u8.ToArray()).ToArray();

        Assert.Equal(ProxyParseStatus.Success, Parse(withData, out var header, out var consumed, out _));
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(2, header.Version);
        Assert.Equal(ProxyCommand.Proxy, header.Command);
        Assert.Equal(IPEndPoint.Parse("203.0.113.5:51000"), header.Source);
        Assert.Equal(IPEndPoint.Parse("198.51.100.1:465"), header.Destination);
    }

    [Fact]
    public void V2_proxy_ipv6_and_mapped_ipv4_are_normalised()
    {
        var v6 = V2Inet(IPEndPoint.Parse("[2001:db8::5]:51000"), IPEndPoint.Parse("[2001:db8::1]:25"));
        Assert.Equal(ProxyParseStatus.Success, Parse(v6, out var header, out _, out _));
        Assert.Equal(IPEndPoint.Parse("[2001:db8::5]:51000"), header.Source);

        var mapped = V2Inet(IPEndPoint.Parse("[::ffff:192.0.2.9]:7"), IPEndPoint.Parse("[::ffff:192.0.2.1]:25"));
        Assert.Equal(ProxyParseStatus.Success, Parse(mapped, out header, out _, out _));
        Assert.Equal(IPEndPoint.Parse("192.0.2.9:7"), header.Source);
    }

    [Fact]
    public void V2_local_unspec_and_unix_keep_the_real_peer()
    {
        var local = V2(0x20, 0x00, []);
        Assert.Equal(ProxyParseStatus.Success, Parse(local, out var header, out var consumed, out _));
        Assert.Equal(ProxyCommand.Local, header.Command);
        Assert.Null(header.Source);
        Assert.Equal(16, consumed);

        var localWithAddresses = V2Inet(IPEndPoint.Parse("203.0.113.5:1"), IPEndPoint.Parse("198.51.100.1:2"));
        localWithAddresses[12] = 0x20;
        Assert.Equal(ProxyParseStatus.Success, Parse(localWithAddresses, out header, out _, out _));
        Assert.Null(header.Source);

        var unix = V2(0x21, 0x31, new byte[216]);
        Assert.Equal(ProxyParseStatus.Success, Parse(unix, out header, out consumed, out _));
        Assert.Null(header.Source);
        Assert.Equal(16 + 216, consumed);

        var unspec = V2(0x21, 0x00, [0x04, 0x00, 0x00]);
        Assert.Equal(ProxyParseStatus.Success, Parse(unspec, out header, out _, out _));
        Assert.Null(header.Source);
    }

    public static TheoryData<byte[], ProxyHeaderError> InvalidV2 => new()
    {
        { V2(0x11, 0x11, new byte[12]), ProxyHeaderError.UnsupportedVersion },
        { V2(0x22, 0x11, new byte[12]), ProxyHeaderError.UnsupportedCommand },
        { V2(0x21, 0x41, new byte[12]), ProxyHeaderError.UnsupportedFamily },
        { V2(0x21, 0x13, new byte[12]), ProxyHeaderError.UnsupportedFamily },
        { V2(0x21, 0x11, new byte[11]), ProxyHeaderError.AddressBlockTooShort },
        { V2(0x21, 0x21, new byte[35]), ProxyHeaderError.AddressBlockTooShort },
        { V2(0x21, 0x31, new byte[100]), ProxyHeaderError.AddressBlockTooShort },
        { V2(0x21, 0x11, new byte[12 + 2]), ProxyHeaderError.MalformedTlv },
        { V2(0x21, 0x11, [.. new byte[12], 0x01, 0x00, 0x05, 1, 2]), ProxyHeaderError.MalformedTlv },
        { V2(0x21, 0x11, new byte[ProxyHeaderParser.MaxV2PayloadLength + 1]), ProxyHeaderError.HeaderTooLong },
    };

    [Theory]
    [MemberData(nameof(InvalidV2))]
    public void Bad_v2_header_is_invalid_with_a_reason(byte[] bytes, ProxyHeaderError expected)
    {
        Assert.Equal(ProxyParseStatus.Invalid, Parse(bytes, out _, out var consumed, out var error));
        Assert.Equal(expected, error);
        Assert.Equal(0, consumed);
    }

    [Fact]
    public void V2_length_over_the_limit_is_refused_from_the_fixed_part_alone()
    {
        var head = V2(0x21, 0x11, [])[..14].Concat(new byte[] { 0xFF, 0xFF }).ToArray();
        Assert.Equal(ProxyParseStatus.Invalid, Parse(head, out _, out _, out var error));
        Assert.Equal(ProxyHeaderError.HeaderTooLong, error);
    }

    private static readonly byte[][] ValidHeaderBytes =
    [
        Encoding.ASCII.GetBytes("PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\r\n"),
        Encoding.ASCII.GetBytes("PROXY TCP6 2001:db8::10 2001:db8::1 40001 587\r\n"),
        Encoding.ASCII.GetBytes("PROXY UNKNOWN\r\n"),
        V2Inet(IPEndPoint.Parse("203.0.113.5:51000"), IPEndPoint.Parse("198.51.100.1:465"), [0x02, 0x00, 0x01, 0x41]),
        V2Inet(IPEndPoint.Parse("[2001:db8::5]:51000"), IPEndPoint.Parse("[2001:db8::1]:25")),
        V2(0x20, 0x00, []),
    ];

    public static TheoryData<byte[]> ValidHeaders => new(ValidHeaderBytes);

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void Every_prefix_of_a_valid_header_needs_more_data_and_consumes_nothing(byte[] bytes)
    {
        for (var length = 0; length < bytes.Length; length++)
        {
            var status = Parse(bytes[..length], out _, out var consumed, out _);
            Assert.True(status == ProxyParseStatus.NeedMoreData, $"prefix of {length} bytes gave {status}");
            Assert.Equal(0, consumed);
        }

        Assert.Equal(ProxyParseStatus.Success, Parse(bytes, out _, out var all, out _));
        Assert.Equal(bytes.Length, all);
    }

    [Theory]
    [MemberData(nameof(ValidHeaders))]
    public void Byte_per_segment_input_parses_like_contiguous_input(byte[] bytes)
    {
        var withData = bytes.Concat("QUIT\r\n"u8.ToArray()).ToArray();
        Assert.Equal(ProxyParseStatus.Success, ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(withData), out var expected, out var expectedConsumed));
        Assert.Equal(ProxyParseStatus.Success, ProxyHeaderParser.TryParse(Sequences.BytePerSegment(withData), out var header, out var consumed));
        Assert.Equal(expected, header);
        Assert.Equal(expectedConsumed, consumed);
        Assert.Equal(bytes.Length, consumed);
    }

    [Fact]
    public void Random_bytes_never_throw_and_never_consume_past_the_input()
    {
        Check.QuickThrowOnFailure(Prop.ForAll<byte[]>(bytes =>
        {
            var status = ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(bytes), out _, out var consumed);
            return consumed >= 0 && consumed <= bytes.Length && (status == ProxyParseStatus.Success || consumed == 0);
        }));
    }

    [Fact]
    public void Mutated_valid_headers_never_throw_and_agree_across_segmentations()
    {
        var seeds = ValidHeaderBytes;
        var mutation = from seed in Gen.Elements(seeds)
                       from position in Gen.Choose(0, 200)
                       from value in Gen.Choose(0, 255)
                       from cut in Gen.Choose(0, 200)
                       select Mutate(seed, position, (byte)value, cut);
        Check.QuickThrowOnFailure(Prop.ForAll(mutation.ToArbitrary(), bytes =>
        {
            var a = ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(bytes), out var h1, out var c1);
            var b = ProxyHeaderParser.TryParse(Sequences.BytePerSegment(bytes), out var h2, out var c2);
            return a == b && c1 == c2 && h1 == h2 && c1 <= bytes.Length;
        }));
    }

    [Fact]
    public void Generated_endpoints_round_trip_through_v1_and_v2()
    {
        var endpoints = from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i), 16)
                        from v6 in Gen.Elements(true, false)
                        from port in Gen.Choose(0, 65535)
                        select new IPEndPoint(Addresses.Normalise(new IPAddress(v6 ? bytes : bytes[..4])), port);
        Check.QuickThrowOnFailure(Prop.ForAll(endpoints.ToArbitrary(), endpoints.ToArbitrary(), (source, destination) =>
        {
            if (source.AddressFamily != destination.AddressFamily)
            {
                return true;
            }

            var v6 = source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            var v1 = Encoding.ASCII.GetBytes($"PROXY {(v6 ? "TCP6" : "TCP4")} {source.Address} {destination.Address} {source.Port} {destination.Port}\r\n");
            var okV1 = ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(v1), out var h1, out _) == ProxyParseStatus.Success && source.Equals(h1.Source) && destination.Equals(h1.Destination);
            var v2 = V2Inet(source, destination);
            var okV2 = ProxyHeaderParser.TryParse(new ReadOnlySequence<byte>(v2), out var h2, out _) == ProxyParseStatus.Success && source.Equals(h2.Source) && destination.Equals(h2.Destination);
            return okV1 && okV2;
        }));
    }

    private static byte[] Mutate(byte[] seed, int position, byte value, int cut)
    {
        var copy = (byte[])seed.Clone();
        if (copy.Length > 0)
        {
            copy[position % copy.Length] = value;
        }

        return copy[..Math.Min(copy.Length, cut % (copy.Length + 1) == 0 ? copy.Length : cut % (copy.Length + 1))];
    }

    [Theory]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", true)]
    [InlineData("PRO", null)]
    [InlineData("\r\n\r\n\0\r\nQUIT\n!", true)]
    [InlineData("\r\n\r", null)]
    [InlineData("EHLO x\r\n", false)]
    [InlineData("\r\nEHLO", false)]
    public void Untrusted_detection_tells_proxy_headers_from_protocol_commands(string start, bool? expected)
        => Assert.Equal(expected, ProxyHeaderParser.LooksLikeProxyHeader(Encoding.Latin1.GetBytes(start)));
}
