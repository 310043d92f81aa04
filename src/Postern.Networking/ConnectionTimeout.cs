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
/// Slow-client protection a handler arms per protocol state: an idle timeout (restarted whenever data
/// arrives) and a minimum data rate (averaged since it was armed, checked after a grace period).
/// When either trips, <see cref="Token"/> is cancelled and <see cref="Reason"/> tells which. The connection
/// feeds it the received byte counts; time comes from the injected <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// No timer per connection: an armed timeout joins the one <see cref="TimeoutHeartbeat"/> of its time provider,
/// which checks every armed timeout once per <see cref="TimeoutHeartbeat.Interval"/>. A limit therefore trips
/// up to one interval after it was passed. Receiving data only records a timestamp and a byte count.
/// </remarks>
public sealed class ConnectionTimeout : IDisposable
{
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _tripped = new();
    private readonly Lock _lock = new();
    private readonly TimeoutHeartbeat _heartbeat;
    private long _idleTicks;
    private long _lastData;
    private double _minimumRate;
    private long _graceTicks;
    private long _rateStart;
    private long _rateBytes;
    private int _reason;
    private bool _disposed;

    /// <summary>Creates a disarmed timeout.</summary>
    public ConnectionTimeout(TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _time = timeProvider;
        _heartbeat = TimeoutHeartbeat.For(timeProvider);
    }

    /// <summary>Cancelled when a limit trips. Link it with the read token.</summary>
    public CancellationToken Token => _tripped.Token;

    /// <summary>Which limit tripped, or <see cref="TimeoutReason.None"/>.</summary>
    public TimeoutReason Reason => (TimeoutReason)Volatile.Read(ref _reason);

    /// <summary>Position in the heartbeat's list while armed, -1 otherwise; guarded by the heartbeat's lock.</summary>
    internal int HeartbeatSlot { get; set; } = -1;

    /// <summary>Arms (or re-arms) the idle timeout, counted from now; every <see cref="DataReceived"/> restarts it.</summary>
    public void SetIdleTimeout(TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        lock (_lock)
        {
            if (_disposed || Reason != TimeoutReason.None)
            {
                return;
            }

            Volatile.Write(ref _lastData, _time.GetTimestamp());
            Volatile.Write(ref _idleTicks, timeout.Ticks);
            _heartbeat.Add(this);
        }
    }

    /// <summary>Turns the idle timeout off.</summary>
    public void ClearIdleTimeout()
    {
        lock (_lock)
        {
            Volatile.Write(ref _idleTicks, 0);
            LeaveHeartbeatIfDisarmed();
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
            if (_disposed || Reason != TimeoutReason.None)
            {
                return;
            }

            _graceTicks = gracePeriod.Ticks;
            Volatile.Write(ref _rateBytes, 0);
            Volatile.Write(ref _rateStart, _time.GetTimestamp());
            Volatile.Write(ref _minimumRate, bytesPerSecond);
            _heartbeat.Add(this);
        }
    }

    /// <summary>Turns the minimum data rate off.</summary>
    public void ClearMinimumDataRate()
    {
        lock (_lock)
        {
            Volatile.Write(ref _minimumRate, 0);
            LeaveHeartbeatIfDisarmed();
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
        Volatile.Write(ref _lastData, _time.GetTimestamp());
        if (bytes != 0)
        {
            Interlocked.Add(ref _rateBytes, bytes);
        }
    }

    /// <summary>Called by the heartbeat (under its lock, without this timeout's lock): which limit has passed at <paramref name="now"/>.</summary>
    internal TimeoutReason Check(long now)
    {
        var idle = Volatile.Read(ref _idleTicks);
        if (idle > 0 && _time.GetElapsedTime(Volatile.Read(ref _lastData), now).Ticks >= idle)
        {
            return TimeoutReason.Idle;
        }

        var minimum = Volatile.Read(ref _minimumRate);
        if (minimum > 0)
        {
            var elapsed = _time.GetElapsedTime(Volatile.Read(ref _rateStart), now);
            if (elapsed.Ticks >= _graceTicks && elapsed > TimeSpan.Zero && Volatile.Read(ref _rateBytes) / elapsed.TotalSeconds < minimum)
            {
                return TimeoutReason.MinimumDataRate;
            }
        }

        return TimeoutReason.None;
    }

    /// <summary>Called by the heartbeat outside its lock: trips if the limit still holds (data may have arrived meanwhile).</summary>
    internal void Trip(TimeoutReason reason)
    {
        lock (_lock)
        {
            if (_disposed || Reason != TimeoutReason.None || Check(_time.GetTimestamp()) != reason)
            {
                return;
            }

            Volatile.Write(ref _reason, (int)reason);
            _heartbeat.Remove(this);
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
            _heartbeat.Remove(this);
        }

        _tripped.Dispose();
    }

    private void LeaveHeartbeatIfDisarmed()
    {
        if (Volatile.Read(ref _idleTicks) == 0 && Volatile.Read(ref _minimumRate) <= 0)
        {
            _heartbeat.Remove(this);
        }
    }
}
