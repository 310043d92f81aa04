namespace Postern.Security;

/// <summary>Why a login attempt is refused before its credentials are checked.</summary>
public enum AuthBlock
{
    /// <summary>Not blocked: check the credentials.</summary>
    None,

    /// <summary>The client (IPv4 address or IPv6 prefix) is locked out after too many failures.</summary>
    ClientLockedOut,

    /// <summary>The account is under attack and the client never logged in to it successfully.</summary>
    AccountThrottled,
}

/// <summary>
/// The answer of <see cref="AuthGuard.CheckAsync"/>. When blocked, answer with a temporary failure (SMTP
/// <c>454 4.7.0</c>, IMAP <c>NO [UNAVAILABLE]</c>, POP3 <c>-ERR [IN-USE]</c>/<c>[SYS/TEMP]</c>) without checking the
/// password, and do not call <see cref="AuthGuard.RecordFailureAsync"/> (an attempt refused for
/// <see cref="AuthBlock.AccountThrottled"/> has already been counted against the client).
/// </summary>
public readonly record struct AuthCheckResult(AuthBlock Block, TimeSpan RetryAfter)
{
    public static AuthCheckResult Allowed => default;

    public bool IsAllowed => Block == AuthBlock.None;
}

/// <summary>
/// The answer of <see cref="AuthGuard.RecordFailureAsync"/>: wait <see cref="Delay"/> before sending the failure
/// reply (the tarpit). <see cref="ClientLockout"/> / <see cref="AccountThrottle"/> are set when this failure started one.
/// <see cref="Repeated"/>: the client already failed with this very login name and password recently, so this
/// failure was not counted (<see cref="ClientFailures"/> is then 0).
/// </summary>
public readonly record struct AuthFailureResult(TimeSpan Delay, long ClientFailures, TimeSpan? ClientLockout, TimeSpan? AccountThrottle, bool Repeated = false);
