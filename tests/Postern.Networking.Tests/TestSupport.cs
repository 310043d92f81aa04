using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Postern.Networking.Tests;

/// <summary>A line protocol for tests: greeting, ECHO of every line, STARTTLS, INFO, QUIT, goodbye on shutdown.</summary>
internal sealed class EchoHandler : IConnectionHandler
{
    public ConcurrentQueue<string> Commands { get; } = new();

    public ConcurrentQueue<ConnectionContext> Connections { get; } = new();

    public TaskCompletionSource ShutdownSeen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<TlsUpgradeResult> Upgraded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource PeerGone { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Func<ConnectionContext, Task>? OnConnected { get; init; }

    public async Task HandleAsync(ConnectionContext connection)
    {
        Connections.Enqueue(connection);
        if (OnConnected is not null)
        {
            await OnConnected(connection);
        }

        var output = connection.Transport.Output;
        if (connection.Limit != ConnectionLimit.None)
        {
            await WriteAsync(output, $"-ERR too many connections {connection.Limit}");
            return;
        }

        using var shutdownRegistration = connection.ShutdownRequested.Register(() => ShutdownSeen.TrySetResult());
        using var closedRegistration = connection.ConnectionClosed.Register(() => PeerGone.TrySetResult());
        await WriteAsync(output, $"+OK {connection.SessionId} remote={connection.RemoteEndPoint} local={connection.LocalEndPoint} tls={connection.IsTls}");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(connection.ShutdownDeadline, connection.ConnectionClosed, connection.Timeout.Token);
        while (true)
        {
            string? line;
            try
            {
                line = await ReadLineAsync(connection.Transport.Input, stop.Token);
            }
            catch (OperationCanceledException) when (connection.ShutdownDeadline.IsCancellationRequested)
            {
                await WriteAsync(output, "-BYE shutting down");
                return;
            }
            catch (OperationCanceledException) when (connection.Timeout.Reason != TimeoutReason.None)
            {
                await WriteAsync(output, $"-ERR timeout {connection.Timeout.Reason}");
                return;
            }

            if (line is null)
            {
                return;
            }

            Commands.Enqueue(line);
            switch (line)
            {
                case "QUIT":
                    await WriteAsync(output, "+BYE");
                    return;
                case "STARTTLS":
                    output.Write(Encoding.ASCII.GetBytes("+GO\r\n"));
                    var result = await connection.UpgradeToTlsAsync(CancellationToken.None);
                    Upgraded.TrySetResult(result);
                    if (!result.Succeeded)
                    {
                        return;
                    }

                    break;
                case "INFO":
                    await WriteAsync(output, $"+INFO tls={connection.IsTls} protocol={connection.TlsProtocol} sni={connection.SniHostName} cert={(connection.ServerCertificate as X509Certificate2)?.GetNameInfo(X509NameType.SimpleName, false)}");
                    break;
                case "IDLE":
                    connection.Timeout.SetIdleTimeout(TimeSpan.FromMilliseconds(200));
                    await WriteAsync(output, "+IDLE");
                    break;
                default:
                    await WriteAsync(output, "ECHO " + line);
                    break;
            }
        }
    }

    public static async Task WriteAsync(PipeWriter output, string line)
    {
        await output.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"));
    }

    public static async Task<string?> ReadLineAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            try
            {
                var lf = buffer.PositionOf((byte)'\n');
                if (lf is { } position)
                {
                    var line = Encoding.ASCII.GetString(buffer.Slice(0, position).ToArray()).TrimEnd('\r');
                    consumed = buffer.GetPosition(1, position);
                    examined = consumed;
                    return line;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    return null;
                }
            }
            finally
            {
                input.AdvanceTo(consumed, examined);
            }
        }
    }
}

/// <summary>A blocking-free line client over a stream, one byte at a time so a switch to TLS loses nothing.</summary>
internal sealed class LineClient : IAsyncDisposable
{
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private readonly TcpClient _tcp;

    private LineClient(TcpClient tcp)
    {
        _tcp = tcp;
        Stream = tcp.GetStream();
    }

    public Stream Stream { get; private set; }

    public X509Certificate2? ServerCertificate { get; private set; }

    public static async Task<LineClient> ConnectAsync(IPEndPoint endPoint)
    {
        var tcp = new TcpClient(endPoint.AddressFamily) { NoDelay = true };
        using var cts = new CancellationTokenSource(Guard);
        await tcp.ConnectAsync(endPoint, cts.Token);
        return new LineClient(tcp);
    }

    public static IPEndPoint Loopback(ListenerService listener) => new(IPAddress.Loopback, listener.EndPoints[0].Port);

    public async Task SendAsync(string text)
    {
        using var cts = new CancellationTokenSource(Guard);
        await Stream.WriteAsync(Encoding.ASCII.GetBytes(text), cts.Token);
        await Stream.FlushAsync(cts.Token);
    }

