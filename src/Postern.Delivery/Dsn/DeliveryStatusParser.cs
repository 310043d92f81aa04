using System.Text;
using Postern.Mime;
using Postern.Mime.Headers;
using Postern.Protocols.Smtp;

namespace Postern.Delivery.Dsn;

/// <summary>One field of a delivery-status group, unfolded.</summary>
public sealed record DsnField(string Name, string Value);

/// <summary>A group of delivery-status fields with lookup by name (case-insensitive, first one wins).</summary>
public abstract record DsnFieldGroup(IReadOnlyList<DsnField> Fields)
{
    /// <summary>The value of the first field with this name, or null.</summary>
    public string? this[string name] => Fields.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))?.Value;

    /// <summary>"type; value" split at the first ';' (type lower-cased); a value without one has type null.</summary>
    internal static (string? Type, string? Value) Typed(string? field)
    {
        if (field is null)
        {
            return (null, null);
        }

        var semi = field.IndexOf(';', StringComparison.Ordinal);
        return semi < 0
            ? (null, field.Trim())
            : (field[..semi].Trim().ToLowerInvariant(), field[(semi + 1)..].Trim());
    }

    internal static DateTimeOffset? Date(string? value) => DateParser.Parse(value) is { IsValid: true } d ? d.Value : null;
}

/// <summary>The per-message fields of a delivery-status report (RFC 3464 §2.2).</summary>
public sealed record DeliveryStatusMessage(IReadOnlyList<DsnField> Fields) : DsnFieldGroup(Fields)
{
    /// <summary>The Reporting-MTA name (after "dns;").</summary>
    public string? ReportingMta => Typed(this["Reporting-MTA"]).Value;

    /// <summary>The original ENVID, as printed.</summary>
    public string? OriginalEnvelopeId => this["Original-Envelope-Id"]?.Trim();

    public string? ReceivedFromMta => Typed(this["Received-From-MTA"]).Value;

    public DateTimeOffset? ArrivalDate => Date(this["Arrival-Date"]);
}

/// <summary>The fields of one recipient of a delivery-status report (RFC 3464 §2.3), with the values decoded.</summary>
public sealed record DeliveryStatusRecipient(IReadOnlyList<DsnField> Fields) : DsnFieldGroup(Fields)
{
    /// <summary>The address type of Final-Recipient ("rfc822", "utf-8", ...), lower-cased.</summary>
    public string? FinalRecipientType => Typed(this["Final-Recipient"]).Type;

    /// <summary>The Final-Recipient address (a utf-8 address decoded from its RFC 6533 form; angle brackets removed).</summary>
    public string? FinalRecipient => Address(this["Final-Recipient"]);

    public string? OriginalRecipientType => Typed(this["Original-Recipient"]).Type;

    public string? OriginalRecipient => Address(this["Original-Recipient"]);

    /// <summary>The Action keyword as written, lower-cased.</summary>
    public string? ActionText => this["Action"]?.Trim().Split([' ', '\t', '('], 2)[0].ToLowerInvariant();

    /// <summary>The Action, or null when it is missing or not one of the five RFC 3464 keywords.</summary>
    public DsnAction? Action => ActionText switch
    {
        "failed" => DsnAction.Failed,
        "delayed" => DsnAction.Delayed,
        "delivered" => DsnAction.Delivered,
        "relayed" => DsnAction.Relayed,
        "expanded" => DsnAction.Expanded,
        _ => null,
    };

    /// <summary>The Status code, or null when it is missing or unreadable.</summary>
    public EnhancedStatusCode? Status
    {
        get
        {
            var v = this["Status"]?.Trim();
            if (string.IsNullOrEmpty(v))
            {
                return null;
            }

            var token = v.Split([' ', '\t', '('], 2)[0];
            return token.Length <= 11 && EnhancedStatusCode.TryParse(token, out var code) ? code : null;
        }
    }

    /// <summary>The Remote-MTA name (after "dns;").</summary>
    public string? RemoteMta => Typed(this["Remote-MTA"]).Value;

    /// <summary>The Diagnostic-Code type ("smtp", "x-postfix", ...), lower-cased.</summary>
    public string? DiagnosticType => Typed(this["Diagnostic-Code"]).Type;

    /// <summary>The Diagnostic-Code text after its type.</summary>
    public string? Diagnostic => Typed(this["Diagnostic-Code"]).Value;

