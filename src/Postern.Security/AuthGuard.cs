using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Core.Storage.KeyValue;

namespace Postern.Security;

/// <summary>
/// Brute-force protection shared by SMTP AUTH, IMAP and POP3. Use per login attempt:
/// <code>
/// var check = await guard.CheckAsync(ip, user, ct);          // before verifying the password
/// if (!check.IsAllowed) → temporary failure, no password check
/// ok ? await guard.RecordSuccessAsync(ip, user, ct)
///    : await Task.Delay((await guard.RecordFailureAsync(ip, user, password, ct)).Delay, time, ct) → then the failure reply
/// </code>
/// Counts live in the <see cref="IKeyValueStore"/> so every node sees them; lockouts already seen are answered
/// from memory. If the store fails, logins are allowed (fail open) and the error is logged: the password check
/// still protects the account, while refusing every login would turn a store outage into a mail outage.
/// </summary>
public sealed class AuthGuard
{
    private const string Prefix = "auth:";
    private static readonly byte[] One = "1"u8.ToArray();
    private readonly IKeyValueStore _store;
    private readonly AuthProtectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TrustedNetworks _trusted;
    private readonly ExpiringKeyCache _locks;
    private readonly ExpiringKeyCache _familiar;
    private readonly RepeatedCredentials _repeats;

    public AuthGuard(IKeyValueStore store, AuthProtectionOptions options, TimeProvider? time = null, ILogger<AuthGuard>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _store = store;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _trusted = new TrustedNetworks(options.TrustedNetworks);
        _locks = new ExpiringKeyCache(_time);
        _familiar = new ExpiringKeyCache(_time);
        _repeats = new RepeatedCredentials(_time);
    }

    public AuthProtectionOptions Options => _options;

    /// <summary>True when the client is in <see cref="AuthProtectionOptions.TrustedNetworks"/>.</summary>
    public bool IsTrusted(IPAddress client) => _trusted.Contains(client);

