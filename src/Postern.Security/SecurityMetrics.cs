using System.Diagnostics.Metrics;

namespace Postern.Security;

/// <summary>The meter "Postern.Security" (exported at /metrics with Postern's other meters).</summary>
internal static class SecurityMetrics
{
    public const string MeterName = "Postern.Security";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Failed logins recorded; tag <c>repeated</c> = true when the same stale password was not counted again.</summary>
    public static readonly Counter<long> AuthFailures = Meter.CreateCounter<long>("postern.auth.failures", description: "Failed logins recorded");

    /// <summary>Login attempts refused before the password check; tag <c>reason</c>.</summary>
    public static readonly Counter<long> AuthBlocked = Meter.CreateCounter<long>("postern.auth.blocked", description: "Login attempts refused by a lockout or throttle");

    /// <summary>Lockouts started; tag <c>kind</c> = client or account.</summary>
    public static readonly Counter<long> AuthLockouts = Meter.CreateCounter<long>("postern.auth.lockouts", description: "Client lockouts and account throttles started");

    /// <summary>Events refused by a rate limit; tag <c>limit</c>.</summary>
    public static readonly Counter<long> RateLimited = Meter.CreateCounter<long>("postern.ratelimit.refused", description: "Events refused by a rate limit");

    /// <summary>Store errors answered by failing open.</summary>
    public static readonly Counter<long> StoreErrors = Meter.CreateCounter<long>("postern.security.store_errors", description: "Key-value store errors (the check failed open)");
}
