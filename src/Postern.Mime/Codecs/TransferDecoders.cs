using System.Buffers;

namespace Postern.Mime.Codecs;

/// <summary>Tolerant base64: skips characters outside the alphabet, stops at padding, keeps whole bytes of a short tail.</summary>
public static class Base64Decoder
{
    private static readonly sbyte[] Map = BuildMap();

    private static sbyte[] BuildMap()
    {
        var m = new sbyte[256];
        Array.Fill(m, (sbyte)-1);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (var i = 0; i < alphabet.Length; i++)
        {
            m[alphabet[i]] = (sbyte)i;
        }

        // The URL-safe alphabet shows up in broken mailers.
        m['-'] = 62;
        m['_'] = 63;
        return m;
    }

    /// <summary>Decodes into <paramref name="output"/>; returns false when junk or bad padding was met.</summary>
    public static bool Decode(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        var clean = true;
        var span = output.GetSpan((input.Length / 4 * 3) + 3);
        var o = 0;
        var acc = 0;
        var bits = 0;
        var padded = false;
        foreach (var c in input)
        {
            var v = Map[c];
            if (v < 0)
            {
                if (c == '=')
                {
                    padded = true;
                }
                else if (c != '\r' && c != '\n' && c != ' ' && c != '\t')
                {
                    clean = false;
                }

                continue;
            }

            if (padded)
            {
                // Data after padding: a concatenation of separately encoded blocks. Drop partial bits and go on.
                acc = 0;
                bits = 0;
                padded = false;
            }

            acc = (acc << 6) | (byte)v;
            bits += 6;
            if (bits >= 8)
            {
                bits -= 8;
                span[o++] = (byte)(acc >> bits);
                acc &= (1 << bits) - 1;
            }
        }

        if (bits >= 6)
        {
            clean = false;
        }

        output.Advance(o);
        return clean;
    }

    /// <summary>Decodes to a new array.</summary>
    public static byte[] Decode(ReadOnlySpan<byte> input)
    {
        var w = new ArrayBufferWriter<byte>((input.Length / 4 * 3) + 3);
        Decode(input, w);
        return w.WrittenSpan.ToArray();
    }
}

/// <summary>Tolerant quoted-printable: soft breaks with CRLF or LF, bad escapes kept literally, lower-case hex accepted.</summary>
public static class QuotedPrintableDecoder
{
    /// <summary>Decodes a body; <paramref name="header"/> selects the RFC 2047 Q form ('_' is a space).</summary>
    public static bool Decode(ReadOnlySpan<byte> input, IBufferWriter<byte> output, bool header = false)
    {
        var clean = true;
        var span = output.GetSpan(input.Length + 1);
        var o = 0;
        var i = 0;
        while (i < input.Length)
        {
            var eq = input[i..].IndexOfAny((byte)'=', header ? (byte)'_' : (byte)'=');
            if (eq < 0)
            {
                o += CopyLiteral(input, i, input.Length - i, span[o..], header);
                break;
            }

            o += CopyLiteral(input, i, eq, span[o..], header);
            i += eq;
            if (input[i] == '_')
            {
                span[o++] = (byte)' ';
                i++;
                continue;
            }

            // '='
            if (i + 2 < input.Length && Hex(input[i + 1]) >= 0 && Hex(input[i + 2]) >= 0)
            {
                span[o++] = (byte)((Hex(input[i + 1]) << 4) | Hex(input[i + 2]));
                i += 3;
                continue;
            }

            // Soft line break: '=' then optional trailing white space then CRLF or LF.
            var j = i + 1;
            while (j < input.Length && (input[j] == ' ' || input[j] == '\t'))
            {
                j++;
            }

            if (j < input.Length && input[j] == '\n')
            {
                i = j + 1;
                continue;
            }

            if (j + 1 < input.Length && input[j] == '\r' && input[j + 1] == '\n')
            {
                i = j + 2;
                continue;
            }

            if (j >= input.Length)
            {
                // '=' at the very end: a soft break without its line break.
                i = j;
                continue;
            }

            clean = false;
            span[o++] = (byte)'=';
            i++;
        }

        output.Advance(o);
        return clean;
    }

    /// <summary>
    /// Copies literal text; in a body, white space that ends an encoded line is dropped (RFC 2045 §6.7 rule 3: it was
    /// added in transport; an encoder writes "=20" for white space that belongs to the text).
    /// </summary>
    private static int CopyLiteral(ReadOnlySpan<byte> input, int start, int length, Span<byte> output, bool header)
    {
        var segment = input.Slice(start, length);
        if (header || (segment.IndexOfAny((byte)' ', (byte)'\t') < 0))
        {
            segment.CopyTo(output);
            return length;
        }

        var o = 0;
        for (var k = 0; k < segment.Length; k++)
        {
            var c = segment[k];
            if (c is (byte)' ' or (byte)'\t')
            {
                var end = k;
                while (end < segment.Length && segment[end] is (byte)' ' or (byte)'\t')
                {
                    end++;
                }

                var at = start + end;
                var endsLine = at >= input.Length || input[at] == '\n' || (input[at] == '\r' && at + 1 < input.Length && input[at + 1] == '\n');
                if (!endsLine)
                {
                    segment[k..end].CopyTo(output[o..]);
                    o += end - k;
                }

                k = end - 1;
                continue;
            }

            output[o++] = c;
        }

        return o;
    }

    /// <summary>Decodes to a new array.</summary>
    public static byte[] Decode(ReadOnlySpan<byte> input, bool header = false)
    {
        var w = new ArrayBufferWriter<byte>(input.Length + 1);
        Decode(input, w, header);
        return w.WrittenSpan.ToArray();
    }

    internal static int Hex(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        _ => -1,
    };
}
