namespace Postern.Core.Storage;

/// <summary>
/// The disk (or the backend's space) is below the configured floor: the write was refused and nothing was kept.
/// Services answer with a temporary error (SMTP 452/4.3.1, IMAP NO [OVERQUOTA]-free "try later").
/// </summary>
public sealed class StoreFullException(string path, long availableBytes, long floorBytes)
    : Exception($"Refusing to write under {path}: {availableBytes} bytes free, the floor is {floorBytes} bytes.")
{
    public string Path { get; } = path;

    public long AvailableBytes { get; } = availableBytes;

    public long FloorBytes { get; } = floorBytes;
}

/// <summary>A message refers to a blob the blob store does not hold (it was never written or was collected).</summary>
public sealed class BlobMissingException(string blobId)
    : Exception($"The blob {blobId} is not in the blob store; write it again before referring to it.")
{
    public string BlobId { get; } = blobId;
}