    public async Task SendBytesAsync(byte[] bytes)
    {
        using var cts = new CancellationTokenSource(Guard);
        await Stream.WriteAsync(bytes, cts.Token);
        await Stream.FlushAsync(cts.Token);
    }

    /// <summary>The next line without CRLF, or null at end of stream (or reset).</summary>
    public async Task<string?> ReadLineAsync()
    {
        using var cts = new CancellationTokenSource(Guard);
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            int n;
            try
            {
                n = await Stream.ReadAsync(one, cts.Token);
            }
            catch (IOException)
            {
                n = 0;
            }

            if (n == 0)
            {
                return bytes.Count == 0 ? null : Encoding.ASCII.GetString([.. bytes]);
            }

            if (one[0] == (byte)'\n')
            {
                return Encoding.ASCII.GetString([.. bytes]).TrimEnd('\r');
            }

            bytes.Add(one[0]);
        }
    }

    /// <summary>Reads every remaining line until the server closes.</summary>
    public async Task<List<string>> ReadToEndAsync()
    {
        var lines = new List<string>();
        while (await ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    public async Task StartTlsAsync(string? serverName, SslProtocols protocols = SslProtocols.None)
    {
        var ssl = new SslStream(Stream, leaveInnerStreamOpen: false);
        using var cts = new CancellationTokenSource(Guard);
        await ssl.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                EnabledSslProtocols = protocols,
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    ServerCertificate = certificate is null ? null : new X509Certificate2(certificate);
                    return true;
                },
            },
            cts.Token);
        Stream = ssl;
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        _tcp.Dispose();
    }
}

/// <summary>Certificates made for a test in a temporary folder that is deleted afterwards.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "postern-net-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Creates a self-signed certificate for <paramref name="hostName"/> in a sub folder and returns its files.</summary>
    public CertificateFiles MakeCertificate(string hostName, bool isDefault = false, IReadOnlyList<string>? names = null)
    {
        var folder = Sub(hostName.Replace("*", "star", StringComparison.Ordinal));
        using var _ = SelfSignedCertificate.CreateOrLoad(folder, hostName);
        var files = SelfSignedCertificate.FilesFor(folder, hostName);
        return files with { HostNames = names ?? [hostName], IsDefault = isDefault };
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Builds and runs listeners on 127.0.0.1 port 0.</summary>
internal static class Listeners
{
    public static ListenerOptions Options(string name = "test") => new(name)
    {
        EndPoints = [new IPEndPoint(IPAddress.Loopback, 0)],
    };

    public static async Task<ListenerService> StartAsync(ListenerOptions options, IConnectionHandler handler, ICertificateSelector? certificates = null, ILogger? logger = null)
    {
        var listener = new ListenerService(options, handler, certificates, logger);
        await listener.StartAsync(CancellationToken.None);
        return listener;
    }
}

/// <summary>Records log entries with the scopes active when they were written.</summary>
internal sealed class RecordingLogger : ILogger
{
    private readonly AsyncLocal<Scope?> _current = new();

    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message, Exception? Exception, IReadOnlyList<object?> Scopes)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull
    {
        var scope = new Scope(state, _current.Value, this);
        _current.Value = scope;
        return scope;
    }

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var scopes = new List<object?>();
        for (var s = _current.Value; s is not null; s = s.Parent)
        {
            scopes.Add(s.State);
        }

        Entries.Enqueue((logLevel, eventId, formatter(state, exception), exception, scopes));
    }

    private sealed class Scope(object? state, Scope? parent, RecordingLogger owner) : IDisposable
    {
        public object? State { get; } = state;

        public Scope? Parent { get; } = parent;

        public void Dispose() => owner._current.Value = Parent;
    }
}

/// <summary>A clock that moves only when told; timers fire inside <see cref="Advance"/>.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp()
    {
        lock (_lock)
        {
            return _ticks;
        }
    }

    public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(GetTimestamp());

    /// <summary>Timers created and not disposed.</summary>
    public int TimerCount
    {
        get
        {
            lock (_lock)
            {
                return _timers.Count;
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        lock (_lock)
        {
            _timers.Add(timer);
        }

        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        long target;
        lock (_lock)
        {
            target = _ticks + by.Ticks;
        }

        while (true)
        {
            ManualTimer? next = null;
            lock (_lock)
            {
                foreach (var t in _timers)
                {
                    if (t.Due is { } due && due <= target && (next is null || due < next.Due))
                    {
                        next = t;
                    }
                }

                if (next is null)
                {
                    _ticks = target;
                    return;
                }

                _ticks = Math.Max(_ticks, next.Due!.Value);
                next.Due = next.Period > 0 ? next.Due + next.Period : null;
            }

            next.Fire();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public long? Due { get; set; }

        public long Period { get; set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._ticks + dueTime.Ticks;
                Period = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
            }

            return true;
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Splits input into one segment per byte (Kestrel's BytePerSegmentTestSequenceFactory).</summary>
internal static class Sequences
{
    public static ReadOnlySequence<byte> BytePerSegment(byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(new byte[] { bytes[0] }, 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(new byte[] { bytes[i] });
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
