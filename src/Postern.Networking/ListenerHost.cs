namespace Postern.Networking;

/// <summary>Starts and stops several listeners together; disabled listeners are skipped.</summary>
public sealed class ListenerHost : IAsyncDisposable
{
    private readonly List<ListenerService> _listeners;
    private readonly List<ListenerService> _started = [];

    /// <summary>Creates a host over the given listeners.</summary>
    public ListenerHost(IEnumerable<ListenerService> listeners)
    {
        _listeners = [.. listeners];
    }

    /// <summary>The listeners that were started.</summary>
    public IReadOnlyList<ListenerService> Listeners => _started;

    /// <summary>Sessions running on all listeners.</summary>
    public int ActiveConnections => _started.Sum(l => l.ActiveConnections);

    /// <summary>Starts every enabled listener; if one cannot bind, the ones already started are stopped and the error is thrown.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var listener in _listeners.Where(l => l.Options.Enabled))
        {
            try
            {
                await listener.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await StopAsync(TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            _started.Add(listener);
        }
    }

    /// <summary>Stops all started listeners in parallel with the same bound and adds up the results.</summary>
    public async Task<ShutdownResult> StopAsync(TimeSpan bound, CancellationToken cancellationToken)
    {
        var results = await Task.WhenAll(_started.Select(l => l.StopAsync(bound, cancellationToken))).ConfigureAwait(false);
        return results.Aggregate(new ShutdownResult(0, 0, 0), (a, b) => a + b);
    }

    /// <summary>Disposes every listener.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var listener in _listeners)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }
    }
}