    /// <summary>
    /// Says whether a login attempt may go on to the password check. <paramref name="account"/> is the login name as
    /// typed (null when not known yet); it is compared without regard to case.
    /// </summary>
    public async ValueTask<AuthCheckResult> CheckAsync(IPAddress client, string? account, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (_trusted.Contains(client))
        {
            return AuthCheckResult.Allowed;
        }

        var ip = ClientAddress.Key(client, _options.Ipv6PrefixLength);
        try
        {
            if (await LockRemainingAsync(IpLockKey(ip), cancellationToken).ConfigureAwait(false) is { } ipLock)
            {
                SecurityMetrics.AuthBlocked.Add(1, new KeyValuePair<string, object?>("reason", "client_locked_out"));
                return new AuthCheckResult(AuthBlock.ClientLockedOut, ipLock);
            }

            if (account is null)
            {
                return AuthCheckResult.Allowed;
            }

            var acct = AccountKey(account);
            if (await LockRemainingAsync(AccountLockKey(acct), cancellationToken).ConfigureAwait(false) is { } acctLock
                && !await IsFamiliarAsync(acct, ip, cancellationToken).ConfigureAwait(false))
            {
                // The refused attempt still counts against the client, so a bot that keeps knocking gets locked out.
                await CountClientFailureAsync(ip, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                SecurityMetrics.AuthBlocked.Add(1, new KeyValuePair<string, object?>("reason", "account_throttled"));
                return new AuthCheckResult(AuthBlock.AccountThrottled, acctLock);
            }

            return AuthCheckResult.Allowed;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            SecurityMetrics.StoreErrors.Add(1);
            _logger.LogError(e, "Brute-force protection store failed; allowing the login attempt from {Client}", client);
            return AuthCheckResult.Allowed;
        }
    }

    /// <summary>
    /// Records a failed login (wrong password and unknown user alike) and returns how long to wait before the
    /// failure reply. The failure is logged with the client IP for fail2ban-style tools by the caller; lockouts
    /// are logged here. Pass the <paramref name="password"/> tried (it is only fingerprinted in memory) so that a
    /// client repeating the same stale password is delayed but not counted again, as Dovecot does.
    /// </summary>
    public async ValueTask<AuthFailureResult> RecordFailureAsync(IPAddress client, string? account, string? password, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (_trusted.Contains(client))
        {
            return default;
        }

        var ip = ClientAddress.Key(client, _options.Ipv6PrefixLength);
        var now = _time.GetUtcNow();
        var repeated = password is not null && _repeats.SeenBefore(ip, account, password, _options.IpFailureWindow);
        SecurityMetrics.AuthFailures.Add(1, new KeyValuePair<string, object?>("repeated", repeated));
        if (repeated)
        {
            return new AuthFailureResult(_options.TarpitInitial, 0, null, null, Repeated: true);
        }

        try
        {
            var (failures, clientLockout) = await CountClientFailureAsync(ip, now, cancellationToken).ConfigureAwait(false);
            var delay = Tarpit(failures);

            TimeSpan? accountThrottle = null;
            if (account is not null)
            {
                var acct = AccountKey(account);
                if (!await IsFamiliarAsync(acct, ip, cancellationToken).ConfigureAwait(false))
                {
                    var acctFailures = await _store.IncrementAsync(Prefix + "fail:acct:" + acct, 1, now + _options.AccountFailureWindow, cancellationToken).ConfigureAwait(false);
                    if (acctFailures >= _options.AccountMaxFailures)
                    {
                        SecurityMetrics.AuthLockouts.Add(1, new KeyValuePair<string, object?>("kind", "account"));
                        accountThrottle = await LockAsync(AccountLockKey(acct), Prefix + "level:acct:" + acct, Prefix + "fail:acct:" + acct, _options.AccountThrottleBase, _options.AccountThrottleMax, now, cancellationToken).ConfigureAwait(false);
                        _logger.LogWarning("Login throttle: account {Account} refuses unfamiliar clients for {Duration} after {Failures} failed logins", account, accountThrottle, acctFailures);
                    }
                }
            }

            return new AuthFailureResult(delay, failures, clientLockout, accountThrottle);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            SecurityMetrics.StoreErrors.Add(1);
            _logger.LogError(e, "Brute-force protection store failed while recording a failed login from {Client}", client);
            return new AuthFailureResult(_options.TarpitInitial, 0, null, null);
        }
    }

    /// <summary>Records a successful login: the client's failure count is reset and the client becomes familiar to the account.</summary>
    public async ValueTask RecordSuccessAsync(IPAddress client, string account, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(account);
        if (_trusted.Contains(client))
        {
            return;
        }

        var ip = ClientAddress.Key(client, _options.Ipv6PrefixLength);
        var acct = AccountKey(account);
        var now = _time.GetUtcNow();
        try
        {
            var failKey = Prefix + "fail:ip:" + ip;
            if (await _store.GetAsync(failKey, cancellationToken).ConfigureAwait(false) is not null)
            {
                await _store.DeleteAsync(failKey, cancellationToken).ConfigureAwait(false);
            }

            // Refresh familiarity at most once a day per (account, client): logins are frequent, writes are not free.
            var familiarKey = FamiliarKey(acct, ip);
            var refreshAfter = _options.FamiliarClientRetention - TimeSpan.FromDays(1);
            if (_familiar.TryGet(familiarKey, out var left) && left > refreshAfter)
            {
                return;
            }

            var entry = await _store.GetAsync(familiarKey, cancellationToken).ConfigureAwait(false);
            var until = entry?.ExpiresAt;
            if (until is null || until.Value - now <= refreshAfter)
            {
                until = now + _options.FamiliarClientRetention;
                await _store.SetAsync(familiarKey, One, until, cancellationToken).ConfigureAwait(false);
            }

            _familiar.Set(familiarKey, until.Value);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            SecurityMetrics.StoreErrors.Add(1);
            _logger.LogError(e, "Brute-force protection store failed while recording a login from {Client}", client);
        }
    }

    /// <summary>
    /// Lifts a client lockout and/or an account throttle (an operator's action) and forgets the failure counts.
    /// Other nodes that have the lockout in memory keep refusing until it would have ended.
    /// </summary>
    public async ValueTask UnblockAsync(IPAddress? client, string? account, CancellationToken cancellationToken)
    {
        if (client is not null)
        {
            var ip = ClientAddress.Key(client, _options.Ipv6PrefixLength);
            foreach (var key in new[] { IpLockKey(ip), Prefix + "fail:ip:" + ip, Prefix + "level:ip:" + ip })
            {
                _locks.Remove(key);
                await _store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
            }
        }

        if (account is not null)
        {
            var acct = AccountKey(account);
            foreach (var key in new[] { AccountLockKey(acct), Prefix + "fail:acct:" + acct, Prefix + "level:acct:" + acct })
            {
                _locks.Remove(key);
                await _store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask<(long Failures, TimeSpan? Lockout)> CountClientFailureAsync(string ip, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var failures = await _store.IncrementAsync(Prefix + "fail:ip:" + ip, 1, now + _options.IpFailureWindow, cancellationToken).ConfigureAwait(false);
        if (failures < _options.IpMaxFailures)
        {
            return (failures, null);
        }

        SecurityMetrics.AuthLockouts.Add(1, new KeyValuePair<string, object?>("kind", "client"));
        var lockout = await LockAsync(IpLockKey(ip), Prefix + "level:ip:" + ip, Prefix + "fail:ip:" + ip, _options.IpLockoutBase, _options.IpLockoutMax, now, cancellationToken).ConfigureAwait(false);
        _logger.LogWarning("Login lockout: client {Client} locked out for {Duration} after {Failures} failed logins", ip, lockout, failures);
        return (failures, lockout);
    }

    /// <summary>The tarpit: <c>TarpitInitial × 2^(failures−1)</c>, at most <c>TarpitMax</c>.</summary>
    internal TimeSpan Tarpit(long failures)
    {
        if (failures <= 0)
        {
            return TimeSpan.Zero;
        }

        var exponent = (int)Math.Min(failures - 1, 30);
        var ticks = Math.Min(_options.TarpitMax.Ticks, _options.TarpitInitial.Ticks * (double)(1L << exponent));
        return TimeSpan.FromTicks((long)ticks);
    }

    private async ValueTask<TimeSpan?> LockRemainingAsync(string key, CancellationToken cancellationToken)
    {
        if (_locks.TryGet(key, out var remaining))
        {
            return remaining;
        }

        var entry = await _store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (entry?.ExpiresAt is { } until && until > _time.GetUtcNow())
        {
            _locks.Set(key, until);
            return until - _time.GetUtcNow();
        }

        return null;
    }

    /// <summary>Starts a lockout whose length doubles with each recent one; the failure count starts again.</summary>
    private async ValueTask<TimeSpan> LockAsync(string lockKey, string levelKey, string failKey, TimeSpan baseLength, TimeSpan max, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var level = await _store.IncrementAsync(levelKey, 1, now + _options.LockoutMemory, cancellationToken).ConfigureAwait(false);
        var exponent = (int)Math.Clamp(level - 1, 0, 30);
        var length = TimeSpan.FromTicks((long)Math.Min(max.Ticks, baseLength.Ticks * (double)(1L << exponent)));
        var until = now + length;
        await _store.SetAsync(lockKey, One, until, cancellationToken).ConfigureAwait(false);
        await _store.DeleteAsync(failKey, cancellationToken).ConfigureAwait(false);
        _locks.Set(lockKey, until);
        return length;
    }

    private async ValueTask<bool> IsFamiliarAsync(string acct, string ip, CancellationToken cancellationToken)
    {
        var key = FamiliarKey(acct, ip);
        if (_familiar.TryGet(key, out _))
        {
            return true;
        }

        var entry = await _store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return false;
        }

        _familiar.Set(key, entry.ExpiresAt ?? _time.GetUtcNow() + _options.FamiliarClientRetention);
        return true;
    }

    private static string IpLockKey(string ip) => Prefix + "lock:ip:" + ip;

    private static string AccountLockKey(string acct) => Prefix + "lock:acct:" + acct;

    private static string FamiliarKey(string acct, string ip) => Prefix + "known:" + acct + ":" + ip;

    /// <summary>A bounded, case-folded key for a login name (names are attacker-chosen and may be long).</summary>
    internal static string AccountKey(string account)
    {
        var folded = account.Trim().ToLowerInvariant();
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(folded), hash);
        return Convert.ToHexStringLower(hash[..16]);
    }
}
