using System.Text;
using Postern.Mime;
using Postern.Protocols.Smtp;

namespace Postern.Delivery.Dsn;

/// <summary>The human-readable first part of a DSN: what happened to each recipient, in plain words, with the remote
/// server's reply quoted as it came. CRLF line breaks; the caller picks the transfer encoding.</summary>
internal static class HumanText
{
    private const int MaxQuotedLine = 900;

    public static string Write(DsnReport report, MimeMessage? original, ReturnedContent? returned, string host, DsnOptions options)
    {
        var sb = new StringBuilder(1024);
        void Line(string text = "") => sb.Append(text).Append("\r\n");

        Line($"This is the {Clean(options.ProductName)} mail system at {host}.");
        Line();
        var recipients = report.Recipients;
        var failed = recipients.Where(r => r.Action == DsnAction.Failed).ToList();
        var delayed = recipients.Where(r => r.Action == DsnAction.Delayed).ToList();
        var delivered = recipients.Where(r => r.Action == DsnAction.Delivered).ToList();
        var relayed = recipients.Where(r => r.Action == DsnAction.Relayed).ToList();
        var expanded = recipients.Where(r => r.Action == DsnAction.Expanded).ToList();
        if (failed.Count > 0)
        {
            Line("Your message could not be delivered to one or more recipients.");
            Line("The errors below are permanent: it will not be tried again for them.");
        }

        if (delayed.Count > 0)
        {
            if (failed.Count > 0)
            {
                Line("For other recipients it is not delivered yet, but still being tried.");
            }
            else
            {
                Line("Your message has not been delivered yet to one or more recipients.");
            }

            Line("Delivery is being retried; you do not need to send it again. You will");
            Line("get another report if it finally fails.");
        }

        if (failed.Count == 0 && delayed.Count == 0)
        {
            Line("This is the delivery report you asked for. Your message reached the");
            Line("recipients below.");
        }

        Line();
        if (original is not null)
        {
            Line("Your message:");
            if (original.Subject is { } subject)
            {
                Line("    Subject:    " + Clip(Clean(subject), 200));
            }

            if (original.Date is { IsValid: true } date)
            {
                Line("    Date:       " + DeliveryStatusNotification.FormatDate(date.Value));
            }

            if (original.MessageId is { } id)
            {
                Line("    Message-ID: <" + Clip(Clean(id), 200) + ">");
            }

            if (report.ArrivalDate is { } arrival)
            {
                Line("    Accepted:   " + DeliveryStatusNotification.FormatDate(arrival));
            }

            Line();
        }

        Section(sb, "Not delivered (permanent failure):", failed);
        Section(sb, delayed.Select(d => d.WillRetryUntil).Max() is { } until
            ? "Delayed (still being tried until " + DeliveryStatusNotification.FormatDate(until) + "):"
            : "Delayed (still being tried):", delayed);
        Section(sb, "Delivered:", delivered);
        Section(sb, "Passed on to a server that sends no delivery reports, so you may hear nothing more:", relayed);
        Section(sb, "Delivered to a mailing list or alias, which passed it on to its members:", expanded);

        if (returned is not null)
        {
            switch (returned.Kind)
            {
                case ReturnedKind.Full:
                    Line("Your message is attached.");
                    break;
                case ReturnedKind.HeadersTooLarge:
                    Line($"Your message ({ReturnedContent.Size(returned.OriginalSize)}) is larger than the {ReturnedContent.Size(options.MaxReturnedMessageBytes)} limit for");
                    Line("returned messages, so only its headers are attached.");
                    break;
                case ReturnedKind.HeadersUnreturnable:
                    Line("Your message could not be returned whole (" + (returned.Problem ?? "it cannot be carried in this report") + "),");
                    Line("so only its headers are attached.");
                    break;
                default:
                    Line("The headers of your message are attached.");
                    break;
            }
        }

        return sb.ToString();
    }

