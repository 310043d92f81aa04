using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Postern.Dns;

/// <summary>
/// A stub resolver: sends recursive queries to configured servers (UDP with EDNS0, TCP when truncated or when
/// asked), checks each answer against its question, follows CNAMEs, caches results by TTL and merges concurrent
/// identical look-ups into one upstream query.
/// </summary>
public sealed class DnsStubResolver : IDnsResolver, IDisposable
{
    private readonly DnsResolverOptions _options;
    private readonly TimeProvider _time;
    private readonly DnsCache _cache;
    private readonly Lock _inflightLock = new();
    private readonly Dictionary<(string, DnsRecordType), Task<DnsResult>> _inflight = [];
    private readonly CancellationTokenSource _disposed = new();
    private volatile bool _isDisposed;

    /// <summary>Creates a resolver. Servers, timeout and attempts not set in <paramref name="options"/> come from resolv.conf.</summary>
    public DnsStubResolver(DnsResolverOptions? options = null, TimeProvider? timeProvider = null)
    {
        _options = options ?? new DnsResolverOptions();
        _time = timeProvider ?? TimeProvider.System;
        ResolvConf? conf = null;
        if (_options.Servers.Count == 0 || _options.Timeout is null || _options.Attempts is null)
        {
            conf = ResolvConf.Load(_options.ResolvConfPath);
        }

        Servers = _options.Servers.Count > 0 ? [.. _options.Servers]
            : conf!.Servers.Count > 0 ? conf.Servers
            : [new IPEndPoint(IPAddress.Loopback, 53)];
        Timeout = _options.Timeout ?? conf?.Timeout ?? TimeSpan.FromSeconds(5);
        if (Timeout <= TimeSpan.Zero)
        {
            Timeout = TimeSpan.FromSeconds(5);
        }

        Attempts = Math.Max(1, _options.Attempts ?? conf?.Attempts ?? 2);
        _cache = new DnsCache(_options.MaxCacheEntries, _time);
    }

    /// <summary>The servers asked, in order.</summary>
    public IReadOnlyList<IPEndPoint> Servers { get; }

    /// <summary>The time allowed for one server to answer one query.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Rounds over all servers.</summary>
    public int Attempts { get; }

    /// <summary>Number of results currently cached.</summary>
    public int CachedCount => _cache.Count;

    /// <inheritdoc />
    public Task<DnsResult> ResolveAsync(string name, DnsRecordType type, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_isDisposed, this);
        if (!DnsName.TryNormalize(name, out var normalized, out var error))
        {
            return Task.FromResult(DnsResult.Failure(name ?? string.Empty, type, DnsStatus.InvalidName, error));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<DnsResult>(cancellationToken);
        }

        if (_cache.TryGet(normalized, type, out var cached))
        {
            return Task.FromResult(cached);
        }

        Task<DnsResult> task;
        lock (_inflightLock)
        {
            if (_cache.TryGet(normalized, type, out cached))
            {
                return Task.FromResult(cached);
            }

            if (!_inflight.TryGetValue((normalized, type), out task!))
            {
                task = RunUpstreamAsync(normalized, type);
                _inflight[(normalized, type)] = task;
            }
        }

        return task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc cref="IDnsResolver.GetAddressesAsync"/>
    public Task<DnsResult<IPAddress>> GetAddressesAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetAddressesAsync(this, name, cancellationToken);

    /// <inheritdoc cref="IDnsResolver.GetMxAsync"/>
    public Task<DnsResult<MxRecord>> GetMxAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetMxAsync(this, name, cancellationToken);

    /// <inheritdoc cref="IDnsResolver.GetTxtAsync"/>
    public Task<DnsResult<TxtRecord>> GetTxtAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetTxtAsync(this, name, cancellationToken);

    /// <inheritdoc cref="IDnsResolver.GetPtrAsync"/>
    public Task<DnsResult<string>> GetPtrAsync(IPAddress address, CancellationToken cancellationToken = default) =>
        DnsLookups.GetPtrAsync(this, address, cancellationToken);

    /// <inheritdoc cref="IDnsResolver.GetTlsaAsync"/>
    public Task<DnsResult<TlsaRecord>> GetTlsaAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetTlsaAsync(this, name, cancellationToken);

    /// <inheritdoc cref="IDnsResolver.GetSrvAsync"/>
    public Task<DnsResult<SrvRecord>> GetSrvAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetSrvAsync(this, name, cancellationToken);

    /// <summary>Stops queries in flight (they end with NetworkError); later calls throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_isDisposed)
        {
            return;
        }

