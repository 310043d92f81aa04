using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    /// <summary>COMPRESS=DEFLATE (RFC 4978): raw deflate both ways from the next byte on.</summary>
    private async Task CompressAsync(CompressCommand command)
    {
        if (_compressed)
        {
            No(command.Tag, "Compression is already active", ImapResponseCode.CompressionActive);
            return;
        }

        if (!command.Mechanism.Equals("DEFLATE", StringComparison.OrdinalIgnoreCase))
        {
            Bad(command.Tag, "Unsupported compression mechanism");
            return;
        }

        Ok(command.Tag, "DEFLATE active");
        await FlushAsync().ConfigureAwait(false);

        // Whatever the client sent after the command is already compressed.
        byte[] pending = [];
        if (_input.TryRead(out var buffered))
        {
            pending = buffered.Buffer.ToArray();
            _input.AdvanceTo(buffered.Buffer.End);
        }

        var transport = _connection.Stream;
        var inflate = new DeflateStream(new PrefixedStream(pending, transport), CompressionMode.Decompress);
        var deflate = new DeflateStream(transport, CompressionLevel.Fastest, leaveOpen: true);
        _input = PipeReader.Create(inflate, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024));
        _output = PipeWriter.Create(deflate, new StreamPipeWriterOptions(minimumBufferSize: 4096));
        _w = new ImapResponseWriter(_output) { Utf8Enabled = _utf8 };
        _compressed = true;
    }

    /// <summary>A read stream that yields some bytes already taken off the connection before the connection itself.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner) : Stream
    {
        private int _offset;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_offset < prefix.Length)
            {
                var n = Math.Min(buffer.Length, prefix.Length - _offset);
                prefix.AsSpan(_offset, n).CopyTo(buffer);
                _offset += n;
                return n;
            }

            return inner.Read(buffer);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset < prefix.Length)
            {
                return ValueTask.FromResult(Read(buffer.Span));
            }

            return inner.ReadAsync(buffer, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
