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
}
