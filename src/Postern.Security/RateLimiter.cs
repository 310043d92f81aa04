using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Core.Storage.KeyValue;

namespace Postern.Security;

/// <summary>
/// Connection, message, recipient and byte rate limits, counted in fixed clock-aligned windows in the shared
/// <see cref="IKeyValueStore"/>. Each check counts the event and says whether it is allowed. A window known to be
/// full is answered from memory until it ends. Unauthenticated clients (MX) are limited per client IP; an
/// authenticated session is limited per account instead (its IP counts only for connections). If the store
/// fails, the event is allowed (fail open) and the error logged.
/// </summary>
public sealed class RateLimiter
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);
    private readonly IKeyValueStore _store;
    private readonly RateLimitOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TrustedNetworks _trusted;
    private readonly ExpiringKeyCache _full;

    public RateLimiter(IKeyValueStore store, RateLimitOptions options, TimeProvider? time = null, ILogger<RateLimiter>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _store = store;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _trusted = new TrustedNetworks(options.TrustedNetworks);
        _full = new ExpiringKeyCache(_time);
    }

    public RateLimitOptions Options => _options;

    public bool IsTrusted(IPAddress client) => _trusted.Contains(client);

    /// <summary>Counts a new connection (call on accept, after PROXY protocol). Refused: 421 4.7.0 and close.</summary>
    public async ValueTask<RateLimitResult> CheckConnectionAsync(IPAddress client, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (_trusted.Contains(client))
        {
            return RateLimitResult.Allowed;
        }

        return await CountAsync(RateLimit.ConnectionsPerIpPerMinute, Ip(client), _options.ConnectionsPerIpPerMinute, Minute, 1, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Counts a message (call at MAIL FROM). <paramref name="account"/> is the authenticated account, or null on
    /// an unauthenticated session. Refused: 450 4.7.1.
    /// </summary>
    public async ValueTask<RateLimitResult> CheckMessageAsync(IPAddress client, string? account, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (_trusted.Contains(client))
        {
            return RateLimitResult.Allowed;
        }

        if (account is not null)
        {
            return await MinuteThenHourAsync(
                RateLimit.MessagesPerAccountPerMinute, _options.MessagesPerAccountPerMinute,
                RateLimit.MessagesPerAccountPerHour, _options.MessagesPerAccountPerHour,
                AuthGuard.AccountKey(account),
                cancellationToken).ConfigureAwait(false);
        }

        return await MinuteThenHourAsync(
            RateLimit.MessagesPerIpPerMinute, _options.MessagesPerIpPerMinute,
            RateLimit.MessagesPerIpPerHour, _options.MessagesPerIpPerHour,
            Ip(client),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A full hour is reported before the minute is counted (its retry-after is the useful one).</summary>
    private async ValueTask<RateLimitResult> MinuteThenHourAsync(RateLimit minuteLimit, long perMinute, RateLimit hourLimit, long perHour, string subject, CancellationToken cancellationToken)
    {
        if (perHour > 0 && _full.TryGet(FullKey(hourLimit, subject), out var hourLeft))
        {
            Refused(hourLimit);
            return new RateLimitResult(hourLimit, hourLeft);
        }

        var minute = await CountAsync(minuteLimit, subject, perMinute, Minute, 1, cancellationToken).ConfigureAwait(false);
        return minute.IsAllowed
            ? await CountAsync(hourLimit, subject, perHour, Hour, 1, cancellationToken).ConfigureAwait(false)
            : minute;
    }

    /// <summary>
    /// The per-message recipient limit alone, with no counting: <paramref name="recipientNumber"/> is this
    /// recipient's 1-based position in the transaction. Refused: 452 4.5.3.
    /// </summary>
    public RateLimitResult CheckRecipientsPerMessage(int recipientNumber) =>
        _options.RecipientsPerMessage > 0 && recipientNumber > _options.RecipientsPerMessage
            ? new RateLimitResult(RateLimit.RecipientsPerMessage, TimeSpan.Zero)
            : RateLimitResult.Allowed;

    /// <summary>
    /// Counts a recipient (call at RCPT TO, before accepting it): the per-message limit (trusted networks too), then
    /// the hourly limit of the account or, unauthenticated, of the client. Refused: 452 4.5.3.
    /// </summary>
    public async ValueTask<RateLimitResult> CheckRecipientAsync(IPAddress client, string? account, int recipientNumber, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var perMessage = CheckRecipientsPerMessage(recipientNumber);
        if (!perMessage.IsAllowed)
        {
            Refused(perMessage.Limit);
            return perMessage;
        }

        if (_trusted.Contains(client))
        {
            return perMessage;
        }

        return account is not null
            ? await CountAsync(RateLimit.RecipientsPerAccountPerHour, AuthGuard.AccountKey(account), _options.RecipientsPerAccountPerHour, Hour, 1, cancellationToken).ConfigureAwait(false)
            : await CountAsync(RateLimit.RecipientsPerIpPerHour, Ip(client), _options.RecipientsPerIpPerHour, Hour, 1, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Counts a message's size (call at the end of DATA/BDAT, before the 250). Refused: 450 4.7.1.</summary>
    public async ValueTask<RateLimitResult> CheckBytesAsync(IPAddress client, string? account, long bytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (_trusted.Contains(client))
        {
            return RateLimitResult.Allowed;
        }

        return account is not null
            ? await CountAsync(RateLimit.BytesPerAccountPerHour, AuthGuard.AccountKey(account), _options.BytesPerAccountPerHour, Hour, bytes, cancellationToken).ConfigureAwait(false)
            : await CountAsync(RateLimit.BytesPerIpPerHour, Ip(client), _options.BytesPerIpPerHour, Hour, bytes, cancellationToken).ConfigureAwait(false);
    }

    private static string FullKey(RateLimit limit, string subject) => limit.ToString() + ":" + subject;

    private string Ip(IPAddress client) => ClientAddress.Key(client, _options.Ipv6PrefixLength);

    private async ValueTask<RateLimitResult> CountAsync(RateLimit limit, string subject, long max, TimeSpan window, long delta, CancellationToken cancellationToken)
    {
        if (max <= 0)
        {
            return RateLimitResult.Allowed;
        }

        var fullKey = FullKey(limit, subject);
        if (_full.TryGet(fullKey, out var remaining))
        {
            Refused(limit);
            return new RateLimitResult(limit, remaining);
        }

        var now = _time.GetUtcNow();
        var start = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % window.Ticks), TimeSpan.Zero);
        var end = start + window;
        var key = "rate:" + fullKey + ":" + start.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        try
        {
            var count = await _store.IncrementAsync(key, delta, end, cancellationToken).ConfigureAwait(false);
            if (count <= max)
            {
                return RateLimitResult.Allowed;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            SecurityMetrics.StoreErrors.Add(1);
            _logger.LogError(e, "Rate-limit store failed; allowing ({Limit})", limit);
            return RateLimitResult.Allowed;
        }

        _full.Set(fullKey, end);
        Refused(limit);
        return new RateLimitResult(limit, end - now);
    }

    private static void Refused(RateLimit limit) =>
        SecurityMetrics.RateLimited.Add(1, new KeyValuePair<string, object?>("limit", limit.ToString()));
}
