using System.Globalization;
using System.Text;

namespace Postern.Delivery.Srs;

/// <summary>
/// Splits and joins addresses in their SMTP form. SRS works on the local part's content (a quoted local part
/// without its quotes and backslashes), as Postfix hands it to postsrsd, and quotes the result again when it
/// is not a dot-atom.
/// </summary>
internal static class SrsAddressSyntax
{
    private const string AtextSpecials = "!#$%&'*+-/=?^_`{|}~";
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = true };

    /// <summary>Splits <c>local@domain</c> (angle brackets allowed); the local part comes back unquoted.</summary>
    public static bool TrySplit(string address, out string local, out string domain)
    {
        local = string.Empty;
        domain = string.Empty;
        var text = address.Trim();
        if (text.Length >= 2 && text[0] == '<' && text[^1] == '>')
        {
            text = text[1..^1];
        }

        int at;
        if (text.StartsWith('"'))
        {
            var end = 1;
            var content = new StringBuilder();
            while (end < text.Length && text[end] != '"')
            {
                if (text[end] == '\\')
                {
                    end++;
                    if (end >= text.Length)
                    {
                        return false;
                    }
                }

                content.Append(text[end]);
                end++;
            }

            if (end + 1 >= text.Length || text[end + 1] != '@')
            {
                return false;
            }

            at = end + 1;
            local = content.ToString();
        }
        else
        {
            at = text.LastIndexOf('@');
            if (at < 0)
            {
                return false;
            }

            local = text[..at];
        }

        domain = text[(at + 1)..];
        return local.Length > 0 && domain.Length > 0 && !domain.Contains('@', StringComparison.Ordinal);
    }

    /// <summary>The local part as it must be written in SMTP: as is when it is a dot-atom, quoted otherwise.</summary>
    public static string QuoteLocalPart(string local)
    {
        if (IsDotAtom(local))
        {
            return local;
        }

        var sb = new StringBuilder(local.Length + 2).Append('"');
        foreach (var c in local)
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.Append('"').ToString();
    }

    public static string Join(string local, string domain) => QuoteLocalPart(local) + "@" + domain;

    /// <summary>The domain in lower-case A-labels, or null when it is not a domain name (an address literal, bad IDNA).</summary>
    public static string? AsciiDomain(string domain)
    {
        var d = domain.EndsWith('.') ? domain[..^1] : domain;
        if (d.Length == 0 || d.StartsWith('[') || d.Contains('=', StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            return Idn.GetAscii(d.ToLowerInvariant()).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static bool IsDotAtom(string local)
    {
        if (local.Length == 0 || local[0] == '.' || local[^1] == '.')
        {
            return false;
        }

        for (var i = 0; i < local.Length; i++)
        {
            var c = local[i];
            if (c == '.')
            {
                if (local[i - 1] == '.')
                {
                    return false;
                }
            }
            else if (!(char.IsAsciiLetterOrDigit(c) || AtextSpecials.Contains(c, StringComparison.Ordinal) || (c > 127 && !char.IsControl(c) && !char.IsWhiteSpace(c))))
            {
                return false;
            }
        }

        return true;
    }
}
