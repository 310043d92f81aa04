namespace Postern.Core.Storage.Mailboxes;

/// <summary>
/// The mailbox model IMAP, POP3 and local delivery sit on. Accounts and domains are the directory's ids.
/// Each write is one transaction: message rows, folder counters (UIDNEXT, HIGHESTMODSEQ), blob references,
/// quota counters, the full-text index and the expunge log change together or not at all.
/// The store reports usage; limits are the caller's, passed in where they must be checked atomically.
/// Methods given an account and folder that do not belong together act as if the folder did not exist.
/// </summary>
public interface IMailboxStore
{
    /// <summary>
    /// Registers the account (with the domain its quota counts against) and creates INBOX, Drafts, Sent,
    /// Trash, Junk and Archive with their special uses, subscribed. Idempotent.
    /// </summary>
    Task<IReadOnlyList<Folder>> EnsureDefaultFoldersAsync(long accountId, long domainId, CancellationToken cancellationToken);

    /// <summary>Creates a folder with a UIDVALIDITY never used before in this account.</summary>
    /// <exception cref="StoreConflictException">A folder of that name exists.</exception>
    /// <exception cref="InvalidOperationException">The account was never registered by <see cref="EnsureDefaultFoldersAsync"/>.</exception>
    Task<Folder> CreateFolderAsync(long accountId, string name, SpecialUse specialUse, CancellationToken cancellationToken);

    Task<Folder?> GetFolderAsync(long accountId, string name, CancellationToken cancellationToken);

    Task<Folder?> GetFolderAsync(long accountId, long folderId, CancellationToken cancellationToken);

    /// <summary>All folders of the account, ordered by name.</summary>
    Task<IReadOnlyList<Folder>> ListFoldersAsync(long accountId, CancellationToken cancellationToken);

    /// <summary>Renames a folder and its inferiors (<c>a</c> and <c>a/…</c>); UIDVALIDITY and messages stay.</summary>
    /// <returns>False when no folder has <paramref name="oldName"/>.</returns>
    /// <exception cref="StoreConflictException">A folder already has the new name (or an inferior's new name).</exception>
    Task<bool> RenameFolderAsync(long accountId, string oldName, string newName, CancellationToken cancellationToken);

    /// <summary>Deletes one folder with its messages (inferiors are left alone); quota and blob references drop.</summary>
    Task<bool> DeleteFolderAsync(long accountId, string name, CancellationToken cancellationToken);

    Task<bool> SetSpecialUseAsync(long accountId, long folderId, SpecialUse specialUse, CancellationToken cancellationToken);

    /// <summary>Sets (or clears with null) the number of days after which the folder's messages are expunged.</summary>
    Task<bool> SetAutoExpungeDaysAsync(long accountId, long folderId, int? days, CancellationToken cancellationToken);

    /// <summary>Adds or removes a subscription. Names need not exist as folders (IMAP allows that).</summary>
    Task SetSubscribedAsync(long accountId, string name, bool subscribed, CancellationToken cancellationToken);

    Task<IReadOnlyList<string>> ListSubscriptionsAsync(long accountId, CancellationToken cancellationToken);

    /// <summary>
    /// Appends the messages in one transaction and returns their new UIDs. With <paramref name="limits"/>,
    /// nothing is stored when the account's or the domain's usage would go above them.
    /// </summary>
    /// <exception cref="BlobMissingException">A message refers to a blob the blob store does not hold.</exception>
    Task<AppendResult> AppendAsync(long accountId, long folderId, IReadOnlyList<NewMessage> messages, QuotaLimits? limits, CancellationToken cancellationToken);

    /// <summary>
    /// Gives a folder that has never held a message (UIDNEXT 1) the UIDVALIDITY another server used for it, so an
    /// import keeps the clients' caches valid. The account's UIDVALIDITY counter moves above the value: no folder
    /// created later gets it (or any lower value) again.
    /// </summary>
    /// <returns>
    /// <see cref="AdoptStatus.Adopted"/> (also when the folder has that value already), <see cref="AdoptStatus.FolderInUse"/>
    /// when the folder has held messages and its UIDVALIDITY differs (nothing changes).
    /// </returns>
    /// <exception cref="ArgumentOutOfRangeException">The value is not 1 to 2^32-1.</exception>
    Task<AdoptStatus> AdoptUidValidityAsync(long accountId, long folderId, long uidValidity, CancellationToken cancellationToken);

