using System.Collections;
using System.Globalization;
using System.Text;
using Postern.Mime.Codecs;

namespace Postern.Mime.Headers;

/// <summary>A mailbox or a group.</summary>
public abstract record InternetAddress(string? Name);

/// <summary>A mailbox: display name, address (local@domain), and an obsolete source route if one was given.</summary>
public sealed record MailboxAddress(string? Name, string? Address, string? Route = null) : InternetAddress(Name)
{
    /// <summary>The part before the last '@' (or the whole address when there is none).</summary>
    public string? LocalPart => Address is null ? null : Address.LastIndexOf('@') is var at && at >= 0 ? Address[..at] : Address;

    /// <summary>The domain as written, or null.</summary>
    public string? Domain => Address is null ? null : Address.LastIndexOf('@') is var at && at >= 0 ? Address[(at + 1)..] : null;

    /// <summary>The domain in A-label (punycode) form, or as written when it is not a valid IDN.</summary>
    public string? DomainAscii => Domain is null ? null : Idn(Domain, ascii: true);

    /// <summary>The domain in U-label (Unicode) form, or as written when it is not a valid IDN.</summary>
    public string? DomainUnicode => Domain is null ? null : Idn(Domain, ascii: false);

    private static string Idn(string domain, bool ascii)
    {
        try
        {
            var m = new IdnMapping();
            return ascii ? m.GetAscii(domain) : m.GetUnicode(domain);
        }
        catch (ArgumentException)
        {
            return domain;
        }
    }

    /// <inheritdoc />
    public override string ToString() => Name is null ? $"<{Address}>" : $"{Name} <{Address}>";
}

/// <summary>A named group of mailboxes ("Undisclosed recipients:;" has none).</summary>
public sealed record GroupAddress(string? Name, IReadOnlyList<MailboxAddress> Members) : InternetAddress(Name);

/// <summary>An address list in header order.</summary>
public sealed class AddressList(IReadOnlyList<InternetAddress> items) : IReadOnlyList<InternetAddress>
{
    public static AddressList Empty { get; } = new([]);

    public int Count => items.Count;

    public InternetAddress this[int index] => items[index];

    /// <summary>Every mailbox, groups flattened.</summary>
    public IEnumerable<MailboxAddress> Mailboxes =>
        items.SelectMany(a => a is GroupAddress g ? g.Members : [(MailboxAddress)a]);

    public IEnumerator<InternetAddress> GetEnumerator() => items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>RFC 5322 address lists with the obsolete syntax and common breakage. Never throws.</summary>
public static class AddressParser
{
    /// <summary>Parses raw field value bytes (8-bit as UTF-8 or Windows-1252).</summary>
    public static AddressList Parse(ReadOnlySpan<byte> rawValue) => Parse(Charsets.DecodeUndeclared(rawValue, out _));

    /// <summary>Parses a field value.</summary>
    public static AddressList Parse(string value)
    {
        var s = HeaderText.Unfold(value);
        var list = new List<InternetAddress>();
        var i = 0;
        var guard = 0;
        while (i < s.Length && guard++ < 10_000)
        {
            while (i < s.Length && (s[i] is ' ' or '\t' or ',' or '\r' or '\n' || (s[i] == ';')))
            {
                i++;
            }

            if (i >= s.Length)
            {
                break;
            }

            var before = i;
            var item = ParseItem(s, ref i, allowGroup: true);
            if (item is not null)
            {
                list.Add(item);
            }

            if (i == before)
            {
                i++;
            }
        }

        return new AddressList(list);
    }

    private static InternetAddress? ParseItem(string s, ref int i, bool allowGroup)
    {
        var words = new List<(string Text, bool Quoted)>();
        var comments = new List<string>();
        var wordWithAt = false;
        while (i < s.Length)
        {
            var c = s[i];
            switch (c)
            {
                case ' ' or '\t' or '\r' or '\n':
                    i++;
                    continue;
                case '(':
                    comments.Add(ContentType.SkipComment(s, ref i).Trim());
                    continue;
                case '"':
                    words.Add((HeaderText.ReadQuoted(s, ref i), true));
                    continue;
                case '<':
                    return ParseAngle(s, ref i, words, comments);
                case ':' when allowGroup && !wordWithAt:
                    i++;
                    return ParseGroup(s, ref i, Phrase(words, comments));
                case ',' or ';':
                    return Bare(words, comments);
                default:
                    var start = i;
                    while (i < s.Length && s[i] is not (' ' or '\t' or '\r' or '\n' or '(' or '"' or '<' or ',' or ';' or ':'))
                    {
                        i++;
                    }

                    if (i < s.Length && s[i] == ':' && (!allowGroup || s.AsSpan(start, i - start).Contains('@')))
                    {
                        // A colon inside an address-like word (e.g. a URL scheme): keep it in the word.
                        i++;
                        while (i < s.Length && s[i] is not (' ' or '\t' or '\r' or '\n' or '(' or '"' or '<' or ',' or ';'))
                        {
                            i++;
                        }
                    }

                    if (i == start)
                    {
                        // A lone special (e.g. a colon where no group can start): take it as a word of its own.
                        i++;
                    }

                    words.Add((s[start..i], false));
                    wordWithAt |= s.AsSpan(start, i - start).Contains('@');
                    continue;
            }
        }

        return Bare(words, comments);
    }

