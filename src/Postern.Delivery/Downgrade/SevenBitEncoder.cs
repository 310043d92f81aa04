using System.Buffers;

namespace Postern.Delivery.Downgrade;

/// <summary>
/// Transfer encodings whose output is 7-bit with lines of at most 76 characters, and whose decoding gives back the
/// input byte for byte. Unlike a text encoder, the quoted-printable form here keeps the input's exact line breaks:
/// only the message's own line break (CRLF, or LF in an LF-only message) is written as a line break; a bare CR or LF
/// inside a CRLF body is written as <c>=0D</c> / <c>=0A</c>, so the decoded bytes are the original ones.
/// </summary>
public static class SevenBitEncoder
{
    private const int MaxLine = 76;

    /// <summary>Quoted-printable (RFC 2045 §6.7) of <paramref name="input"/>. A line never starts with '-' (written
    /// <c>=2D</c>), so no encoded line can look like a multipart delimiter.</summary>
    public static void QuotedPrintable(ReadOnlySpan<byte> input, bool crlf, IBufferWriter<byte> output)
    {
        var newline = crlf ? "\r\n"u8 : "\n"u8;
        Span<byte> token = stackalloc byte[3];
        var column = 0;
        var i = 0;
        while (i < input.Length)
        {
            var b = input[i];
            var breakLength = LineBreakAt(input, i, crlf);
            if (breakLength > 0)
            {
                output.Write(newline);
                column = 0;
                i += breakLength;
                continue;
            }

            var next = i + 1;
            var beforeBreak = next >= input.Length || LineBreakAt(input, next, crlf) > 0;
            var literal = (b is >= 33 and <= 126 && b != '=') || (b is (byte)' ' or (byte)'\t' && !beforeBreak);
            var length = literal ? 1 : 3;

            // A soft break keeps every line within 76 characters, counting the '=' that ends it.
            if (column + length > MaxLine - 1)
            {
                output.Write("="u8);
                output.Write(newline);
                column = 0;
            }

            if (column == 0 && b == '-')
            {
                literal = false;
                length = 3;
            }

            if (literal)
            {
                token[0] = b;
            }
            else
            {
                token[0] = (byte)'=';
                token[1] = Hex(b >> 4);
                token[2] = Hex(b & 0xF);
            }

            output.Write(token[..length]);
            column += length;
            i++;
        }
    }

    /// <summary>Quoted-printable of <paramref name="input"/> to a new array.</summary>
    public static byte[] QuotedPrintable(ReadOnlySpan<byte> input, bool crlf = true)
    {
        var w = new ArrayBufferWriter<byte>(input.Length + (input.Length / 2) + 16);
        QuotedPrintable(input, crlf, w);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Base64 (RFC 2045 §6.8) in lines of 76 characters; no line break after the last line.</summary>
    public static void Base64(ReadOnlySpan<byte> input, bool crlf, IBufferWriter<byte> output)
    {
        var newline = crlf ? "\r\n"u8 : "\n"u8;

        // 57 input bytes make one 76-character line.
        const int chunk = 57;
        Span<byte> line = stackalloc byte[MaxLine];
        for (var at = 0; at < input.Length; at += chunk)
        {
            if (at > 0)
            {
                output.Write(newline);
            }

            var piece = input.Slice(at, Math.Min(chunk, input.Length - at));
            System.Buffers.Text.Base64.EncodeToUtf8(piece, line, out _, out var written);
            output.Write(line[..written]);
        }
    }

    /// <summary>Base64 of <paramref name="input"/> to a new array.</summary>
    public static byte[] Base64(ReadOnlySpan<byte> input, bool crlf = true)
    {
        var w = new ArrayBufferWriter<byte>((input.Length / 57 * 78) + 80);
        Base64(input, crlf, w);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Length of the message's own line break at <paramref name="i"/> (2 for CRLF, 1 for LF in LF mode), else 0.</summary>
    private static int LineBreakAt(ReadOnlySpan<byte> input, int i, bool crlf)
    {
        if (crlf)
        {
            return input[i] == '\r' && i + 1 < input.Length && input[i + 1] == '\n' ? 2 : 0;
        }

        return input[i] == '\n' ? 1 : 0;
    }

    private static byte Hex(int nibble) => (byte)"0123456789ABCDEF"[nibble];
}