    /// <summary>
    /// Appends messages with the UIDs they had elsewhere (an import), in one transaction, without quota limits (the
    /// usage counters still grow). Every UID must be unique and above the folder's UIDNEXT - 1, else nothing is stored
    /// (<see cref="AppendStatus.UidsNotAvailable"/>). UIDNEXT then becomes the highest UID + 1, or
    /// <paramref name="uidNext"/> when that is higher (UIDs the other server handed out must not come back); an empty
    /// list only raises UIDNEXT.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A UID or <paramref name="uidNext"/> is outside IMAP's 32-bit range.</exception>
    /// <exception cref="BlobMissingException">A message refers to a blob the blob store does not hold.</exception>
    Task<AppendResult> AppendWithUidsAsync(long accountId, long folderId, IReadOnlyList<ImportedMessage> messages, long uidNext, CancellationToken cancellationToken);

    /// <summary>Messages with <paramref name="firstUid"/> ≤ UID ≤ <paramref name="lastUid"/>, by UID; with <paramref name="changedSince"/>, only those whose modseq is greater.</summary>
    Task<IReadOnlyList<StoredMessage>> ListMessagesAsync(long accountId, long folderId, long firstUid, long lastUid, long? changedSince, CancellationToken cancellationToken);

    /// <summary>
    /// The UID, flags and modseq of every message in the folder (with <paramref name="changedSince"/>, of those
    /// changed after it), by UID: what SELECT and a CONDSTORE resync need, without the message data.
    /// </summary>
    Task<IReadOnlyList<FlagState>> ListFlagsAsync(long accountId, long folderId, long? changedSince, CancellationToken cancellationToken);

    Task<StoredMessage?> GetMessageAsync(long accountId, long folderId, long uid, CancellationToken cancellationToken);

    /// <summary>Fills the message's cached summary (envelope, body structure) computed after the append; does not change its modseq.</summary>
    Task<bool> SetSummaryAsync(long accountId, long folderId, long uid, string summary, CancellationToken cancellationToken);

    Task<FolderStatus?> GetFolderStatusAsync(long accountId, long folderId, CancellationToken cancellationToken);

    /// <summary>
    /// Changes flags of the given UIDs (missing UIDs are ignored). With <paramref name="unchangedSince"/>
    /// (CONDSTORE), messages whose modseq is greater are left alone and reported in <see cref="StoreFlagsResult.Modified"/>.
    /// Messages whose flags would not change keep their modseq.
    /// </summary>
    Task<StoreFlagsResult> StoreFlagsAsync(long accountId, long folderId, IReadOnlyCollection<long> uids, FlagChange change, long? unchangedSince, CancellationToken cancellationToken);

    /// <summary>Copies messages (same blob, new UIDs, flags kept) into another folder of the account; quota grows.</summary>
    Task<CopyResult> CopyAsync(long accountId, long sourceFolderId, IReadOnlyCollection<long> uids, long targetFolderId, QuotaLimits? limits, CancellationToken cancellationToken);

    /// <summary>Moves messages: new UIDs in the target, expunged (and logged as vanished) in the source; quota unchanged.</summary>
    Task<CopyResult> MoveAsync(long accountId, long sourceFolderId, IReadOnlyCollection<long> uids, long targetFolderId, CancellationToken cancellationToken);

    /// <summary>
    /// Copies (or moves) messages from a folder of one account into a folder of another (a folder shared through
    /// an ACL): new UIDs in the target; a move expunges them from the source. The usage moves to the target account,
    /// whose <paramref name="limits"/> are checked atomically (also for a move, unless both accounts are the same).
    /// </summary>
    Task<CopyResult> CopyBetweenAccountsAsync(long sourceAccountId, long sourceFolderId, IReadOnlyCollection<long> uids, long targetAccountId, long targetFolderId, QuotaLimits? limits, bool move, CancellationToken cancellationToken);

