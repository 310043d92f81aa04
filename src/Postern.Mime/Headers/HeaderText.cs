using System.Buffers;
using System.Text;
using Postern.Mime.Codecs;

namespace Postern.Mime.Headers;

/// <summary>Unfolding and RFC 2047 encoded-word decoding of header values.</summary>
public static class HeaderText
{
    private const int MaxWordScan = 1024;

    /// <summary>Raw value bytes to display text: 8-bit decoded (UTF-8, else Windows-1252), unfolded, encoded words decoded, trimmed.</summary>
    public static string DecodeUnstructured(ReadOnlySpan<byte> rawValue)
    {
        var s = Charsets.DecodeUndeclared(rawValue, out _);
        return Unfold(DecodeEncodedWords(s)).Trim(' ', '\t', '\r', '\n');
    }

    /// <summary>A comma-separated text field (Keywords and the like): decoded, split, trimmed, empty items dropped.</summary>
    public static IReadOnlyList<string> DecodeCommaList(ReadOnlySpan<byte> rawValue) =>
        DecodeUnstructured(rawValue).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Removes line breaks; white space around a fold becomes one space.</summary>
    public static string Unfold(string s)
    {
        if (s.AsSpan().IndexOfAny('\r', '\n') < 0)
        {
            return s;
        }

        var sb = new StringBuilder(s.Length);
        var i = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (c != '\r' && c != '\n')
            {
                sb.Append(c);
                i++;
                continue;
            }

            var hadSpace = false;
            while (sb.Length > 0 && (sb[^1] == ' ' || sb[^1] == '\t'))
            {
                sb.Length--;
                hadSpace = true;
            }

            while (i < s.Length && (s[i] == '\r' || s[i] == '\n' || s[i] == ' ' || s[i] == '\t'))
            {
                hadSpace |= s[i] == ' ' || s[i] == '\t';
                i++;
            }

            if (hadSpace && sb.Length > 0 && i < s.Length)
            {
                sb.Append(' ');
            }
        }

