using System.Buffers;
using System.IO.Pipelines;

namespace Postern.Networking;

/// <summary>
/// Wraps the socket stream: reports received byte counts (for timeouts) and end of stream or I/O errors
/// (for <see cref="ConnectionContext.ConnectionClosed"/>).
/// </summary>
/// <remarks>
/// A zero-byte read (the pipe and SslStream wait for data that way) goes straight to the inner stream, so an
/// idle connection holds no state machine of this class; the read that follows it reports the bytes, the end
/// of the stream or the error.
/// </remarks>
internal sealed class ObservedStream(Stream inner, ConnectionSignals signals) : Stream
{
    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => Observe(() => inner.Read(buffer, offset, count), count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => buffer.IsEmpty ? inner.ReadAsync(buffer, cancellationToken) : ReadObservedAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            signals.SignalClosed();
            throw;
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private async ValueTask<int> ReadObservedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int n;
        try
        {
            n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            signals.SignalClosed();
            throw;
        }

        Report(n, buffer.Length);
        return n;
    }

    private int Observe(Func<int> read, int requested)
    {
        int n;
        try
        {
            n = read();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            signals.SignalClosed();
            throw;
        }

        Report(n, requested);
        return n;
    }

    // A zero-byte read returning 0 is not the end of the stream.
    private void Report(int n, int requested)
    {
        if (n == 0 && requested > 0)
        {
            signals.SignalClosed();
        }
        else
        {
            signals.DataReceived(n);
        }
    }
}

/// <summary>Returns bytes already read past a PROXY header before reading on from the inner stream.</summary>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : Stream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count)
        => _prefix.IsEmpty ? inner.Read(buffer, offset, count) : TakePrefix(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => _prefix.IsEmpty ? inner.ReadAsync(buffer, cancellationToken) : ValueTask.FromResult(TakePrefix(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private int TakePrefix(Span<byte> destination)
    {
        var n = Math.Min(destination.Length, _prefix.Length);
        _prefix.Span[..n].CopyTo(destination);
        _prefix = _prefix[n..];
        return n;
    }
}

/// <summary>
/// The handler's input: a pipe reader that delegates to the reader of the current stream (plain, then TLS
/// after STARTTLS). For peers that are not trusted proxies it refuses a PROXY header sent as the first bytes.
/// </summary>
internal sealed class ConnectionPipeReader : PipeReader
{
    private readonly ConnectionContext? _refuseProxyHeaderOf;
    private bool _checkProxyHeader;
    private bool _refused;

    /// <param name="inner">The reader of the current stream.</param>
    /// <param name="refuseProxyHeaderOf">The connection to close when its first bytes are a PROXY header; null for no check.</param>
    public ConnectionPipeReader(PipeReader inner, ConnectionContext? refuseProxyHeaderOf)
    {
        Inner = inner;
        _refuseProxyHeaderOf = refuseProxyHeaderOf;
        _checkProxyHeader = refuseProxyHeaderOf is not null;
    }

    public PipeReader Inner { get; set; }

    /// <summary>Stops the untrusted-PROXY check (after STARTTLS the first bytes are TLS).</summary>
    public void StopProxyCheck() => _checkProxyHeader = false;

    public override void AdvanceTo(SequencePosition consumed)
    {
        if (!_refused)
        {
            Inner.AdvanceTo(consumed);
        }
    }

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (!_refused)
        {
            Inner.AdvanceTo(consumed, examined);
        }
    }

    public override void CancelPendingRead() => Inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => Inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => Inner.CompleteAsync(exception);

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_refused)
        {
            return ValueTask.FromResult(new ReadResult(ReadOnlySequence<byte>.Empty, false, true));
        }

        return _checkProxyHeader ? ReadCheckingProxyHeaderAsync(cancellationToken) : Inner.ReadAsync(cancellationToken);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_refused)
        {
            result = new ReadResult(ReadOnlySequence<byte>.Empty, false, true);
            return true;
        }

        if (_checkProxyHeader)
        {
            result = default;
            return false;
        }

        return Inner.TryRead(out result);
    }

    private static bool? Inspect(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[12];
        var n = (int)Math.Min(buffer.Length, head.Length);
        buffer.Slice(0, n).CopyTo(head);
        return ProxyHeaderParser.LooksLikeProxyHeader(head[..n]);
    }

    private async ValueTask<ReadResult> ReadCheckingProxyHeaderAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await Inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var looks = Inspect(buffer);
            if (looks == true)
            {
                _checkProxyHeader = false;
                _refused = true;
                Inner.AdvanceTo(buffer.End);
                _refuseProxyHeaderOf!.OnProxyHeaderRefused();
                return new ReadResult(ReadOnlySequence<byte>.Empty, false, true);
            }

            // Undecided but already a complete line (a client's empty first line is a prefix of the v2
            // signature): hand it over rather than wait for bytes the client may never send.
            if (looks is null && buffer.PositionOf((byte)'\n') is not null)
            {
                _checkProxyHeader = false;
                return result;
            }

            if (looks == false || result.IsCanceled || (looks is null && result.IsCompleted))
            {
                _checkProxyHeader = looks is null && !result.IsCompleted;
                return result;
            }

            Inner.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}

/// <summary>The handler's output: delegates to the writer of the current stream.</summary>
internal sealed class ConnectionPipeWriter(PipeWriter inner) : PipeWriter
{
    public PipeWriter Inner { get; set; } = inner;

    public override bool CanGetUnflushedBytes => Inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => Inner.UnflushedBytes;

    public override void Advance(int bytes) => Inner.Advance(bytes);

    public override void CancelPendingFlush() => Inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => Inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => Inner.CompleteAsync(exception);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => Inner.FlushAsync(cancellationToken);

    public override Memory<byte> GetMemory(int sizeHint = 0) => Inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => Inner.GetSpan(sizeHint);
}

/// <summary>The handler's duplex pipe.</summary>
internal sealed class ConnectionDuplexPipe(ConnectionPipeReader input, ConnectionPipeWriter output) : IDuplexPipe
{
    public ConnectionPipeReader ConnectionInput { get; } = input;

    public ConnectionPipeWriter ConnectionOutput { get; } = output;

    public PipeReader Input => ConnectionInput;

    public PipeWriter Output => ConnectionOutput;
}
