using System.Globalization;
using System.Text;
using Postern.Mime.Headers;
using Postern.Mime.Writing;

namespace Postern.Mime.Views;

/// <summary>IMAP views of a parsed message (RFC 9051): ENVELOPE, BODYSTRUCTURE and BODY[section] bytes.
/// Everything comes from the tree and its offsets, so sections are served exactly as received.</summary>
public static class ImapView
{
    /// <summary>The ENVELOPE list of a message (or of the message inside a message/rfc822 part).</summary>
    public static string Envelope(MimeEntity message)
    {
        var h = message.Headers;
        var sb = new StringBuilder("(");
        sb.Append(NString(RawValue(h, "Date"))).Append(' ');
        sb.Append(NString(RawValue(h, "Subject"))).Append(' ');
        var from = AddressesOf(h, "From");
        sb.Append(from).Append(' ');
        var sender = AddressesOf(h, "Sender");
        sb.Append(sender == "NIL" ? from : sender).Append(' ');
        var replyTo = AddressesOf(h, "Reply-To");
        sb.Append(replyTo == "NIL" ? from : replyTo).Append(' ');
        sb.Append(AddressesOf(h, "To")).Append(' ');
        sb.Append(AddressesOf(h, "Cc")).Append(' ');
        sb.Append(AddressesOf(h, "Bcc")).Append(' ');
        sb.Append(NString(RawValue(h, "In-Reply-To"))).Append(' ');
        sb.Append(NString(RawValue(h, "Message-ID")));
        return sb.Append(')').ToString();
    }

    /// <summary>BODYSTRUCTURE (extended = true) or BODY (extended = false) of an entity.</summary>
    public static string BodyStructure(MimeEntity entity, bool extended = true)
    {
        var sb = new StringBuilder();
        Write(sb, entity, extended);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, MimeEntity e, bool extended)
    {
        var ct = e.ContentType;
        if (e.Kind == MimeBodyKind.Multipart && e.Children.Count > 0)
        {
            sb.Append('(');
            foreach (var c in e.Children)
            {
                Write(sb, c, extended);
            }

            sb.Append(' ').Append(Quoted(ct.MediaSubtype ?? "mixed"));
            if (extended)
            {
                sb.Append(' ').Append(Params(ct.Parameters));
                sb.Append(' ').Append(Disposition(e)).Append(' ').Append(Language(e)).Append(' ').Append(NString(RawValue(e.Headers, "Content-Location")));
            }

            sb.Append(')');
            return;
        }

        var type = e.Kind == MimeBodyKind.Multipart ? "text" : ct.MediaType;
        var subtype = e.Kind == MimeBodyKind.Multipart ? "plain" : ct.MediaSubtype ?? "plain";
        IReadOnlyList<MimeParameter> parameters = e.Kind == MimeBodyKind.Multipart ? [] : ct.Parameters;
        if (ct.IsText && parameters.Count == 0 && e.Headers.GetField("Content-Type") is null)
        {
            parameters = [new MimeParameter("charset", "us-ascii")];
        }

        sb.Append('(').Append(Quoted(type)).Append(' ').Append(Quoted(subtype)).Append(' ').Append(Params(parameters)).Append(' ');
        sb.Append(NString(RawValue(e.Headers, "Content-ID"))).Append(' ');
        sb.Append(NString(RawValue(e.Headers, "Content-Description"))).Append(' ');
        sb.Append(Quoted(EncodingName(e))).Append(' ');
        var body = e.RawBody.Span;
        sb.Append(body.Length.ToString(CultureInfo.InvariantCulture));
        if (e.Kind == MimeBodyKind.Message && e.Message is not null && ct.IsEncapsulatedMessage)
        {
            sb.Append(' ').Append(Envelope(e.Message)).Append(' ');
            Write(sb, e.Message, extended);
            sb.Append(' ').Append(Lines(body).ToString(CultureInfo.InvariantCulture));
        }
        else if (type == "text")
        {
            sb.Append(' ').Append(Lines(body).ToString(CultureInfo.InvariantCulture));
        }

        if (extended)
        {
            sb.Append(' ').Append(NString(RawValue(e.Headers, "Content-MD5")));
            sb.Append(' ').Append(Disposition(e)).Append(' ').Append(Language(e)).Append(' ').Append(NString(RawValue(e.Headers, "Content-Location")));
        }

        sb.Append(')');
    }

    private static string EncodingName(MimeEntity e)
    {
        var f = e.Headers.GetField("Content-Transfer-Encoding");
        return f is null ? "7BIT" : e.TransferEncoding.ToUpperInvariant();
    }

    private static int Lines(ReadOnlySpan<byte> body)
    {
        var n = body.Count((byte)'\n');
        return body.Length > 0 && body[^1] != '\n' ? n + 1 : n;
    }

    private static string Disposition(MimeEntity e)
    {
        var d = e.ContentDisposition;
        return d is null ? "NIL" : "(" + Quoted(d.MediaType) + " " + Params(d.Parameters) + ")";
    }

    private static string Language(MimeEntity e)
    {
        var v = RawValue(e.Headers, "Content-Language");
        if (v is null)
        {
            return "NIL";
        }

        var tags = v.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        return tags.Length == 1 ? Quoted(tags[0]) : "(" + string.Join(' ', tags.Select(Quoted)) + ")";
    }

    private static string Params(IReadOnlyList<MimeParameter> ps)
    {
        if (ps.Count == 0)
        {
            return "NIL";
        }

        return "(" + string.Join(' ', ps.Select(p => Quoted(p.Name.ToUpperInvariant()) + " " + Quoted(EncodeIfNeeded(p.Value)))) + ")";
    }

    private static string EncodeIfNeeded(string s) => s.Any(c => c >= 127) ? string.Join(' ', HeaderEncoder.EncodeWords(s)) : s;

