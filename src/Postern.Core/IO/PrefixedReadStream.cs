namespace Postern.Core.IO;

/// <summary>
/// A read-only stream of some bytes in memory followed by another stream: a stored message's trace prefix
/// before its blob, or bytes already taken off a connection before the connection itself. Disposing it
/// disposes the inner stream.
/// </summary>
public sealed class PrefixedReadStream(ReadOnlyMemory<byte> prefix, Stream rest) : ReadOnlyWrapperStream(rest)
{
    private int _prefixRead;

    /// <summary>Prefix plus the inner stream's length (only when the inner stream knows it).</summary>
    public override long Length => Inner.CanSeek ? prefix.Length + Inner.Length : throw new NotSupportedException();

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
