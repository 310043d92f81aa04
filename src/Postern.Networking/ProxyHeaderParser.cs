using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Postern.Networking;

/// <summary>Outcome of <see cref="ProxyHeaderParser.TryParse(in ReadOnlySequence{byte}, out ProxyHeader, out int)"/>.</summary>
public enum ProxyParseStatus
{
    /// <summary>The input is a valid but incomplete header: read more and call again. Nothing was consumed.</summary>
    NeedMoreData,

    /// <summary>A complete header was parsed; <c>consumed</c> bytes belong to it.</summary>
    Success,

    /// <summary>The input is not a valid PROXY header; the connection should be closed.</summary>
    Invalid,
}

/// <summary>
/// A total parser for the HAProxy PROXY protocol, versions 1 (text) and 2 (binary). It never throws on bad
/// input and never looks at more than <see cref="MaxV1Length"/> bytes (v1) or 16 + <see cref="MaxV2PayloadLength"/> bytes (v2).
/// </summary>
public static class ProxyHeaderParser
{
    /// <summary>The longest v1 line, CRLF included, that the specification allows.</summary>
    public const int MaxV1Length = 107;

    /// <summary>The largest v2 payload (address block plus TLVs) accepted.</summary>
    public const int MaxV2PayloadLength = 4096;

    /// <summary>Bytes of the fixed v2 header: signature, version/command, family, length.</summary>
    public const int V2FixedLength = 16;

    /// <summary>The 12-byte v2 signature.</summary>
    public static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>The v1 preamble "PROXY ".</summary>
    public static ReadOnlySpan<byte> V1Preamble => "PROXY "u8;

    /// <summary>Parses a PROXY header at the start of <paramref name="input"/>.</summary>
    public static ProxyParseStatus TryParse(in ReadOnlySequence<byte> input, out ProxyHeader header, out int consumed)
        => TryParse(input, out header, out consumed, out _);

    /// <summary>Parses a PROXY header at the start of <paramref name="input"/>, telling why it was refused.</summary>
    public static ProxyParseStatus TryParse(in ReadOnlySequence<byte> input, out ProxyHeader header, out int consumed, out ProxyHeaderError error)
    {
        if (input.IsSingleSegment)
        {
            return TryParse(input.FirstSpan, out header, out consumed, out error);
        }

        var length = (int)Math.Min(input.Length, V2FixedLength + MaxV2PayloadLength);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            input.Slice(0, length).CopyTo(rented);
            return TryParse(rented.AsSpan(0, length), out header, out consumed, out error);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Parses a PROXY header at the start of <paramref name="input"/>.</summary>
    public static ProxyParseStatus TryParse(ReadOnlySpan<byte> input, out ProxyHeader header, out int consumed, out ProxyHeaderError error)
    {
        header = default;
        consumed = 0;
        error = ProxyHeaderError.None;
        if (input.IsEmpty)
        {
            return ProxyParseStatus.NeedMoreData;
        }

        if (StartsWithOrIsPrefixOf(input, V2Signature, out var v2Complete))
        {
            return v2Complete ? ParseV2(input, out header, out consumed, out error) : ProxyParseStatus.NeedMoreData;
        }

        if (StartsWithOrIsPrefixOf(input, V1Preamble, out var v1Complete))
        {
            return v1Complete ? ParseV1(input, out header, out consumed, out error) : ProxyParseStatus.NeedMoreData;
        }

        error = ProxyHeaderError.NotProxyProtocol;
        return ProxyParseStatus.Invalid;
    }

    /// <summary>
    /// Tells whether <paramref name="input"/> is, or may become once more bytes arrive, a PROXY header.
    /// Used to refuse PROXY headers from untrusted peers.
    /// </summary>
    /// <returns>True when it is certainly a header start, false when certainly not, null when too short to tell.</returns>
    public static bool? LooksLikeProxyHeader(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            return null;
        }

        var v2 = StartsWithOrIsPrefixOf(input, V2Signature, out var v2Complete);
        var v1 = StartsWithOrIsPrefixOf(input, V1Preamble, out var v1Complete);
        if ((v2 && v2Complete) || (v1 && v1Complete))
        {
            return true;
        }

        return v1 || v2 ? null : false;
    }

