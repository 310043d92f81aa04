using Postern.Core.Tenants;
using Postern.Delivery.Verification;
using Postern.Primitives;

namespace Postern.Server.Smtp;

/// <summary>What a relay domain's own server says about one of its addresses.</summary>
public enum RecipientCheck
{
    /// <summary>The address exists: accept it.</summary>
    Exists = 0,

    /// <summary>The server refused the address for good: 550 5.1.1.</summary>
    DoesNotExist = 1,

    /// <summary>No answer (unreachable, too slow, or 4xx): 450, the sender tries later.</summary>
    Unavailable = 2,
}

/// <summary>
/// The answer with what the operator's log needs (<paramref name="Detail"/> is never shown to the SMTP client).
/// <paramref name="Unreachable"/>: no server could be talked to (rather than one answering "try later").
/// </summary>
public sealed record RecipientCheckResult(RecipientCheck Check, string Detail, bool FromCache = false, bool Unreachable = false);

/// <summary>Verifies, at RCPT time, recipients of relay domains whose setting is <see cref="RecipientVerificationMode.Probe"/>.</summary>
public interface IRecipientVerifier
{
    ValueTask<RecipientCheckResult> VerifyAsync(MailDomain domain, EmailAddress recipient, CancellationToken cancellationToken);
}

/// <summary>The delivery layer's RCPT probe with its cache (<see cref="RecipientVerifier"/>) as the SMTP server's verifier.</summary>
public sealed class ProbingRecipientVerifier(RecipientVerifier verifier) : IRecipientVerifier
{
    public RecipientVerifier Verifier { get; } = verifier ?? throw new ArgumentNullException(nameof(verifier));

    public async ValueTask<RecipientCheckResult> VerifyAsync(MailDomain domain, EmailAddress recipient, CancellationToken cancellationToken)
    {
        var result = await Verifier.VerifyAsync(domain, recipient, cancellationToken).ConfigureAwait(false);
        var check = result.Status switch
        {
            RecipientStatus.Exists => RecipientCheck.Exists,
            RecipientStatus.DoesNotExist => RecipientCheck.DoesNotExist,
            _ => RecipientCheck.Unavailable,
        };
        return new RecipientCheckResult(check, result.Detail, result.FromCache, result.Unreachable);
    }
}
