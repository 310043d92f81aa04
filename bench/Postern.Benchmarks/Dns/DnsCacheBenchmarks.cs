using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Postern.Dns;

namespace Postern.Benchmarks.Dns;

/// <summary>
/// Cached look-ups of <see cref="DnsStubResolver"/>: MX of <c>dN.test</c> and A of <c>mx.dN.test</c> for 100 domains,
/// answered from the cache. The cache is primed at setup from <see cref="LoopbackDnsResponder"/> (UDP on 127.0.0.1,
/// started by the benchmark); the responder counts the queries it gets, so the run shows that every measured
/// look-up was a cache hit. One operation = one look-up (OperationsPerInvoke = the number of names).
/// </summary>
[MemoryDiagnoser]
public class DnsCacheBenchmarks
{
    private LoopbackDnsResponder _responder = null!;
    private DnsStubResolver _resolver = null!;
    private string[] _domains = [];
    private string[] _hosts = [];
    private int _primed;

    [GlobalSetup]
    public void Setup()
    {
        (_responder, _resolver, _domains, _hosts) = DnsBenchSetup.Create();
        _primed = _responder.Queries;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Console.WriteLine($"// upstream queries: {_primed} at setup, {_responder.Queries - _primed} during the run; cached results {_resolver.CachedCount}");
        _resolver.Dispose();
        _responder.Dispose();
    }

    /// <summary>The raw look-up: <c>ResolveAsync(name, MX)</c>, a completed task from the cache.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = DnsBenchSetup.Domains)]
    public int ResolveMx()
    {
        var n = 0;
        foreach (var d in _domains)
        {
            n += _resolver.ResolveAsync(d, DnsRecordType.MX).GetAwaiter().GetResult().Records.Count;
        }

        return n;
    }

    /// <summary><c>ResolveAsync(name, A)</c> of the MX hosts.</summary>
    [Benchmark(OperationsPerInvoke = DnsBenchSetup.Domains)]
    public int ResolveA()
    {
        var n = 0;
        foreach (var h in _hosts)
        {
            n += _resolver.ResolveAsync(h, DnsRecordType.A).GetAwaiter().GetResult().Records.Count;
        }

        return n;
    }

    /// <summary>What the delivery router calls: <c>GetMxAsync</c> (sorted MX list) awaited.</summary>
    [Benchmark(OperationsPerInvoke = DnsBenchSetup.Domains)]
    public async Task<int> GetMxAsync()
    {
        var n = 0;
        foreach (var d in _domains)
        {
            n += (await _resolver.GetMxAsync(d).ConfigureAwait(false)).Values.Count;
        }

        return n;
    }

    /// <summary><c>GetAddressesAsync</c> (A and AAAA, the AAAA a cached no-data answer) awaited.</summary>
    [Benchmark(OperationsPerInvoke = DnsBenchSetup.Domains)]
    public async Task<int> GetAddressesAsync()
    {
        var n = 0;
        foreach (var h in _hosts)
        {
            n += (await _resolver.GetAddressesAsync(h).ConfigureAwait(false)).Values.Count;
        }

        return n;
    }
}

/// <summary>
/// The same cached MX look-up from <see cref="Callers"/> threads at once (one shared resolver, as in the server);
/// one operation = one look-up, so ops/s over all callers = 1 / mean. The machine has 2 cores.
/// </summary>
[MemoryDiagnoser]
public class DnsCacheParallelBenchmarks
{
    private const int PerCaller = 20 * DnsBenchSetup.Domains;
    private LoopbackDnsResponder _responder = null!;
    private DnsStubResolver _resolver = null!;
    private string[] _domains = [];

    [Params(1, 2, 8)]
    public int Callers { get; set; }

    [GlobalSetup]
    public void Setup() => (_responder, _resolver, _domains, _) = DnsBenchSetup.Create();

    [GlobalCleanup]
    public void Cleanup()
    {
        _resolver.Dispose();
        _responder.Dispose();
    }

    [Benchmark(OperationsPerInvoke = 8 * PerCaller)]
    public int ResolveMxParallel()
    {
        // Each invocation does 8 × PerCaller look-ups in total, split over the callers, so the figures compare.
        var total = 0;
        var per = 8 * PerCaller / Callers;
        Parallel.For(0, Callers, new ParallelOptions { MaxDegreeOfParallelism = Callers }, _ =>
        {
            var n = 0;
            for (var i = 0; i < per; i++)
            {
                n += _resolver.ResolveAsync(_domains[i % _domains.Length], DnsRecordType.MX).GetAwaiter().GetResult().Records.Count;
            }

            Interlocked.Add(ref total, n);
        });
        return total;
    }
}

