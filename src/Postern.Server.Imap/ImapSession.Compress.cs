using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using Postern.Core.IO;
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
        var inflate = new DeflateStream(new PrefixedReadStream(pending, transport), CompressionMode.Decompress, leaveOpen: true);
        var deflate = new DeflateStream(transport, CompressionLevel.Fastest, leaveOpen: true);
        _inflate = inflate;
        _deflate = deflate;
        _input = PipeReader.Create(inflate, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024));
        _output = PipeWriter.Create(deflate, new StreamPipeWriterOptions(minimumBufferSize: 4096));
        _w = new ImapResponseWriter(_output) { Utf8Enabled = _utf8 };
        _compressed = true;
    }

    /// <summary>Frees the zlib state of COMPRESS (native memory the GC does not see) when the session ends.</summary>
    private void ReleaseCompression()
    {
        try
        {
            _deflate?.Dispose();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or NotSupportedException)
        {
            // The peer is gone: the final deflate block has nowhere to go, the zlib state is freed all the same.
        }

        _inflate?.Dispose();
        _deflate = null;
        _inflate = null;
    }
}