        return sb.ToString();
    }

    /// <summary>Decodes RFC 2047 encoded words in unfolded text. White space between adjacent encoded words is dropped,
    /// and adjacent words in one charset are joined before decoding so split multi-byte sequences survive.</summary>
    public static string DecodeEncodedWords(string s)
    {
        var invalid = false;
        return DecodeEncodedWords(s, check: false, ref invalid);
    }

    /// <summary>True when an encoded word in the raw value carries bytes that are not valid in its (known) charset.</summary>
    internal static bool HasInvalidEncodedWords(ReadOnlySpan<byte> rawValue)
    {
        if (rawValue.IndexOf("=?"u8) < 0)
        {
            return false;
        }

        var invalid = false;
        _ = DecodeEncodedWords(Charsets.DecodeUndeclared(rawValue, out _), check: true, ref invalid);
        return invalid;
    }

    private static string DecodeEncodedWords(string s, bool check, ref bool invalid)
    {
        var start = s.IndexOf("=?", StringComparison.Ordinal);
        if (start < 0)
        {
            return s;
        }

        var sb = new StringBuilder(s.Length);
        sb.Append(s, 0, start);
        var pending = new ArrayBufferWriter<byte>();
        string? pendingCharset = null;
        var i = start;
        while (i < s.Length)
        {
            if (s[i] == '=' && i + 1 < s.Length && s[i + 1] == '?' && TryParseWord(s, i, out var charset, out var isB, out var text, out var end))
            {
                if (pendingCharset is not null && !string.Equals(pendingCharset, charset, StringComparison.OrdinalIgnoreCase))
                {
                    Flush(sb, pending, ref pendingCharset, check, ref invalid);
                }

                pendingCharset = charset;
                var bytes = new byte[text.Length];
                for (var k = 0; k < text.Length; k++)
                {
                    bytes[k] = (byte)text[k];
                }

                if (isB)
                {
                    Base64Decoder.Decode(bytes, pending);
                }
                else
                {
                    QuotedPrintableDecoder.Decode(bytes, pending, header: true);
                }

                i = end;
                var j = i;
                while (j < s.Length && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
                {
                    j++;
                }

                if (j > i && j + 1 < s.Length && s[j] == '=' && s[j + 1] == '?' && TryParseWord(s, j, out _, out _, out _, out _))
                {
                    i = j;
                }

                continue;
            }

            if (pendingCharset is not null)
            {
                Flush(sb, pending, ref pendingCharset, check, ref invalid);
            }

            sb.Append(s[i]);
            i++;
        }

        if (pendingCharset is not null)
        {
            Flush(sb, pending, ref pendingCharset, check, ref invalid);
        }

        return sb.ToString();
    }

    private static void Flush(StringBuilder sb, ArrayBufferWriter<byte> pending, ref string? charset, bool check, ref bool invalid)
    {
        if (check)
        {
            sb.Append(Charsets.Decode(pending.WrittenSpan, charset, out _, out var bad));
            invalid |= bad;
        }
        else
        {
            sb.Append(Charsets.Decode(pending.WrittenSpan, charset, out _));
        }

        pending.Clear();
        charset = null;
    }

    private static bool TryParseWord(string s, int at, out string charset, out bool isB, out string text, out int end)
    {
        charset = string.Empty;
        text = string.Empty;
        isB = false;
        end = at;
        var i = at + 2;
        var q = s.IndexOf('?', i, Math.Min(65, s.Length - i));
        if (q <= i || q - i > 64)
        {
            return false;
        }

        for (var k = i; k < q; k++)
        {
            if (s[k] <= ' ' || s[k] >= 127 || s[k] == '=')
            {
                return false;
            }
        }

        charset = s[i..q];
        var star = charset.IndexOf('*', StringComparison.Ordinal);
        if (star >= 0)
        {
            charset = charset[..star];
        }

        if (q + 2 >= s.Length || s[q + 2] != '?')
        {
            return false;
        }

        var e = s[q + 1];
        if (e is 'B' or 'b')
        {
            isB = true;
        }
        else if (e is not ('Q' or 'q'))
        {
            return false;
        }

        var ts = q + 3;

        // Words are short (75 characters by RFC 2047); looking further than this keeps hostile values linear.
        var window = Math.Min(s.Length - ts, MaxWordScan);
        var close = s.IndexOf("?=", ts, window, StringComparison.Ordinal);
        int te;
        if (close < 0)
        {
            // Missing "?=": the word runs to the next white space.
            te = ts;
            var limit = ts + window;
            while (te < limit && s[te] != ' ' && s[te] != '\t' && s[te] != '\r' && s[te] != '\n')
            {
                te++;
            }

            end = te;
        }
        else
        {
            te = close;
            end = close + 2;
        }

        var sb = new StringBuilder(te - ts);
        var afterBreak = false;
        for (var k = ts; k < te; k++)
        {
            var c = s[k];
            if (c == '\r' || c == '\n')
            {
                afterBreak = true;
                continue;
            }

            if (c == ' ' || c == '\t')
            {
                // Folding white space inside a word is dropped; B text never holds spaces.
                if (isB || afterBreak)
                {
                    continue;
                }
            }
            else
            {
                afterBreak = false;
            }

            if (c > 255)
            {
                return false;
            }

            sb.Append(c);
        }

        text = sb.ToString();
        return true;
    }

    /// <summary>
    /// Reads a quoted-string whose opening quote is at <paramref name="i"/>: returns its content with
    /// quoted-pairs undone and leaves <paramref name="i"/> after the closing quote (or at the end when it is missing).
    /// </summary>
    internal static string ReadQuoted(string s, ref int i)
    {
        i++;
        var sb = new StringBuilder();
        while (i < s.Length)
        {
            var c = s[i++];
            if (c == '\\' && i < s.Length)
            {
                sb.Append(s[i++]);
                continue;
            }

            if (c == '"')
            {
                break;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }
}
