namespace Postern.Delivery.Verification;

/// <summary>How recipients of relay domains are verified with the customer's own mail servers, and how long answers are kept.</summary>
public sealed record RecipientProbeOptions
{
    /// <summary>Our name in EHLO (the server's hostname).</summary>
    public string LocalHostname { get; init; } = "localhost";

    /// <summary>The longest wait for one TCP connection to one of the customer's servers.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest a whole probe may take, every host tried included; the sender waits this long at most.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long "the address exists" is remembered.</summary>
    public TimeSpan PositiveCacheTime { get; init; } = TimeSpan.FromDays(1);

    /// <summary>How long "no such address" is remembered.</summary>
    public TimeSpan NegativeCacheTime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>After no server of a domain could be reached, its recipients get "try later" without a new connection for this long.</summary>
    public TimeSpan UnreachableCacheTime { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Most answers kept; the oldest is dropped to make room.</summary>
    public int MaxCacheEntries { get; init; } = 100_000;
}
