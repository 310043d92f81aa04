using System.Globalization;
using System.Text;
using Postern.Mime.Headers;

namespace Postern.Mime.Writing;

/// <summary>A file to attach (or, for <see cref="MessageBuilder.InlineImages"/>, to show inline by Content-ID).</summary>
public sealed record MimeAttachment(string FileName, string MediaType, ReadOnlyMemory<byte> Content, string? ContentId = null);

/// <summary>Composes a message: text and HTML alternatives, inline images, attachments and forwarded messages.
/// Folds at 78, encodes only where needed, and makes boundaries that cannot occur in the encoded content.</summary>
public sealed class MessageBuilder
{
    private int _boundaryCounter;

    /// <summary>Clock for the default Date.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Randomness for boundaries and the default Message-ID.</summary>
    public Random Random { get; init; } = Random.Shared;

    /// <summary>Line break to write ("\r\n" for the wire).</summary>
    public string NewLine { get; init; } = "\r\n";

    public List<MailboxAddress> From { get; } = [];

    public MailboxAddress? Sender { get; set; }

    public List<MailboxAddress> ReplyTo { get; } = [];

    public List<MailboxAddress> To { get; } = [];

    public List<MailboxAddress> Cc { get; } = [];

    public List<MailboxAddress> Bcc { get; } = [];

    public string? Subject { get; set; }

    /// <summary>The date; the clock's now when null.</summary>
    public DateTimeOffset? Date { get; set; }

    /// <summary>The Message-ID without brackets; generated when null.</summary>
    public string? MessageId { get; set; }

    public List<string> InReplyTo { get; } = [];

    public List<string> References { get; } = [];

    /// <summary>Extra header fields, written after the standard ones.</summary>
    public List<KeyValuePair<string, string>> Headers { get; } = [];

    public string? TextBody { get; set; }

    public string? HtmlBody { get; set; }

    public List<MimeAttachment> InlineImages { get; } = [];

    public List<MimeAttachment> Attachments { get; } = [];

    /// <summary>Messages attached as message/rfc822, as their raw bytes.</summary>
    public List<ReadOnlyMemory<byte>> ForwardedMessages { get; } = [];

