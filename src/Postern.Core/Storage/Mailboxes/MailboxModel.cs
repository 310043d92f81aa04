using Postern.Core.Storage.Blobs;

namespace Postern.Core.Storage.Mailboxes;

/// <summary>RFC 6154 special uses of a folder. Persisted: the values never change.</summary>
[Flags]
public enum SpecialUse
{
    None = 0,
    Drafts = 1,
    Sent = 2,
    Trash = 4,
    Junk = 8,
    Archive = 16,
    All = 32,
    Flagged = 64,
}

/// <summary>IMAP system flags (\Recent is a session notion and is not stored). Persisted: the values never change.</summary>
[Flags]
public enum MessageFlags
{
    None = 0,
    Seen = 1,
    Answered = 2,
    Flagged = 4,
    Deleted = 8,
    Draft = 16,
}

/// <summary>How <see cref="IMailboxStore.StoreFlagsAsync"/> combines the given flags with the stored ones.</summary>
public enum FlagChangeMode
{
    Add = 1,
    Remove = 2,
    Replace = 3,
}

/// <summary>A folder of an account. Names use <c>/</c> as the hierarchy separator; <c>INBOX</c> is spelled so.</summary>
public sealed record Folder(
    long FolderId,
    long AccountId,
    string Name,
    long UidValidity,
    long UidNext,
    long HighestModSeq,
    SpecialUse SpecialUse,
    int? AutoExpungeDays);

/// <summary>The counters IMAP STATUS and SELECT report.</summary>
public sealed record FolderStatus(
    long FolderId,
    string Name,
    long UidValidity,
    long UidNext,
    long HighestModSeq,
    int Messages,
    int Unseen,
    int Deleted,
    long Size);

/// <summary>
/// A message to append. <see cref="HeaderPrefix"/> holds the per-recipient trace lines (Return-Path,
/// Delivered-To, Received) that precede the shared blob; the message's size is prefix plus blob.
/// <see cref="SearchText"/> is the text the MIME layer extracted for full-text search (null: not indexed).
/// </summary>
public sealed record NewMessage(
    BlobId Blob,
    long BlobLength,
    DateTimeOffset InternalDate,
    ReadOnlyMemory<byte> HeaderPrefix = default,
    MessageFlags Flags = MessageFlags.None,
    IReadOnlyList<string>? Keywords = null,
    string? SearchText = null,
    string? Summary = null,
    DateTimeOffset? SavedDate = null);

/// <summary>A stored message. <see cref="InternalDate"/> keeps the offset it was appended with.</summary>
public sealed record StoredMessage(
    long FolderId,
    long Uid,
    BlobId Blob,
    ReadOnlyMemory<byte> HeaderPrefix,
    long Size,
    DateTimeOffset InternalDate,
    MessageFlags Flags,
    IReadOnlyList<string> Keywords,
    long ModSeq,
    string? Summary,
    DateTimeOffset? SavedDate);

/// <summary>Storage used, as RFC 9208 STORAGE (bytes) and MESSAGE resources.</summary>
public sealed record QuotaUsage(long StorageBytes, long Messages);

/// <summary>Limits to respect atomically on append or copy; null means no limit for that resource.</summary>
public sealed record QuotaLimits(
    long? AccountStorageBytes = null,
    long? AccountMessages = null,
    long? DomainStorageBytes = null,
    long? DomainMessages = null);

public enum AppendStatus
{
    Appended = 0,
    FolderNotFound = 1,
    AccountQuotaExceeded = 2,
    DomainQuotaExceeded = 3,

    /// <summary><see cref="IMailboxStore.AppendWithUidsAsync"/>: a UID given is taken, repeated or not above UIDNEXT - 1.</summary>
    UidsNotAvailable = 4,
}

/// <summary>The outcome of <see cref="IMailboxStore.AdoptUidValidityAsync"/>.</summary>
public enum AdoptStatus
{
    Adopted = 0,
    FolderNotFound = 1,

    /// <summary>The folder has held messages under its own UIDVALIDITY: changing it now would reuse UIDs clients saw.</summary>
    FolderInUse = 2,
}

/// <summary>A message to append with the UID it had on another server (<see cref="IMailboxStore.AppendWithUidsAsync"/>).</summary>
public sealed record ImportedMessage(long Uid, NewMessage Message);

/// <summary>The outcome of an append: UIDs in the order of the messages given (APPENDUID), or why nothing was stored.</summary>
public sealed record AppendResult(AppendStatus Status, long UidValidity, IReadOnlyList<long> Uids, long ModSeq)
{
    public bool Succeeded => Status == AppendStatus.Appended;
}

/// <summary>A flag change for STORE.</summary>
public sealed record FlagChange(FlagChangeMode Mode, MessageFlags Flags, IReadOnlyList<string>? Keywords = null);

/// <summary>A message's flags after a change.</summary>
public sealed record FlagState(long Uid, MessageFlags Flags, IReadOnlyList<string> Keywords, long ModSeq);

/// <summary>
/// The outcome of STORE: the messages changed (with their new modseq), and for CONDSTORE's
/// UNCHANGEDSINCE the UIDs refused because they were modified after it (the MODIFIED response).
/// </summary>
public sealed record StoreFlagsResult(IReadOnlyList<FlagState> Changed, IReadOnlyList<long> Modified, long HighestModSeq);

public enum CopyStatus
{
    Copied = 0,
    FolderNotFound = 1,
    AccountQuotaExceeded = 2,
    DomainQuotaExceeded = 3,
}

/// <summary>The outcome of COPY or MOVE, as COPYUID wants it: source and new UIDs in pairs.</summary>
public sealed record CopyResult(CopyStatus Status, long TargetUidValidity, IReadOnlyList<(long SourceUid, long TargetUid)> Uids)
{
    public bool Succeeded => Status == CopyStatus.Copied;
}

/// <summary>The outcome of EXPUNGE: the UIDs removed and the folder's modseq after it.</summary>
public sealed record ExpungeResult(IReadOnlyList<long> Uids, long ModSeq);

/// <summary>"Folder X of account Y changed at modseq N": enough for IDLE to wake and look.</summary>
public sealed record MailboxChange(long AccountId, long FolderId, long ModSeq);

/// <summary>A live subscription to one account's changes; dispose to stop.</summary>
public interface IMailboxChangeSubscription : IDisposable
{
    System.Threading.Channels.ChannelReader<MailboxChange> Changes { get; }
}

/// <summary>One entry of a folder's access control list: who (an identifier, negative ones start with '-') and which rights.</summary>
public sealed record AclEntry(string Identifier, string Rights);

/// <summary>A folder another account may see through its ACL, with the entries that name the asker.</summary>
public sealed record SharedFolder(Folder Folder, IReadOnlyList<AclEntry> Entries);
