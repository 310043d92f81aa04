namespace Postern.Core.Storage.MessageLog;

/// <summary>
/// One message for one recipient, as the helpdesk sees it. <see cref="DetailJson"/> holds the checks and
/// rule hits (opaque to the store). <see cref="DeliveryOutcome"/> is filled in later by delivery.
/// </summary>
public sealed record MessageLogRecord(
    DateTimeOffset Time,
    string? QueueId,
    string? MessageId,
    string? ClientIp,
    string? Helo,
    string? ReversePath,
    string? Recipient,
    long Size,
    string Verdict,
    string Action,
    double? Score = null,
    string? DetailJson = null,
    string? DeliveryOutcome = null);

public sealed record MessageLogEntry(long EntryId, MessageLogRecord Record);

/// <summary>
/// Search filter: all given criteria must match. Addresses and ids match exactly (addresses ignoring case).
/// Results come newest first; pass the previous page's <see cref="MessageLogPage.NextBeforeEntryId"/> as
/// <see cref="BeforeEntryId"/> for the next page.
/// </summary>
public sealed record MessageLogQuery(
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    string? Sender = null,
    string? Recipient = null,
    string? QueueId = null,
    string? MessageId = null,
    long? BeforeEntryId = null,
    int Limit = 100);

public sealed record MessageLogPage(IReadOnlyList<MessageLogEntry> Entries, long? NextBeforeEntryId);

/// <summary>The message log's storage. Writes come in batches from <see cref="MessageLogWriter"/>.</summary>
public interface IMessageLogStore
{
    Task AppendBatchAsync(IReadOnlyList<MessageLogRecord> records, CancellationToken cancellationToken);

    Task<MessageLogPage> SearchAsync(MessageLogQuery query, CancellationToken cancellationToken);

    /// <summary>Sets the delivery outcome of the records of a queue id (and recipient, when given); returns how many changed.</summary>
    Task<int> SetDeliveryOutcomeAsync(string queueId, string? recipient, string outcome, CancellationToken cancellationToken);

    /// <summary>Retention: removes records older than <paramref name="cutoff"/>; returns how many.</summary>
    Task<long> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);
}