    /// <summary>The folder's access control list (RFC 4314): identifiers as the caller stored them, by identifier.</summary>
    Task<IReadOnlyList<AclEntry>> GetAclAsync(long accountId, long folderId, CancellationToken cancellationToken);

    /// <summary>
    /// Sets one identifier's rights on the folder, or removes the entry when <paramref name="rights"/> is null or empty.
    /// The store keeps identifiers and rights as given; what they mean is the caller's.
    /// </summary>
    /// <returns>False when the folder does not exist.</returns>
    Task<bool> SetAclAsync(long accountId, long folderId, string identifier, string? rights, CancellationToken cancellationToken);

    /// <summary>
    /// Folders of any account whose ACL names one of <paramref name="identifiers"/>, with those entries (others left
    /// out), ordered by account and name: what another user may be able to see.
    /// </summary>
    Task<IReadOnlyList<SharedFolder>> ListSharedFoldersAsync(IReadOnlyCollection<string> identifiers, CancellationToken cancellationToken);

    /// <summary>
    /// Removes the given UIDs (with <paramref name="onlyDeleted"/>, only those flagged \Deleted at the time of
    /// the transaction), logs them as expunged for QRESYNC, lowers quota and releases blob references.
    /// </summary>
    Task<ExpungeResult> ExpungeAsync(long accountId, long folderId, IReadOnlyCollection<long> uids, bool onlyDeleted, CancellationToken cancellationToken);

    /// <summary>UIDs expunged with a modseq greater than <paramref name="sinceModSeq"/> (QRESYNC VANISHED), ascending.</summary>
    Task<IReadOnlyList<long>> ListExpungedAsync(long accountId, long folderId, long sinceModSeq, CancellationToken cancellationToken);

    /// <summary>
    /// Like <see cref="ListMessagesAsync"/> (all modseqs), but only messages whose stored summary contains
    /// <paramref name="text"/> (ASCII letters case-insensitively, the rest exactly), plus every message whose summary
    /// is missing or does not start with <paramref name="formatPrefix"/> (another format version, which the caller
    /// must read itself). A search narrows with it before reading summaries; the caller still confirms.
    /// </summary>
    Task<IReadOnlyList<StoredMessage>> ListMessagesBySummaryAsync(long accountId, long folderId, long firstUid, long lastUid, string formatPrefix, string text, CancellationToken cancellationToken);

    /// <summary>
    /// Messages up to this size are indexed whole: the indexed text is capped at 1 Mi characters
    /// (Postern.Mime's MessageSearchText.MaxChars), and a message's text is never more than twice its size.
    /// </summary>
    public const long FullyIndexedMaxBytes = 512 * 1024;

    /// <summary>
    /// Candidate UIDs whose indexed text contains <paramref name="text"/> (case-insensitive substring), ascending.
    /// Null when the text is too short for the index to narrow (fewer than three characters): the caller scans.
    /// Candidates may be a superset; the caller confirms against the message. Messages whose text was never
    /// indexed, and messages larger than <see cref="FullyIndexedMaxBytes"/> (whose indexed text may have been cut
    /// short), are always candidates.
    /// </summary>
    Task<IReadOnlyList<long>?> SearchTextAsync(long accountId, long folderId, string text, CancellationToken cancellationToken);

    /// <summary>Every folder (of every account) with an autoexpunge period, for the expiry sweep.</summary>
    Task<IReadOnlyList<Folder>> ListAutoExpungeFoldersAsync(CancellationToken cancellationToken);

    /// <summary>
    /// UIDs of messages saved into the folder before <paramref name="cutoff"/> (the save date, or the internal
    /// date where none was recorded), ascending: what autoexpunge removes.
    /// </summary>
    Task<IReadOnlyList<long>> ListSavedBeforeAsync(long accountId, long folderId, DateTimeOffset cutoff, CancellationToken cancellationToken);

    Task<QuotaUsage> GetAccountUsageAsync(long accountId, CancellationToken cancellationToken);

    Task<QuotaUsage> GetDomainUsageAsync(long domainId, CancellationToken cancellationToken);

    /// <summary>Starts receiving this account's changes made through this store (and, per backend, through others).</summary>
    IMailboxChangeSubscription Subscribe(long accountId);
}