    /// <summary>The number of bytes a v2 header needs in total, once its fixed part is known; otherwise null.</summary>
    internal static int? V2TotalLength(ReadOnlySpan<byte> input)
    {
        if (input.Length < V2FixedLength || !input.StartsWith(V2Signature))
        {
            return null;
        }

        return V2FixedLength + BinaryPrimitives.ReadUInt16BigEndian(input.Slice(14, 2));
    }

    private static bool StartsWithOrIsPrefixOf(ReadOnlySpan<byte> input, ReadOnlySpan<byte> expected, out bool complete)
    {
        var n = Math.Min(input.Length, expected.Length);
        complete = input.Length >= expected.Length;
        return input[..n].SequenceEqual(expected[..n]);
    }

    private static ProxyParseStatus ParseV2(ReadOnlySpan<byte> input, out ProxyHeader header, out int consumed, out ProxyHeaderError error)
    {
        header = default;
        consumed = 0;
        error = ProxyHeaderError.None;
        if (input.Length < V2FixedLength)
        {
            return ProxyParseStatus.NeedMoreData;
        }

        var versionCommand = input[12];
        if (versionCommand >> 4 != 2)
        {
            return Fail(ProxyHeaderError.UnsupportedVersion, out error);
        }

        var command = versionCommand & 0x0F;
        if (command > 1)
        {
            return Fail(ProxyHeaderError.UnsupportedCommand, out error);
        }

        var family = input[13] >> 4;
        var protocol = input[13] & 0x0F;
        if (family > 3 || protocol > 2)
        {
            return Fail(ProxyHeaderError.UnsupportedFamily, out error);
        }

        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(input.Slice(14, 2));
        if (payloadLength > MaxV2PayloadLength)
        {
            return Fail(ProxyHeaderError.HeaderTooLong, out error);
        }

        var addressLength = family switch
        {
            1 => 12,
            2 => 36,
            3 => 216,
            _ => 0,
        };
        if (payloadLength < addressLength)
        {
            return Fail(ProxyHeaderError.AddressBlockTooShort, out error);
        }

        if (input.Length < V2FixedLength + payloadLength)
        {
            return ProxyParseStatus.NeedMoreData;
        }

        var payload = input.Slice(V2FixedLength, payloadLength);
        var tlvs = payload[addressLength..];
        while (!tlvs.IsEmpty)
        {
            if (tlvs.Length < 3)
            {
                return Fail(ProxyHeaderError.MalformedTlv, out error);
            }

            int valueLength = BinaryPrimitives.ReadUInt16BigEndian(tlvs.Slice(1, 2));
            if (tlvs.Length < 3 + valueLength)
            {
                return Fail(ProxyHeaderError.MalformedTlv, out error);
            }

            tlvs = tlvs[(3 + valueLength)..];
        }

        IPEndPoint? source = null;
        IPEndPoint? destination = null;
        if (command == 1 && protocol == 1 && family is 1 or 2)
        {
            var size = family == 1 ? 4 : 16;
            var src = Addresses.Normalise(new IPAddress(payload[..size]));
            var dst = Addresses.Normalise(new IPAddress(payload.Slice(size, size)));
            int sport = BinaryPrimitives.ReadUInt16BigEndian(payload.Slice(2 * size, 2));
            int dport = BinaryPrimitives.ReadUInt16BigEndian(payload.Slice((2 * size) + 2, 2));
            source = new IPEndPoint(src, sport);
            destination = new IPEndPoint(dst, dport);
        }

        header = new ProxyHeader(2, command == 0 ? ProxyCommand.Local : ProxyCommand.Proxy, source, destination);
        consumed = V2FixedLength + payloadLength;
        return ProxyParseStatus.Success;
    }