internal static class DnsBenchSetup
{
    public const int Domains = 100;

    public static (LoopbackDnsResponder Responder, DnsStubResolver Resolver, string[] Domains, string[] Hosts) Create()
    {
        var responder = new LoopbackDnsResponder();
        var resolver = new DnsStubResolver(new DnsResolverOptions
        {
            Servers = [responder.EndPoint],
            Timeout = TimeSpan.FromSeconds(2),
            Attempts = 1,
            MinimumCacheTtl = TimeSpan.FromSeconds(5),
        });
        var domains = Enumerable.Range(1, Domains).Select(i => $"d{i}.test").ToArray();
        var hosts = domains.Select(d => "mx." + d).ToArray();
        foreach (var d in domains)
        {
            Check(resolver.ResolveAsync(d, DnsRecordType.MX).GetAwaiter().GetResult(), d);
        }

        foreach (var h in hosts)
        {
            Check(resolver.ResolveAsync(h, DnsRecordType.A).GetAwaiter().GetResult(), h);
            resolver.ResolveAsync(h, DnsRecordType.AAAA).GetAwaiter().GetResult();
        }

        return (responder, resolver, domains, hosts);
    }

    private static void Check(DnsResult r, string name)
    {
        if (!r.IsSuccess || r.Records.Count == 0)
        {
            throw new InvalidOperationException($"priming {name}: {r.Status} {r.Error}");
        }
    }
}

/// <summary>
/// A tiny authoritative responder for the benchmark on 127.0.0.1 (UDP): MX <c>dN.test</c> → <c>10 mx.dN.test</c>,
/// A <c>mx.dN.test</c> → 127.0.0.1, anything else NXDOMAIN or no data with an SOA (TTL 300, negative TTL 300).
/// </summary>
public sealed class LoopbackDnsResponder : IDisposable
{
    private const uint Ttl = 300;
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Thread _thread;
    private volatile bool _stopped;
    private int _queries;

    public LoopbackDnsResponder()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _thread = new Thread(Serve) { IsBackground = true, Name = "bench-dns" };
        _thread.Start();
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Queries answered so far.</summary>
    public int Queries => Volatile.Read(ref _queries);

    public void Dispose()
    {
        _stopped = true;
        _socket.Dispose();
    }

    private void Serve()
    {
        var buffer = new byte[4096];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        while (!_stopped)
        {
            int n;
            try
            {
                n = _socket.ReceiveFrom(buffer, ref from);
            }
            catch (Exception) when (_stopped)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            if (!DnsMessageCodec.TryParse(buffer.AsSpan(0, n), out var query, out _) || query.Questions.Count != 1)
            {
                continue;
            }

            Interlocked.Increment(ref _queries);
            var reply = DnsMessageCodec.Encode(Answer(query));
            _socket.SendTo(reply, from);
        }
    }

    internal static DnsMessage Answer(DnsMessage query)
    {
        var q = query.Questions[0];
        var name = q.Name.TrimEnd('.').ToLowerInvariant();
        var labels = name.Split('.');
        var isDomain = labels.Length == 2 && labels[1] == "test" && IsD(labels[0]);
        var isHost = labels.Length == 3 && labels[0] == "mx" && labels[2] == "test" && IsD(labels[1]);
        var zone = isDomain ? name : isHost ? string.Join('.', labels[1..]) : "test";
        List<DnsRecord> answers = [];
        if (isDomain && q.Type == DnsRecordType.MX)
        {
            answers.Add(new MxRecord(q.Name, Ttl, 10, "mx." + name));
        }
        else if (isHost && q.Type == DnsRecordType.A)
        {
            answers.Add(new ARecord(q.Name, Ttl, IPAddress.Loopback));
        }

        var exists = isDomain || isHost;
        return new DnsMessage
        {
            Id = query.Id,
            IsResponse = true,
            Opcode = query.Opcode,
            IsAuthoritativeAnswer = true,
            RecursionDesired = query.RecursionDesired,
            RecursionAvailable = true,
            ResponseCode = exists ? DnsResponseCode.NoError : DnsResponseCode.NameError,
            Questions = [q],
            Answers = answers,
            Authorities = answers.Count > 0 ? [] : [new SoaRecord(zone, Ttl, "ns." + zone, "hostmaster." + zone, 1, 3600, 600, 86400, Ttl)],
        };
    }

    private static bool IsD(string label) => label.Length > 1 && label[0] == 'd' && label.AsSpan(1).IndexOfAnyExceptInRange('0', '9') < 0;
}