    public DateTimeOffset? LastAttemptDate => Date(this["Last-Attempt-Date"]);

    public DateTimeOffset? WillRetryUntil => Date(this["Will-Retry-Until"]);

    private static string? Address(string? field)
    {
        var (type, value) = Typed(field);
        if (value is null)
        {
            return null;
        }

        if (value.Length > 1 && value[0] == '<' && value[^1] == '>')
        {
            value = value[1..^1].Trim();
        }

        return type == "utf-8" ? DsnAddress.DecodeUtf8(value) : value;
    }
}

/// <summary>The content of a message/delivery-status (or message/global-delivery-status) part.</summary>
public sealed record DeliveryStatus(DeliveryStatusMessage PerMessage, IReadOnlyList<DeliveryStatusRecipient> Recipients);

/// <summary>A whole DSN: the report, the human-readable text and what it says about the returned message.</summary>
/// <param name="Status">The machine-readable report.</param>
/// <param name="IsGlobal">True for message/global-delivery-status (RFC 6533).</param>
/// <param name="HumanReadableText">The first part's text, when it is text.</param>
/// <param name="ReturnedContentType">The media type of the returned content (text/rfc822-headers, message/rfc822, ...), or null.</param>
/// <param name="ReturnedMessageId">The Message-ID in the returned headers or message, or null.</param>
public sealed record DeliveryReport(DeliveryStatus Status, bool IsGlobal, string? HumanReadableText, string? ReturnedContentType, string? ReturnedMessageId);

/// <summary>
/// Reads delivery status notifications: the fields of a delivery-status part into per-message and per-recipient
/// groups, and whole messages (the multipart/report, wherever it is nested). Tolerant of what other MTAs send:
/// LF or CRLF, folding, missing per-message groups, extra blank lines, comments, transfer-encoded parts, 8-bit
/// bytes. Bounded by <see cref="MaxBytes"/>, <see cref="MaxGroups"/> and <see cref="MaxFieldsPerGroup"/>; never throws.
/// </summary>
public static class DeliveryStatusParser
{
    /// <summary>Bytes of a delivery-status part that are read; the rest is ignored.</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <summary>Most recipient groups read.</summary>
    public const int MaxGroups = 1000;

    /// <summary>Most fields kept in one group.</summary>
    public const int MaxFieldsPerGroup = 100;

    /// <summary>Longest field value kept, in characters.</summary>
    public const int MaxValueChars = 8192;

    private static readonly string[] RecipientMarkers = ["Final-Recipient", "Original-Recipient", "Action", "Status"];

    /// <summary>Parses the content (transfer decoding already undone) of a delivery-status part.</summary>
    public static DeliveryStatus ParseFields(ReadOnlySpan<byte> content)
    {
        if (content.Length > MaxBytes)
        {
            content = content[..MaxBytes];
        }

        var groups = new List<List<DsnField>>();
        List<DsnField>? current = null;
        string? name = null;
        StringBuilder? value = null;

        void EndField()
        {
            if (name is not null && current is not null && current.Count < MaxFieldsPerGroup)
            {
                current.Add(new DsnField(name, value!.ToString().Trim()));
            }

            name = null;
            value = null;
        }

        foreach (var range in content.Split((byte)'\n'))
        {
            // Line by line: one line that is not UTF-8 must not spoil the others (Postfix quotes an 8-bit local part
            // in X-Postfix-Sender with a backslash before each byte, which breaks its UTF-8 sequences).
            var bytes = content[range];
            var line = (System.Text.Unicode.Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : Encoding.Latin1.GetString(bytes)).TrimEnd('\r');
            if (line.Trim().Length == 0)
            {
                EndField();
                current = null;
                continue;
            }

            if (line[0] is ' ' or '\t')
            {
                // A continuation of the field before (a stray one at the start of a group is dropped).
                if (name is not null && value!.Length < MaxValueChars)
                {
                    value.Append(' ').Append(line.AsSpan().Trim());
                    if (value.Length > MaxValueChars)
                    {
                        value.Length = MaxValueChars;
                    }
                }

                continue;
            }

            EndField();
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var fieldName = colon <= 0 ? [] : line.AsSpan(0, colon).Trim();
            if (fieldName.Length == 0 || fieldName.ContainsAny(' ', '\t'))
            {
                // Not a field: junk between groups is skipped.
                continue;
            }

            if (current is null)
            {
                if (groups.Count > MaxGroups)
                {
                    break;
                }

                current = [];
                groups.Add(current);
            }

            name = fieldName.ToString();
            value = new StringBuilder(line.Length - colon);
            var rest = line.AsSpan(colon + 1).Trim();
            value.Append(rest.Length > MaxValueChars ? rest[..MaxValueChars] : rest);
        }

        EndField();
        groups.RemoveAll(g => g.Count == 0);

        // The first group is the per-message one, unless the sender left it out and began with a recipient.
        var perMessage = groups.Count > 0 && !IsRecipient(groups[0]) ? groups[0] : [];
        var recipients = groups.Skip(perMessage.Count > 0 ? 1 : 0).Where(IsRecipient).Take(MaxGroups)
            .Select(g => new DeliveryStatusRecipient(g)).ToList();
        return new DeliveryStatus(new DeliveryStatusMessage(perMessage), recipients);
    }

