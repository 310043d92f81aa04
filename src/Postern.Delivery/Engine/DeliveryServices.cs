using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;
using Postern.Protocols.Smtp;

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

/// <summary>One recipient's result of a local delivery, as the reply an SMTP server would have given (2xx stored, 4xx retry, 5xx bounce).</summary>
public sealed record LocalOutcome(SmtpReply Reply)
{
    public bool Delivered => Reply.IsPositive;

    public bool Permanent => Reply.IsPermanentFailure;
}

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
