using Postern.Core.Storage;
using Postern.Storage.Sqlite.Blobs;

namespace Postern.Storage.Sqlite;

/// <summary>Settings shared by the embedded stores under one data folder.</summary>
public sealed record EmbeddedStoreOptions
{
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Measures free space for the blob store's floor check.</summary>
    public IDiskSpaceProbe DiskSpaceProbe { get; init; } = DriveInfoDiskSpaceProbe.Instance;

    /// <summary>Below this many free bytes, blob writes are refused with <see cref="StoreFullException"/> (0: no floor).</summary>
    public long DiskFloorBytes { get; init; }

    /// <summary>Told each durability step of a blob write, in order (tests observe the order).</summary>
    public Action<BlobWriteStep, string>? BlobWriteObserver { get; init; }

    public TimeSpan? BusyTimeout { get; init; }

    /// <summary>
    /// Blobs of at most this many bytes are stored inside mailbox.db, with their reference row, instead of a
    /// file each: one WAL commit (shared with concurrent writers) instead of a file fsync, a rename and a
    /// directory fsync. Larger blobs keep the file path. 0: every blob is a file.
    /// </summary>
    public int InlineBlobMaxBytes { get; init; } = DefaultInlineBlobMaxBytes;

    /// <summary>
    /// 128 KiB: typical mail (median a few KiB) and a "64 KiB" message with its headers stay in the database
    /// (a file costs about three fsyncs: the file, its directory, new fan-out folders); large attachments go to files.
    /// </summary>
    public const int DefaultInlineBlobMaxBytes = 128 * 1024;
}
