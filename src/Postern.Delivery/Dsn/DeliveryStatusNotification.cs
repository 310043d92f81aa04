using System.Globalization;
using System.Text;
using Postern.Delivery.Downgrade;
using Postern.Mime;
using Postern.Mime.Writing;
using Postern.Protocols.Smtp;
using DsnReturn = Postern.Core.Storage.Queue.DsnReturn;

namespace Postern.Delivery.Dsn;

/// <summary>
/// Builds RFC 3464 delivery status notifications: a <c>multipart/report; report-type=delivery-status</c> with a
/// human-readable explanation, the machine-readable <c>message/delivery-status</c> and the returned headers
/// (<c>text/rfc822-headers</c>) or, for RET=FULL within <see cref="DsnOptions.MaxReturnedMessageBytes"/>, the whole
/// message (<c>message/rfc822</c>). For SMTPUTF8 originals the RFC 6533 types are used (message/global-delivery-status,
/// message/global-headers, message/global). The result has CRLF line breaks, lines of at most 998 octets, and is
/// 7-bit clean unless the original was SMTPUTF8. It is sent with the null reverse-path (<c>MAIL FROM:&lt;&gt;</c>).
/// </summary>
public static class DeliveryStatusNotification
{
    private const string Crlf = "\r\n";
    private const int MaxDiagnosticChars = 2000;
    private const int MaxReplyLines = 20;

    private static readonly DsnOptions DefaultOptions = new();

    /// <summary>
    /// The DSN for <paramref name="report"/>, or null when none may be sent: the envelope sender is the null
    /// reverse-path (empty) or not an address we can write (a bounce is never sent for a bounce, so bounces cannot
    /// loop; RFC 5321 §6.1), or there is no recipient to report on.
    /// </summary>
    public static byte[]? Build(DsnReport report, DsnOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        options ??= DefaultOptions;
        var sender = report.EnvelopeSender?.Trim() ?? string.Empty;
        if (!IsUsableSender(sender) || report.Recipients is not { Count: > 0 })
        {
            return null;
        }

        var host = AsciiHost(report.ReportingMta);
        var eai = report.SmtpUtf8 || !Ascii(sender) || report.Recipients.Any(r => !Ascii(r.FinalRecipient));
        var original = report.OriginalMessage.IsEmpty ? null : ParseOriginal(report.OriginalMessage);
        var returned = ReturnedContent.Choose(report, original, eai, options);

        var human = HumanText.Write(report, original, returned, host, options);
        var humanBytes = Encoding.UTF8.GetBytes(human);
        var humanClean = EightBitDowngrade.IsSevenBitClean(humanBytes);
        var statusBody = Encoding.UTF8.GetBytes(StatusFields(report, sender, eai, host));

        var now = options.Time.GetUtcNow();
        var messageId = now.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "." + RandomToken(options.Random, 16) + "@" + host;
        var boundary = ChooseBoundary(options.Random, humanBytes, statusBody, returned?.Body ?? []);

        var head = new StringBuilder(1024);
        Field(head, "Date", FormatDate(now));
        Field(head, "From", HeaderEncoder.EncodePhrase(Clean(options.DisplayName, eai: false)) + " <MAILER-DAEMON@" + host + ">");
        Field(head, "To", "<" + AddrSpec(sender) + ">");
        Field(head, "Subject", SubjectFor(report.Recipients));
        Field(head, "Message-ID", "<" + messageId + ">");
        var references = References(original, eai);
        if (references.Count > 0)
        {
            Field(head, "In-Reply-To", "<" + references[^1] + ">");
            Field(head, "References", string.Join(' ', references.Select(r => "<" + r + ">")));
        }

        Field(head, "Auto-Submitted", "auto-replied");
        Field(head, "MIME-Version", "1.0");
        Field(head, "Content-Type", "multipart/report; report-type=delivery-status; boundary=\"" + boundary + "\"");
        head.Append(Crlf).Append("This is a delivery status notification in MIME format (RFC 3464).").Append(Crlf);

        using var ms = new MemoryStream(humanBytes.Length + statusBody.Length + (returned?.Body.Length ?? 0) + 2048);
        Write(ms, head.ToString());

        Write(ms, Crlf + "--" + boundary + Crlf);
        Write(ms, "Content-Description: Notification" + Crlf);
        if (humanClean)
        {
            Write(ms, "Content-Type: text/plain; charset=us-ascii" + Crlf + Crlf);
            ms.Write(humanBytes);
        }
        else
        {
            Write(ms, "Content-Type: text/plain; charset=utf-8" + Crlf + "Content-Transfer-Encoding: quoted-printable" + Crlf + Crlf);
            ms.Write(SevenBitEncoder.QuotedPrintable(humanBytes));
        }

        Write(ms, Crlf + "--" + boundary + Crlf);
        Write(ms, "Content-Description: Delivery report" + Crlf);
        if (eai)
        {
            Write(ms, "Content-Type: message/global-delivery-status" + Crlf);
            if (!Ascii(statusBody))
            {
                Write(ms, "Content-Transfer-Encoding: 8bit" + Crlf);
            }
        }
        else
        {
            Write(ms, "Content-Type: message/delivery-status" + Crlf);
        }

        Write(ms, Crlf);
        ms.Write(statusBody);

        if (returned is not null)
        {
            Write(ms, Crlf + "--" + boundary + Crlf);
            Write(ms, "Content-Description: " + returned.Description + Crlf);
            Write(ms, "Content-Type: " + returned.ContentType + Crlf);
            if (returned.TransferEncoding is not null)
            {
                Write(ms, "Content-Transfer-Encoding: " + returned.TransferEncoding + Crlf);
            }

            Write(ms, Crlf);
            ms.Write(returned.Body);
        }

        Write(ms, Crlf + "--" + boundary + "--" + Crlf);
        return ms.ToArray();
    }

