namespace Postern.Security;

/// <summary>Which limit refused something.</summary>
public enum RateLimit
{
    None,
    ConnectionsPerIpPerMinute,
    MessagesPerIpPerMinute,
    MessagesPerIpPerHour,
    MessagesPerAccountPerMinute,
    MessagesPerAccountPerHour,
    RecipientsPerMessage,
    RecipientsPerAccountPerHour,
    RecipientsPerIpPerHour,
    BytesPerAccountPerHour,
    BytesPerIpPerHour,
}

/// <summary>
/// Allowed, or which limit was hit and when the window that is full ends. <see cref="SmtpCode"/> and
/// <see cref="EnhancedCode"/> suggest the SMTP reply: 421 4.7.0 (and close) for connections, 450 4.7.1 for messages
/// and bytes, 452 4.5.3 for recipients (the client sends the rest later, RFC 5321 §4.5.3.1.10).
/// </summary>
public readonly record struct RateLimitResult(RateLimit Limit, TimeSpan RetryAfter)
{
    public static RateLimitResult Allowed => default;

    public bool IsAllowed => Limit == RateLimit.None;

    public int SmtpCode => Limit switch
    {
        RateLimit.None => 250,
        RateLimit.ConnectionsPerIpPerMinute => 421,
        RateLimit.RecipientsPerMessage or RateLimit.RecipientsPerAccountPerHour or RateLimit.RecipientsPerIpPerHour => 452,
        _ => 450,
    };

    public string EnhancedCode => Limit switch
    {
        RateLimit.None => "2.0.0",
        RateLimit.ConnectionsPerIpPerMinute => "4.7.0",
        RateLimit.RecipientsPerMessage or RateLimit.RecipientsPerAccountPerHour or RateLimit.RecipientsPerIpPerHour => "4.5.3",
        _ => "4.7.1",
    };
}
