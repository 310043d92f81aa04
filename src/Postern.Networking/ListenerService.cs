using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Postern.Networking;

/// <summary>How the sessions of a stopped listener ended.</summary>
/// <param name="Finished">Sessions that ended by themselves within the bound.</param>
/// <param name="ToldToGo">Sessions that ended after <see cref="ConnectionContext.ShutdownDeadline"/> fired, within the grace.</param>
/// <param name="Aborted">Sessions still running after the grace, closed without a goodbye.</param>
public sealed record ShutdownResult(int Finished, int ToldToGo, int Aborted)
{
    /// <summary>Adds two results (for hosts with several listeners).</summary>
    public static ShutdownResult operator +(ShutdownResult left, ShutdownResult right)
        => new(left.Finished + right.Finished, left.ToldToGo + right.ToldToGo, left.Aborted + right.Aborted);

    /// <summary>Adds two results.</summary>
    public static ShutdownResult Add(ShutdownResult left, ShutdownResult right) => left + right;
}

/// <summary>
/// One listener: binds its end points, accepts connections, reads the PROXY header from trusted proxies,
/// does implicit TLS, applies connection limits and runs the <see cref="IConnectionHandler"/> for each
/// connection on its own task inside a logger scope carrying the session id.
/// </summary>
public sealed class ListenerService : IAsyncDisposable
{
    private readonly IConnectionHandler _handler;
    private readonly ICertificateSelector? _certificates;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly CancellationTokenSource _shutdownRequested = new();
    private readonly CancellationTokenSource _shutdownDeadline = new();
    private readonly ConcurrentDictionary<long, Session> _sessions = new();
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private readonly Lock _limitsLock = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _acceptLoops = [];
    private IReadOnlyList<IPEndPoint> _endPoints = [];
    private long _nextSession;
    private int _counted;
    private int _overLimit;
    private int _state;

    /// <summary>Creates a listener; nothing is bound until <see cref="StartAsync"/>.</summary>
    public ListenerService(
        ListenerOptions options,
        IConnectionHandler handler,
        ICertificateSelector? certificates = null,
        ILogger? logger = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        if (options.Tls != TlsMode.None && certificates is null)
        {
            throw new ArgumentException($"Listener '{options.Name}' uses TLS mode {options.Tls} but no certificate selector was given.", nameof(certificates));
        }

        Options = options;
        _handler = handler;
        _certificates = certificates;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The listener's options.</summary>
    public ListenerOptions Options { get; }

    /// <summary>The end points actually bound (port 0 replaced by the real port); empty before start.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => _endPoints;

    /// <summary>Sessions running now, including those flagged over a limit.</summary>
    public int ActiveConnections => _sessions.Count;

    /// <summary>True once <see cref="StopAsync"/> has begun.</summary>
    public bool IsStopping => Volatile.Read(ref _state) >= 2;

    /// <summary>Binds every end point and starts accepting. Throws <see cref="ListenerBindException"/> when an end point cannot be bound.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException($"Listener '{Options.Name}' was already started.");
        }

