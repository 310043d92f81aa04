using System.Buffers;

namespace Postern.Protocols.Smtp.Client;

/// <summary>
/// The envelope of one outbound transaction. <see cref="ReversePath"/> is the address without angle brackets,
/// empty for the null reverse-path (<c>MAIL FROM:&lt;&gt;</c>, bounces). DSN parameters (RFC 3461) go out only
/// when the peer offers DSN; <see cref="SmtpTransactionResult.DsnParametersSent"/> tells the caller whether they did
/// (when not, a NOTIFY=SUCCESS recipient is owed a "relayed" DSN).
/// </summary>
public sealed record SmtpEnvelope(string ReversePath, IReadOnlyList<SmtpRecipient> Recipients)
{
    /// <summary>The message needs SMTPUTF8 (RFC 6531: UTF-8 in header fields or addresses); non-ASCII local parts imply it.</summary>
    public bool RequiresSmtpUtf8 { get; init; }

    /// <summary>RFC 8689 REQUIRETLS: sent only over TLS to a peer that offers REQUIRETLS, never otherwise.</summary>
    public bool RequireTls { get; init; }

    /// <summary>RET= (FULL or HDRS) when the peer offers DSN.</summary>
    public DsnReturn Return { get; init; }

    /// <summary>ENVID= (sent xtext-encoded) when the peer offers DSN.</summary>
    public string? EnvelopeId { get; init; }
}

/// <summary>One recipient: the forward-path address (no angle brackets) and its DSN parameters.</summary>
public sealed record SmtpRecipient(string Address)
{
    /// <summary>NOTIFY= when the peer offers DSN; <see cref="DsnNotify.Unspecified"/> sends none.</summary>
    public DsnNotify Notify { get; init; }

    /// <summary>ORCPT's address (decoded; sent xtext-encoded) when the peer offers DSN.</summary>
    public string? OriginalRecipient { get; init; }

    /// <summary>ORCPT's address type (RFC 3461 §4.2), "rfc822" unless told otherwise.</summary>
    public string OriginalRecipientType { get; init; } = "rfc822";
}

/// <summary>
/// The message to send: header and body as lines (CRLF expected; bare CR and bare LF are sent as CRLF, and a
/// missing final line end is added). Either a <see cref="Stream"/> the caller owns, read from its current position
/// (a seekable stream is rewound there for each send, a non-seekable one can be sent once), or bytes in memory.
/// <see cref="Body"/> says whether the content is 7-bit, 8-bit (BODY=8BITMIME) or binary (BODY=BINARYMIME, BDAT only,
/// sent byte for byte); the session does not guess it from a stream, so the caller must not call 8-bit content 7-bit.
/// </summary>
public sealed class SmtpMessageContent
{
    private readonly Stream? _stream;
    private readonly long _streamStart;
    private readonly ReadOnlySequence<byte> _bytes;
    private SequencePosition _position;
    private bool _started;

    private SmtpMessageContent(Stream? stream, ReadOnlySequence<byte> bytes, BodyType body, long? length)
    {
        _stream = stream;
        _streamStart = stream is { CanSeek: true } ? stream.Position : 0;
        _bytes = bytes;
        _position = bytes.Start;
        Body = body;
        Length = length;
    }

    public BodyType Body { get; }

    /// <summary>Size in octets when known (sent as SIZE=, checked against the peer's SIZE limit).</summary>
    public long? Length { get; }

    /// <summary>A stream of message lines; <paramref name="length"/> defaults to what is left of a seekable stream.</summary>
    public static SmtpMessageContent FromStream(Stream stream, BodyType body, long? length = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
        {
            throw new ArgumentException("The content stream must be readable.", nameof(stream));
        }

        return new SmtpMessageContent(stream, ReadOnlySequence<byte>.Empty, body, length ?? (stream.CanSeek ? stream.Length - stream.Position : null));
    }

    /// <summary>Bytes in memory; without <paramref name="body"/>, a byte over 127 makes it 8-bit, otherwise 7-bit.</summary>
    public static SmtpMessageContent FromBytes(ReadOnlySequence<byte> bytes, BodyType? body = null) =>
        new(null, bytes, body ?? Detect(bytes), bytes.Length);

    /// <inheritdoc cref="FromBytes(ReadOnlySequence{byte}, BodyType?)"/>
    public static SmtpMessageContent FromBytes(ReadOnlyMemory<byte> bytes, BodyType? body = null) =>
        FromBytes(new ReadOnlySequence<byte>(bytes), body);

    private static BodyType Detect(ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
        {
            if (segment.Span.IndexOfAnyInRange((byte)0x80, (byte)0xff) >= 0)
            {
                return BodyType.EightBitMime;
            }
        }

        return BodyType.SevenBit;
    }

    /// <summary>Back to the start before a send.</summary>
    internal void Rewind()
    {
        if (_stream is null)
        {
            _position = _bytes.Start;
            return;
        }

        if (_started)
        {
            if (!_stream.CanSeek)
            {
                throw new InvalidOperationException("A non-seekable content stream can be sent only once.");
            }

            _stream.Position = _streamStart;
        }

        _started = true;
    }

    internal async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_stream is not null)
        {
            return await _stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        var rest = _bytes.Slice(_position);
        var n = (int)Math.Min(rest.Length, buffer.Length);
        rest.Slice(0, n).CopyTo(buffer.Span);
        _position = rest.GetPosition(n);
        return n;
    }
}