    /// <summary>The enhanced status reported for a recipient: its own, else the remote reply's (when its class agrees
    /// with the reply code), else X.0.0 from the reply code, else X.0.0 from the action.</summary>
    public static EnhancedStatusCode StatusFor(DsnRecipient recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        if (recipient.Status is { } given)
        {
            return given;
        }

        if (recipient.RemoteReply is { } reply)
        {
            var cls = reply.Code / 100;
            if (reply.Status is { } s && s.Class == cls)
            {
                return s;
            }

            if (cls is 2 or 4 or 5)
            {
                return new EnhancedStatusCode(cls, 0, 0);
            }
        }

        return recipient.Action switch
        {
            DsnAction.Failed => new EnhancedStatusCode(5, 0, 0),
            DsnAction.Delayed => new EnhancedStatusCode(4, 0, 0),
            _ => new EnhancedStatusCode(2, 0, 0),
        };
    }

    /// <summary>The Subject for a DSN reporting these recipients: a failure wins over a delay, a delay over success.</summary>
    public static string SubjectFor(IReadOnlyList<DsnRecipient> recipients)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Any(r => r.Action == DsnAction.Failed))
        {
            return "Undelivered Mail Returned to Sender";
        }

        return recipients.Any(r => r.Action == DsnAction.Delayed)
            ? "Delayed Mail (still being retried)"
            : "Successful Mail Delivery Report";
    }

    /// <summary>The RFC 3464 Action keyword.</summary>
    public static string ActionKeyword(DsnAction action) => action switch
    {
        DsnAction.Failed => "failed",
        DsnAction.Delayed => "delayed",
        DsnAction.Delivered => "delivered",
        DsnAction.Relayed => "relayed",
        DsnAction.Expanded => "expanded",
        _ => "failed",
    };

    /// <summary>The per-message group, a blank line, and one group per recipient (RFC 3464 §2.2, §2.3).</summary>
    private static string StatusFields(DsnReport report, string sender, bool eai, string host)
    {
        var sb = new StringBuilder(512);
        if (!string.IsNullOrEmpty(report.EnvelopeId))
        {
            StatusField(sb, "Original-Envelope-Id", report.EnvelopeId, eai);
        }

        StatusField(sb, "Reporting-MTA", "dns; " + host, eai);
        if (report.ArrivalDate is { } arrival)
        {
            StatusField(sb, "Arrival-Date", FormatDate(arrival), eai);
        }

        if (!string.IsNullOrEmpty(report.QueueId))
        {
            StatusField(sb, "X-Postern-Queue-ID", report.QueueId, eai);
        }

        StatusField(sb, "X-Postern-Sender", TypedAddress(sender, eai), eai);
        foreach (var r in report.Recipients)
        {
            sb.Append(Crlf);
            if (!string.IsNullOrEmpty(r.OriginalRecipient))
            {
                StatusField(sb, "Original-Recipient", OriginalRecipient(r, eai), eai);
            }

            StatusField(sb, "Final-Recipient", TypedAddress(r.FinalRecipient, eai), eai);
            StatusField(sb, "Action", ActionKeyword(r.Action), eai);
            StatusField(sb, "Status", StatusFor(r).ToString(), eai);
            if (!string.IsNullOrWhiteSpace(r.RemoteMta))
            {
                StatusField(sb, "Remote-MTA", "dns; " + AsciiHost(r.RemoteMta), eai);
            }

            if (DiagnosticCode(r) is { } diagnostic)
            {
                StatusField(sb, "Diagnostic-Code", diagnostic, eai);
            }

            if (r.LastAttemptDate is { } last)
            {
                StatusField(sb, "Last-Attempt-Date", FormatDate(last), eai);
            }

            if (r.Action == DsnAction.Delayed && r.WillRetryUntil is { } until)
            {
                StatusField(sb, "Will-Retry-Until", FormatDate(until), eai);
            }
        }

        return sb.ToString();
    }

    /// <summary>"smtp; 550 5.1.1 text" from the remote reply (all lines joined), else "X-Postern; our reason".</summary>
    private static string? DiagnosticCode(DsnRecipient r)
    {
        string? text = null;
        if (r.RemoteReply is { } reply)
        {
            var code = reply.Code.ToString(CultureInfo.InvariantCulture);
            var status = reply.Status is { } s ? " " + s : string.Empty;
            text = "smtp; " + code + status + " " + string.Join(' ', reply.Lines.Take(MaxReplyLines).Select(l => l.Trim()));
        }
        else if (!string.IsNullOrWhiteSpace(r.Diagnostic))
        {
            text = "X-Postern; " + r.Diagnostic.Trim();
        }

        return text is null ? null : text.Length > MaxDiagnosticChars ? text[..MaxDiagnosticChars] + "..." : text.TrimEnd();
    }

    /// <summary>"rfc822; addr" for ASCII, "utf-8; ..." (RFC 6533) otherwise.</summary>
    internal static string TypedAddress(string address, bool eai)
    {
        address = address.Trim();
        if (Ascii(address))
        {
            return "rfc822; " + address;
        }

        return "utf-8; " + (eai ? DsnAddress.EncodeUtf8Unitext(address) : DsnAddress.EncodeUtf8Xtext(address));
    }

    private static string OriginalRecipient(DsnRecipient r, bool eai)
    {
        var value = r.OriginalRecipient!.Trim();
        var type = new string(r.OriginalRecipientType.Where(c => c is > ' ' and < (char)127 and not ';').ToArray());
        if (type.Length == 0)
        {
            type = "rfc822";
        }

        if (string.Equals(type, "utf-8", StringComparison.OrdinalIgnoreCase))
        {
            var decoded = DsnAddress.DecodeUtf8(value);
            return "utf-8; " + (eai ? DsnAddress.EncodeUtf8Unitext(decoded) : DsnAddress.EncodeUtf8Xtext(decoded));
        }

        return Ascii(value) ? type + "; " + value : TypedAddress(value, eai);
    }

    /// <summary>One field of the delivery-status body, sanitised (no control characters; non-ASCII only when
    /// <paramref name="eai"/>) and folded at 78 with no line past 998 octets.</summary>
    private static void StatusField(StringBuilder sb, string name, string value, bool eai)
    {
        var tokens = new List<string>();
        foreach (var word in Clean(value, eai).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            // A word longer than a line allows is cut into pieces (only diagnostic text can have one).
            for (var at = 0; at < word.Length; at += 200)
            {
                tokens.Add(word.Substring(at, Math.Min(200, word.Length - at)));
            }
        }

        sb.Append(HeaderEncoder.Fold(name + ":", tokens, Crlf));
    }

    /// <summary>Control characters become spaces; without <paramref name="eai"/> non-ASCII becomes '?'.</summary>
    internal static string Clean(string value, bool eai)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var rune in value.EnumerateRunes())
        {
            if (rune.Value < 32 || rune.Value == 127 || (rune.Value is >= 0x80 and < 0xA0))
            {
                sb.Append(' ');
            }
            else if (rune.Value >= 0x80 && !eai)
            {
                sb.Append('?');
            }
            else
            {
                sb.Append(rune.ToString());
            }
        }

        return sb.ToString();
    }

    /// <summary>The original, parsed for its header fields. A bare CR in the header block (which the parser does not
    /// take as a line break) would glue two fields together, so such a header block is read again with CRLF.</summary>
    private static MimeMessage ParseOriginal(ReadOnlyMemory<byte> raw)
    {
        var parsed = MimeParser.Parse(raw);
        var head = raw.Span[..parsed.Root.HeaderEnd];
        for (var i = 0; i < head.Length; i++)
        {
            if (head[i] == '\r' && (i + 1 >= head.Length || head[i + 1] != '\n'))
            {
                return MimeParser.Parse((byte[])[.. ReturnedContent.ToCrlf(head), (byte)'\r', (byte)'\n']);
            }
        }

        return parsed;
    }

    /// <summary>The original's References and Message-ID (at most 10 ids, each short enough to fold).</summary>
    private static List<string> References(MimeMessage? original, bool eai)
    {
        var ids = new List<string>();
        if (original?.MessageId is not { } id || !UsableId(id, eai))
        {
            return ids;
        }

        ids.AddRange(original.References.Where(r => UsableId(r, eai)).TakeLast(9));
        ids.Add(id);
        return ids;
    }

    private static bool UsableId(string id, bool eai) =>
        id.Length is > 0 and <= 250 && id.All(c => c > ' ' && c != '<' && c != '>' && c != 127 && (eai || c < 127));

    /// <summary>Not the null sender, and nothing a header or the SMTP envelope could not carry.</summary>
    private static bool IsUsableSender(string sender) =>
        sender.Length is > 0 and <= 512 && sender != "<>" && !sender.Any(c => char.IsControl(c) || c is '<' or '>');

    /// <summary>local@domain with the local part quoted when it is not a dot-atom.</summary>
    private static string AddrSpec(string address)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0)
        {
            return address;
        }

        var local = address[..at];
        var domain = address[(at + 1)..];
        var dotAtom = local.Split('.').All(a => a.Length > 0 && a.All(c => c >= 0x80 || char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~".Contains(c, StringComparison.Ordinal)));
        if (dotAtom || (local.Length > 1 && local[0] == '"' && local[^1] == '"'))
        {
            return local + "@" + domain;
        }

        return "\"" + local.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"@" + domain;
    }

    /// <summary>The host name in A-labels, or the input with anything unsafe replaced when it is not a domain name.</summary>
    internal static string AsciiHost(string host)
    {
        var h = (host ?? string.Empty).Trim().TrimEnd('.');
        if (h.Length == 0)
        {
            return "localhost";
        }

        if (!Ascii(h))
        {
            try
            {
                h = new IdnMapping().GetAscii(h);
            }
            catch (ArgumentException)
            {
                // Not a name IDNA can map: fall through to the filter below.
            }
        }

        return new string(h.Where(c => c is > ' ' and < (char)127 && c != ';').Take(255).ToArray());
    }

    /// <summary>An RFC 5322 date-time, e.g. "Sun, 1 Mar 2026 12:00:00 +0000".</summary>
    internal static string FormatDate(DateTimeOffset date) =>
        date.ToString("ddd, d MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture) +
        (date.Offset < TimeSpan.Zero ? "-" : "+") + date.Offset.Duration().ToString("hhmm", CultureInfo.InvariantCulture);

    private static string ChooseBoundary(Random random, params byte[][] parts)
    {
        // 24 random characters will not be in the content; the loop is only there to make sure of it.
        var boundary = string.Empty;
        for (var attempt = 0; attempt < 16; attempt++)
        {
            boundary = "=_postern_dsn_" + RandomToken(random, 24);
            var marker = Encoding.ASCII.GetBytes("--" + boundary);
            if (parts.All(p => p.AsSpan().IndexOf(marker) < 0))
            {
                break;
            }
        }

        return boundary;
    }

    private static string RandomToken(Random random, int length)
    {
        const string chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        var c = new char[length];
        for (var i = 0; i < length; i++)
        {
            c[i] = chars[random.Next(chars.Length)];
        }

        return new string(c);
    }

    private static void Field(StringBuilder sb, string name, string value) =>
        sb.Append(Encoding.UTF8.GetString(HeaderEncoder.EncodeField(name, value, Crlf)));

    private static void Write(MemoryStream ms, string s) => ms.Write(Encoding.UTF8.GetBytes(s));

    internal static bool Ascii(string s) => System.Text.Ascii.IsValid(s);

    internal static bool Ascii(ReadOnlySpan<byte> s) => System.Text.Ascii.IsValid(s);

    /// <summary>True when <paramref name="r"/> asks for the whole message back.</summary>
    internal static bool WantsFull(DsnReport r) => r.Return == DsnReturn.Full;
}