    private static string? RawValue(HeaderList h, string name)
    {
        var f = h.GetField(name);
        if (f is null)
        {
            return null;
        }

        var raw = Codecs.Charsets.DecodeUndeclared(f.Value.RawValue.Span, out _);
        return HeaderText.Unfold(raw).Trim(' ', '\t', '\r', '\n');
    }

    private static string AddressesOf(HeaderList h, string name)
    {
        var f = h.GetField(name);
        if (f is null)
        {
            return "NIL";
        }

        var list = AddressParser.Parse(f.Value.RawValue.Span);
        if (list.Count == 0)
        {
            return "NIL";
        }

        var sb = new StringBuilder("(");
        foreach (var a in list)
        {
            if (a is GroupAddress g)
            {
                sb.Append("(NIL NIL ").Append(Quoted(g.Name ?? string.Empty)).Append(" NIL)");
                foreach (var m in g.Members)
                {
                    Address(sb, m);
                }

                sb.Append("(NIL NIL NIL NIL)");
            }
            else if (a is MailboxAddress m)
            {
                Address(sb, m);
            }
        }

        return sb.Append(')').ToString();
    }

    private static void Address(StringBuilder sb, MailboxAddress m)
    {
        sb.Append('(').Append(NString(m.Name is null ? null : EncodeIfNeeded(m.Name))).Append(' ');
        sb.Append(NString(m.Route)).Append(' ');
        sb.Append(NString(m.LocalPart ?? string.Empty)).Append(' ');
        sb.Append(NString(m.Domain)).Append(')');
    }

    /// <summary>NIL, a quoted string, or a literal when the text cannot be quoted.</summary>
    public static string NString(string? s) => s is null ? "NIL" : Quoted(s);

    /// <summary>A quoted string, or a literal for CR, LF or 8-bit text.</summary>
    public static string Quoted(string s)
    {
        if (s.Any(c => c is '\r' or '\n' or '\0' || c >= 127))
        {
            var bytes = Encoding.UTF8.GetByteCount(s);
            return "{" + bytes.ToString(CultureInfo.InvariantCulture) + "}\r\n" + s;
        }

        return "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>The bytes of BODY[section] ("", "HEADER", "TEXT", "1.2", "1.2.MIME", "2.HEADER.FIELDS (FROM TO)",
    /// "HEADER.FIELDS.NOT (...)"), or null when the section does not exist. Apply a partial range with <see cref="Partial"/>.</summary>
    public static byte[]? Section(MimeMessage message, string section)
    {
        var spec = section.Trim();
        var container = message.Root; // a message, or a multipart, whose parts the next number selects
        MimeEntity? selected = null;
        var i = 0;
        while (i < spec.Length && char.IsAsciiDigit(spec[i]))
        {
            var dot = spec.IndexOf('.', i);
            var numText = dot < 0 ? spec[i..] : spec[i..dot];
            if (!int.TryParse(numText, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                return null;
            }

            MimeEntity part;
            if (container.Kind == MimeBodyKind.Multipart && container.Children.Count > 0)
            {
                if (n > container.Children.Count)
                {
                    return null;
                }

                part = container.Children[n - 1];
            }
            else if (n == 1 && (container.Parent is null || container.Parent.Kind == MimeBodyKind.Message))
            {
                // A single-part message: part 1 is its body.
                part = container;
            }
            else
            {
                return null;
            }

            selected = part;
            container = part.Kind == MimeBodyKind.Message && part.Message is not null ? part.Message : part;
            i = dot < 0 ? spec.Length : dot + 1;
        }

        var rest = spec[i..].ToUpperInvariant();
        if (selected is null)
        {
            if (rest.Length == 0)
            {
                return MimeWriter.ToArray(message.Root);
            }

            return rest == "MIME" ? null : MessageSection(message.Root, rest);
        }

        if (rest.Length == 0)
        {
            return selected.RawBody.ToArray();
        }

        if (rest == "MIME")
        {
            return selected.Source.Span[selected.Start..selected.BodyStart].ToArray();
        }

        // HEADER, TEXT and HEADER.FIELDS of a part address the message inside a message/rfc822 part.
        return selected.Kind == MimeBodyKind.Message && selected.Message is not null ? MessageSection(selected.Message, rest) : null;
    }

    private static byte[]? MessageSection(MimeEntity target, string rest)
    {
        var src = target.Source.Span;
        if (rest == "HEADER")
        {
            return src[target.Start..target.BodyStart].ToArray();
        }

        if (rest == "TEXT")
        {
            return target.RawBody.ToArray();
        }

        if (!rest.StartsWith("HEADER.FIELDS", StringComparison.Ordinal))
        {
            return null;
        }

        var not = rest.StartsWith("HEADER.FIELDS.NOT", StringComparison.Ordinal);
        var open = rest.IndexOf('(', StringComparison.Ordinal);
        var close = rest.LastIndexOf(')');
        if (open < 0 || close < open)
        {
            return null;
        }

        var names = rest[(open + 1)..close].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(n => n.Trim('"')).ToHashSet(StringComparer.OrdinalIgnoreCase);
        using var ms = new MemoryStream();
        foreach (var f in target.Headers)
        {
            if (f.IsField && names.Contains(f.Name) != not)
            {
                ms.Write(f.Raw.Span);
            }
        }

        ms.Write("\r\n"u8);
        return ms.ToArray();
    }

    /// <summary>The &lt;start.length&gt; partial range of a section.</summary>
    public static byte[] Partial(byte[] section, long start, long length)
    {
        if (start >= section.Length || length <= 0)
        {
            return [];
        }

        var take = (int)Math.Min(length, section.Length - start);
        return section.AsSpan((int)start, take).ToArray();
    }
}
