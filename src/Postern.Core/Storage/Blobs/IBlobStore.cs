using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Postern.Core.Storage.Blobs;

/// <summary>The SHA-256 of a blob's bytes, as 64 lower-case hex digits. Equal content, equal id.</summary>
public readonly record struct BlobId
{
    private BlobId(string hex) => Hex = hex;

    public string Hex { get; }

    public static BlobId Parse(string hex) =>
        TryParse(hex, out var id) ? id : throw new FormatException($"'{hex}' is not a SHA-256 blob id (64 hex digits).");

    public static bool TryParse([NotNullWhen(true)] string? hex, out BlobId id)
    {
        id = default;
        if (hex is null || hex.Length != 64 || !hex.All(char.IsAsciiHexDigit))
        {
            return false;
        }

        id = new BlobId(hex.ToLowerInvariant());
        return true;
    }

    public static BlobId FromHash(ReadOnlySpan<byte> sha256) =>
        sha256.Length == 32 ? new BlobId(Convert.ToHexStringLower(sha256)) : throw new ArgumentException("A SHA-256 hash has 32 bytes.", nameof(sha256));

    public override string ToString() => Hex ?? string.Empty;
}

/// <summary>A stored blob: its id and length in bytes.</summary>
public sealed record BlobInfo(BlobId Id, long Length)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Id} ({Length} bytes)");
}

/// <summary>What one garbage collection did.</summary>
public sealed record BlobCollectionResult(int Deleted, long BytesFreed);

/// <summary>
/// Content-addressed, immutable blobs (message bodies). A write returns only once the bytes are durable.
/// Blobs are referenced by stored messages; the references are counted by the backend in the same
/// transaction as the message rows, and a blob whose count has been zero for the grace period is removed
/// by <see cref="CollectGarbageAsync"/>. A freshly written blob starts unreferenced, so a write whose
/// message never commits (a crash, a rejected message) is collected too.
/// </summary>
public interface IBlobStore
{
    /// <summary>Stores the stream's bytes (to its end) durably and returns their id and length.</summary>
    /// <exception cref="StoreFullException">The disk is below the configured floor; nothing was kept.</exception>
    Task<BlobInfo> WriteAsync(Stream content, CancellationToken cancellationToken);

    /// <summary>
    /// Stores several streams, as <see cref="WriteAsync"/> does each, returning their ids in order; a backend may make
    /// them durable together (one commit for many small blobs: a MULTIAPPEND, an import).
    /// </summary>
    async Task<IReadOnlyList<BlobInfo>> WriteManyAsync(IReadOnlyList<Stream> contents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(contents);
        var written = new List<BlobInfo>(contents.Count);
        foreach (var content in contents)
        {
            written.Add(await WriteAsync(content, cancellationToken).ConfigureAwait(false));
        }

        return written;
    }

    /// <summary>Opens the whole blob for reading, or null when it is not stored.</summary>
    Task<Stream?> OpenReadAsync(BlobId id, CancellationToken cancellationToken);

    /// <summary>Opens <paramref name="length"/> bytes (or up to the end) from <paramref name="offset"/>, or null when not stored.</summary>
    Task<Stream?> OpenReadAsync(BlobId id, long offset, long? length, CancellationToken cancellationToken);

    /// <summary>The blob's length, or null when it is not stored.</summary>
    Task<long?> GetLengthAsync(BlobId id, CancellationToken cancellationToken);

    Task<bool> ExistsAsync(BlobId id, CancellationToken cancellationToken);

    /// <summary>Removes a blob at once, whatever refers to it (admin repair, tests). Normal removal is <see cref="CollectGarbageAsync"/>.</summary>
    Task<bool> DeleteAsync(BlobId id, CancellationToken cancellationToken);

    /// <summary>Deletes blobs that no message or queued message refers to and that have been unreferenced for at least <paramref name="gracePeriod"/> before <paramref name="now"/>.</summary>
    Task<BlobCollectionResult> CollectGarbageAsync(DateTimeOffset now, TimeSpan gracePeriod, CancellationToken cancellationToken);
}
