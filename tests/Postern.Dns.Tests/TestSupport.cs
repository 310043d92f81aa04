using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Postern.Dns.Tests;

/// <summary>Builds byte arrays from readable pieces: hex bytes and length-prefixed labels.</summary>
internal static class Wire
{
    /// <summary>"12 34 ab" → bytes.</summary>
    public static byte[] Hex(string hex) =>
        hex.Split([' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)
            .Select(h => byte.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();

    /// <summary>A name as uncompressed labels ending with the root byte: "example.com" → 07 example 03 com 00.</summary>
    public static byte[] Name(string name)
    {
        var bytes = new List<byte>();
        foreach (var label in name.Split('.'))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }

        bytes.Add(0);
        return [.. bytes];
    }

    public static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}

/// <summary>A clock the test moves by hand; timers still run on real time.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>A query the fake server received.</summary>
internal sealed record ReceivedQuery(DnsMessage Message, byte[] Raw, IPEndPoint From, bool Tcp);

/// <summary>
/// An in-process DNS server on 127.0.0.1 (UDP and TCP on the same free port). The handler decides which
/// datagrams to send back (none, several, malformed...). It counts what it receives.
/// </summary>
internal sealed class FakeDnsServer : IAsyncDisposable
{
    private readonly UdpClient _udp;
    private readonly TcpListener _tcp;
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<ReceivedQuery, Task<IReadOnlyList<byte[]>>> _handler;
    private readonly Task _udpLoop;
    private readonly Task _tcpLoop;
    private int _udpCount;
    private int _tcpCount;

    public FakeDnsServer(Func<ReceivedQuery, IReadOnlyList<byte[]>> handler)
        : this(q => Task.FromResult(handler(q)))
    {
    }

    public FakeDnsServer(Func<ReceivedQuery, Task<IReadOnlyList<byte[]>>> handler)
    {
        _handler = handler;
        for (var tries = 0; ; tries++)
        {
            var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)udp.Client.LocalEndPoint!).Port;
            var tcp = new TcpListener(IPAddress.Loopback, port);
            try
            {
                tcp.Start();
                _udp = udp;
                _tcp = tcp;
                EndPoint = new IPEndPoint(IPAddress.Loopback, port);
                break;
            }
            catch (SocketException) when (tries < 50)
            {
                udp.Dispose();
            }
        }

        _udpLoop = Task.Run(UdpLoopAsync);
        _tcpLoop = Task.Run(TcpLoopAsync);
    }

    public IPEndPoint EndPoint { get; }

    public int UdpQueries => Volatile.Read(ref _udpCount);

    public int TcpQueries => Volatile.Read(ref _tcpCount);

    public int TotalQueries => UdpQueries + TcpQueries;

    public ConcurrentQueue<ReceivedQuery> Received { get; } = new();

    /// <summary>A server that answers every query with the given records (owner name taken from the question).</summary>
    public static FakeDnsServer Answering(Func<DnsQuestion, IReadOnlyList<DnsRecord>> records) =>
        new(q => [Reply(q.Message, answers: records(q.Message.Questions[0]))]);

    /// <summary>Encodes a response to <paramref name="query"/>.</summary>
    public static byte[] Reply(DnsMessage query, DnsResponseCode rcode = DnsResponseCode.NoError,
        IReadOnlyList<DnsRecord>? answers = null, IReadOnlyList<DnsRecord>? authorities = null, bool ad = false,
        bool truncated = false, ushort? id = null, DnsQuestion? question = null) =>
        DnsMessageCodec.Encode(new DnsMessage
        {
            Id = id ?? query.Id,
            IsResponse = true,
            RecursionDesired = query.RecursionDesired,
            RecursionAvailable = true,
            AuthenticData = ad,
            IsTruncated = truncated,
            ResponseCode = rcode,
            Questions = [question ?? query.Questions[0]],
            Answers = answers ?? [],
            Authorities = authorities ?? [],
        });

    public static SoaRecord Soa(string zone, uint ttl, uint minimum) =>
        new(zone, ttl, "ns1." + zone, "hostmaster." + zone, 1, 3600, 600, 86400, minimum);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _udp.Dispose();
        _tcp.Stop();
        try
        {
            await Task.WhenAll(_udpLoop, _tcpLoop);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }

        _stop.Dispose();
    }

    private async Task UdpLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            UdpReceiveResult datagram;
            try
            {
                datagram = await _udp.ReceiveAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            if (!DnsMessageCodec.TryParse(datagram.Buffer, out var query, out _))
            {
                continue;
            }

            Interlocked.Increment(ref _udpCount);
            var received = new ReceivedQuery(query, datagram.Buffer, datagram.RemoteEndPoint, false);
            Received.Enqueue(received);
            _ = Task.Run(async () =>
            {
                try
                {
                    foreach (var reply in await _handler(received))
                    {
                        await _udp.SendAsync(reply, datagram.RemoteEndPoint, _stop.Token);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                }
            });
        }
    }

    private async Task TcpLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _tcp.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        var stream = client.GetStream();
                        var prefix = new byte[2];
                        await stream.ReadExactlyAsync(prefix, _stop.Token);
                        var body = new byte[(prefix[0] << 8) | prefix[1]];
                        await stream.ReadExactlyAsync(body, _stop.Token);
                        if (!DnsMessageCodec.TryParse(body, out var query, out _))
                        {
                            return;
                        }

                        Interlocked.Increment(ref _tcpCount);
                        var received = new ReceivedQuery(query, body, (IPEndPoint)client.Client.RemoteEndPoint!, true);
                        Received.Enqueue(received);
                        foreach (var reply in await _handler(received))
                        {
                            await stream.WriteAsync(new[] { (byte)(reply.Length >> 8), (byte)reply.Length }, _stop.Token);
                            await stream.WriteAsync(reply, _stop.Token);
                        }
                    }
                    catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException
                        or SocketException or IOException or EndOfStreamException)
                    {
                    }
                }
            });
        }
    }
}
