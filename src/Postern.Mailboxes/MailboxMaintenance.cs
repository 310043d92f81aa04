using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.KeyValue;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.MessageLog;

namespace Postern.Mailboxes;

public sealed record MaintenanceOptions
{
    /// <summary>How long an unreferenced blob is kept before it is deleted (a backup in progress may still copy it).</summary>
    public TimeSpan BlobGracePeriod { get; init; } = TimeSpan.FromDays(1);

    public int MessageLogRetentionDays { get; init; } = 30;
}

/// <summary>What one maintenance pass did.</summary>
public sealed record MaintenanceReport(int FoldersChecked, int MessagesExpunged, int BlobsDeleted, long BlobBytesFreed, long LogRecordsDeleted, long CountersPurged);

/// <summary>
/// The background housekeeping of the mail stores, run periodically by the host: automatic expunge of
/// folders with a retention (Trash, Junk; later quarantine and continuity), deletion of blobs no message
/// refers to after a grace period, message-log retention, and expired counters.
/// </summary>
public sealed class MailboxMaintenance(IMailboxStore mailboxes, IBlobStore blobs, IMessageLogStore log, IKeyValueStore counters, MaintenanceOptions options, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public async Task<MaintenanceReport> RunOnceAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var folders = await mailboxes.ListAutoExpungeFoldersAsync(cancellationToken).ConfigureAwait(false);
        var expunged = 0;
        foreach (var folder in folders)
        {
            if (folder.AutoExpungeDays is not { } days || days <= 0)
            {
                continue;
            }

            var old = await mailboxes.ListSavedBeforeAsync(folder.AccountId, folder.FolderId, now.AddDays(-days), cancellationToken).ConfigureAwait(false);
            if (old.Count > 0)
            {
                var result = await mailboxes.ExpungeAsync(folder.AccountId, folder.FolderId, old, onlyDeleted: false, cancellationToken).ConfigureAwait(false);
                expunged += result.Uids.Count;
            }
        }

        var collected = await blobs.CollectGarbageAsync(now, options.BlobGracePeriod, cancellationToken).ConfigureAwait(false);
        var logDeleted = await log.DeleteOlderThanAsync(now.AddDays(-options.MessageLogRetentionDays), cancellationToken).ConfigureAwait(false);
        var purged = await counters.PurgeExpiredAsync(cancellationToken).ConfigureAwait(false);
        return new MaintenanceReport(folders.Count, expunged, collected.Deleted, collected.BytesFreed, logDeleted, purged);
    }
}