    private static bool IsRecipient(List<DsnField> group) =>
        group.Any(f => RecipientMarkers.Any(m => string.Equals(f.Name, m, StringComparison.OrdinalIgnoreCase)));

    /// <summary>Finds and reads the DSN in a message; false when it holds no delivery-status part.</summary>
    public static bool TryParseMessage(ReadOnlyMemory<byte> message, out DeliveryReport? report)
    {
        try
        {
            report = Find(MimeParser.Parse(message));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The parsers below are total; this is the last guard so a bounce can never crash the engine.
            report = null;
        }

        return report is not null;
    }

    /// <summary>The DSN in a parsed message: the first multipart/report with a delivery-status part (a report-type
    /// other than delivery-status is not one), or a delivery-status part found elsewhere; null when there is none.</summary>
    public static DeliveryReport? Find(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        MimeEntity? statusPart = null;
        MimeEntity? container = null;
        foreach (var e in message.Entities)
        {
            if (e.Kind == MimeBodyKind.Multipart && e.ContentType.Is("multipart", "report") &&
                (e.ContentType["report-type"] is not { } type || IsStatusType(type)))
            {
                var child = e.Children.FirstOrDefault(IsStatusPart);
                if (child is not null)
                {
                    statusPart = child;
                    container = e;
                    break;
                }
            }
        }

        statusPart ??= message.Entities.FirstOrDefault(IsStatusPart);
        if (statusPart is null)
        {
            return null;
        }

        container ??= statusPart.Parent;
        var status = ParseFields(statusPart.GetContent());
        string? human = null;
        string? returnedType = null;
        string? returnedId = null;
        if (container is { Kind: MimeBodyKind.Multipart })
        {
            var first = container.Children.FirstOrDefault();
            if (first is not null && first != statusPart && first.ContentType.IsText)
            {
                human = first.GetText();
            }

            var returned = container.Children.SkipWhile(c => c != statusPart).Skip(1).FirstOrDefault();
            if (returned is not null)
            {
                returnedType = returned.ContentType.MimeType;
                returnedId = ReturnedMessageId(returned);
            }
        }

        return new DeliveryReport(status, statusPart.ContentType.SubtypeIs("global-delivery-status"), human, returnedType, returnedId);
    }

    private static bool IsStatusType(string type) =>
        type.Trim().Equals("delivery-status", StringComparison.OrdinalIgnoreCase) ||
        type.Trim().Equals("global-delivery-status", StringComparison.OrdinalIgnoreCase);

    private static bool IsStatusPart(MimeEntity e) =>
        e.Kind == MimeBodyKind.Leaf && e.ContentType.MediaType == "message" && e.ContentType.MediaSubtype is "delivery-status" or "global-delivery-status";

    private static string? ReturnedMessageId(MimeEntity returned)
    {
        if (returned.Kind == MimeBodyKind.Message && returned.Message is { } inner)
        {
            return MessageIds.Parse(inner.Headers["Message-ID"]).FirstOrDefault();
        }

        if (returned.Kind != MimeBodyKind.Leaf)
        {
            return null;
        }

        // text/rfc822-headers, message/global-headers, or a message kept as a leaf: read its content as a header block.
        var content = returned.GetContent();
        if (content.Length > MaxBytes)
        {
            content = content[..MaxBytes];
        }

        var headers = MimeParser.Parse((byte[])[.. content, (byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n']);
        return headers.MessageId;
    }
}
