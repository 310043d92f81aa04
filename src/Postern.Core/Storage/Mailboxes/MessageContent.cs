using Postern.Core.IO;
using Postern.Core.Storage.Blobs;

namespace Postern.Core.Storage.Mailboxes;

/// <summary>Reads a stored message as the client sees it: its per-recipient header prefix, then the shared blob.</summary>
public static class MessageContent
{
    /// <summary>
    /// Opens the whole message (exactly <see cref="StoredMessage.Size"/> bytes), or null when its blob is gone.
    /// </summary>
    public static async Task<Stream?> OpenAsync(this IBlobStore blobs, StoredMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentNullException.ThrowIfNull(message);
        var body = await blobs.OpenReadAsync(message.Blob, cancellationToken).ConfigureAwait(false);
        return body is null ? null : new PrefixedStream(message.HeaderPrefix, body);
    }

    /// <summary>A read-only stream of some bytes in memory followed by another stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : ReadOnlyWrapperStream(rest)
    {
        private int _prefixRead;

        public override long Length => prefix.Length + Inner.Length;

        public override int Read(Span<byte> buffer) =>
            _prefixRead < prefix.Length ? CopyPrefix(buffer) : Inner.Read(buffer);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _prefixRead < prefix.Length ? ValueTask.FromResult(CopyPrefix(buffer.Span)) : Inner.ReadAsync(buffer, cancellationToken);

        private int CopyPrefix(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, prefix.Length - _prefixRead);
            prefix.Span.Slice(_prefixRead, n).CopyTo(buffer);
            _prefixRead += n;
            return n;
        }
    }
}