        _isDisposed = true;
        _disposed.Cancel();
        _disposed.Dispose();
    }

    private async Task<DnsResult> RunUpstreamAsync(string name, DnsRecordType type)
    {
        await Task.Yield();
        try
        {
            if (_isDisposed)
            {
                return DnsResult.Failure(name, type, DnsStatus.NetworkError, "resolver disposed");
            }

            var result = await ChaseAsync(name, type, _disposed.Token).ConfigureAwait(false);
            var ttl = CacheTtl(result);
            if (ttl is { } t)
            {
                _cache.Set(name, type, result, t);
            }

            return result;
        }
        catch (Exception e)
        {
            var reason = _isDisposed ? "resolver disposed" : e.Message;
            return DnsResult.Failure(name, type, DnsStatus.NetworkError, reason);
        }
        finally
        {
            lock (_inflightLock)
            {
                _inflight.Remove((name, type));
            }
        }
    }

    private TimeSpan? CacheTtl(DnsResult result)
    {
        switch (result.Status)
        {
            case DnsStatus.Success:
                return Clamp(result.TimeToLive, _options.MinimumCacheTtl, _options.MaximumCacheTtl);
            case DnsStatus.NxDomain or DnsStatus.NoData when result.TimeToLive > TimeSpan.Zero:
                // RFC 2308 §5: only with an SOA (the interpreter gives a TTL only then).
                return Clamp(result.TimeToLive, _options.MinimumCacheTtl, _options.MaximumNegativeCacheTtl);
            default:
                return null;
        }
    }

    private static TimeSpan Clamp(TimeSpan value, TimeSpan floor, TimeSpan ceiling) =>
        value < floor ? floor : value > ceiling ? ceiling : value;

    private async Task<DnsResult> ChaseAsync(string name, DnsRecordType type, CancellationToken ct)
    {
        var visited = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { name };
        var chain = new List<CnameRecord>();
        var current = name;
        var authenticData = true;
        var trusted = true;
        var ttl = uint.MaxValue;
        for (var hop = 0; hop <= _options.MaxCnameChain; hop++)
        {
            var exchange = await ExchangeAsync(current, type, ct).ConfigureAwait(false);
            if (exchange.Message is null)
            {
                return DnsResult.Failure(name, type, exchange.Status, exchange.Error) with
                {
                    CanonicalName = current,
                    CnameChain = chain,
                    Server = exchange.Server,
                };
            }

            var response = exchange.Message;
            authenticData &= response.AuthenticData;
            trusted &= IsTrustedServer(exchange.Server!);
            var interpretation = DnsAnswerInterpreter.Interpret(response, current, type, visited, _options.MaxCnameChain);
            chain.AddRange(interpretation.Chain);
            var result = new DnsResult
            {
                Status = DnsStatus.Success,
                Name = name,
                Type = type,
                CanonicalName = interpretation.FinalName,
                CnameChain = [.. chain],
                AuthenticData = authenticData,
                IsAuthenticated = authenticData && trusted,
                Server = exchange.Server,
            };
            switch (interpretation.Kind)
            {
                case AnswerKind.Records:
                    ttl = Math.Min(ttl, interpretation.Ttl);
                    return result with { Records = interpretation.Records, TimeToLive = TimeSpan.FromSeconds(ttl) };
                case AnswerKind.NoData or AnswerKind.NxDomain:
                    return result with
                    {
                        Status = interpretation.Kind == AnswerKind.NoData ? DnsStatus.NoData : DnsStatus.NxDomain,
                        TimeToLive = interpretation.HasNegativeTtl
                            ? TimeSpan.FromSeconds(Math.Min(ttl, interpretation.Ttl))
                            : TimeSpan.Zero,
                    };
                case AnswerKind.FollowCname:
                    ttl = Math.Min(ttl, interpretation.Ttl);
                    current = interpretation.FinalName;
                    continue;
                case AnswerKind.CnameLoop:
                    return result with { Status = DnsStatus.CnameLoop, Error = "CNAME chain loops or is too long" };
                default:
                    return result with
                    {
                        Status = interpretation.ErrorStatus,
                        Error = $"server answered {response.ResponseCode}",
                    };
            }
        }

        return DnsResult.Failure(name, type, DnsStatus.CnameLoop, "CNAME chain too long") with
        {
            CanonicalName = current,
            CnameChain = chain,
        };
    }

    /// <summary>The AD bit is only meaningful from a resolver on this host (RFC 4035 §4.9.3).</summary>
    internal static bool IsTrustedServer(IPEndPoint server) => IPAddress.IsLoopback(server.Address);

    private sealed record Exchange(DnsStatus Status, DnsMessage? Message, IPEndPoint? Server, string? Error);

    /// <summary>Asks the servers in turn, for the configured number of rounds, until one gives a usable answer.</summary>
    private async Task<Exchange> ExchangeAsync(string name, DnsRecordType type, CancellationToken ct)
    {
        Exchange? best = null;
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            foreach (var server in Servers)
            {
                var exchange = await ExchangeWithServerAsync(server, name, type, ct).ConfigureAwait(false);
                if (exchange.Message is { ResponseCode: DnsResponseCode.NoError or DnsResponseCode.NameError })
                {
                    return exchange;
                }

                if (best is null || Rank(exchange) >= Rank(best))
                {
                    best = exchange;
                }
            }
        }

        return best!;
    }

    /// <summary>Which failure to report when no server succeeded: an answer beats silence.</summary>
    private static int Rank(Exchange e) => e.Message is not null ? 3
        : e.Status == DnsStatus.MalformedResponse ? 2
        : e.Status == DnsStatus.Timeout ? 1
        : 0;

    private async Task<Exchange> ExchangeWithServerAsync(IPEndPoint server, string name, DnsRecordType type,
        CancellationToken ct)
    {
        var exchange = await ExchangeWithServerAsync(server, name, type, _options.UseEdns, ct).ConfigureAwait(false);

        // RFC 6891 §7: a server that does not know EDNS answers FORMERR without an OPT record; ask it again plainly.
        if (_options.UseEdns && exchange.Message is { ResponseCode: DnsResponseCode.FormatError, Opt: null })
        {
            exchange = await ExchangeWithServerAsync(server, name, type, edns: false, ct).ConfigureAwait(false);
        }

        return exchange;
    }

    private async Task<Exchange> ExchangeWithServerAsync(IPEndPoint server, string name, DnsRecordType type, bool edns,
        CancellationToken ct)
    {
        var id = (ushort)RandomNumberGenerator.GetInt32(0, 0x10000);
        var query = DnsMessage.CreateQuery(id, name, type, edns, _options.UdpPayloadSize);
        var bytes = DnsMessageCodec.Encode(query);
        try
        {
            if (!_options.TcpOnly)
            {
                using var udpTimeout = new CancellationTokenSource(Timeout, _time);
                using var udpToken = CancellationTokenSource.CreateLinkedTokenSource(ct, udpTimeout.Token);
                var udp = await UdpExchangeAsync(server, bytes, query, udpToken.Token).ConfigureAwait(false);
                if (udp.Message is not { IsTruncated: true })
                {
                    return udp;
                }
            }

            // The TCP retry of a truncated answer gets its own full timeout.
            using var tcpTimeout = new CancellationTokenSource(Timeout, _time);
            using var tcpToken = CancellationTokenSource.CreateLinkedTokenSource(ct, tcpTimeout.Token);
            return await TcpExchangeAsync(server, bytes, query, tcpToken.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new Exchange(DnsStatus.Timeout, null, server, $"no answer from {server} within {Timeout}");
        }
        catch (SocketException e)
        {
            return new Exchange(DnsStatus.NetworkError, null, server, $"{server}: {e.SocketErrorCode}");
        }
        catch (IOException e)
        {
            return new Exchange(DnsStatus.NetworkError, null, server, $"{server}: {e.Message}");
        }
    }

    private static async Task<Exchange> UdpExchangeAsync(IPEndPoint server, byte[] query, DnsMessage question,
        CancellationToken ct)
    {
        // A new socket per query: the kernel picks a fresh random source port (RFC 5452), and connecting
        // it drops datagrams from any other address.
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(server, ct).ConfigureAwait(false);
        await socket.SendAsync(query, SocketFlags.None, ct).ConfigureAwait(false);
        // Parsed records copy what they keep, so the buffer can go back to the pool.
        var buffer = ArrayPool<byte>.Shared.Rent(DnsMessageCodec.MaxMessageLength);
        try
        {
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false);
                var data = buffer.AsSpan(0, received);
                if (!DnsMessageCodec.TryParse(data, out var response, out var error))
                {
                    if (received >= 2 && BinaryPrimitives.ReadUInt16BigEndian(data) == question.Id)
                    {
                        return new Exchange(DnsStatus.MalformedResponse, null, server, $"{server}: {error}");
                    }

                    continue;
                }

                if (Matches(response, question))
                {
                    return new Exchange(DnsStatus.Success, response, server, null);
                }

                // Not ours (wrong id, name, type or class): ignore it and keep waiting (RFC 5452).
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<Exchange> TcpExchangeAsync(IPEndPoint server, byte[] query, DnsMessage question,
        CancellationToken ct)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server, ct).ConfigureAwait(false);
        var framed = new byte[query.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed, 2);
        await socket.SendAsync(framed, SocketFlags.None, ct).ConfigureAwait(false);
        var prefix = new byte[2];
        if (!await ReadExactlyAsync(socket, prefix, ct).ConfigureAwait(false))
        {
            return new Exchange(DnsStatus.NetworkError, null, server, $"{server} closed the TCP connection");
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
        var buffer = new byte[length];
        if (!await ReadExactlyAsync(socket, buffer, ct).ConfigureAwait(false))
        {
            return new Exchange(DnsStatus.NetworkError, null, server, $"{server} closed the TCP connection early");
        }

        if (!DnsMessageCodec.TryParse(buffer, out var response, out var error))
        {
            return new Exchange(DnsStatus.MalformedResponse, null, server, $"{server}: {error}");
        }

        return Matches(response, question)
            ? new Exchange(DnsStatus.Success, response, server, null)
            : new Exchange(DnsStatus.MalformedResponse, null, server, $"{server}: TCP answer does not match the question");
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer[read..], SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }

    internal static bool Matches(DnsMessage response, DnsMessage query)
    {
        if (!response.IsResponse || response.Id != query.Id || response.Opcode != query.Opcode
            || response.Questions.Count != 1)
        {
            return false;
        }

        var asked = query.Questions[0];
        var got = response.Questions[0];
        return got.Type == asked.Type && got.Class == asked.Class && DnsName.NameEquals(got.Name, asked.Name);
    }
}
