namespace Postern.Security;

/// <summary>
/// Brute-force protection for SMTP AUTH, IMAP and POP3 logins. The defaults are for production; see
/// docs/security.md for how they compare with Dovecot's auth penalty, Postfix's anvil and fail2ban.
/// </summary>
public sealed record AuthProtectionOptions
{
    /// <summary>Failed logins from one client (IPv4 address or IPv6 /64) that lock it out.</summary>
    public int IpMaxFailures { get; init; } = 10;

    /// <summary>The fixed window, starting at the first failure, in which <see cref="IpMaxFailures"/> are counted.</summary>
    public TimeSpan IpFailureWindow { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>The first lockout of a client; each further lockout within <see cref="LockoutMemory"/> doubles it.</summary>
    public TimeSpan IpLockoutBase { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>The longest lockout of a client.</summary>
    public TimeSpan IpLockoutMax { get; init; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Failed logins for one account from clients that never logged in to it successfully ("unfamiliar") that
    /// throttle the account: unfamiliar clients are refused for a while; familiar ones are not affected.
    /// </summary>
    public int AccountMaxFailures { get; init; } = 20;

    /// <summary>The fixed window in which <see cref="AccountMaxFailures"/> are counted.</summary>
    public TimeSpan AccountFailureWindow { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The first account throttle; doubles with each further one within <see cref="LockoutMemory"/>.</summary>
    public TimeSpan AccountThrottleBase { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The longest account throttle (short, so a real user on a new network is never shut out for long).</summary>
    public TimeSpan AccountThrottleMax { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long earlier lockouts count towards a longer next one.</summary>
    public TimeSpan LockoutMemory { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How long a client stays "familiar" to an account after a successful login from it.</summary>
    public TimeSpan FamiliarClientRetention { get; init; } = TimeSpan.FromDays(30);

    /// <summary>The delay before answering a client's first failed login; it doubles with each further failure.</summary>
    public TimeSpan TarpitInitial { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest delay before answering a failed login.</summary>
    public TimeSpan TarpitMax { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Networks (CIDR) never counted, delayed or locked: monitoring, webmail backends, the load balancer's health checks.</summary>
    public IReadOnlyList<string> TrustedNetworks { get; init; } = [];

    /// <summary>IPv6 clients are counted by this prefix.</summary>
    public int Ipv6PrefixLength { get; init; } = 64;

    internal void Validate()
    {
        if (IpMaxFailures < 1 || AccountMaxFailures < 1)
        {
            throw new ArgumentException("Failure limits must be at least 1.");
        }

        if (IpFailureWindow <= TimeSpan.Zero || AccountFailureWindow <= TimeSpan.Zero || IpLockoutBase <= TimeSpan.Zero
            || AccountThrottleBase <= TimeSpan.Zero || LockoutMemory <= TimeSpan.Zero || FamiliarClientRetention <= TimeSpan.Zero)
        {
            throw new ArgumentException("Windows and lockout periods must be positive.");
        }

        if (IpLockoutMax < IpLockoutBase || AccountThrottleMax < AccountThrottleBase || TarpitInitial < TimeSpan.Zero || TarpitMax < TarpitInitial)
        {
            throw new ArgumentException("A maximum is smaller than its base.");
        }

        if (Ipv6PrefixLength is < 32 or > 128)
        {
            throw new ArgumentException("Ipv6PrefixLength must be between 32 and 128.");
        }
    }
}
