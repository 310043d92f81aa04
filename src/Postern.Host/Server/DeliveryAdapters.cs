using System.Collections.Concurrent;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;
using Postern.Delivery.Engine;
using Postern.Mailboxes;
using Postern.Primitives;
using Postern.Protocols.Smtp;

namespace Postern.Host.Server;

/// <summary>The tenant directory as delivery sees it: domains by name, cached until the directory changes.</summary>
internal sealed class DirectoryDeliveryView(IDirectoryStore store, TimeProvider time) : IDeliveryDirectory
{
    private static readonly TimeSpan StampCheck = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, OwnDomain?> _cache = new(StringComparer.Ordinal);
    private long _stamp = long.MinValue;
    private DateTimeOffset _checked = DateTimeOffset.MinValue;

    public async ValueTask<OwnDomain?> FindDomainAsync(string domain, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now - _checked >= StampCheck)
        {
            var stamp = await store.GetChangeStampAsync(cancellationToken).ConfigureAwait(false);
            _checked = now;
            if (stamp != Interlocked.Exchange(ref _stamp, stamp))
            {
                _cache.Clear();
            }
        }

        if (_cache.TryGetValue(domain, out var cached))
        {
            return cached;
        }

        var found = await store.FindDomainAsync(domain, cancellationToken).ConfigureAwait(false);
        var own = found is null ? null : new OwnDomain(found.Name.Ascii, found.IsHosted, found.IsRelay, found.RelayHosts, DeliverySettings.Read(found.SettingsJson));
        if (_cache.Count < 100_000)
        {
            _cache[domain] = own;
        }

        return own;
    }
}

/// <summary>Queued mail for Postern's own mailboxes (a DSN to a local sender, say) goes through local delivery.</summary>
internal sealed class MailboxTransport(LocalDeliveryService delivery, IQueueStore queue, string hostname) : ILocalTransport
{
    public async Task<IReadOnlyList<LocalOutcome>> DeliverAsync(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken)
    {
        var outcomes = new List<LocalOutcome>(recipients.Count);
        var onward = new List<NewQueueRecipient>();
        foreach (var r in recipients)
        {
            if (!EmailAddress.TryParse(r.Address, out var address, out _))
            {
                outcomes.Add(new LocalOutcome(new SmtpReply(553, new EnhancedStatusCode(5, 1, 3), "bad recipient address")));
                continue;
            }

            var result = await delivery.DeliverAsync(new BlobInfo(message.Blob, message.Size), new DeliveryEnvelope(message.ReversePath, "LOCAL", QueueId: message.QueueId), address!, cancellationToken).ConfigureAwait(false);
            onward.AddRange(result.QueueRecipients(r.Notify, r.OriginalRecipient));
            outcomes.Add(result.Status switch
            {
                LocalDeliveryStatus.Delivered => new LocalOutcome(new SmtpReply(250, new EnhancedStatusCode(2, 0, 0), $"delivered on {hostname}")),
                LocalDeliveryStatus.UnknownRecipient => new LocalOutcome(new SmtpReply(550, new EnhancedStatusCode(5, 1, 1), "no such mailbox")),
                LocalDeliveryStatus.AccountDisabled => new LocalOutcome(new SmtpReply(550, new EnhancedStatusCode(5, 2, 1), "mailbox disabled")),
                LocalDeliveryStatus.OverQuota => new LocalOutcome(new SmtpReply(452, new EnhancedStatusCode(4, 2, 2), "mailbox full")),
                LocalDeliveryStatus.StorageFull => new LocalOutcome(new SmtpReply(452, new EnhancedStatusCode(4, 3, 1), "insufficient system storage")),
                _ => new LocalOutcome(new SmtpReply(451, new EnhancedStatusCode(4, 3, 0), result.Detail)),
            });
        }

        if (onward.Count > 0)
        {
            // Forwards and list members elsewhere go back into the queue, with the same body.
            await queue.EnqueueAsync(new NewQueuedMessage(message.ReversePath, onward, message.Blob, message.Size, message.EnvelopeId, message.Return, message.RequireTls, message.SmtpUtf8), cancellationToken).ConfigureAwait(false);
        }

        return outcomes;
    }
}
