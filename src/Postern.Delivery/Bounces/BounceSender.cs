using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Queue;
using Postern.Delivery.Dsn;
using Postern.Primitives;

namespace Postern.Delivery.Bounces;

/// <summary>Settings of <see cref="BounceSender"/>.</summary>
public sealed record BounceOptions
{
    /// <summary>Our host name: the Reporting-MTA and the MAILER-DAEMON domain.</summary>
    public required string ReportingMta { get; init; }

    /// <summary>The DSN builder's settings (returned-message limit, clock, names).</summary>
    public DsnOptions Dsn { get; init; } = new();

    /// <summary>Without RET=FULL only the header is returned: this much of the original is read to find it.</summary>
    public int HeaderReadLimit { get; init; } = 256 * 1024;
}

/// <summary>
/// Builds an RFC 3464 delivery status notification about some recipients of a queued message and queues it to
/// the message's envelope sender, from the null sender (so a bounce never bounces). Nothing is sent for a
/// message whose sender is the null sender, or when no recipient is given.
/// </summary>
public sealed class BounceSender(IQueueStore queue, IBlobStore blobs, BounceOptions options)
{
    private readonly IQueueStore _queue = queue ?? throw new ArgumentNullException(nameof(queue));
    private readonly IBlobStore _blobs = blobs ?? throw new ArgumentNullException(nameof(blobs));
    private readonly BounceOptions _options = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>Queues the DSN; returns its queue id, or null when none is due.</summary>
    public async Task<string?> SendAsync(QueuedMessage original, IReadOnlyList<DsnRecipient> recipients, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(recipients);
        var sender = original.ReversePath;
        if (sender.Length == 0 || recipients.Count == 0 || !EmailAddress.TryParse(sender, out var to, out _))
        {
            return null;
        }

        var full = original.Return == DsnReturn.Full && original.Size <= _options.Dsn.MaxReturnedMessageBytes;
        var content = await ReadOriginalAsync(original, full ? original.Size : Math.Min(original.Size, _options.HeaderReadLimit), cancellationToken).ConfigureAwait(false);
        var dsn = DeliveryStatusNotification.Build(
            new DsnReport
            {
                ReportingMta = _options.ReportingMta,
                EnvelopeSender = sender,
                EnvelopeId = original.EnvelopeId,
                ArrivalDate = original.CreatedAt,
                SmtpUtf8 = original.SmtpUtf8,
                Return = full ? DsnReturn.Full : DsnReturn.Headers,
                OriginalMessage = content,
                Recipients = recipients,
                QueueId = original.QueueId,
            },
            _options.Dsn);
        if (dsn is null)
        {
            return null;
        }

        using var stream = new MemoryStream(dsn, writable: false);
        var blob = await _blobs.WriteAsync(stream, cancellationToken).ConfigureAwait(false);
        // The destination is the sender's domain in A-labels, as for every queued recipient.
        return await _queue.EnqueueAsync(
            new NewQueuedMessage(string.Empty, [new NewQueueRecipient(to!.ToString(), to.Domain.Ascii, DsnNotify.Never)], blob.Id, blob.Length, SmtpUtf8: original.SmtpUtf8),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The trace fields and the first <paramref name="length"/> octets of the stored body.</summary>
    private async Task<byte[]> ReadOriginalAsync(QueuedMessage original, long length, CancellationToken cancellationToken)
    {
        using var copy = new MemoryStream();
        copy.Write(original.Trace.Span);
        await using (var body = await _blobs.OpenReadAsync(original.Blob, 0, length, cancellationToken).ConfigureAwait(false))
        {
            if (body is not null)
            {
                await body.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
            }
        }

        return copy.ToArray();
    }
}
