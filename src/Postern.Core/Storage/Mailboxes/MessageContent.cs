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
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : Stream
    {
        private int _prefixRead;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => prefix.Length + rest.Length;

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_prefixRead < prefix.Length)
            {
                return CopyPrefix(buffer);
            }

            return rest.Read(buffer);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_prefixRead < prefix.Length)
            {
                return ValueTask.FromResult(CopyPrefix(buffer.Span));
            }

            return rest.ReadAsync(buffer, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                rest.Dispose();
            }

            base.Dispose(disposing);
        }

        private int CopyPrefix(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, prefix.Length - _prefixRead);
            prefix.Span.Slice(_prefixRead, n).CopyTo(buffer);
            _prefixRead += n;
            return n;
        }
    }
}
