using System.Text;
using Postern.Mime.Codecs;

namespace Postern.Mime.Headers;

/// <summary>One parameter of Content-Type or Content-Disposition, after RFC 2231 joining and decoding.</summary>
public sealed record MimeParameter(string Name, string Value, string? Language = null);

/// <summary>A parsed Content-Type (or Content-Disposition, whose "type" is the disposition).</summary>
public sealed class ContentType
{
    /// <summary>text/plain; charset=us-ascii, the RFC 2045 default.</summary>
    public static ContentType TextPlainDefault { get; } = new("text", "plain", [new MimeParameter("charset", "us-ascii")], true);

    /// <summary>message/rfc822, the default inside multipart/digest.</summary>
    public static ContentType MessageDefault { get; } = new("message", "rfc822", [], true);

    public ContentType(string mediaType, string? mediaSubtype, IReadOnlyList<MimeParameter> parameters, bool isValid = true)
    {
        MediaType = mediaType;
        MediaSubtype = mediaSubtype;
        Parameters = parameters;
        IsValid = isValid;
    }

    /// <summary>The type, lower-cased ("text"); for a disposition, the disposition ("attachment").</summary>
    public string MediaType { get; }

    /// <summary>The subtype, lower-cased, or null when missing.</summary>
    public string? MediaSubtype { get; }

    /// <summary>Parameters in order, names lower-cased.</summary>
    public IReadOnlyList<MimeParameter> Parameters { get; }

    /// <summary>False when the value could not be read (the defaults then apply).</summary>
    public bool IsValid { get; }

    /// <summary>"type/subtype".</summary>
    public string MimeType => MediaSubtype is null ? MediaType : MediaType + "/" + MediaSubtype;

    public bool IsMultipart => MediaType == "multipart";

    /// <summary>message/rfc822 or message/global (a nested message the parser opens).</summary>
    public bool IsEncapsulatedMessage => MediaType == "message" && MediaSubtype is "rfc822" or "global" or "news";

    public bool IsText => MediaType == "text";

    public string? Boundary => this["boundary"];

    public string? Charset => this["charset"];

    /// <summary>A parameter value by name (case-insensitive), or null.</summary>
    public string? this[string name]
    {
        get
        {
            foreach (var p in Parameters)
            {
                if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
                {
                    return p.Value;
                }
            }

            return null;
        }
    }

    public bool SubtypeIs(string subtype) => string.Equals(MediaSubtype, subtype, StringComparison.OrdinalIgnoreCase);

    public bool Is(string type, string subtype) =>
        string.Equals(MediaType, type, StringComparison.OrdinalIgnoreCase) && SubtypeIs(subtype);

    /// <inheritdoc />
    public override string ToString() => MimeType;

    /// <summary>Parses raw header value bytes.</summary>
    public static ContentType Parse(ReadOnlySpan<byte> rawValue) => Parse(Charsets.DecodeUndeclared(rawValue, out _));

    /// <summary>Parses a header value; never throws. An unreadable value gives <see cref="IsValid"/> false and type "text/plain".</summary>
    public static ContentType Parse(string value)
    {
        var s = HeaderText.Unfold(value);
        var i = 0;
        SkipCfws(s, ref i);
        var type = ReadToken(s, ref i, stopAtSlash: true);
        SkipCfws(s, ref i);
        string? subtype = null;
        if (i < s.Length && s[i] == '/')
        {
            i++;
            SkipCfws(s, ref i);
            subtype = ReadToken(s, ref i, stopAtSlash: false);
            SkipCfws(s, ref i);
            if (subtype.Length == 0)
            {
                subtype = null;
            }
        }

        var parameters = ParseParameters(s, ref i);
        if (type.Length == 0)
        {
            return new ContentType("text", "plain", parameters, false);
        }

        return new ContentType(type.ToLowerInvariant(), subtype?.ToLowerInvariant(), parameters, subtype is not null);
    }

