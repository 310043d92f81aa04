using Postern.Core.Tenants;

namespace Postern.Delivery.Verification;

/// <summary>What the customer's server said about a recipient.</summary>
public enum RecipientStatus
{
    /// <summary>RCPT was accepted: the address exists.</summary>
    Exists = 0,

    /// <summary>RCPT was refused with 5xx: the address does not exist (or is refused for good).</summary>
    DoesNotExist = 1,

    /// <summary>No answer: every server was unreachable, too slow, or answered 4xx. The sender must try later.</summary>
    Unavailable = 2,
}

/// <summary>
/// The answer to one verification. <see cref="Detail"/> says which server answered what (for the operator's logs;
/// never for the SMTP client). <see cref="Unreachable"/>: no server of the domain could be talked to at all.
/// </summary>
public sealed record RecipientProbeResult(RecipientStatus Status, string Detail)
{
    public bool Unreachable { get; init; }

    /// <summary>The answer came from the cache (no connection was made for it).</summary>
    public bool FromCache { get; init; }
}

/// <summary>Asks a relay domain's mail servers whether an address exists (one conversation, no caching).</summary>
public interface IRecipientProbe
{
    /// <summary>Never throws for network or protocol problems (they are <see cref="RecipientStatus.Unavailable"/>); throws when the caller cancels.</summary>
    Task<RecipientProbeResult> ProbeAsync(IReadOnlyList<RelayHost> hosts, string recipient, CancellationToken cancellationToken);
}