    private static void Section(StringBuilder sb, string title, List<DsnRecipient> recipients)
    {
        if (recipients.Count == 0)
        {
            return;
        }

        sb.Append(title).Append("\r\n\r\n");
        foreach (var r in recipients)
        {
            sb.Append("  <").Append(Clip(Clean(r.FinalRecipient), 300)).Append('>');
            if (!string.IsNullOrEmpty(r.OriginalRecipient) && !string.Equals(r.OriginalRecipient, r.FinalRecipient, StringComparison.OrdinalIgnoreCase))
            {
                sb.Append(" (sent to you as ").Append(Clip(Clean(DsnAddress.DecodeUtf8(r.OriginalRecipient)), 300)).Append(')');
            }

            sb.Append("\r\n");
            var status = DeliveryStatusNotification.StatusFor(r);
            if (r.RemoteReply is { } reply)
            {
                sb.Append("    ").Append(string.IsNullOrWhiteSpace(r.RemoteMta) ? "The remote server" : "The server " + Clip(Clean(r.RemoteMta), 255))
                    .Append(" answered:\r\n");
                var prefix = reply.Code.ToString(System.Globalization.CultureInfo.InvariantCulture) + (reply.Status is { } s ? " " + s : string.Empty) + " ";
                foreach (var line in reply.Lines.Take(20))
                {
                    sb.Append("      ").Append(Clip(prefix + Clean(line), MaxQuotedLine)).Append("\r\n");
                }
            }
            else if (!string.IsNullOrWhiteSpace(r.Diagnostic))
            {
                sb.Append("    ").Append(Clip(Clean(r.Diagnostic), MaxQuotedLine)).Append("\r\n");
            }

            sb.Append("    Status ").Append(status.ToString()).Append(": ").Append(Explain(status)).Append("\r\n");
            if (r.LastAttemptDate is { } last && r.Action is DsnAction.Failed or DsnAction.Delayed)
            {
                sb.Append("    Last attempt: ").Append(DeliveryStatusNotification.FormatDate(last)).Append("\r\n");
            }

            sb.Append("\r\n");
        }
    }

    /// <summary>A short reading of an RFC 3463 enhanced status code.</summary>
    internal static string Explain(EnhancedStatusCode code)
    {
        var specific = (code.Subject, code.Detail) switch
        {
            (1, 1) => "the mailbox does not exist",
            (1, 2) => "the destination domain does not exist or cannot receive mail",
            (1, 3) => "the recipient address is not valid",
            (1, 6) => "the mailbox has moved",
            (1, 10) => "the destination domain accepts no mail (null MX)",
            (2, 1) => "the mailbox is disabled",
            (2, 2) => "the mailbox is full",
            (2, 3) => "the message is too large for the mailbox",
            (3, 4) => "the message is too large for the receiving system",
            (4, 1) => "the receiving server did not answer",
            (4, 2) => "the connection to the receiving server broke",
            (4, 3) => "the destination could not be looked up",
            (4, 4) => "no route to the destination was found",
            (4, 6) => "the message was looping between servers",
            (4, 7) => "the message was too long in the queue",
            (5, 3) => "the message had too many recipients",
            (6, 3) => "the message needed a conversion the path does not support",
            (6, 7) or (6, 9) => "the message needs internationalized mail support the path lacks",
            (7, 1) => "the receiving system refused the message (policy)",
            (7, 10) or (7, 11) => "the message could not be sent securely",
            (7, 26) or (7, 27) => "the message failed the receiving system's authentication checks",
            _ => null,
        };

        if (specific is not null)
        {
            return specific;
        }

        var cls = code.Class switch
        {
            2 => "success",
            4 => "temporary problem",
            _ => "permanent problem",
        };

        var subject = code.Subject switch
        {
            1 => "with the address",
            2 => "with the mailbox",
            3 => "with the receiving mail system",
            4 => "with the network or routing",
            5 => "in the mail protocol",
            6 => "with the message content",
            7 => "with security or policy",
            _ => string.Empty,
        };

        return code.Class == 2 ? "delivered" : (cls + " " + subject).TrimEnd();
    }

    private static string Clean(string s) => DeliveryStatusNotification.Clean(s, eai: true).Trim();

    private static string Clip(string s, int max) => s.Length <= max ? s : s[..max] + "...";
}