    private static InternetAddress? Bare(List<(string Text, bool Quoted)> words, List<string> comments)
    {
        if (words.Count == 0)
        {
            return comments.Count > 0 ? new MailboxAddress(NullIfEmpty(string.Join(' ', comments)), null) : null;
        }

        var hasAt = words.Any(w => w.Text.Contains('@', StringComparison.Ordinal));
        if (!hasAt && words.Count > 1)
        {
            return new MailboxAddress(Phrase(words, comments), null);
        }

        var sb = new StringBuilder();
        foreach (var w in words)
        {
            if (sb.Length > 0 && !(sb[^1] is '.' or '@') && !(w.Text.StartsWith('.') || w.Text.StartsWith('@')))
            {
                sb.Append(' ');
            }

            sb.Append(w.Quoted ? "\"" + w.Text + "\"" : w.Text);
        }

        var name = comments.Count > 0 ? HeaderText.DecodeEncodedWords(string.Join(' ', comments)) : null;
        return new MailboxAddress(NullIfEmpty(name), sb.ToString());
    }

    private static MailboxAddress ParseAngle(string s, ref int i, List<(string Text, bool Quoted)> words, List<string> comments)
    {
        i++; // '<'
        var closing = s.IndexOf('>', i);
        var sb = new StringBuilder();
        while (i < s.Length && s[i] != '>')
        {
            var c = s[i];
            if (c == '(')
            {
                ContentType.SkipComment(s, ref i);
                continue;
            }

            if (c == '"')
            {
                sb.Append('"').Append(HeaderText.ReadQuoted(s, ref i).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
                continue;
            }

            if (c is ',' && sb.Length > 0 && sb[0] != '@' && closing < 0)
            {
                break;
            }

            if (c is not (' ' or '\t' or '\r' or '\n'))
            {
                sb.Append(c);
            }

            i++;
        }

        if (i < s.Length && s[i] == '>')
        {
            i++;
        }

        // Trailing comments or words before the next separator.
        var trailing = new List<(string Text, bool Quoted)>();
        while (i < s.Length && s[i] is not (',' or ';'))
        {
            var c = s[i];
            if (c == '(')
            {
                comments.Add(ContentType.SkipComment(s, ref i).Trim());
            }
            else if (c == '"')
            {
                trailing.Add((HeaderText.ReadQuoted(s, ref i), true));
            }
            else if (c is ' ' or '\t' or '\r' or '\n')
            {
                i++;
            }
            else
            {
                var st = i;
                while (i < s.Length && s[i] is not (' ' or '\t' or '(' or '"' or ',' or ';' or '\r' or '\n'))
                {
                    i++;
                }

                trailing.Add((s[st..i], false));
            }
        }

        var addr = sb.ToString();
        string? route = null;
        if (addr.StartsWith('@'))
        {
            var colon = addr.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                route = addr[..colon];
                addr = addr[(colon + 1)..];
            }
        }

        var name = words.Count > 0 ? Phrase(words, []) : trailing.Count > 0 ? Phrase(trailing, []) : null;
        if (name is null && comments.Count > 0)
        {
            name = NullIfEmpty(HeaderText.DecodeEncodedWords(string.Join(' ', comments)));
        }

        return new MailboxAddress(name, addr.Length == 0 ? null : addr, route);
    }

    private static GroupAddress ParseGroup(string s, ref int i, string? name)
    {
        var members = new List<MailboxAddress>();
        var guard = 0;
        while (i < s.Length && guard++ < 10_000)
        {
            while (i < s.Length && s[i] is ' ' or '\t' or ',' or '\r' or '\n')
            {
                i++;
            }

            if (i >= s.Length)
            {
                break;
            }

            if (s[i] == ';')
            {
                i++;
                break;
            }

            var before = i;
            var item = ParseItem(s, ref i, allowGroup: false);
            if (item is MailboxAddress m)
            {
                members.Add(m);
            }

            if (i == before)
            {
                i++;
            }
        }

        return new GroupAddress(name, members);
    }

    private static string? Phrase(List<(string Text, bool Quoted)> words, List<string> comments)
    {
        if (words.Count == 0)
        {
            return comments.Count > 0 ? NullIfEmpty(HeaderText.DecodeEncodedWords(string.Join(' ', comments))) : null;
        }

        var joined = string.Join(' ', words.Select(w => w.Text));
        var decoded = HeaderText.DecodeEncodedWords(joined);
        return NullIfEmpty(words.Count == 1 && words[0].Quoted ? decoded : decoded.Trim());
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