    private static ProxyParseStatus ParseV1(ReadOnlySpan<byte> input, out ProxyHeader header, out int consumed, out ProxyHeaderError error)
    {
        header = default;
        consumed = 0;
        error = ProxyHeaderError.None;
        var window = input[..Math.Min(input.Length, MaxV1Length)];
        var lf = window.IndexOf((byte)'\n');
        if (lf < 0)
        {
            return input.Length >= MaxV1Length ? Fail(ProxyHeaderError.LineTooLong, out error) : ProxyParseStatus.NeedMoreData;
        }

        if (lf == 0 || window[lf - 1] != (byte)'\r')
        {
            return Fail(ProxyHeaderError.MalformedLine, out error);
        }

        var line = window[V1Preamble.Length..(lf - 1)];
        if (line.IndexOf((byte)'\r') >= 0)
        {
            return Fail(ProxyHeaderError.MalformedLine, out error);
        }

        Span<Range> fields = stackalloc Range[6];
        var count = SplitOnSpace(line, fields);
        var protocol = line[fields[0]];
        if (protocol.SequenceEqual("UNKNOWN"u8))
        {
            header = new ProxyHeader(1, ProxyCommand.Proxy, null, null);
            consumed = lf + 1;
            return ProxyParseStatus.Success;
        }

        AddressFamily family;
        if (protocol.SequenceEqual("TCP4"u8))
        {
            family = AddressFamily.InterNetwork;
        }
        else if (protocol.SequenceEqual("TCP6"u8))
        {
            family = AddressFamily.InterNetworkV6;
        }
        else
        {
            return Fail(ProxyHeaderError.UnknownProtocol, out error);
        }

        if (count != 5)
        {
            return Fail(ProxyHeaderError.MalformedLine, out error);
        }

        if (!TryParseAddress(line[fields[1]], family, out var src) || !TryParseAddress(line[fields[2]], family, out var dst))
        {
            return Fail(ProxyHeaderError.BadAddress, out error);
        }

        if (!TryParsePort(line[fields[3]], out var sport) || !TryParsePort(line[fields[4]], out var dport))
        {
            return Fail(ProxyHeaderError.BadPort, out error);
        }

        header = new ProxyHeader(1, ProxyCommand.Proxy, new IPEndPoint(Addresses.Normalise(src), sport), new IPEndPoint(Addresses.Normalise(dst), dport));
        consumed = lf + 1;
        return ProxyParseStatus.Success;
    }

    private static int SplitOnSpace(ReadOnlySpan<byte> line, Span<Range> fields)
    {
        var count = 0;
        var start = 0;
        while (count < fields.Length - 1)
        {
            var space = line[start..].IndexOf((byte)' ');
            if (space < 0)
            {
                break;
            }

            fields[count++] = new Range(start, start + space);
            start += space + 1;
        }

        fields[count++] = new Range(start, line.Length);
        return count;
    }

    private static bool TryParseAddress(ReadOnlySpan<byte> text, AddressFamily family, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.IsEmpty || text.Length > 45)
        {
            return false;
        }

        Span<char> chars = stackalloc char[text.Length];
        var dots = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var b = text[i];
            var ok = family == AddressFamily.InterNetwork
                ? b is (>= (byte)'0' and <= (byte)'9') or (byte)'.'
                : b is (>= (byte)'0' and <= (byte)'9') or (>= (byte)'a' and <= (byte)'f') or (>= (byte)'A' and <= (byte)'F') or (byte)':' or (byte)'.';
            if (!ok)
            {
                return false;
            }

            dots += b == (byte)'.' ? 1 : 0;
            chars[i] = (char)b;
        }

        if (family == AddressFamily.InterNetwork && dots != 3)
        {
            return false;
        }

        if (!IPAddress.TryParse(chars, out var parsed) || parsed is null || parsed.AddressFamily != family)
        {
            return false;
        }

        address = parsed;
        return true;
    }

    private static bool TryParsePort(ReadOnlySpan<byte> text, out int port)
    {
        port = 0;
        if (text.IsEmpty || text.Length > 5 || (text.Length > 1 && text[0] == (byte)'0'))
        {
            return false;
        }

        foreach (var b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            port = (port * 10) + (b - '0');
        }

        return port <= 65535;
    }

    private static ProxyParseStatus Fail(ProxyHeaderError reason, out ProxyHeaderError error)
    {
        error = reason;
        return ProxyParseStatus.Invalid;
    }
}
