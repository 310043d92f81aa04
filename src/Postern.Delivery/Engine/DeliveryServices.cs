using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;

namespace Postern.Delivery.Engine;

/// <summary>What delivery needs to know about a domain that is Postern's own.</summary>
/// <param name="Name">The domain (A-label, lower case).</param>
/// <param name="Hosted">Mailboxes live here.</param>
/// <param name="Relay">Mail goes on to the customer's servers.</param>
/// <param name="RelayHosts">The customer's servers (lowest priority first; equal priorities share the load).</param>
/// <param name="Settings">The domain's delivery settings (TLS policy, hold, lifetime).</param>
public sealed record OwnDomain(string Name, bool Hosted, bool Relay, IReadOnlyList<RelayHost> RelayHosts, DomainDeliverySettings Settings);

/// <summary>The directory as delivery sees it (implemented over the tenant directory, with its cache).</summary>
public interface IDeliveryDirectory
{
    /// <summary>The domain when it is one of ours (or an alias of one), otherwise null.</summary>
    ValueTask<OwnDomain?> FindDomainAsync(string domain, CancellationToken cancellationToken);
}

/// <summary>One recipient's result of a local delivery.</summary>
/// <param name="Delivered">Stored (or passed on to its targets).</param>
/// <param name="Permanent">When not delivered: true for a permanent failure (unknown user), false to retry (mailbox full, disk).</param>
/// <param name="Reply">What happened, as an SMTP reply text (e.g. <c>550 5.1.1 no such user</c>).</param>
public sealed record LocalOutcome(bool Delivered, bool Permanent, string Reply);

/// <summary>Delivers queued mail into Postern's own mailboxes (a bounce to a local sender, mail for a hosted domain that was queued).</summary>
public interface ILocalTransport
{
    /// <summary>Delivers the message to each recipient; one outcome per recipient, in order.</summary>
    Task<IReadOnlyList<LocalOutcome>> DeliverAsync(QueuedMessage message, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken);
}

/// <summary>The seam before the wire: outbound DKIM signing and ARC sealing (issue 7) transform the message here.</summary>
public interface IOutboundMessageSigner
{
    /// <summary>Returns the message to send (with signature fields prepended), or the same bytes.</summary>
    ValueTask<ReadOnlyMemory<byte>> SignAsync(QueuedMessage message, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);
}
