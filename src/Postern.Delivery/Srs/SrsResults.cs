namespace Postern.Delivery.Srs;

/// <summary>What <see cref="SrsRewriter.Forward"/> did with a sender.</summary>
public enum SrsForwardOutcome
{
    /// <summary>Rewritten to an SRS0 address (or SRS1, when the sender was already an SRS address of another forwarder).</summary>
    Rewritten,

    /// <summary>The null reverse-path <c>&lt;&gt;</c>: bounces stay bounces.</summary>
    NullSender,

    /// <summary>A local part listed in <see cref="SrsOptions.NeverRewriteLocalParts"/> (postmaster, mailer-daemon), or a bare <c>postmaster</c>.</summary>
    ExemptLocalPart,

    /// <summary>The sender is in <see cref="SrsOptions.Domain"/> or <see cref="SrsOptions.ExcludedDomains"/>.</summary>
    OwnDomain,

    /// <summary>The sender's domain is an address literal (<c>[192.0.2.1]</c>), which SRS cannot carry.</summary>
    AddressLiteral,

    /// <summary>The sender is not of the form local@domain.</summary>
    Malformed,
}

/// <summary>The envelope sender to use: <see cref="Address"/> is the rewritten sender, or the original one unchanged.</summary>
public sealed record SrsForwardResult(SrsForwardOutcome Outcome, string Address)
{
    public bool IsRewritten => Outcome == SrsForwardOutcome.Rewritten;
}

/// <summary>How <see cref="SrsRewriter.Reverse"/> judged an address.</summary>
public enum SrsReverseStatus
{
    /// <summary>A genuine SRS address of ours; <see cref="SrsReverseResult.Address"/> is where bounces go.</summary>
    Valid,

    /// <summary>The local part does not start with SRS0 or SRS1 and a separator: deliver it as an ordinary address.</summary>
    NotSrs,

    /// <summary>SRS-shaped but missing fields, or a timestamp that is not two base32 characters.</summary>
    Malformed,

    /// <summary>The hash does not match under any of our secrets (forged, altered, or signed with a dropped secret).</summary>
    BadHash,

    /// <summary>The hash is right but the timestamp is older than <see cref="SrsOptions.MaxAgeDays"/> (or in the future).</summary>
    Expired,
}

/// <summary>
/// The result of reversing an SRS address. For SRS0 <see cref="Address"/> is the original sender; for an SRS1
/// address it is the SRS0 address at the first forwarder (<see cref="IsSrs1"/>), unless that forwarder is us, in
/// which case it is decoded to the original sender as well. <see cref="Reason"/> explains an invalid result.
/// </summary>
public sealed record SrsReverseResult(SrsReverseStatus Status, string? Address, bool IsSrs1, string? Reason)
{
    public bool IsValid => Status == SrsReverseStatus.Valid;
}
