using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Postern.Networking;

/// <summary>
/// One accepted connection as a protocol handler sees it: who is on the other end, the transport as a
/// duplex pipe, TLS state and STARTTLS, and the tokens that tell the handler when to stop.
/// </summary>
/// <remarks>
/// Input is read from the socket only when the handler reads (no background read loop), so a slow handler
/// pushes back on the client through TCP flow control and nothing is read ahead of a STARTTLS command.
/// </remarks>
public sealed class ConnectionContext : IAsyncDisposable
{
    private readonly ConnectionSignals _signals;
    private readonly ICertificateSelector? _certificates;
    private readonly TimeSpan _handshakeTimeout;
    private readonly int _readBufferSize;
    private readonly IConnectionAbort _abort;
    private readonly ILogger _logger;
    private static readonly StreamPipeWriterOptions WriterOptions = new(minimumBufferSize: 4096, leaveOpen: true);

    // Options are immutable; sharing them saves an object per connection (listeners use one read size).
    private static StreamPipeReaderOptions? _readerOptions;

    private readonly ConnectionDuplexPipe _pipe;
    private Stream _stream;

    internal ConnectionContext(
        ConnectionSetup setup,
        ConnectionSignals signals,
        Stream stream,
        SslStream? tls,
        IConnectionAbort abort,
        ILogger logger)
    {
        SessionId = setup.SessionId;
        ListenerName = setup.ListenerName;
        LocalEndPoint = Addresses.Normalise(setup.LocalEndPoint);
        PeerEndPoint = Addresses.Normalise(setup.PeerEndPoint);
        RemoteEndPoint = setup.Proxy?.Source ?? PeerEndPoint;
        Proxy = setup.Proxy;
        Limit = setup.Limit;
        TlsMode = setup.TlsMode;
        ShutdownRequested = setup.ShutdownRequested;
        ShutdownDeadline = setup.ShutdownDeadline;
        TimeProvider = setup.TimeProvider;
        _certificates = setup.Certificates;
        _handshakeTimeout = setup.TlsHandshakeTimeout;
        _readBufferSize = setup.ReadBufferSize;
        _signals = signals;
        _abort = abort;
        _logger = logger;
        _stream = stream;
        if (tls is not null)
        {
            SetTls(tls);
        }

        _pipe = new ConnectionDuplexPipe(
            new ConnectionPipeReader(CreateReader(stream), setup.RefuseProxyHeader && tls is null ? this : null),
            new ConnectionPipeWriter(CreateWriter(stream)));
    }

    /// <summary>Short unique id of this session; every log line of the session carries it (logger scope "SessionId").</summary>
    public string SessionId { get; }

    /// <summary>Name of the listener that accepted the connection.</summary>
    public string ListenerName { get; }

    /// <summary>Local address and port the client connected to.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The client: the PROXY header's source when a trusted proxy sent one, otherwise the TCP peer.</summary>
    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>The TCP peer itself (the proxy when PROXY protocol is used).</summary>
    public IPEndPoint PeerEndPoint { get; }

    /// <summary>The PROXY header received from a trusted proxy, if any.</summary>
    public ProxyHeader? Proxy { get; }

    /// <summary>
    /// Whether the connection arrived over a connection limit. When it is not <see cref="ConnectionLimit.None"/>
    /// the handler should send its protocol's "too many connections" reply (SMTP 421 4.7.0) and return.
    /// </summary>
    public ConnectionLimit Limit { get; }

    /// <summary>The listener's TLS mode.</summary>
    public TlsMode TlsMode { get; }

    /// <summary>True when STARTTLS can be offered now: the listener is in <see cref="TlsMode.StartTls"/> mode, has certificates and the connection is not yet TLS.</summary>
    public bool CanStartTls => TlsMode == TlsMode.StartTls && _certificates is not null && !IsTls;

    /// <summary>The transport. Read commands from <see cref="IDuplexPipe.Input"/>, write replies to <see cref="IDuplexPipe.Output"/> and flush.</summary>
    public IDuplexPipe Transport => _pipe;

    /// <summary>
    /// The current byte stream (the TLS stream once TLS is on). Use either this or <see cref="Transport"/>:
    /// bytes the pipe has buffered are not visible here.
    /// </summary>
    public Stream Stream => _stream;

    /// <summary>True once TLS is on (implicit or after STARTTLS).</summary>
    public bool IsTls { get; private set; }

    /// <summary>Negotiated TLS version.</summary>
    public SslProtocols TlsProtocol { get; private set; }

    /// <summary>Negotiated cipher suite.</summary>
    public TlsCipherSuite? CipherSuite { get; private set; }

    /// <summary>The host name the client asked for with SNI, if any.</summary>
    public string? SniHostName { get; private set; }

    /// <summary>The certificate served in the handshake.</summary>
    public X509Certificate? ServerCertificate { get; private set; }

