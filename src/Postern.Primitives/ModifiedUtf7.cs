using System.Text;

namespace Postern.Primitives;

/// <summary>
/// The modified UTF-7 of IMAP mailbox names (RFC 3501 §5.1.3): printable ASCII stands for itself except
/// <c>&amp;</c>, which is <c>&amp;-</c>; everything else is UTF-16 in a modified base64 (<c>,</c> for
/// <c>/</c>, no padding) between <c>&amp;</c> and <c>-</c>. Decoding is strict: it accepts only the one
/// canonical spelling of a name (RFC 3501: "MUST NOT" encode printable ASCII, adjacent runs must be one).
/// Here rather than in the IMAP protocol library because Dovecot also spells folder names so on disk (Maildir import).
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
