using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.MessageLog;
using Postern.Core.Storage.Queue;
using Postern.Delivery.Bounces;
using Postern.Delivery.Dsn;
using Postern.Protocols.Smtp;
using DsnNotify = Postern.Core.Storage.Queue.DsnNotify;

namespace Postern.Delivery.Engine;

/// <summary>What the engine works with.</summary>
public sealed record DeliveryEngineServices(IQueueStore Queue, IBlobStore Blobs, DeliveryRouter Router, SmtpDeliveryAgent Agent, BounceSender Bounces)
{
    public ILocalTransport? Local { get; init; }

    public IMessageLogStore? MessageLog { get; init; }

    public IOutboundMessageSigner? Signer { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILogger? Logger { get; init; }
}

/// <summary>
/// The delivery engine: leases due recipients from the queue, groups them per destination, delivers with bounded
/// concurrency (over all, and per destination), and records each result durably. Temporary failures retry on a
/// doubling schedule up to the queue lifetime; permanent ones end at once; DSNs go to the sender on failure, on
/// delay (after <see cref="DeliveryOptions.DelayWarningAfter"/>) and on success when asked. A destination that cannot
/// be reached at all is marked down and postponed in the queue as a whole (docs/decisions/0005): it is tried once
/// per backoff interval, however much mail waits for it, and its backlog is made due at once when it answers again.
/// </summary>
public sealed partial class DeliveryEngine : IAsyncDisposable
{
    public const string MeterName = "Postern.Delivery";

    private readonly DeliveryEngineServices _services;
    private readonly DeliveryOptions _options;
    private readonly IQueueStore _queue;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connections;
    private readonly ConcurrentDictionary<string, DestinationState> _destinations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DeliveryClaim> _inFlight = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _loopsReported = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _destinationFailures;
    private readonly Counter<long> _bouncesSent;
    private IReadOnlyDictionary<RecipientState, long> _counts = new Dictionary<RecipientState, long>();
    private Task? _loop;
    private Task? _background;
    private int _recipientsInFlight;
    private long _delivered;
    private long _deferred;
    private long _failed;

    public DeliveryEngine(DeliveryEngineServices services, DeliveryOptions options)
    {
        _services = services ?? throw new ArgumentNullException(nameof(services));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _queue = services.Queue;
        _time = services.Time;
        _logger = services.Logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _connections = new SemaphoreSlim(Math.Max(1, options.MaxConnections));
        _attempts = _meter.CreateCounter<long>("postern.delivery.recipients", description: "Recipient delivery attempts by result (delivered, deferred, failed)");
        _destinationFailures = _meter.CreateCounter<long>("postern.delivery.destination_failures", description: "Attempts in which no host of a destination could be reached, by destination");
        _bouncesSent = _meter.CreateCounter<long>("postern.delivery.dsns", description: "Delivery status notifications queued, by action");
        _meter.CreateObservableGauge("postern.queue.recipients", ObserveQueue, description: "Queued recipients by state");
        _meter.CreateObservableGauge("postern.delivery.in_flight", () => Volatile.Read(ref _recipientsInFlight), description: "Recipients leased and being delivered");
        _meter.CreateObservableGauge("postern.delivery.destinations_down", () => _destinations.Values.Count(d => d.DownUntil > _time.GetUtcNow()), description: "Destinations marked unreachable");
    }

    /// <summary>Recipients delivered, deferred and failed since start (tests, status).</summary>
    public (long Delivered, long Deferred, long Failed) Totals => (Interlocked.Read(ref _delivered), Interlocked.Read(ref _deferred), Interlocked.Read(ref _failed));

    /// <summary>Raised after each recipient result is recorded (tests wait on it).</summary>
    public event Action<RecipientAttempt>? Recorded;

    public void Start()
    {
        _loop ??= Task.Run(() => RunAsync(_stopping.Token));
        _background ??= Task.Run(() => BackgroundAsync(_stopping.Token));
    }

