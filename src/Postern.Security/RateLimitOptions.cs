namespace Postern.Security;

/// <summary>
/// Rate limits for the SMTP listeners. A limit of 0 switches that limit off. Windows are fixed (aligned to the
/// clock: minute, hour), counted in the shared <see cref="Postern.Core.Storage.KeyValue.IKeyValueStore"/>.
/// </summary>
public sealed record RateLimitOptions
{
    /// <summary>New connections per client (IPv4 address, IPv6 /64) per minute, on every listener (Postfix: smtpd_client_connection_rate_limit, off by default).</summary>
    public int ConnectionsPerIpPerMinute { get; init; } = 60;

    /// <summary>Messages (MAIL FROM) per client per minute from unauthenticated clients (MX).</summary>
    public int MessagesPerIpPerMinute { get; init; } = 120;

    /// <summary>Messages per client per hour from unauthenticated clients (MX).</summary>
    public int MessagesPerIpPerHour { get; init; } = 3_000;

    /// <summary>Messages per authenticated account per minute (submission).</summary>
    public int MessagesPerAccountPerMinute { get; init; } = 30;

    /// <summary>Messages per authenticated account per hour (submission).</summary>
    public int MessagesPerAccountPerHour { get; init; } = 500;

    /// <summary>Recipients in one message (RFC 5321 §4.5.3.1.8 asks for at least 100; Postfix's smtpd_recipient_limit is 1000).</summary>
    public int RecipientsPerMessage { get; init; } = 1_000;

    /// <summary>Recipients per authenticated account per hour, over all its messages.</summary>
    public int RecipientsPerAccountPerHour { get; init; } = 1_000;

    /// <summary>Recipients per unauthenticated client per hour (MX).</summary>
    public int RecipientsPerIpPerHour { get; init; } = 10_000;

    /// <summary>Message bytes per authenticated account per hour.</summary>
    public long BytesPerAccountPerHour { get; init; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Message bytes per unauthenticated client per hour (0: off; big senders are legitimate on MX).</summary>
    public long BytesPerIpPerHour { get; init; }

    /// <summary>Networks (CIDR) never limited.</summary>
    public IReadOnlyList<string> TrustedNetworks { get; init; } = [];

    /// <summary>IPv6 clients are counted by this prefix.</summary>
    public int Ipv6PrefixLength { get; init; } = 64;

    internal void Validate()
    {
        if (ConnectionsPerIpPerMinute < 0 || MessagesPerIpPerMinute < 0 || MessagesPerIpPerHour < 0 || MessagesPerAccountPerMinute < 0
            || MessagesPerAccountPerHour < 0 || RecipientsPerMessage < 0 || RecipientsPerAccountPerHour < 0 || RecipientsPerIpPerHour < 0
            || BytesPerAccountPerHour < 0 || BytesPerIpPerHour < 0)
        {
            throw new ArgumentException("Rate limits must be 0 (off) or positive.");
        }

        if (Ipv6PrefixLength is < 32 or > 128)
        {
            throw new ArgumentException("Ipv6PrefixLength must be between 32 and 128.");
        }
    }
}