    /// <summary>Cancelled when the peer went away (end of stream or an I/O error) or the connection was aborted.</summary>
    public CancellationToken ConnectionClosed => _signals.Closed;

    /// <summary>Cancelled when a graceful stop begins: finish the current transaction, accept nothing new, then close.</summary>
    public CancellationToken ShutdownRequested { get; }

    /// <summary>Cancelled when the stop bound is reached: send the goodbye (SMTP 421 4.3.2, IMAP * BYE) at once and close.</summary>
    public CancellationToken ShutdownDeadline { get; }

    /// <summary>Idle timeout and minimum data rate for the handler to arm per protocol state; fed by received bytes.</summary>
    public ConnectionTimeout Timeout => _signals.Timeout;

    /// <summary>Clock for the protocol's own timers.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>
    /// Builds a context over any duplex stream, for protocol tests and in-process peers. No listener is
    /// involved: the shutdown tokens are the ones given.
    /// </summary>
    public static ConnectionContext Create(
        Stream stream,
        IPEndPoint localEndPoint,
        IPEndPoint remoteEndPoint,
        ICertificateSelector? certificates = null,
        CancellationToken shutdownRequested = default,
        CancellationToken shutdownDeadline = default,
        TimeProvider? timeProvider = null,
        ILogger? logger = null)
    {
        var time = timeProvider ?? TimeProvider.System;
        var signals = new ConnectionSignals(time);
        var observed = new ObservedStream(stream, signals);
        var setup = new ConnectionSetup(
            SessionIds.Next(),
            "direct",
            localEndPoint,
            remoteEndPoint,
            null,
            ConnectionLimit.None,
            certificates is null ? TlsMode.None : TlsMode.StartTls,
            certificates,
            TimeSpan.FromSeconds(10),
            4096,
            RefuseProxyHeader: false,
            shutdownRequested,
            shutdownDeadline,
            time);
        return new ConnectionContext(setup, signals, observed, null, new StreamAbort(stream), logger ?? NullLogger.Instance);
    }

    /// <summary>
    /// Upgrades the connection to TLS (STARTTLS). Call it after writing the protocol's "go ahead" reply
    /// (which it flushes). Any plaintext already received after the STARTTLS command is discarded, never
    /// handed to the handler (CVE-2011-0411). On failure the connection is aborted and the handler should return.
    /// </summary>
    public async Task<TlsUpgradeResult> UpgradeToTlsAsync(CancellationToken cancellationToken)
    {
        if (IsTls)
        {
            return new TlsUpgradeResult(TlsUpgradeStatus.AlreadyTls);
        }

        if (_certificates is null)
        {
            return new TlsUpgradeResult(TlsUpgradeStatus.NotAvailable);
        }

        var reader = _pipe.ConnectionInput;
        var writer = _pipe.ConnectionOutput;
        reader.StopProxyCheck();
        long discarded = 0;
        try
        {
            await writer.Inner.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (reader.Inner.TryRead(out var pending))
            {
                discarded = pending.Buffer.Length;
                reader.Inner.AdvanceTo(pending.Buffer.End);
            }

            await reader.Inner.CompleteAsync().ConfigureAwait(false);
            await writer.Inner.CompleteAsync().ConfigureAwait(false);
            if (discarded > 0)
            {
                NetworkingLog.StartTlsDiscarded(_logger, discarded);
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, ConnectionClosed);
            var ssl = await TlsServer.AuthenticateAsync(_stream, _certificates, _handshakeTimeout, TimeProvider, linked.Token).ConfigureAwait(false);
            _stream = ssl;
            SetTls(ssl);
            reader.Inner = CreateReader(ssl);
            writer.Inner = CreateWriter(ssl);
            NetworkingLog.TlsEstablished(_logger, "STARTTLS", TlsProtocol, CipherSuite, SniHostName);
            return new TlsUpgradeResult(TlsUpgradeStatus.Succeeded, discarded, TlsProtocol, CipherSuite);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or TimeoutException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            NetworkingLog.TlsFailed(_logger, "STARTTLS", e.Message);
            Abort();

            // Further reads see the end of the stream and writes go nowhere, rather than throwing.
            reader.Inner = PipeReader.Create(Stream.Null);
            writer.Inner = PipeWriter.Create(Stream.Null);
            return new TlsUpgradeResult(TlsUpgradeStatus.HandshakeFailed, discarded, Error: e.Message);
        }
    }

    /// <summary>Closes the connection at once, without a goodbye.</summary>
    public void Abort()
    {
        _signals.SignalClosed();
        _abort.Abort();
    }

