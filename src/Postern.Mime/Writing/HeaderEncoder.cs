using System.Text;

namespace Postern.Mime.Writing;

/// <summary>Builds header fields: folding at 78 columns (never past 998), RFC 2047 encoded words and RFC 2231
/// parameters only where the text needs them.</summary>
public static class HeaderEncoder
{
    /// <summary>Lines are folded before this many characters when a fold point exists.</summary>
    public const int FoldWidth = 78;

    private const int MaxEncodedWord = 75;

    private static readonly HashSet<string> Structured = new(StringComparer.OrdinalIgnoreCase)
    {
        "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Resent-From", "Resent-To", "Resent-Cc", "Resent-Sender",
        "Message-ID", "In-Reply-To", "References", "Resent-Message-ID", "Content-Type", "Content-Disposition",
        "Content-Transfer-Encoding", "Content-ID", "Date", "Resent-Date", "MIME-Version", "Return-Path", "Received",
        "DKIM-Signature", "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results", "Authentication-Results",
    };

    /// <summary>"Name: value" folded, with the line break. Unstructured values get encoded words where needed;
    /// structured values (addresses, ids, content types) are folded only, so pass them already encoded.</summary>
    public static byte[] EncodeField(string name, string value, string newline = "\r\n")
    {
        var tokens = Structured.Contains(name) ? SplitTokens(value) : EncodeUnstructuredTokens(value);
        return Encoding.UTF8.GetBytes(Fold(name + ":", tokens, newline));
    }

    /// <summary>Folds tokens after a "Name:" prefix; each token is preceded by one space.</summary>
    public static string Fold(string prefix, IReadOnlyList<string> tokens, string newline)
    {
        var sb = new StringBuilder(prefix.Length + tokens.Sum(t => t.Length + 1) + 8);
        sb.Append(prefix);
        var lineLength = prefix.Length;
        var onLine = 0;
        foreach (var t in tokens)
        {
            if (onLine > 0 && lineLength + 1 + t.Length > FoldWidth)
            {
                sb.Append(newline);
                lineLength = 0;
                onLine = 0;
            }

            sb.Append(' ').Append(t);
            lineLength += 1 + t.Length;
            onLine++;
        }

        sb.Append(newline);
        return sb.ToString();
    }

    private static List<string> SplitTokens(string value) =>
        [.. value.Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries)];

    private static bool NeedsEncoding(string word) =>
        word.Length > 76 || word.Contains("=?", StringComparison.Ordinal) || word.Any(c => c >= 127 || (c < 32 && c != '\t'));

    /// <summary>Words of an unstructured value; runs of words that need it become encoded words.</summary>
    public static List<string> EncodeUnstructuredTokens(string value)
    {
        var words = SplitTokens(value);
        var result = new List<string>(words.Count);
        var i = 0;
        while (i < words.Count)
        {
            if (!NeedsEncoding(words[i]))
            {
                result.Add(words[i++]);
                continue;
            }

            var j = i;
            while (j < words.Count && NeedsEncoding(words[j]))
            {
                j++;
            }

            result.AddRange(EncodeWords(string.Join(' ', words.Skip(i).Take(j - i))));
            i = j;
        }

        return result;
    }

    /// <summary>Text as a sequence of UTF-8 encoded words (Q or B, whichever is shorter), each at most 75 characters.</summary>
    public static List<string> EncodeWords(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var unsafeCount = bytes.Count(b => !IsQSafe(b));
        var useB = unsafeCount * 3 > bytes.Length;
        var result = new List<string>();
        const string prefix = "=?utf-8?";
        var budget = MaxEncodedWord - prefix.Length - 4; // "Q?" + "?="
        var sb = new StringBuilder();
        var chunk = new List<byte>();
        var e = new StringInfoEnumerator(text);
        foreach (var element in e)
        {
            var eb = Encoding.UTF8.GetBytes(element);
            var trial = chunk.Concat(eb).ToArray();
            var encodedLength = useB ? (trial.Length + 2) / 3 * 4 : trial.Sum(b => IsQSafe(b) ? 1 : 3);
            if (chunk.Count > 0 && encodedLength > budget)
            {
                result.Add(Word(chunk.ToArray(), useB));
                chunk.Clear();
            }

            chunk.AddRange(eb);
        }

        if (chunk.Count > 0)
        {
            result.Add(Word(chunk.ToArray(), useB));
        }

        return result;
    }

    private static string Word(byte[] bytes, bool useB)
    {
        if (useB)
        {
            return "=?utf-8?B?" + Convert.ToBase64String(bytes) + "?=";
        }

        var sb = new StringBuilder("=?utf-8?Q?");
        foreach (var b in bytes)
        {
            if (b == ' ')
            {
                sb.Append('_');
            }
            else if (IsQSafe(b))
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('=').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return sb.Append("?=").ToString();
    }

    private static bool IsQSafe(byte b) => b == ' ' || (b is >= (byte)'0' and <= (byte)'9') || (b is >= (byte)'A' and <= (byte)'Z') ||
        (b is >= (byte)'a' and <= (byte)'z') || b is (byte)'!' or (byte)'*' or (byte)'+' or (byte)'-' or (byte)'/';

    /// <summary>A display name as an atom phrase, a quoted string, or encoded words, whichever it needs.</summary>
    public static string EncodePhrase(string name)
    {
        if (name.Any(c => c >= 127 || c < 32))
        {
            return string.Join(' ', EncodeWords(name));
        }

        if (name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c == ' ' || "!#$%&'*+-/=?^_`{|}~".Contains(c, StringComparison.Ordinal)) &&
            !name.Contains("=?", StringComparison.Ordinal) && name.Trim() == name)
        {
            return name;
        }

        return "\"" + name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>A parameter: token, quoted string, or RFC 2231 (utf-8, split into continuations when long).</summary>
    public static IEnumerable<string> EncodeParameter(string name, string value)
    {
        if (value.All(c => c is > ' ' and < (char)127 && !"()<>@,;:\\\"/[]?=".Contains(c, StringComparison.Ordinal)) && value.Length > 0 && value.Length < 60)
        {
            yield return name + "=" + value;
            yield break;
        }

        if (value.All(c => c is >= ' ' and < (char)127) && value.Length < 60)
        {
            yield return name + "=\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
            yield break;
        }

        var bytes = Encoding.UTF8.GetBytes(value);
        var pieces = new List<string>();
        var sb = new StringBuilder();
        foreach (var b in bytes)
        {
            var enc = b is > (byte)' ' and < 127 && !"*'%()<>@,;:\\\"/[]?=".Contains((char)b, StringComparison.Ordinal)
                ? ((char)b).ToString()
                : "%" + b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture);
            if (sb.Length + enc.Length > 50)
            {
                pieces.Add(sb.ToString());
                sb.Clear();
            }

            sb.Append(enc);
        }

        pieces.Add(sb.ToString());
        if (pieces.Count == 1)
        {
            yield return name + "*=utf-8''" + pieces[0];
            yield break;
        }

        for (var i = 0; i < pieces.Count; i++)
        {
            yield return name + "*" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "*=" + (i == 0 ? "utf-8''" : string.Empty) + pieces[i];
        }
    }

    private readonly struct StringInfoEnumerator(string text)
    {
        public IEnumerator<string> GetEnumerator()
        {
            var e = System.Globalization.StringInfo.GetTextElementEnumerator(text);
            while (e.MoveNext())
            {
                yield return (string)e.Current;
            }
        }
    }
}
