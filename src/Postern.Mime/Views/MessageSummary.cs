using System.Text.Json;
using System.Text.Json.Serialization;

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
    public const int CurrentVersion = 1;

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