    /// <summary>Flushes pending output and releases the transport.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _pipe.ConnectionOutput.Inner.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
        }

        try
        {
            await _pipe.ConnectionInput.Inner.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }

        try
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }

        _abort.Abort();
        _signals.Dispose();
    }

    private void SetTls(SslStream ssl)
    {
        IsTls = true;
        TlsProtocol = ssl.SslProtocol;
        CipherSuite = ssl.NegotiatedCipherSuite;
        SniHostName = string.IsNullOrEmpty(ssl.TargetHostName) ? null : ssl.TargetHostName;
        ServerCertificate = ssl.LocalCertificate;
    }

    /// <summary>A client that is not a trusted proxy sent a PROXY header: log it and close.</summary>
    internal void OnProxyHeaderRefused()
    {
        NetworkingLog.UntrustedProxyHeader(_logger, PeerEndPoint);
        Abort();
    }

    // Zero-byte reads: while the client is silent the reader waits for data without holding a buffer
    // (the pipe rents one when bytes have arrived and returns it once they are consumed), as Kestrel does.
    // SslStream passes a zero-byte read on to the socket and releases its own buffer the same way.
    private PipeReader CreateReader(Stream stream)
    {
        var options = _readerOptions;
        if (options is null || options.BufferSize != _readBufferSize)
        {
            options = new StreamPipeReaderOptions(bufferSize: _readBufferSize, minimumReadSize: Math.Min(1024, _readBufferSize), leaveOpen: true, useZeroByteReads: true);
            _readerOptions = options;
        }

        return PipeReader.Create(stream, options);
    }

    private static PipeWriter CreateWriter(Stream stream) => PipeWriter.Create(stream, WriterOptions);
}

/// <summary>What the listener knows about a connection before the handler runs.</summary>
internal sealed record ConnectionSetup(
    string SessionId,
    string ListenerName,
    IPEndPoint LocalEndPoint,
    IPEndPoint PeerEndPoint,
    ProxyHeader? Proxy,
    ConnectionLimit Limit,
    TlsMode TlsMode,
    ICertificateSelector? Certificates,
    TimeSpan TlsHandshakeTimeout,
    int ReadBufferSize,
    bool RefuseProxyHeader,
    CancellationToken ShutdownRequested,
    CancellationToken ShutdownDeadline,
    TimeProvider TimeProvider);

/// <summary>Per-connection signals that exist before the context does (PROXY header and TLS handshake come first).</summary>
/// <remarks>
/// Both are created on first use: a session whose handler never asks for <see cref="ConnectionContext.ConnectionClosed"/>
/// or arms a <see cref="ConnectionContext.Timeout"/> costs neither a token source nor a timeout.
/// </remarks>
internal sealed class ConnectionSignals(TimeProvider timeProvider) : IDisposable
{
    private static readonly CancellationToken AlreadyClosed = new(canceled: true);
    private CancellationTokenSource? _closed;
    private ConnectionTimeout? _timeout;
    private int _isClosed;

    /// <summary>Cancelled once <see cref="SignalClosed"/> was called.</summary>
    public CancellationToken Closed
    {
        get
        {
            if (Volatile.Read(ref _isClosed) != 0)
            {
                return AlreadyClosed;
            }

            var source = Volatile.Read(ref _closed);
            if (source is null)
            {
                var created = new CancellationTokenSource();
                source = Interlocked.CompareExchange(ref _closed, created, null) ?? created;
                if (source != created)
                {
                    created.Dispose();
                }
            }

            if (Volatile.Read(ref _isClosed) != 0)
            {
                // Closed while the source was being created: SignalClosed may not have seen it.
                CancelQuietly(source);
            }

            return source.Token;
        }
    }

    public ConnectionTimeout Timeout
    {
        get
        {
            var timeout = Volatile.Read(ref _timeout);
            if (timeout is null)
            {
                var created = new ConnectionTimeout(timeProvider);
                timeout = Interlocked.CompareExchange(ref _timeout, created, null) ?? created;
                if (timeout != created)
                {
                    created.Dispose();
                }
            }

            return timeout;
        }
    }

    /// <summary>Feeds received byte counts to the timeout, if one was ever asked for.</summary>
    public void DataReceived(int bytes) => Volatile.Read(ref _timeout)?.DataReceived(bytes);

    public void SignalClosed()
    {
        Volatile.Write(ref _isClosed, 1);
        if (Volatile.Read(ref _closed) is { } source)
        {
            CancelQuietly(source);
        }
    }

    public void Dispose()
    {
        Volatile.Read(ref _timeout)?.Dispose();
        Volatile.Read(ref _closed)?.Dispose();
    }

    private static void CancelQuietly(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}

/// <summary>Closes a connection at once (the listener's session, or the stream of a directly built context).</summary>
internal interface IConnectionAbort
{
    void Abort();
}

/// <summary>Aborts a context built over a plain stream by disposing the stream.</summary>
internal sealed class StreamAbort(Stream stream) : IConnectionAbort
{
    public void Abort() => stream.Dispose();
}