    /// <summary>Builds the message bytes.</summary>
    public byte[] ToBytes()
    {
        var sb = new StringBuilder();
        var nl = NewLine;
        var date = Date ?? Time.GetUtcNow();
        Field(sb, "Date", date.ToString("ddd, d MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture) + date.ToString("zzz", CultureInfo.InvariantCulture).Replace(":", string.Empty, StringComparison.Ordinal));
        AddressField(sb, "From", From);
        if (Sender is not null)
        {
            AddressField(sb, "Sender", [Sender]);
        }

        AddressField(sb, "Reply-To", ReplyTo);
        AddressField(sb, "To", To);
        AddressField(sb, "Cc", Cc);
        AddressField(sb, "Bcc", Bcc);
        if (Subject is not null)
        {
            sb.Append(Encoding.UTF8.GetString(HeaderEncoder.EncodeField("Subject", Subject, nl)));
        }

        var domain = From.FirstOrDefault()?.DomainAscii ?? "localhost";
        Field(sb, "Message-ID", "<" + (MessageId ?? RandomToken(20) + "@" + domain) + ">");
        if (InReplyTo.Count > 0)
        {
            Field(sb, "In-Reply-To", string.Join(' ', InReplyTo.Select(i => "<" + i + ">")));
        }

        if (References.Count > 0)
        {
            Field(sb, "References", string.Join(' ', References.Select(i => "<" + i + ">")));
        }

        Field(sb, "MIME-Version", "1.0");
        foreach (var h in Headers)
        {
            sb.Append(Encoding.UTF8.GetString(HeaderEncoder.EncodeField(h.Key, h.Value, nl)));
        }

        var head = Encoding.UTF8.GetBytes(sb.ToString());
        using var ms = new MemoryStream();
        ms.Write(head);
        WriteBody(ms);
        return ms.ToArray();
    }

    /// <summary>Builds and parses the message.</summary>
    public MimeMessage Build() => MimeParser.Parse(ToBytes());

    private void WriteBody(MemoryStream ms)
    {
        Action<MemoryStream> body;
        if (TextBody is not null && HtmlBody is not null)
        {
            body = s => Multipart(s, "alternative", [t => TextPart(t, "plain", TextBody), t => TextPart(t, "html", HtmlBody)]);
        }
        else if (HtmlBody is not null)
        {
            body = s => TextPart(s, "html", HtmlBody);
        }
        else
        {
            body = s => TextPart(s, "plain", TextBody ?? string.Empty);
        }

        if (InlineImages.Count > 0)
        {
            var inner = body;
            body = s => Multipart(s, "related", [inner, .. InlineImages.Select(i => (Action<MemoryStream>)(t => FilePart(t, i, inline: true)))]);
        }

        if (Attachments.Count > 0 || ForwardedMessages.Count > 0)
        {
            var inner = body;
            body = s => Multipart(s, "mixed", [
                inner,
                .. Attachments.Select(a => (Action<MemoryStream>)(t => FilePart(t, a, inline: false))),
                .. ForwardedMessages.Select(m => (Action<MemoryStream>)(t => MessagePart(t, m))),
            ]);
        }

        body(ms);
    }

    private void Multipart(MemoryStream ms, string subtype, IReadOnlyList<Action<MemoryStream>> parts)
    {
        var boundary = "=_Postern_" + RandomToken(16) + "_" + (++_boundaryCounter).ToString(CultureInfo.InvariantCulture);
        var nl = NewLine;
        Write(ms, Encoding.UTF8.GetString(HeaderEncoder.EncodeField("Content-Type", $"multipart/{subtype}; boundary=\"{boundary}\"", nl)) + nl);
        foreach (var p in parts)
        {
            Write(ms, "--" + boundary + nl);
            p(ms);
            Write(ms, nl);
        }

        Write(ms, "--" + boundary + "--" + nl);
    }

    private void TextPart(MemoryStream ms, string subtype, string text)
    {
        var nl = NewLine;
        var bytes = Encoding.UTF8.GetBytes(NormaliseNewLines(text));
        var plain = bytes.All(b => b < 128) && MaxLineLength(bytes) <= 998;
        Write(ms, $"Content-Type: text/{subtype}; charset={(plain ? "us-ascii" : "utf-8")}{nl}");
        Write(ms, $"Content-Transfer-Encoding: {(plain ? "7bit" : "quoted-printable")}{nl}{nl}");
        ms.Write(plain ? bytes : QuotedPrintableEncoder.Encode(bytes, nl));
    }

    private void FilePart(MemoryStream ms, MimeAttachment file, bool inline)
    {
        var nl = NewLine;
        var ct = file.MediaType + "; " + string.Join("; ", HeaderEncoder.EncodeParameter("name", file.FileName));
        Write(ms, Encoding.UTF8.GetString(HeaderEncoder.EncodeField("Content-Type", ct, nl)));
        var cd = (inline ? "inline" : "attachment") + "; " + string.Join("; ", HeaderEncoder.EncodeParameter("filename", file.FileName));
        Write(ms, Encoding.UTF8.GetString(HeaderEncoder.EncodeField("Content-Disposition", cd, nl)));
        if (file.ContentId is not null)
        {
            Write(ms, Encoding.UTF8.GetString(HeaderEncoder.EncodeField("Content-ID", "<" + file.ContentId + ">", nl)));
        }

        Write(ms, "Content-Transfer-Encoding: base64" + nl + nl);
        var b64 = Convert.ToBase64String(file.Content.Span);
        for (var i = 0; i < b64.Length; i += 76)
        {
            Write(ms, b64.Substring(i, Math.Min(76, b64.Length - i)));
            if (i + 76 < b64.Length)
            {
                Write(ms, nl);
            }
        }
    }

    private void MessagePart(MemoryStream ms, ReadOnlyMemory<byte> message)
    {
        var nl = NewLine;
        var span = message.Span;
        var eightBit = !System.Text.Ascii.IsValid(span);
        Write(ms, "Content-Type: message/rfc822" + nl + "Content-Disposition: attachment" + nl);
        Write(ms, "Content-Transfer-Encoding: " + (eightBit ? "8bit" : "7bit") + nl + nl);
        ms.Write(span);
    }

    private void Field(StringBuilder sb, string name, string value) =>
        sb.Append(Encoding.UTF8.GetString(HeaderEncoder.EncodeField(name, value, NewLine)));

    private void AddressField(StringBuilder sb, string name, IReadOnlyList<MailboxAddress> list)
    {
        if (list.Count == 0)
        {
            return;
        }

        Field(sb, name, string.Join(", ", list.Select(FormatAddress)));
    }

    /// <summary>"Name &lt;local@domain&gt;" with the name encoded as needed and the domain in A-labels.</summary>
    public static string FormatAddress(MailboxAddress m)
    {
        var addr = m.LocalPart + (m.Domain is null ? string.Empty : "@" + m.DomainAscii);
        return string.IsNullOrEmpty(m.Name) ? "<" + addr + ">" : HeaderEncoder.EncodePhrase(m.Name) + " <" + addr + ">";
    }

    private string RandomToken(int length)
    {
        const string chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        var c = new char[length];
        for (var i = 0; i < length; i++)
        {
            c[i] = chars[Random.Next(chars.Length)];
        }

        return new string(c);
    }

    private string NormaliseNewLines(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", NewLine, StringComparison.Ordinal);

    private static int MaxLineLength(byte[] bytes)
    {
        var max = 0;
        var run = 0;
        foreach (var b in bytes)
        {
            if (b == '\n')
            {
                max = Math.Max(max, run);
                run = 0;
            }
            else
            {
                run++;
            }
        }

        return Math.Max(max, run);
    }

    private static void Write(MemoryStream ms, string s) => ms.Write(Encoding.UTF8.GetBytes(s));
}

/// <summary>Quoted-printable body encoding: lines at most 76 characters, soft breaks, trailing white space encoded.</summary>
public static class QuotedPrintableEncoder
{
    public static byte[] Encode(ReadOnlySpan<byte> input, string newline = "\r\n")
    {
        var sb = new StringBuilder(input.Length * 2);
        var line = 0;
        for (var i = 0; i < input.Length; i++)
        {
            var b = input[i];
            if (b == '\r' && i + 1 < input.Length && input[i + 1] == '\n')
            {
                sb.Append(newline);
                line = 0;
                i++;
                continue;
            }

            if (b == '\n')
            {
                sb.Append(newline);
                line = 0;
                continue;
            }

            var atLineEnd = i + 1 >= input.Length || input[i + 1] is (byte)'\r' or (byte)'\n';
            var literal = (b is >= 33 and <= 126 && b != '=') || (b is (byte)' ' or (byte)'\t' && !atLineEnd);
            var token = literal ? ((char)b).ToString() : "=" + b.ToString("X2", CultureInfo.InvariantCulture);
            if (line + token.Length > 75)
            {
                sb.Append('=').Append(newline);
                line = 0;
            }

            sb.Append(token);
            line += token.Length;
        }

        return Encoding.ASCII.GetBytes(sb.ToString());
    }
}