    internal static void SkipCfws(string s, ref int i)
    {
        while (i < s.Length)
        {
            var c = s[i];
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                i++;
            }
            else if (c == '(')
            {
                SkipComment(s, ref i);
            }
            else
            {
                break;
            }
        }
    }

    internal static string SkipComment(string s, ref int i)
    {
        var depth = 0;
        var sb = new StringBuilder();
        while (i < s.Length)
        {
            var c = s[i++];
            if (c == '\\' && i < s.Length)
            {
                sb.Append(s[i++]);
                continue;
            }

            if (c == '(')
            {
                if (depth++ > 0)
                {
                    sb.Append(c);
                }

                continue;
            }

            if (c == ')')
            {
                if (--depth == 0)
                {
                    break;
                }

                sb.Append(c);
                continue;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    private static string ReadToken(string s, ref int i, bool stopAtSlash)
    {
        var start = i;
        while (i < s.Length)
        {
            var c = s[i];
            if (c is ';' or ' ' or '\t' or '(' or '\r' or '\n' || (stopAtSlash && c == '/'))
            {
                break;
            }

            i++;
        }

        return s[start..i];
    }

    private sealed class Section
    {
        public required string Name;
        public int Index;
        public bool Extended;
        public required string Value;
    }

    internal static List<MimeParameter> ParseParameters(string s, ref int i)
    {
        var sections = new List<Section>();
        while (i < s.Length)
        {
            SkipCfws(s, ref i);
            while (i < s.Length && (s[i] == ';' || s[i] == ' ' || s[i] == '\t'))
            {
                i++;
            }

            SkipCfws(s, ref i);
            if (i >= s.Length)
            {
                break;
            }

            var ns = i;
            while (i < s.Length && s[i] is not ('=' or ';' or ' ' or '\t' or '(' or '"'))
            {
                i++;
            }

            var rawName = s[ns..i].Trim();
            SkipCfws(s, ref i);
            if (i >= s.Length || s[i] != '=')
            {
                if (i == ns)
                {
                    i++;
                }

                continue;
            }

            i++;
            SkipCfws(s, ref i);
            string value;
            if (i < s.Length && s[i] == '"')
            {
                value = HeaderText.ReadQuoted(s, ref i);
            }
            else if (string.CompareOrdinal(s, i, "=?", 0, 2) == 0)
            {
                // Unquoted encoded words (a common breakage) may hold spaces: take the value up to ';'.
                var vs = i;
                while (i < s.Length && s[i] != ';')
                {
                    i++;
                }

                value = s[vs..i].TrimEnd();
            }
            else
            {
                var vs = i;
                while (i < s.Length && s[i] is not (';' or ' ' or '\t' or '('))
                {
                    i++;
                }

                value = s[vs..i];
                if (value.Length == 0)
                {
                    continue;
                }
            }

            if (rawName.Length == 0)
            {
                continue;
            }

            var section = new Section { Name = rawName, Value = value };
            var star = rawName.IndexOf('*', StringComparison.Ordinal);
            if (star >= 0)
            {
                section.Name = rawName[..star];
                var rest = rawName[(star + 1)..];
                section.Extended = rest.EndsWith('*') || rest.Length == 0;
                var digits = rest.TrimEnd('*');
                if (digits.Length > 0 && (!int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out section.Index) || section.Index > 100_000))
                {
                    continue;
                }

                if (rest.Length == 0)
                {
                    section.Index = 0;
                }

                if (section.Name.Length == 0)
                {
                    continue;
                }
            }

            sections.Add(section);
        }

        return Join(sections);
    }

    private static List<MimeParameter> Join(List<Section> sections)
    {
        var result = new List<MimeParameter>(sections.Count);
        if (sections.Count <= 8 && sections.TrueForAll(x => !x.Extended && x.Index == 0 && !x.Name.Contains('*', StringComparison.Ordinal)))
        {
            // The common case: plain name=value pairs. The first of duplicate names wins.
            foreach (var x in sections)
            {
                if (!result.Exists(r => string.Equals(r.Name, x.Name, StringComparison.OrdinalIgnoreCase)))
                {
                    var v = x.Value.Contains("=?", StringComparison.Ordinal) ? HeaderText.DecodeEncodedWords(x.Value) : x.Value;
                    result.Add(new MimeParameter(x.Name.ToLowerInvariant(), v));
                }
            }

            return result;
        }

        var groups = new Dictionary<string, List<Section>>(StringComparer.OrdinalIgnoreCase);
        var order = new List<string>();
        foreach (var section in sections)
        {
            if (!groups.TryGetValue(section.Name, out var g))
            {
                groups[section.Name] = g = [];
                order.Add(section.Name);
            }

            g.Add(section);
        }

        foreach (var name in order)
        {
            var first = groups[name][0];
            var parts = groups[name];
            if (parts.Count > 1)
            {
                parts = [.. parts.OrderBy(x => x.Index)];
            }

            string? charset = null;
            string? language = null;
            var bytes = new List<byte>();
            var anyExtended = false;
            var plain = new StringBuilder();
            foreach (var p in parts)
            {
                var v = p.Value;
                if (p.Extended)
                {
                    anyExtended = true;
                    if (p.Index == 0 || (charset is null && bytes.Count == 0))
                    {
                        var q1 = v.IndexOf('\'', StringComparison.Ordinal);
                        var q2 = q1 < 0 ? -1 : v.IndexOf('\'', q1 + 1);
                        if (q2 > q1 && q1 >= 0)
                        {
                            charset ??= v[..q1];
                            var lang = v[(q1 + 1)..q2];
                            language ??= lang.Length > 0 ? lang : null;
                            v = v[(q2 + 1)..];
                        }
                    }
                    else if (charset is not null && v.StartsWith(charset + "'", StringComparison.OrdinalIgnoreCase))
                    {
                        // Some senders repeat the charset on every section.
                        v = v[(charset.Length + 1)..];
                    }

                    PercentDecode(v, bytes);
                }
                else
                {
                    foreach (var c in v)
                    {
                        if (c < 128)
                        {
                            bytes.Add((byte)c);
                        }
                        else
                        {
                            bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(c.ToString()));
                        }
                    }

                    plain.Append(v);
                }
            }

            string value;
            if (anyExtended)
            {
                value = Charsets.Decode(bytes.ToArray(), charset, out _);
            }
            else
            {
                value = plain.ToString();
                if (value.Contains("=?", StringComparison.Ordinal))
                {
                    value = HeaderText.DecodeEncodedWords(value);
                }
            }

            result.Add(new MimeParameter(first.Name.ToLowerInvariant(), value, language));
        }

        return result;
    }

    private static void PercentDecode(string v, List<byte> bytes)
    {
        for (var k = 0; k < v.Length; k++)
        {
            var c = v[k];
            if (c == '%' && k + 2 < v.Length && c < 128 && QuotedPrintableDecoder.Hex((byte)Math.Min(v[k + 1], (char)255)) >= 0 && QuotedPrintableDecoder.Hex((byte)Math.Min(v[k + 2], (char)255)) >= 0)
            {
                bytes.Add((byte)((QuotedPrintableDecoder.Hex((byte)v[k + 1]) << 4) | QuotedPrintableDecoder.Hex((byte)v[k + 2])));
                k += 2;
            }
            else if (c < 128)
            {
                bytes.Add((byte)c);
            }
            else
            {
                bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(c.ToString()));
            }
        }
    }
}
