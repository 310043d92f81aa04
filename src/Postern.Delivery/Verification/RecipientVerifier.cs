using System.Globalization;
using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Delivery.Verification;

/// <summary>
/// Recipient verification for relay domains with the answers remembered: "exists" for
/// <see cref="RecipientProbeOptions.PositiveCacheTime"/>, "does not exist" for <see cref="RecipientProbeOptions.NegativeCacheTime"/>.
/// "Try later" is never remembered per address, but a domain none of whose servers could be reached is not dialled
/// again for <see cref="RecipientProbeOptions.UnreachableCacheTime"/>. Concurrent questions about the same address
/// share one probe. At most <see cref="RecipientProbeOptions.MaxCacheEntries"/> answers are kept (the oldest goes first).
/// Thread-safe.
/// </summary>
public sealed class RecipientVerifier
{
    private readonly IRecipientProbe _probe;
    private readonly RecipientProbeOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<(long Domain, string Address), LinkedListNode<Entry>> _answers = [];
    private readonly LinkedList<Entry> _oldestFirst = new();
    private readonly Dictionary<(long Domain, string Address), Task<RecipientProbeResult>> _inFlight = [];
    private readonly Dictionary<long, DateTimeOffset> _unreachableUntil = [];
    private long _probes;

    public RecipientVerifier(IRecipientProbe probe, RecipientProbeOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxCacheEntries, 1);
        _probe = probe;
        _options = options;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Probes started so far (each one is a conversation with the customer's servers).</summary>
    public long Probes => Interlocked.Read(ref _probes);

    /// <summary>Answers held in the cache now (expired ones included until they are next looked at or pushed out).</summary>
    public int CachedAnswers
    {
        get
        {
            lock (_gate)
            {
                return _answers.Count;
            }
        }
    }

    /// <summary>
    /// Does <paramref name="recipient"/> exist at <paramref name="domain"/>'s own servers? Answers from the cache
    /// when it can. The probe itself is not cancelled by <paramref name="cancellationToken"/> (others may be waiting
    /// for it, and its answer is worth keeping); it is bounded by <see cref="RecipientProbeOptions.ProbeTimeout"/>.
    /// </summary>
    public async Task<RecipientProbeResult> VerifyAsync(MailDomain domain, EmailAddress recipient, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(recipient);
        var key = (domain.Id, recipient.Key);
        Task<RecipientProbeResult>? probe;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_answers.TryGetValue(key, out var node))
            {
                if (node.Value.Expires > now)
                {
                    return node.Value.Result with { FromCache = true };
                }

                Forget(node);
            }

            if (_unreachableUntil.TryGetValue(domain.Id, out var until))
            {
                if (until > now)
                {
                    return new RecipientProbeResult(RecipientStatus.Unavailable,
                        string.Create(CultureInfo.InvariantCulture, $"no mail server of {domain.Name.Ascii} could be reached lately; not asked again before {until:HH:mm:ss} UTC"))
                    {
                        Unreachable = true,
                        FromCache = true,
                    };
                }

                _unreachableUntil.Remove(domain.Id);
            }

            if (!_inFlight.TryGetValue(key, out probe))
            {
                probe = ProbeAndRememberAsync(key, domain, recipient);
                _inFlight[key] = probe;
            }
        }

        return await probe.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<RecipientProbeResult> ProbeAndRememberAsync((long Domain, string Address) key, MailDomain domain, EmailAddress recipient)
    {
        // Leave the caller's lock before anything else runs (the in-flight entry is added after this returns).
        await Task.Yield();
        Interlocked.Increment(ref _probes);
        RecipientProbeResult result;
        try
        {
            result = await _probe.ProbeAsync(domain.RelayHosts, recipient.ToString(), CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            lock (_gate)
            {
                _inFlight.Remove(key);
            }

            throw;
        }

        lock (_gate)
        {
            var now = _time.GetUtcNow();
            switch (result.Status)
            {
                case RecipientStatus.Exists:
                    Remember(key, result, now + _options.PositiveCacheTime);
                    break;
                case RecipientStatus.DoesNotExist:
                    Remember(key, result, now + _options.NegativeCacheTime);
                    break;
                case RecipientStatus.Unavailable when result.Unreachable && _options.UnreachableCacheTime > TimeSpan.Zero:
                    _unreachableUntil[domain.Id] = now + _options.UnreachableCacheTime;
                    break;
            }

            _inFlight.Remove(key);
        }

        return result;
    }

    private void Remember((long Domain, string Address) key, RecipientProbeResult result, DateTimeOffset expires)
    {
        if (_answers.TryGetValue(key, out var old))
        {
            Forget(old);
        }

        while (_answers.Count >= _options.MaxCacheEntries && _oldestFirst.First is { } oldest)
        {
            Forget(oldest);
        }

        _answers[key] = _oldestFirst.AddLast(new Entry(key, result, expires));
    }

    private void Forget(LinkedListNode<Entry> node)
    {
        _answers.Remove(node.Value.Key);
        _oldestFirst.Remove(node);
    }

    private sealed record Entry((long Domain, string Address) Key, RecipientProbeResult Result, DateTimeOffset Expires);
}