        var bound = new List<IPEndPoint>();
        try
        {
            foreach (var endPoint in Options.EndPoints)
            {
                var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                _sockets.Add(socket);
                try
                {
                    if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
                    {
                        socket.DualMode = true;
                    }

                    socket.Bind(endPoint);
                    socket.Listen(Options.Backlog);
                }
                catch (SocketException e)
                {
                    throw new ListenerBindException(Options.Name, endPoint, e.SocketErrorCode, e);
                }

                bound.Add((IPEndPoint)socket.LocalEndPoint!);
            }

            if (Options.UnixSocketPath is { } path)
            {
                _sockets.Add(BindUnixSocket(path));
            }
        }
        catch
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }

            _sockets.Clear();
            throw;
        }

        _endPoints = bound;
        foreach (var socket in _sockets)
        {
            NetworkingLog.ListenerStarted(_logger, Options.Name, socket.LocalEndPoint!);
            _acceptLoops.Add(Task.Run(() => AcceptLoopAsync(socket), CancellationToken.None));
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops gracefully: stops accepting at once, fires <see cref="ConnectionContext.ShutdownRequested"/>,
    /// waits up to <paramref name="bound"/> for sessions to end, then fires
    /// <see cref="ConnectionContext.ShutdownDeadline"/>, gives handlers <see cref="ListenerOptions.ShutdownGrace"/>
    /// to say goodbye, and aborts the rest. Cancelling <paramref name="cancellationToken"/> cuts the waits short.
    /// </summary>
    public async Task<ShutdownResult> StopAsync(TimeSpan bound, CancellationToken cancellationToken)
    {
        var previous = Interlocked.Exchange(ref _state, 2);
        if (previous == 2)
        {
            return new ShutdownResult(0, 0, 0);
        }

        await _stopAccepting.CancelAsync().ConfigureAwait(false);
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        if (Options.UnixSocketPath is { } path)
        {
            File.Delete(path);
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        var sessions = _sessions.Values.ToList();
        NetworkingLog.ListenerStopping(_logger, Options.Name, sessions.Count);
        var all = Task.WhenAll(sessions.Select(s => s.Completion));

        await CancelQuietlyAsync(_shutdownRequested).ConfigureAwait(false);
        await WaitAsync(all, bound, cancellationToken).ConfigureAwait(false);
        var finished = sessions.Count(s => s.Completion.IsCompleted);

        await CancelQuietlyAsync(_shutdownDeadline).ConfigureAwait(false);
        await WaitAsync(all, Options.ShutdownGrace, cancellationToken).ConfigureAwait(false);
        var toldToGo = sessions.Count(s => s.Completion.IsCompleted) - finished;

        var aborted = 0;
        foreach (var session in sessions.Where(s => !s.Completion.IsCompleted))
        {
            aborted++;
            session.Abort();
        }

        if (aborted > 0)
        {
            await WaitAsync(all, Options.ShutdownGrace, cancellationToken).ConfigureAwait(false);
        }

        var result = new ShutdownResult(finished, toldToGo, aborted);
        NetworkingLog.ListenerStopped(_logger, Options.Name, finished, toldToGo, aborted);
        return result;
    }

    /// <summary>Stops with no bound (deadline at once) if still running, and releases resources.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _state) != 2)
        {
            await StopAsync(TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
        }

        _stopAccepting.Dispose();
        _shutdownRequested.Dispose();
        _shutdownDeadline.Dispose();
    }

    private async Task WaitAsync(Task all, TimeSpan bound, CancellationToken cancellationToken)
    {
        if (all.IsCompleted || bound <= TimeSpan.Zero)
        {
            return;
        }

        await all.WaitAsync(bound, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private static async Task CancelQuietlyAsync(CancellationTokenSource source)
    {
        try
        {
            await source.CancelAsync().ConfigureAwait(false);
        }
        catch (AggregateException)
        {
            // A handler's cancellation callback threw; the other callbacks still ran.
        }
    }

    private async Task AcceptLoopAsync(Socket listenSocket)
    {
        while (!_stopAccepting.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listenSocket.AcceptAsync(_stopAccepting.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stopAccepting.IsCancellationRequested)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e)
            {
                // Out of file descriptors and the like: log, breathe, carry on.
                NetworkingLog.AcceptFailed(_logger, Options.Name, e);
                await Task.Delay(TimeSpan.FromMilliseconds(50), _time, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            var session = new Session(Interlocked.Increment(ref _nextSession), accepted, new ConnectionSignals(_time));
            _sessions[session.Id] = session;
            session.Completion = RunSessionAsync(session);
        }
    }

    // The frame that lives as long as the session: kept small (it is allocated for every idle connection);
    // everything needed only until the handler starts is in OpenAsync.
    private async Task RunSessionAsync(Session session)
    {
        // Leave the accept loop at once; the session runs on the thread pool.
        await Task.Yield();
        var sessionId = SessionIds.Next();
        using var scope = _logger.BeginScope(new SessionScope(sessionId, Options.Name));
        ConnectionContext? context = null;
        try
        {
            context = await OpenAsync(session, sessionId).ConfigureAwait(false);
            if (context is not null)
            {
                try
                {
                    await _handler.HandleAsync(context).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    NetworkingLog.HandlerFailed(_logger, e);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer went away before the handler ran.
        }
        finally
        {
            if (context is not null)
            {
                await context.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                session.Abort();
                session.Signals.Dispose();
            }

            if (session.CountedAddress is { } countedAddress)
            {
                Unregister(countedAddress);
            }

            if (session.OverLimit)
            {
                Interlocked.Decrement(ref _overLimit);
            }

            _sessions.TryRemove(session.Id, out _);
            NetworkingLog.ConnectionEnded(_logger);
        }
    }

    private Socket BindUnixSocket(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(path));
            if (folder is not null)
            {
                Directory.CreateDirectory(folder);
            }

            // sockaddr_un holds 108 bytes with the terminating NUL; a longer path cannot be bound or reached.
            if (System.Text.Encoding.UTF8.GetByteCount(path) > 107)
            {
                throw new IOException("the path is longer than the 107 bytes a Unix socket address can hold");
            }

            if (File.Exists(path))
            {
                // A live listener (another Postern, or a Dovecot) keeps its socket; a file left by a process that died is replaced.
                if (IsListenedOn(path))
                {
                    throw new IOException("another process is listening on it");
                }

                File.Delete(path);
            }

            socket.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, Options.UnixSocketMode);
            }

            socket.Listen(Options.Backlog);
            return socket;
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            socket.Dispose();
            throw new ListenerBindException($"Listener '{Options.Name}' cannot listen on the Unix socket {path}: {e.Message}");
        }
    }

    private static bool IsListenedOn(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    // PROXY header, limits and implicit TLS; null when the connection is to be closed without running the handler.
    private async Task<ConnectionContext?> OpenAsync(Session session, string sessionId)
    {
        var socket = session.Socket;
        IPEndPoint peer, local;
        if (socket.AddressFamily == AddressFamily.Unix)
        {
            // A local process: it has no address, and it is as trusted as the file's permissions make it.
            peer = local = new IPEndPoint(IPAddress.Loopback, 0);
        }
        else
        {
            socket.NoDelay = true;
            peer = Addresses.Normalise((IPEndPoint)socket.RemoteEndPoint!);
            local = Addresses.Normalise((IPEndPoint)socket.LocalEndPoint!);
        }

        Stream stream = new ObservedStream(new NetworkStream(socket, ownsSocket: true), session.Signals);
        var trusted = Options.IsTrustedProxy(peer.Address);
        ProxyHeader? proxy = null;
        if (trusted)
        {
            var (header, rest, error) = await ReadProxyHeaderAsync(stream, session).ConfigureAwait(false);
            if (header is null)
            {
                NetworkingLog.ProxyHeaderInvalid(_logger, peer, error);
                return null;
            }

            proxy = header;
            stream = rest;
        }

        var client = proxy?.Source ?? peer;
        var limit = Register(client.Address);
        if (limit == ConnectionLimit.None)
        {
            session.CountedAddress = client.Address;
        }
        else
        {
            session.OverLimit = true;
            if (Interlocked.Increment(ref _overLimit) > Options.MaxOverLimitConnections)
            {
                NetworkingLog.OverLimitDropped(_logger, client, limit);
                return null;
            }
        }

        SslStream? tls = null;
        if (Options.Tls == TlsMode.Implicit)
        {
            try
            {
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(session.Signals.Closed, _shutdownDeadline.Token);
                tls = await TlsServer.AuthenticateAsync(stream, _certificates!, Options.TlsHandshakeTimeout, _time, handshake.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
            {
                NetworkingLog.TlsFailed(_logger, "Implicit", e.Message);
                return null;
            }

            NetworkingLog.TlsEstablished(_logger, "Implicit", tls.SslProtocol, tls.NegotiatedCipherSuite, tls.TargetHostName);
        }

        var setup = new ConnectionSetup(
            sessionId,
            Options.Name,
            local,
            peer,
            proxy,
            limit,
            Options.Tls,
            _certificates,
            Options.TlsHandshakeTimeout,
            Options.ReadBufferSize,
            RefuseProxyHeader: !trusted,
            _shutdownRequested.Token,
            _shutdownDeadline.Token,
            _time);
        var context = new ConnectionContext(setup, session.Signals, tls ?? stream, tls, session, _logger);
        NetworkingLog.ConnectionAccepted(_logger, context.RemoteEndPoint, peer, limit);
        return context;
    }

    private async Task<(ProxyHeader? Header, Stream Remaining, string Error)> ReadProxyHeaderAsync(Stream stream, Session session)
    {
        var buffer = new byte[ProxyHeaderParser.V2FixedLength + ProxyHeaderParser.MaxV2PayloadLength];
        var filled = 0;
        using var timeout = new CancellationTokenSource(Options.TlsHandshakeTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, session.Signals.Closed, _shutdownDeadline.Token);
        while (true)
        {
            var status = ProxyHeaderParser.TryParse(buffer.AsSpan(0, filled), out var header, out var consumed, out var error);
            if (status == ProxyParseStatus.Success)
            {
                var rest = consumed < filled ? new PrefixedStream(buffer.AsMemory(consumed, filled - consumed), stream) : stream;
                return (header, rest, string.Empty);
            }

            if (status == ProxyParseStatus.Invalid)
            {
                return (null, stream, error.ToString());
            }

            int n;
            try
            {
                n = await stream.ReadAsync(buffer.AsMemory(filled), linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                return (null, stream, "timed out waiting for the PROXY header");
            }

            if (n == 0)
            {
                return (null, stream, "connection closed before the PROXY header was complete");
            }

            filled += n;
        }
    }

    private ConnectionLimit Register(IPAddress address)
    {
        lock (_limitsLock)
        {
            if (_counted >= Options.MaxConnections)
            {
                return ConnectionLimit.TotalExceeded;
            }

            _perAddress.TryGetValue(address, out var current);
            if (current >= Options.MaxConnectionsPerAddress)
            {
                return ConnectionLimit.PerAddressExceeded;
            }

            _perAddress[address] = current + 1;
            _counted++;
            return ConnectionLimit.None;
        }
    }

    private void Unregister(IPAddress address)
    {
        lock (_limitsLock)
        {
            _counted--;
            if (_perAddress.TryGetValue(address, out var current))
            {
                if (current <= 1)
                {
                    _perAddress.Remove(address);
                }
                else
                {
                    _perAddress[address] = current - 1;
                }
            }
        }
    }

    private sealed class Session(long id, Socket socket, ConnectionSignals signals) : IConnectionAbort
    {
        public long Id { get; } = id;

        public Socket Socket { get; } = socket;

        /// <summary>The client address counted against the limits, to release at the end.</summary>
        public IPAddress? CountedAddress { get; set; }

        /// <summary>True when the session counts as an over-limit connection.</summary>
        public bool OverLimit { get; set; }

        public ConnectionSignals Signals { get; } = signals;

        public Task Completion { get; set; } = Task.CompletedTask;

        public void Abort()
        {
            Signals.SignalClosed();
            try
            {
                Socket.Dispose();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}

/// <summary>Logger scope of a session: structured as SessionId and Listener, printed as "session {id} on {listener}".</summary>
internal sealed class SessionScope(string sessionId, string listener) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public string SessionId { get; } = sessionId;

    public int Count => 2;

    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new("SessionId", SessionId),
        1 => new("Listener", listener),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
        yield return this[1];
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"session {SessionId} on {listener}";
}
