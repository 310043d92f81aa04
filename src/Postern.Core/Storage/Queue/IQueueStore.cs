using Postern.Core.Storage.Blobs;

namespace Postern.Core.Storage.Queue;

/// <summary>RFC 3461 NOTIFY. <see cref="None"/> means the client gave none (the default applies). Persisted values.</summary>
[Flags]
public enum DsnNotify
{
    None = 0,
    Never = 1,
    Success = 2,
    Failure = 4,
    Delay = 8,
}

/// <summary>RFC 3461 RET. Persisted values.</summary>
public enum DsnReturn
{
    Unspecified = 0,
    Full = 1,
    Headers = 2,
}

/// <summary>Where one recipient stands. Persisted values.</summary>
public enum RecipientState
{
    Pending = 0,
    Deferred = 1,
    Delivered = 2,
    Failed = 3,

    /// <summary>Put on hold by an admin: kept, never claimed, until released.</summary>
    Held = 4,
}

/// <summary>A recipient of a message being queued. <see cref="DestinationKey"/> groups recipients delivered together (e.g. the domain or relay host).</summary>
/// <remarks><c>OriginalRecipient</c> is RFC 3461 ORCPT as <c>addr-type;address</c> (e.g. <c>rfc822;a@example.com</c>), xtext decoded.</remarks>
public sealed record NewQueueRecipient(string Address, string DestinationKey, DsnNotify Notify = DsnNotify.None, string? OriginalRecipient = null);

/// <summary>The envelope of a message being queued; the body is an already written blob. <see cref="ReversePath"/> is empty for the null sender.</summary>
public sealed record NewQueuedMessage(
    string ReversePath,
    IReadOnlyList<NewQueueRecipient> Recipients,
    BlobId Blob,
    long Size,
    string? EnvelopeId = null,
    DsnReturn Return = DsnReturn.Unspecified,
    bool RequireTls = false,
    bool SmtpUtf8 = false,
    DateTimeOffset? FirstAttemptAt = null)
{
    /// <summary>Trace fields (our Received, CRLF-terminated) to put before the body when the message leaves; empty for none.</summary>
    public ReadOnlyMemory<byte> Trace { get; init; }

    /// <summary>
    /// The id to queue the message under when it is free: the id SMTP already gave the client ("250 ... queued as ID"),
    /// so an admin finds the message by what the sender was told. Taken (a second copy of the same message, say): a new id.
    /// </summary>
    public string? PreferredQueueId { get; init; }
}

/// <summary>One recipient row with its delivery state.</summary>
public sealed record QueuedRecipient(
    long RecipientId,
    string QueueId,
    string Address,
    string DestinationKey,
    DsnNotify Notify,
    string? OriginalRecipient,
    RecipientState State,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    string? LastError,
    DateTimeOffset? CompletedAt)
{
    /// <summary>A delay warning (RFC 3464 action "delayed") was sent for this recipient.</summary>
    public bool DelayWarned { get; init; }

    /// <summary>The domain of <see cref="Address"/> (after the last '@').</summary>
    public string Domain => Address[(Address.LastIndexOf('@') + 1)..];

    /// <summary><see cref="OriginalRecipient"/> split into its addr-type and address (rfc822 when no type is written), or null.</summary>
    public (string Type, string Address)? OriginalRecipientParts
    {
        get
        {
            if (OriginalRecipient is not { } orcpt)
            {
                return null;
            }

            var semi = orcpt.IndexOf(';', StringComparison.Ordinal);
            return semi > 0 ? (orcpt[..semi].Trim(), orcpt[(semi + 1)..].Trim()) : ("rfc822", orcpt.Trim());
        }
    }
}

/// <summary>A queued message with all its recipients.</summary>
public sealed record QueuedMessage(
    string QueueId,
    string ReversePath,
    BlobId Blob,
    long Size,
    string? EnvelopeId,
    DsnReturn Return,
    bool RequireTls,
    bool SmtpUtf8,
    DateTimeOffset CreatedAt,
    IReadOnlyList<QueuedRecipient> Recipients)
{
    /// <summary>See <see cref="NewQueuedMessage.Trace"/>.</summary>
    public ReadOnlyMemory<byte> Trace { get; init; }
}

/// <summary>
/// Recipients of one message for one destination, leased to one worker until <see cref="LeaseExpiresAt"/>.
/// Results are reported with <see cref="LeaseToken"/>; after the lease expires, another worker may claim them
/// and the old token no longer counts.
/// </summary>
public sealed record DeliveryClaim(string LeaseToken, DateTimeOffset LeaseExpiresAt, QueuedMessage Message, string DestinationKey, IReadOnlyList<QueuedRecipient> Recipients);

/// <summary>
/// Admin listing filter; <see cref="AfterQueueId"/> pages forward. <see cref="Domain"/> matches messages with a
/// recipient in that domain (whatever its destination); <see cref="CreatedBefore"/> selects by age.
/// </summary>
public sealed record QueueQuery(RecipientState? State = null, string? DestinationKey = null, string? AfterQueueId = null, int Limit = 100)
{
    public string? Domain { get; init; }

