namespace Postern.Networking;

/// <summary>Which limit ended a connection.</summary>
public enum TimeoutReason
{
    /// <summary>No limit tripped.</summary>
    None = 0,

    /// <summary>No data arrived for the idle timeout.</summary>
    Idle = 1,

    /// <summary>Data arrived more slowly than the minimum rate after the grace period.</summary>
    MinimumDataRate = 2,
}

/// <summary>
/// Slow-client protection a handler arms per protocol state: an idle timeout (reset whenever data
/// arrives) and a minimum data rate (averaged since it was armed, checked after a grace period).
/// When either trips, <see cref="Token"/> is cancelled and <see cref="Reason"/> tells which. The connection
/// feeds it the received byte counts; time comes from the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class ConnectionTimeout : IDisposable
{
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _tripped = new();
    private readonly Lock _lock = new();
    private ITimer? _idleTimer;
    private TimeSpan? _idle;
    private ITimer? _rateTimer;
    private double _minimumRate;
    private TimeSpan _grace;
    private long _rateStart;
    private long _rateBytes;
    private bool _disposed;

    /// <summary>Creates a disarmed timeout.</summary>
    public ConnectionTimeout(TimeProvider timeProvider)
    {
        _time = timeProvider;
    }

    /// <summary>Cancelled when a limit trips. Link it with the read token.</summary>
    public CancellationToken Token => _tripped.Token;

    /// <summary>Which limit tripped, or <see cref="TimeoutReason.None"/>.</summary>
    public TimeoutReason Reason { get; private set; }

    /// <summary>Arms (or re-arms) the idle timeout; every <see cref="DataReceived"/> restarts it.</summary>
    public void SetIdleTimeout(TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _idle = timeout;
            _idleTimer ??= _time.CreateTimer(static s => ((ConnectionTimeout)s!).Trip(TimeoutReason.Idle), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _idleTimer.Change(timeout, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Turns the idle timeout off.</summary>
    public void ClearIdleTimeout()
    {
        lock (_lock)
        {
            _idle = null;
            _idleTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Arms a minimum data rate: from now on, once <paramref name="gracePeriod"/> has passed, the average rate
    /// since this call must stay at or above <paramref name="bytesPerSecond"/>. Checked once a second.
    /// </summary>
    public void SetMinimumDataRate(double bytesPerSecond, TimeSpan gracePeriod)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(bytesPerSecond, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(gracePeriod, TimeSpan.Zero);
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _minimumRate = bytesPerSecond;
            _grace = gracePeriod;
            _rateStart = _time.GetTimestamp();
            _rateBytes = 0;
            _rateTimer ??= _time.CreateTimer(static s => ((ConnectionTimeout)s!).CheckRate(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _rateTimer.Change(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Turns the minimum data rate off.</summary>
    public void ClearMinimumDataRate()
    {
        lock (_lock)
        {
            _minimumRate = 0;
            _rateTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Turns both limits off.</summary>
    public void Disarm()
    {
        ClearIdleTimeout();
        ClearMinimumDataRate();
    }

    /// <summary>Records received bytes: restarts the idle clock and counts towards the data rate.</summary>
    public void DataReceived(long bytes)
    {
        lock (_lock)
        {
            if (_disposed || Reason != TimeoutReason.None)
            {
                return;
            }

            if (_idle is { } idle)
            {
                _idleTimer?.Change(idle, Timeout.InfiniteTimeSpan);
            }

            _rateBytes += bytes;
        }
    }

    private void CheckRate()
    {
        bool trip;
        lock (_lock)
        {
            if (_minimumRate <= 0 || _disposed)
            {
                return;
            }

            var elapsed = _time.GetElapsedTime(_rateStart);
            trip = elapsed >= _grace && elapsed > TimeSpan.Zero && _rateBytes / elapsed.TotalSeconds < _minimumRate;
        }

        if (trip)
        {
            Trip(TimeoutReason.MinimumDataRate);
        }
    }

    private void Trip(TimeoutReason reason)
    {
        lock (_lock)
        {
            if (_disposed || Reason != TimeoutReason.None)
            {
                return;
            }

            if (reason == TimeoutReason.Idle && _idle is null)
            {
                return;
            }

            Reason = reason;
            _idleTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _rateTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        try
        {
            _tripped.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _idleTimer?.Dispose();
            _rateTimer?.Dispose();
        }

        _tripped.Dispose();
    }
}
