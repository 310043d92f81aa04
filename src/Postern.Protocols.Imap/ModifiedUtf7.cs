using System.Text;

namespace Postern.Protocols.Imap;

/// <summary>
/// The modified UTF-7 of IMAP mailbox names (RFC 3501 §5.1.3): printable ASCII stands for itself except
/// <c>&amp;</c>, which is <c>&amp;-</c>; everything else is UTF-16 in a modified base64 (<c>,</c> for
/// <c>/</c>, no padding) between <c>&amp;</c> and <c>-</c>. Decoding is strict: it accepts only the one
/// canonical spelling of a name (RFC 3501: "MUST NOT" encode printable ASCII, adjacent runs must be one).
/// </summary>
public static class ModifiedUtf7
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

    private static bool IsDirect(char c) => c is >= ' ' and <= '~' && c != '&';

    public static string Encode(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        var i = 0;
        while (i < name.Length)
        {
            var c = name[i];
            if (c == '&')
            {
                sb.Append("&-");
                i++;
                continue;
            }

            if (IsDirect(c))
            {
                sb.Append(c);
                i++;
                continue;
            }

            sb.Append('&');
            var bits = 0;
            var buffer = 0;
            while (i < name.Length && !IsDirect(name[i]) && name[i] != '&')
            {
                buffer = (buffer << 16) | name[i];
                bits += 16;
                while (bits >= 6)
                {
                    bits -= 6;
                    sb.Append(Alphabet[(buffer >> bits) & 0x3F]);
                }

                buffer &= (1 << bits) - 1;
                i++;
            }

            if (bits > 0)
            {
                sb.Append(Alphabet[(buffer << (6 - bits)) & 0x3F]);
            }

            sb.Append('-');
        }

        return sb.ToString();
    }

    /// <summary>Decodes a wire name; false for anything that is not the canonical modified UTF-7 of some name.</summary>
    public static bool TryDecode(string wire, out string name)
    {
        name = string.Empty;
        var sb = new StringBuilder(wire.Length);
        var i = 0;
        var lastWasRun = false;
        while (i < wire.Length)
        {
            var c = wire[i];
            if (c is < ' ' or > '~')
            {
                return false;
            }

            if (c != '&')
            {
                sb.Append(c);
                i++;
                lastWasRun = false;
                continue;
            }

            i++;
            if (i < wire.Length && wire[i] == '-')
            {
                sb.Append('&');
                i++;
                lastWasRun = false;
                continue;
            }

            if (lastWasRun)
            {
                return false; // "&AOk-&AOk-" must have been one run
            }

            var bits = 0;
            var buffer = 0;
            var units = 0;
            var highSurrogate = '\0';
            while (true)
            {
                if (i >= wire.Length)
                {
                    return false; // unterminated
                }

                var b = wire[i++];
                if (b == '-')
                {
                    break;
                }

                var v = Alphabet.IndexOf(b, StringComparison.Ordinal);
                if (v < 0)
                {
                    return false;
                }

                buffer = (buffer << 6) | v;
                bits += 6;
                if (bits >= 16)
                {
                    bits -= 16;
                    var unit = (char)((buffer >> bits) & 0xFFFF);
                    buffer &= (1 << bits) - 1;
                    units++;
                    if (IsDirect(unit) || unit == '&')
                    {
                        return false; // printable ASCII must not be encoded
                    }

                    if (char.IsHighSurrogate(unit))
                    {
                        if (highSurrogate != '\0')
                        {
                            return false;
                        }

                        highSurrogate = unit;
                        continue;
                    }

                    if (char.IsLowSurrogate(unit))
                    {
                        if (highSurrogate == '\0')
                        {
                            return false;
                        }

                        sb.Append(highSurrogate).Append(unit);
                        highSurrogate = '\0';
                        continue;
                    }

                    if (highSurrogate != '\0')
                    {
                        return false;
                    }

                    sb.Append(unit);
                }
            }

            // Leftover bits: fewer than 6, all zero; at least one character; no dangling surrogate.
            if (units == 0 || bits >= 6 || buffer != 0 || highSurrogate != '\0')
            {
                return false;
            }

            lastWasRun = true;
        }

        name = sb.ToString();
        return true;
    }
}

/// <summary>
/// Mailbox names between the wire and the store: modified UTF-7 for IMAP4rev1 clients, UTF-8 as is
/// once the client has enabled UTF8=ACCEPT (RFC 6855) or IMAP4rev2 (RFC 9051 §5.1).
/// </summary>
public static class MailboxNameCodec
{
    /// <summary>The name the client meant; false when the wire form is not valid in this mode.</summary>
    public static bool TryDecode(string wire, bool utf8Enabled, out string name)
    {
        if (utf8Enabled)
        {
            name = wire;
            return !wire.Any(c => char.IsControl(c)) && IsWellFormedUtf16(wire);
        }

        return ModifiedUtf7.TryDecode(wire, out name);
    }

    /// <summary>The wire form of a name (for LIST, STATUS, ... answers).</summary>
    public static string Encode(string name, bool utf8Enabled) => utf8Enabled ? name : ModifiedUtf7.Encode(name);

    private static bool IsWellFormedUtf16(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]))
                {
                    return false;
                }

                i++;
            }
            else if (char.IsLowSurrogate(s[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>UTF-8 bytes of a name as they would be on the wire (for size checks).</summary>
    public static int WireLength(string name, bool utf8Enabled) =>
        utf8Enabled ? Encoding.UTF8.GetByteCount(name) : Encode(name, false).Length;
}
