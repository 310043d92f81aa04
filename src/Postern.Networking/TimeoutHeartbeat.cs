using System.Runtime.CompilerServices;

namespace Postern.Networking;

/// <summary>
/// The one timer behind every armed <see cref="ConnectionTimeout"/> of a time provider: once per
/// <see cref="Interval"/> it checks each armed timeout and trips those whose limit has passed (as Kestrel's
/// heartbeat does). Runs only while at least one timeout is armed; a connection costs a slot in a list,
/// not a timer of its own.
/// </summary>
internal sealed class TimeoutHeartbeat
{
    /// <summary>How often armed timeouts are checked; a limit trips at most this late.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private static readonly ConditionalWeakTable<TimeProvider, TimeoutHeartbeat> ByProvider = [];

    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private ConnectionTimeout?[] _armed = new ConnectionTimeout?[16];
    private int _count;
    private ITimer? _timer;
    private bool _running;

    private TimeoutHeartbeat(TimeProvider time)
    {
        _time = time;
    }

    /// <summary>Timeouts armed now (for tests and diagnostics).</summary>
    public int ArmedCount
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>The heartbeat shared by every timeout using <paramref name="time"/>.</summary>
    public static TimeoutHeartbeat For(TimeProvider time) => ByProvider.GetValue(time, static t => new TimeoutHeartbeat(t));

    /// <summary>Adds an armed timeout; no effect if it is already in the list.</summary>
    public void Add(ConnectionTimeout timeout)
    {
        lock (_lock)
        {
            if (timeout.HeartbeatSlot >= 0)
            {
                return;
            }

            if (_count == _armed.Length)
            {
                Array.Resize(ref _armed, _armed.Length * 2);
            }

            _armed[_count] = timeout;
            timeout.HeartbeatSlot = _count;
            _count++;
            if (!_running)
            {
                _running = true;
                _timer ??= _time.CreateTimer(static s => ((TimeoutHeartbeat)s!).Tick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _timer.Change(Interval, Interval);
            }
        }
    }

    /// <summary>Removes a timeout; no effect if it is not in the list.</summary>
    public void Remove(ConnectionTimeout timeout)
    {
        lock (_lock)
        {
            var slot = timeout.HeartbeatSlot;
            if (slot < 0)
            {
                return;
            }

            _count--;
            var last = _armed[_count]!;
            _armed[slot] = last;
            last.HeartbeatSlot = slot;
            _armed[_count] = null;
            timeout.HeartbeatSlot = -1;
            if (_count == 0)
            {
                _running = false;
                _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                if (_armed.Length > 1024)
                {
                    _armed = new ConnectionTimeout?[16];
                }
            }
        }
    }

    private void Tick()
    {
        List<(ConnectionTimeout Timeout, TimeoutReason Reason)>? due = null;
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            for (var i = 0; i < _count; i++)
            {
                var timeout = _armed[i]!;
                var reason = timeout.Check(now);
                if (reason != TimeoutReason.None)
                {
                    (due ??= []).Add((timeout, reason));
                }
            }
        }

        // Tripping cancels tokens, which runs the handlers' callbacks: never under the lock.
        if (due is not null)
        {
            foreach (var (timeout, reason) in due)
            {
                timeout.Trip(reason);
            }
        }
    }
}
