using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Postern.Mime.Headers;

namespace Postern.Mime.Views;

/// <summary>
/// What IMAP keeps per message so that FETCH, SEARCH, SORT and THREAD never re-parse a message they
/// have seen: the ENVELOPE and BODYSTRUCTURE strings and the header values the search and sort keys need.
/// Stored as JSON in the mailbox store's summary column; <see cref="Version"/> lets a later format
/// recompute old summaries instead of misreading them.
/// </summary>
public sealed record MessageSummary
{
    /// <summary>The format written by this build.</summary>
    public const int CurrentVersion = 2;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>The ENVELOPE list, as FETCH ENVELOPE sends it.</summary>
    public required string Envelope { get; init; }

    /// <summary>BODYSTRUCTURE (extended).</summary>
    public required string BodyStructure { get; init; }

    /// <summary>BODY (non-extended).</summary>
    public required string Body { get; init; }

    /// <summary>The Date: header, parsed (SENTBEFORE/SENTON/SENTSINCE, SORT DATE); null when missing or unparseable.</summary>
    public DateTimeOffset? Date { get; init; }

    /// <summary>The Subject:, RFC 2047-decoded.</summary>
    public string? Subject { get; init; }

    /// <summary>From/To/Cc/Bcc, decoded, as "Display Name &lt;local@domain&gt;" joined by ", " (SEARCH FROM etc.).</summary>
    public string? From { get; init; }

    public string? To { get; init; }

    public string? Cc { get; init; }

    public string? Bcc { get; init; }

    /// <summary>The first From/To/Cc address (addr-mailbox, addr-host, display name): SORT FROM/TO/CC and DISPLAYFROM/DISPLAYTO (RFC 5957).</summary>
    public SummaryAddress? FirstFrom { get; init; }

    public SummaryAddress? FirstTo { get; init; }

    public SummaryAddress? FirstCc { get; init; }

    /// <summary>Message-ID, In-Reply-To and References as msg-ids without angle brackets (THREAD REFERENCES).</summary>
    public string? MessageId { get; init; }

    public IReadOnlyList<string> InReplyTo { get; init; } = [];

    public IReadOnlyList<string> References { get; init; } = [];

    /// <summary>True when some part has 8-bit or binary content (BINARY, UTF8 downgrade decisions).</summary>
    public bool HasEightBit { get; init; }

    /// <summary>
    /// The summary of a parsed message: ENVELOPE, BODYSTRUCTURE and BODY from <see cref="ImapView"/>, the header
    /// values decoded. Total: whatever the message holds, a summary comes back (fields that cannot be read are null).
    /// </summary>
    public static MessageSummary Build(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var date = message.Date;
        var from = message.From;
        var to = message.To;
        var cc = message.Cc;
        var bcc = message.Bcc;
        return new MessageSummary
        {
            Envelope = ImapView.Envelope(message.Root),
            BodyStructure = ImapView.BodyStructure(message.Root, extended: true),
            Body = ImapView.BodyStructure(message.Root, extended: false),
            Date = date.IsValid ? date.Value : null,
            Subject = message.Subject,
            From = AddressText(from),
            To = AddressText(to),
            Cc = AddressText(cc),
            Bcc = AddressText(bcc),
            FirstFrom = First(from),
            FirstTo = First(to),
            FirstCc = First(cc),
            MessageId = message.MessageId,
            InReplyTo = message.InReplyTo,
            References = message.References,
            HasEightBit = HasEightBitContent(message.Root),
        };
    }

    /// <summary>"Name &lt;local@domain&gt;, &lt;other@domain&gt;": every mailbox, groups flattened; null when there is none.</summary>
    private static string? AddressText(AddressList list)
    {
        var sb = new StringBuilder();
        foreach (var m in list.Mailboxes)
        {
            if (sb.Length > 0)
            {
                sb.Append(", ");
            }

            if (!string.IsNullOrEmpty(m.Name))
            {
                sb.Append(m.Name).Append(' ');
            }

            sb.Append('<').Append(m.Address).Append('>');
        }

        return sb.Length == 0 ? null : sb.ToString();
    }

    /// <summary>The first address as ENVELOPE lists it: a group's start marker carries the group name as its mailbox.</summary>
    private static SummaryAddress? First(AddressList list) => list.Count == 0 ? null : list[0] switch
    {
        MailboxAddress m => new SummaryAddress(m.LocalPart, m.Domain, string.IsNullOrEmpty(m.Name) ? null : m.Name),
        GroupAddress g => new SummaryAddress(g.Name, null, null),
        _ => null,
    };

    /// <summary>
    /// True when the message's bytes hold a NUL or a byte above 127 (8-bit header or body text, binary parts), or a
    /// part declares the 8bit or binary transfer encoding.
    /// </summary>
    private static bool HasEightBitContent(MimeEntity root)
    {
        var bytes = root.RawEntity.Span;
        if (bytes.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0 || bytes.IndexOf((byte)0) >= 0)
        {
            return true;
        }

        foreach (var e in root.DescendantsAndSelf())
        {
            if (e.TransferEncoding is "8bit" or "binary")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// False only when <paramref name="json"/> is a summary of this version that cannot hold <paramref name="text"/>
    /// in any field (case-insensitively): a quick test before <see cref="FromJson"/>, so that a search over many
    /// summaries parses only the few that might match. Text with characters JSON escapes is never ruled out.
    /// </summary>
    public static bool MayContain(string? json, string text)
    {
        if (json is null || !json.StartsWith(VersionPrefix, StringComparison.Ordinal) || !IsVerbatimInJson(text))
        {
            return true;
        }

        return json.Contains(text, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>How every summary of this format version begins (a store can tell other versions apart by it).</summary>
    public static readonly string VersionPrefix = "{\"Version\":" + CurrentVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",";

    /// <summary>True for printable ASCII that the serializer's default encoder writes as itself: such text can be looked for in the raw JSON.</summary>
    public static bool IsVerbatimInJson(string text)
    {
        foreach (var c in text)
        {
            if (c < 0x20 || c > 0x7E || c is '"' or '\\' or '<' or '>' or '&' or '\'' or '+' or '`')
            {
                return false;
            }
        }

        return true;
    }

    public string ToJson() => JsonSerializer.Serialize(this, MessageSummaryJson.Default.MessageSummary);

    /// <summary>The summary in <paramref name="json"/>, or null when it is missing, malformed or of another version.</summary>
    public static MessageSummary? FromJson(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }

        try
        {
            var summary = JsonSerializer.Deserialize(json, MessageSummaryJson.Default.MessageSummary);
            return summary?.Version == CurrentVersion ? summary : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>An address as SORT needs it (RFC 5256 §2.2; RFC 5957 display names).</summary>
public sealed record SummaryAddress(string? Mailbox, string? Host, string? DisplayName);

[JsonSerializable(typeof(MessageSummary))]
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class MessageSummaryJson : JsonSerializerContext;