    /// <summary>Looks at the queue now (new mail was queued).</summary>
    public void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already awake.
            }
        }
    }

    /// <summary>Whether the destination is marked down, and until when.</summary>
    public DateTimeOffset? DownUntil(string destinationKey) =>
        _destinations.TryGetValue(destinationKey, out var d) && d.DownUntil > _time.GetUtcNow() ? d.DownUntil : null;

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var claimed = 0;
            try
            {
                var room = _options.MaxRecipientsInFlight - Volatile.Read(ref _recipientsInFlight);
                if (room > 0)
                {
                    var claims = await _queue.ClaimDueAsync(_time.GetUtcNow(), _options.Lease, room, cancellationToken).ConfigureAwait(false);
                    foreach (var claim in claims)
                    {
                        claimed += claim.Recipients.Count;
                        Interlocked.Add(ref _recipientsInFlight, claim.Recipients.Count);
                        _inFlight[claim.LeaseToken + "/" + claim.Message.QueueId + "/" + claim.DestinationKey] = claim;
                        _ = Task.Run(() => ProcessAsync(claim, cancellationToken), CancellationToken.None);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogLoopFailed(e);
            }

            if (claimed == 0)
            {
                try
                {
                    await _wake.WaitAsync(_options.PollInterval, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    /// <summary>Lease renewal for claims still being worked on, and the queue counts for the metrics.</summary>
    private async Task BackgroundAsync(CancellationToken cancellationToken)
    {
        var renewEvery = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, _options.Lease.Ticks / 3));
        var lastRenew = _time.GetUtcNow();
        var lastCount = DateTimeOffset.MinValue;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken).ConfigureAwait(false);
                var now = _time.GetUtcNow();
                if (now - lastRenew >= renewEvery)
                {
                    lastRenew = now;
                    foreach (var token in _inFlight.Values.Select(c => c.LeaseToken).Distinct())
                    {
                        await _queue.RenewLeaseAsync(token, now, _options.Lease, cancellationToken).ConfigureAwait(false);
                    }
                }

                if (now - lastCount >= TimeSpan.FromSeconds(15))
                {
                    lastCount = now;
                    _counts = await _queue.CountByStateAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogLoopFailed(e);
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveQueue()
    {
        foreach (var (state, count) in _counts)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("state", state.ToString().ToLowerInvariant()));
        }
    }

    private async Task ProcessAsync(DeliveryClaim claim, CancellationToken cancellationToken)
    {
        var key = claim.LeaseToken + "/" + claim.Message.QueueId + "/" + claim.DestinationKey;
        try
        {
            await DeliverClaimAsync(claim, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: give the recipients back at once rather than when the lease runs out (one that was being
            // sent at this moment may be sent again after the restart: the only duplicates a stop can cause).
            foreach (var r in claim.Recipients)
            {
                try
                {
                    await _queue.DeferAsync(r.RecipientId, claim.LeaseToken, "interrupted: the server stopped during delivery", _time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogClaimFailed(e, claim.Message.QueueId, claim.DestinationKey);
                }
            }
        }
        catch (Exception e)
        {
            LogClaimFailed(e, claim.Message.QueueId, claim.DestinationKey);
            try
            {
                var next = _time.GetUtcNow() + _options.FirstRetryInterval;
                foreach (var r in claim.Recipients)
                {
                    await _queue.DeferAsync(r.RecipientId, claim.LeaseToken, "internal error: " + e.Message, next, CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception inner)
            {
                LogClaimFailed(inner, claim.Message.QueueId, claim.DestinationKey);
            }
        }
        finally
        {
            _inFlight.TryRemove(key, out _);
            Interlocked.Add(ref _recipientsInFlight, -claim.Recipients.Count);
            Wake();
        }
    }

    private async Task DeliverClaimAsync(DeliveryClaim claim, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var destination = _destinations.GetOrAdd(claim.DestinationKey, k => new DestinationState(k, _options.MaxConnectionsPerDestination));
        var plan = await _services.Router.PlanAsync(claim.DestinationKey, cancellationToken).ConfigureAwait(false);

        if (plan.Own?.Settings.Hold == true)
        {
            // Held by an admin: kept, not tried, not counted as an attempt; looked at again now and then (a release makes it due at once).
            var recheck = now + _options.HoldRecheckInterval;
            foreach (var r in claim.Recipients)
            {
                await _queue.DeferAsync(r.RecipientId, claim.LeaseToken, "on hold: delivery to this domain is held by an administrator", recheck, cancellationToken).ConfigureAwait(false);
            }

            await _queue.PostponeDestinationAsync(claim.DestinationKey, recheck, now, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (destination.DownUntil > now)
        {
            // Marked down: these wait for the next probe instead of each trying again.
            var reply = new SmtpReply(451, new EnhancedStatusCode(4, 4, 1), "delivery temporarily suspended: " + destination.LastError);
            await RecordAsync(claim, plan, [.. claim.Recipients.Select(r => new RecipientAttempt(r, AttemptOutcome.Deferred, reply, Text(reply), null, false))], destination.DownUntil, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (plan.Failure is { } failure)
        {
            var outcome = failure.IsPermanentFailure ? AttemptOutcome.Failed : AttemptOutcome.Deferred;
            await RecordAsync(claim, plan, [.. claim.Recipients.Select(r => new RecipientAttempt(r, outcome, failure, plan.FailureDetail ?? Text(failure), null, false))], null, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (plan.Kind == RouteKind.Local)
        {
            await DeliverLocallyAsync(claim, plan, cancellationToken).ConfigureAwait(false);
            return;
        }

        ClaimAttempt attempt;
        var attempted = false;
        await destination.Slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _connections.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (destination.DownUntil > _time.GetUtcNow() || !destination.TryStartProbe())
                {
                    // Found down while this claim waited for a slot, or another claim is probing whether it is back.
                    var reply = new SmtpReply(451, new EnhancedStatusCode(4, 4, 1), "delivery temporarily suspended: " + destination.LastError);
                    attempt = new ClaimAttempt([.. claim.Recipients.Select(r => new RecipientAttempt(r, AttemptOutcome.Deferred, reply, Text(reply), null, false))], false, null);
                }
                else
                {
                    try
                    {
                        // Read only now, with a connection slot: claims waiting for one hold no message in memory.
                        var content = await MessageContent.LoadAsync(_services.Blobs, claim.Message, _options.InMemoryMessageLimit, _services.Signer, cancellationToken).ConfigureAwait(false);
                        if (content is null)
                        {
                            var lost = new SmtpReply(451, new EnhancedStatusCode(4, 3, 0), "message body missing from the store");
                            attempt = new ClaimAttempt([.. claim.Recipients.Select(r => new RecipientAttempt(r, AttemptOutcome.Deferred, lost, Text(lost), null, false))], false, null);
                        }
                        else
                        {
                            attempt = await _services.Agent.DeliverAsync(claim, plan, content, cancellationToken).ConfigureAwait(false);
                            attempted = true;
                        }
                    }
                    finally
                    {
                        destination.EndProbe();
                    }
                }
            }
            finally
            {
                _connections.Release();
            }
        }
        finally
        {
            destination.Slots.Release();
        }

        DateTimeOffset? notBefore = null;
        // Only a real attempt tells anything about the destination (not a suspended claim, not a missing body).
        if (attempted && attempt.Unreachable)
        {
            notBefore = MarkDown(destination, attempt.HostError ?? "unreachable");
            _destinationFailures.Add(1, new KeyValuePair<string, object?>("destination", claim.DestinationKey));
        }
        else if (attempted)
        {
            // A host answered (whatever it then said): the destination is reachable again.
            await MarkUpAsync(destination, cancellationToken).ConfigureAwait(false);
        }

        // The recipients of the attempt that found the destination unreachable are due again exactly when its backoff
        // ends: they are the next probe, so a server that comes back is noticed within one interval even when no
        // new mail arrives and every other recipient's own retry is hours away.
        await RecordAsync(claim, plan, attempt.Recipients, notBefore, cancellationToken, probeAt: notBefore).ConfigureAwait(false);
        if (notBefore is { } until)
        {
            await _queue.PostponeDestinationAsync(claim.DestinationKey, until, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task DeliverLocallyAsync(DeliveryClaim claim, RoutePlan plan, CancellationToken cancellationToken)
    {
        if (_services.Local is not { } local)
        {
            var reply = new SmtpReply(451, new EnhancedStatusCode(4, 3, 5), "local delivery is not available");
            await RecordAsync(claim, plan, [.. claim.Recipients.Select(r => new RecipientAttempt(r, AttemptOutcome.Deferred, reply, Text(reply), null, false))], null, cancellationToken).ConfigureAwait(false);
            return;
        }

        var outcomes = await local.DeliverAsync(claim.Message, claim.Recipients, cancellationToken).ConfigureAwait(false);
        var attempts = claim.Recipients.Select((r, i) =>
        {
            var o = outcomes[i];
            return new RecipientAttempt(r, o.Delivered ? AttemptOutcome.Delivered : o.Permanent ? AttemptOutcome.Failed : AttemptOutcome.Deferred, o.Reply, "local: " + Text(o.Reply), _options.Hostname, false);
        }).ToList();
        await RecordAsync(claim, plan, attempts, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Records each result, sends the DSNs that are due, and removes the message once every recipient is done.</summary>
    private async Task RecordAsync(DeliveryClaim claim, RoutePlan plan, IReadOnlyList<RecipientAttempt> attempts, DateTimeOffset? notBefore, CancellationToken cancellationToken, DateTimeOffset? probeAt = null)
    {
        var message = claim.Message;
        var now = _time.GetUtcNow();
        var lifetime = Lifetime(plan);
        var expired = now >= message.CreatedAt + lifetime;
        var failed = new List<DsnRecipient>();
        var delivered = new List<DsnRecipient>();
        var delayed = new List<(DsnRecipient Dsn, long Id)>();
        var writes = new List<Task<bool>>(attempts.Count);
        var final = new List<RecipientAttempt>();
        foreach (var a in attempts)
        {
            var r = a.Recipient;
            switch (a.Outcome)
            {
                case AttemptOutcome.Delivered:
                    writes.Add(_queue.CompleteAsync(r.RecipientId, claim.LeaseToken, a.Detail, cancellationToken));
                    Interlocked.Increment(ref _delivered);
                    _attempts.Add(1, new KeyValuePair<string, object?>("result", "delivered"));
                    final.Add(a);
                    // RFC 3461 §4.3: a final delivery here reports "delivered"; a next hop that took the DSN
                    // parameters reports for itself; one that did not gets the sender a "relayed".
                    if (r.Notify.HasFlag(DsnNotify.Success) && (plan.Kind == RouteKind.Local || !a.DsnPassedOn))
                    {
                        delivered.Add(Dsn(a, plan.Kind == RouteKind.Local ? DsnAction.Delivered : DsnAction.Relayed, now));
                    }

                    break;
                case AttemptOutcome.Failed:
                    writes.Add(_queue.FailAsync(r.RecipientId, claim.LeaseToken, a.Detail, cancellationToken));
                    Interlocked.Increment(ref _failed);
                    _attempts.Add(1, new KeyValuePair<string, object?>("result", "failed"));
                    final.Add(a);
                    if (WantsFailure(r.Notify))
                    {
                        failed.Add(Dsn(a, DsnAction.Failed, now));
                    }

                    break;
                default:
                    if (expired)
                    {
                        var days = lifetime.TotalDays;
                        var gaveUp = $"gave up after {days:0.#} day{(days == 1 ? string.Empty : "s")} in the queue; last: {a.Detail}";
                        writes.Add(_queue.FailAsync(r.RecipientId, claim.LeaseToken, gaveUp, cancellationToken));
                        Interlocked.Increment(ref _failed);
                        _attempts.Add(1, new KeyValuePair<string, object?>("result", "expired"));
                        final.Add(a with { Outcome = AttemptOutcome.Failed, Detail = gaveUp });
                        if (WantsFailure(r.Notify))
                        {
                            failed.Add(Dsn(a, DsnAction.Failed, now) with { Diagnostic = gaveUp, Status = a.Reply.Status ?? new EnhancedStatusCode(4, 4, 7) });
                        }

                        break;
                    }

                    var next = NextAttempt(r.Attempts + 1, now);
                    if (probeAt is { } probe)
                    {
                        next = probe;
                    }
                    else if (notBefore is { } nb && nb > next)
                    {
                        next = nb;
                    }

                    writes.Add(_queue.DeferAsync(r.RecipientId, claim.LeaseToken, a.Detail, next, cancellationToken));
                    Interlocked.Increment(ref _deferred);
                    _attempts.Add(1, new KeyValuePair<string, object?>("result", "deferred"));
                    if (!r.DelayWarned && _options.DelayWarningAfter > TimeSpan.Zero && now - message.CreatedAt >= _options.DelayWarningAfter && WantsDelay(r.Notify))
                    {
                        delayed.Add((Dsn(a, DsnAction.Delayed, now) with { WillRetryUntil = message.CreatedAt + lifetime }, r.RecipientId));
                    }

                    break;
            }
        }

        var taken = await Task.WhenAll(writes).ConfigureAwait(false);
        for (var i = 0; i < attempts.Count; i++)
        {
            if (taken[i])
            {
                Recorded?.Invoke(attempts[i]);
            }
        }

        // DSNs (never for the null sender: BounceSender checks).
        if (failed.Count > 0 && await _services.Bounces.SendAsync(message, failed, cancellationToken).ConfigureAwait(false) is not null)
        {
            _bouncesSent.Add(1, new KeyValuePair<string, object?>("action", "failed"));
        }

        if (delivered.Count > 0 && await _services.Bounces.SendAsync(message, delivered, cancellationToken).ConfigureAwait(false) is not null)
        {
            _bouncesSent.Add(1, new KeyValuePair<string, object?>("action", "delivered"));
        }

        if (delayed.Count > 0)
        {
            if (await _services.Bounces.SendAsync(message, [.. delayed.Select(d => d.Dsn)], cancellationToken).ConfigureAwait(false) is not null)
            {
                _bouncesSent.Add(1, new KeyValuePair<string, object?>("action", "delayed"));
            }

            await _queue.MarkDelayWarnedAsync([.. delayed.Select(d => d.Id)], cancellationToken).ConfigureAwait(false);
        }

        if (final.Count > 0)
        {
            await LogOutcomesAsync(message.QueueId, final, cancellationToken).ConfigureAwait(false);
            var current = await _queue.GetAsync(message.QueueId, cancellationToken).ConfigureAwait(false);
            if (current is not null && current.Recipients.All(r => r.State is RecipientState.Delivered or RecipientState.Failed))
            {
                await _queue.DeleteAsync(message.QueueId, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task LogOutcomesAsync(string queueId, List<RecipientAttempt> final, CancellationToken cancellationToken)
    {
        if (_services.MessageLog is not { } log)
        {
            return;
        }

        foreach (var a in final)
        {
            try
            {
                await log.SetDeliveryOutcomeAsync(queueId, a.Recipient.Address, (a.Outcome == AttemptOutcome.Delivered ? "delivered: " : "bounced: ") + a.Detail, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogClaimFailed(e, queueId, a.Recipient.DestinationKey);
            }
        }
    }

    private TimeSpan Lifetime(RoutePlan plan)
    {
        if (plan.Own?.Settings.QueueLifetime is { } own)
        {
            return own;
        }

        return plan.Kind == RouteKind.Relay && _options.RelayQueueLifetime is { } relay ? relay : _options.QueueLifetime;
    }

    /// <summary>The retry schedule: the first interval, doubling per attempt, capped; ±10% so retries spread out.</summary>
    public DateTimeOffset NextAttempt(int attempts, DateTimeOffset now)
    {
        var interval = RetrySchedule.Interval(attempts, _options.FirstRetryInterval, _options.MaxRetryInterval);
        var jitter = 1 + ((Random.Shared.NextDouble() * 0.2) - 0.1);
        return now + TimeSpan.FromTicks((long)(interval.Ticks * jitter));
    }

    private DateTimeOffset MarkDown(DestinationState destination, string error)
    {
        lock (destination)
        {
            var now = _time.GetUtcNow();
            destination.LastError = error;
            if (destination.DownUntil > now)
            {
                // Already marked down by an attempt that ran at the same time as this one (no attempt starts while
                // the destination is down): the same outage, so the backoff does not double again. Without this,
                // the first wave of MaxConnectionsPerDestination attempts took it straight to the maximum.
                LogDestinationDown(destination.Key, destination.Failures, Math.Round((destination.DownUntil - now).TotalSeconds), error);
                return destination.DownUntil;
            }

            destination.Failures++;
            var backoff = RetrySchedule.Interval(destination.Failures, _options.DestinationBackoff, _options.MaxDestinationBackoff);
            destination.DownUntil = now + backoff;
            LogDestinationDown(destination.Key, destination.Failures, backoff.TotalSeconds, error);
            return destination.DownUntil;
        }
    }

    private async Task MarkUpAsync(DestinationState destination, CancellationToken cancellationToken)
    {
        bool wasDown;
        lock (destination)
        {
            wasDown = destination.Failures > 0;
            destination.Failures = 0;
            destination.DownUntil = DateTimeOffset.MinValue;
        }

        if (wasDown)
        {
            var made = await _queue.RetryDestinationNowAsync(destination.Key, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            LogDestinationUp(destination.Key, made);
            Wake();
        }
    }

    /// <summary>Logs a routing loop (a next hop that is this server) at most once an hour per case.</summary>
    public void ReportLoop(string detail)
    {
        var now = _time.GetUtcNow();
        var last = _loopsReported.GetOrAdd(detail, DateTimeOffset.MinValue);
        if (now - last >= TimeSpan.FromHours(1) && _loopsReported.TryUpdate(detail, now, last))
        {
            LogLoop(detail);
        }
    }

    private static string Text(SmtpReply reply) => string.Join(' ', reply.Lines);

    private static bool WantsFailure(DsnNotify notify) => notify == DsnNotify.None || notify.HasFlag(DsnNotify.Failure);

    private static bool WantsDelay(DsnNotify notify) => notify == DsnNotify.None || notify.HasFlag(DsnNotify.Delay);

    private static DsnRecipient Dsn(RecipientAttempt a, DsnAction action, DateTimeOffset now) =>
        DsnRecipient.FromQueued(a.Recipient, action) with
        {
            Status = a.FromServer ? null : a.Reply.Status,
            RemoteReply = a.FromServer ? a.Reply : null,
            RemoteMta = a.RemoteMta,
            Diagnostic = a.FromServer ? null : a.Detail,
            LastAttemptDate = now,
        };

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        if (_background is not null)
        {
            await _background.ConfigureAwait(false);
        }

        // Claims in progress finish or are cancelled; their leases expire otherwise.
        var deadline = _time.GetUtcNow() + TimeSpan.FromSeconds(5);
        while (Volatile.Read(ref _recipientsInFlight) > 0 && _time.GetUtcNow() < deadline)
        {
            await Task.Delay(50).ConfigureAwait(false);
        }

        _meter.Dispose();
        _stopping.Dispose();
        _wake.Dispose();
    }

    private sealed class DestinationState(string key, int slots)
    {
        public string Key { get; } = key;

        public SemaphoreSlim Slots { get; } = new(Math.Max(1, slots));

        public int Failures { get; set; }

        public DateTimeOffset DownUntil { get; set; } = DateTimeOffset.MinValue;

        public string LastError { get; set; } = string.Empty;

        private int _probing;

        /// <summary>
        /// Whether this claim may try the destination: always while it is healthy; after a failure, one claim at a
        /// time (the probe), so a dead destination costs one connection attempt per interval however much waits.
        /// </summary>
        public bool TryStartProbe()
        {
            lock (this)
            {
                if (Failures == 0)
                {
                    return true;
                }
            }

            return Interlocked.CompareExchange(ref _probing, 1, 0) == 0;
        }

        public void EndProbe() => Interlocked.Exchange(ref _probing, 0);
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Error, Message = "Delivery loop failed; going on")]
    private partial void LogLoopFailed(Exception exception);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Delivery of {QueueId} to {Destination} failed unexpectedly; deferred")]
    private partial void LogClaimFailed(Exception exception, string queueId, string destination);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Destination {Destination} unreachable ({Failures} in a row): next try in {Seconds} s. {Error}")]
    private partial void LogDestinationDown(string destination, int failures, double seconds, string error);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Destination {Destination} answers again: {Count} queued recipients due now")]
    private partial void LogDestinationUp(string destination, int count);

    [LoggerMessage(EventId = 104, Level = LogLevel.Error, Message = "Configuration error: {Detail}")]
    private partial void LogLoop(string detail);
}

/// <summary>The retry intervals: <c>first × 2^(n-1)</c>, capped at <c>max</c>.</summary>
public static class RetrySchedule
{
    public static TimeSpan Interval(int attempt, TimeSpan first, TimeSpan max)
    {
        var n = Math.Clamp(attempt, 1, 30);
        var ticks = first.Ticks * Math.Pow(2, n - 1);
        return ticks >= max.Ticks ? max : TimeSpan.FromTicks((long)ticks);
    }
}
