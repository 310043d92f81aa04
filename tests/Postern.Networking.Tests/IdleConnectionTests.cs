using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace Postern.Networking.Tests;

public class TimeoutHeartbeatTests
{
    [Fact]
    public void Many_armed_timeouts_share_one_timer()
    {
        var time = new ManualTimeProvider();
        var timeouts = Enumerable.Range(0, 500).Select(_ => new ConnectionTimeout(time)).ToList();
        foreach (var timeout in timeouts)
        {
            timeout.SetIdleTimeout(TimeSpan.FromSeconds(30));
            timeout.SetMinimumDataRate(1, TimeSpan.FromMinutes(5));
        }

        Assert.Equal(1, time.TimerCount);
        Assert.Equal(500, TimeoutHeartbeat.For(time).ArmedCount);

        // Half of them keep receiving data; the other half go silent and trip.
        for (var second = 0; second < 31; second++)
        {
            for (var i = 0; i < timeouts.Count; i += 2)
            {
                timeouts[i].DataReceived(100);
            }

            time.Advance(TimeSpan.FromSeconds(1));
        }

        for (var i = 0; i < timeouts.Count; i++)
        {
            Assert.Equal(i % 2 == 0 ? TimeoutReason.None : TimeoutReason.Idle, timeouts[i].Reason);
        }

        Assert.Equal(250, TimeoutHeartbeat.For(time).ArmedCount);
        foreach (var timeout in timeouts)
        {
            timeout.Dispose();
        }

        Assert.Equal(0, TimeoutHeartbeat.For(time).ArmedCount);
        Assert.Equal(1, time.TimerCount);
    }

    [Fact]
    public void A_disarmed_timeout_leaves_the_heartbeat_and_can_be_armed_again()
    {
        var time = new ManualTimeProvider();
        using var timeout = new ConnectionTimeout(time);
        timeout.SetIdleTimeout(TimeSpan.FromSeconds(5));
        timeout.SetMinimumDataRate(10, TimeSpan.FromSeconds(5));
        timeout.ClearIdleTimeout();
        Assert.Equal(1, TimeoutHeartbeat.For(time).ArmedCount);
        timeout.ClearMinimumDataRate();
        Assert.Equal(0, TimeoutHeartbeat.For(time).ArmedCount);

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(TimeoutReason.None, timeout.Reason);

        timeout.SetIdleTimeout(TimeSpan.FromSeconds(5));
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(TimeoutReason.None, timeout.Reason);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeoutReason.Idle, timeout.Reason);
        Assert.True(timeout.Token.IsCancellationRequested);
    }
}

public class ConnectionSignalsTests
{
    [Fact]
    public void Closed_token_asked_for_before_the_close_is_cancelled_by_it()
    {
        using var signals = new ConnectionSignals(TimeProvider.System);
        var token = signals.Closed;
        Assert.False(token.IsCancellationRequested);
        signals.SignalClosed();
        Assert.True(token.IsCancellationRequested);
    }

    [Fact]
    public void Closed_token_asked_for_after_the_close_is_already_cancelled()
    {
        using var signals = new ConnectionSignals(TimeProvider.System);
        signals.SignalClosed();
        Assert.True(signals.Closed.IsCancellationRequested);
    }

    [Fact]
    public void Data_before_the_timeout_is_asked_for_is_ignored_and_the_timeout_is_created_once()
    {
        var time = new ManualTimeProvider();
        using var signals = new ConnectionSignals(time);
        signals.DataReceived(100);
        var timeout = signals.Timeout;
        Assert.Same(timeout, signals.Timeout);
        timeout.SetIdleTimeout(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromSeconds(9));
        signals.DataReceived(1);
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(TimeoutReason.None, timeout.Reason);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeoutReason.Idle, timeout.Reason);
    }
}

[CollectionDefinition(nameof(MemoryMeasurements), DisableParallelization = true)]
public sealed class MemoryMeasurements
{
}

/// <summary>What an idle connection costs: measured in-process, so it runs alone (no other test allocating meanwhile).</summary>
[Collection(nameof(MemoryMeasurements))]
public class IdleConnectionMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_idle_connection_holds_no_read_buffer()
    {
        const int Connections = 300;
        var handler = new WaitingHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { MaxConnections = 1000, MaxConnectionsPerAddress = 1000 }, handler);
        var endPoint = LineClient.Loopback(listener);

        // Warm up (JIT, pools), then measure the next batch.
        var warm = await ConnectAsync(endPoint, 20, handler);
        var before = LiveBytes();
        var clients = await ConnectAsync(endPoint, Connections, handler);
        var after = LiveBytes();
        var perConnection = (after - before) / Connections;
        output.WriteLine($"{perConnection} bytes per idle connection (server and test client)");
        try
        {
            // About 3.5 KB per connection on the server (socket, pipes, context, tasks) and 0.5 KB for the test's own
            // client socket. A 4 KiB read buffer held while waiting would push it past 8 KB.
            Assert.True(perConnection < 6000, $"{perConnection} bytes per idle connection");
        }
        finally
        {
            foreach (var client in warm.Concat(clients))
            {
                client.Dispose();
            }
        }
    }

    private static async Task<List<Socket>> ConnectAsync(IPEndPoint endPoint, int count, WaitingHandler handler)
    {
        var clients = new List<Socket>(count);
        var greeting = new byte[8];
        for (var i = 0; i < count; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Connect(endPoint);
            var n = 0;
            while (n < 4)
            {
                n += socket.Receive(greeting, n, greeting.Length - n, SocketFlags.None);
            }

            clients.Add(socket);
        }

        // Every handler is now waiting in ReadAsync (the greeting was written just before it).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (handler.Waiting < handler.Started && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        await Task.Delay(100);
        return clients;
    }

    private static long LiveBytes()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: false);
    }

    private sealed class WaitingHandler : IConnectionHandler
    {
        private int _started;
        private int _waiting;

        public int Started => Volatile.Read(ref _started);

        public int Waiting => Volatile.Read(ref _waiting);

        public async Task HandleAsync(ConnectionContext connection)
        {
            Interlocked.Increment(ref _started);
            await connection.Transport.Output.WriteAsync("220 \r\n"u8.ToArray());
            var input = connection.Transport.Input;
            while (true)
            {
                Interlocked.Increment(ref _waiting);
                var result = await input.ReadAsync();
                Interlocked.Decrement(ref _waiting);
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
    }
}