    public DateTimeOffset? CreatedBefore { get; init; }
}

public sealed record QueuePage(IReadOnlyList<QueuedMessage> Messages, string? NextAfterQueueId);

/// <summary>One recorded delivery attempt of one recipient (the admin's "queue show" history): what came of it and why.</summary>
public sealed record DeliveryAttemptRecord(long RecipientId, string Recipient, DateTimeOffset Time, RecipientState Outcome, string? Detail);

/// <summary>
/// The durable delivery queue. Enqueue commits durably before it returns (then, and only then, SMTP says 250).
/// Claiming is a lease: a worker claims due recipients, delivers, and reports each result with its token;
/// a crashed worker's claims become due again when the lease expires. A shared backend implements
/// <see cref="ClaimDueAsync"/> with <c>FOR UPDATE SKIP LOCKED</c>, so workers never wait on one another.
/// </summary>
public interface IQueueStore
{
    /// <summary>Queues the message and returns its short queue id (as in "250 2.0.0 queued as ID").</summary>
    Task<string> EnqueueAsync(NewQueuedMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Leases up to <paramref name="maxRecipients"/> pending or deferred recipients whose next attempt is due
    /// at <paramref name="now"/> and that no live lease holds, grouped per message and destination.
    /// </summary>
    Task<IReadOnlyList<DeliveryClaim>> ClaimDueAsync(DateTimeOffset now, TimeSpan lease, int maxRecipients, CancellationToken cancellationToken);

    /// <summary>Extends the lease of every recipient still held under <paramref name="leaseToken"/> to <paramref name="now"/> + <paramref name="lease"/>; returns how many.</summary>
    Task<int> RenewLeaseAsync(string leaseToken, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Marks the recipient delivered. False when the lease was lost (expired and claimed again) or the recipient is gone.</summary>
    Task<bool> CompleteAsync(long recipientId, string leaseToken, CancellationToken cancellationToken);

    /// <summary>Like <see cref="CompleteAsync(long, string, CancellationToken)"/>, recording <paramref name="detail"/> (the host and its reply) in the history.</summary>
    Task<bool> CompleteAsync(long recipientId, string leaseToken, string? detail, CancellationToken cancellationToken);

    /// <summary>Records a temporary failure and the time of the next attempt; releases the lease.</summary>
    Task<bool> DeferAsync(long recipientId, string leaseToken, string error, DateTimeOffset nextAttemptAt, CancellationToken cancellationToken);

    /// <summary>Records a permanent failure; releases the lease.</summary>
    Task<bool> FailAsync(long recipientId, string leaseToken, string error, CancellationToken cancellationToken);

    Task<QueuedMessage?> GetAsync(string queueId, CancellationToken cancellationToken);

    /// <summary>Messages by queue id; with a state or destination, those having such a recipient.</summary>
    Task<QueuePage> ListAsync(QueueQuery query, CancellationToken cancellationToken);

    /// <summary>How many recipients are in each state (for the admin and metrics); states with none are absent.</summary>
    Task<IReadOnlyDictionary<RecipientState, long>> CountByStateAsync(CancellationToken cancellationToken);

    /// <summary>Makes the message's pending and deferred recipients due at <paramref name="now"/> (the admin's "retry now"); returns how many.</summary>
    Task<int> RetryNowAsync(string queueId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Removes a message and its recipients (admin delete, or after the last recipient is final and DSNs are sent).</summary>
    Task<bool> DeleteAsync(string queueId, CancellationToken cancellationToken);

    /// <summary>Puts the message's pending and deferred recipients that no live lease holds on hold; returns how many.</summary>
    Task<int> HoldAsync(string queueId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Makes the message's held recipients pending and due at <paramref name="now"/>; returns how many.</summary>
    Task<int> ReleaseAsync(string queueId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Moves the next attempt of every unleased pending or deferred recipient of <paramref name="destinationKey"/> to
    /// at least <paramref name="notBefore"/> (a destination found down, or held): one write, however many are queued.
    /// </summary>
    Task<int> PostponeDestinationAsync(string destinationKey, DateTimeOffset notBefore, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Makes every pending and deferred recipient of <paramref name="destinationKey"/> due at <paramref name="now"/> (a destination back up, or released).</summary>
    Task<int> RetryDestinationNowAsync(string destinationKey, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Records that a delay warning went out for these recipients.</summary>
    Task<int> MarkDelayWarnedAsync(IReadOnlyCollection<long> recipientIds, CancellationToken cancellationToken);

    /// <summary>
    /// The attempts recorded for the message's recipients, oldest first: every <see cref="CompleteAsync(long, string, string?, CancellationToken)"/>,
    /// <see cref="DeferAsync"/> and <see cref="FailAsync"/> that took effect adds one, in the same transaction. Gone with the message.
    /// </summary>
    Task<IReadOnlyList<DeliveryAttemptRecord>> GetHistoryAsync(string queueId, CancellationToken cancellationToken);

    /// <summary>True when a queued message refers to the blob (the blob collector asks before deleting).</summary>
    Task<bool> ReferencesBlobAsync(BlobId blob, CancellationToken cancellationToken);
}
