using System.Buffers;
using Postern.Core.IO;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Queue;
using Postern.Delivery.Downgrade;
using Postern.Protocols.Smtp;
using Postern.Protocols.Smtp.Client;

namespace Postern.Delivery.Engine;

/// <summary>
/// The message as it leaves: our trace fields, then the stored body. Small messages are held in memory (and can be
/// signed and sent again); a large one is streamed from the blob store on each send, after one pass that finds out
/// whether it is 8-bit.
/// </summary>
internal sealed class MessageContent
{
    private readonly IBlobStore _blobs;
    private readonly QueuedMessage _message;
    private IOutboundMessageSigner? _signer;
    private ReadOnlyMemory<byte>? _signed;
    private ReadOnlyMemory<byte>? _signedSevenBit;
    private ReadOnlyMemory<byte>? _bytes;
    private byte[]? _sevenBit;
    private BodyType _body;

    private MessageContent(IBlobStore blobs, QueuedMessage message)
    {
        _blobs = blobs;
        _message = message;
    }

    public long Length => _message.Trace.Length + _message.Size;

    /// <summary>Held in memory (so it can be converted to 7-bit).</summary>
    public bool InMemory => _bytes is not null;

    public static async Task<MessageContent?> LoadAsync(IBlobStore blobs, QueuedMessage message, int inMemoryLimit, IOutboundMessageSigner? signer, CancellationToken cancellationToken)
    {
        var content = new MessageContent(blobs, message);
        if (message.Size <= inMemoryLimit || signer is not null)
        {
            await using var stream = await blobs.OpenReadAsync(message.Blob, cancellationToken).ConfigureAwait(false);
            if (stream is null)
            {
                return null;
            }

            var buffer = new byte[message.Trace.Length + message.Size];
            message.Trace.Span.CopyTo(buffer);
            await stream.ReadExactlyAsync(buffer.AsMemory(message.Trace.Length), cancellationToken).ConfigureAwait(false);
            ReadOnlyMemory<byte> bytes = buffer;
            content._signer = signer;
            content._bytes = bytes;
            content._body = EightBitDowngrade.IsSevenBitClean(bytes.Span) ? BodyType.SevenBit : BodyType.EightBitMime;
            return content;
        }

        // Streamed: one pass to tell 7-bit from 8-bit.
        await using (var scan = await blobs.OpenReadAsync(message.Blob, cancellationToken).ConfigureAwait(false))
        {
            if (scan is null)
            {
                return null;
            }

            var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                var eight = !EightBitDowngrade.IsSevenBitClean(message.Trace.Span);
                int read;
                while (!eight && (read = await scan.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    eight = !EightBitDowngrade.IsSevenBitClean(chunk.AsSpan(0, read));
                }

                content._body = eight ? BodyType.EightBitMime : BodyType.SevenBit;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        return content;
    }

    /// <summary>A fresh content object for one send (the caller disposes what it returns after the send).</summary>
    public async Task<(SmtpMessageContent Content, IAsyncDisposable? Owned)> OpenAsync(bool sevenBit, CancellationToken cancellationToken)
    {
        // Signing (DKIM, ARC: issue 7) comes last, over exactly what goes on the wire: after a 7-bit conversion, never before.
        if (sevenBit)
        {
            _signedSevenBit ??= _signer is null ? _sevenBit! : await _signer.SignAsync(_message, _sevenBit!, cancellationToken).ConfigureAwait(false);
            return (SmtpMessageContent.FromBytes(_signedSevenBit.Value, BodyType.SevenBit), null);
        }

        if (_bytes is { } bytes)
        {
            _signed ??= _signer is null ? bytes : await _signer.SignAsync(_message, bytes, cancellationToken).ConfigureAwait(false);
            return (SmtpMessageContent.FromBytes(_signed.Value, _body), null);
        }

        var stream = await OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        return (SmtpMessageContent.FromStream(stream, _body, Length), stream);
    }

    /// <summary>The trace fields, then the body as stored.</summary>
    private async Task<PrefixedReadStream> OpenStreamAsync(CancellationToken cancellationToken)
    {
        var body = await _blobs.OpenReadAsync(_message.Blob, cancellationToken).ConfigureAwait(false)
            ?? throw new IOException($"The body of queued message {_message.QueueId} is gone from the store.");
        return new PrefixedReadStream(_message.Trace, body);
    }

    /// <summary>Converts to 7-bit (quoted-printable) for a peer without 8BITMIME; null with the reason when it cannot be done.</summary>
    public async Task<string?> ConvertToSevenBitAsync(CancellationToken cancellationToken)
    {
        if (_sevenBit is not null)
        {
            return null;
        }

        ReadOnlyMemory<byte> bytes;
        if (_bytes is { } held)
        {
            bytes = held;
        }
        else
        {
            await using var stream = await OpenStreamAsync(cancellationToken).ConfigureAwait(false);
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
            bytes = copy.ToArray();
        }

        if (!EightBitDowngrade.TryConvert(bytes, out var converted, out var problem))
        {
            return problem ?? "the message cannot be converted to 7-bit";
        }

        _sevenBit = converted;
        return null;
    }
}
