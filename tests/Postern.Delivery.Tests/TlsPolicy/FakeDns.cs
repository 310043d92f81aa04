using System.Collections.Concurrent;
using System.Net;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy;

/// <summary>An in-process <see cref="IDnsResolver"/> that answers from a table; everything else is NXDOMAIN.</summary>
internal sealed class FakeDns : IDnsResolver
{
    private readonly ConcurrentDictionary<(string, DnsRecordType), Func<string, DnsRecord[]>> _records = new();
    private readonly ConcurrentDictionary<(string, DnsRecordType), DnsStatus> _failures = new();
    private readonly ConcurrentDictionary<string, bool> _signed = new(StringComparer.Ordinal);
    private int _queries;

    public int Queries => Volatile.Read(ref _queries);

    public void SetTxt(string name, params string[] texts)
    {
        var key = (name.ToLowerInvariant(), DnsRecordType.TXT);
        if (texts.Length == 0)
        {
            _records.TryRemove(key, out _);
        }
        else
        {
            _records[key] = n => [.. texts.Select(t => TxtRecord.FromStrings(n, 300, t))];
        }
    }

    public void SetA(string name, IPAddress address) =>
        _records[(name.ToLowerInvariant(), DnsRecordType.A)] = n => [new ARecord(n, 300, address)];

    public void SetMx(string name, params (ushort Preference, string Exchange)[] records) =>
        _records[(name.ToLowerInvariant(), DnsRecordType.MX)] = n => [.. records.Select(r => new MxRecord(n, 300, r.Preference, r.Exchange))];

    public void SetTlsa(string name, params TlsaRecord[] records) =>
        _records[(name.ToLowerInvariant(), DnsRecordType.TLSA)] = n => [.. records.Select(r => r with { Name = n })];

    /// <summary>
    /// Answers about these names (records and denials) come as from a validating resolver on loopback: AD set and
    /// trusted (<see cref="DnsResult.IsAuthenticated"/>), as DNSSEC-signed zones give them.
    /// </summary>
    public void Sign(params string[] names)
    {
        foreach (var n in names)
        {
            _signed[n.ToLowerInvariant()] = true;
        }
    }

    public void Fail(string name, DnsRecordType type, DnsStatus status) => _failures[(name.ToLowerInvariant(), type)] = status;

    public Task<DnsResult> ResolveAsync(string name, DnsRecordType type, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _queries);
        var key = (name.ToLowerInvariant().TrimEnd('.'), type);
        if (_failures.TryGetValue(key, out var status))
        {
            return Task.FromResult(DnsResult.Failure(key.Item1, type, status, "fake failure"));
        }

        var signed = _signed.ContainsKey(key.Item1);
        if (_records.TryGetValue(key, out var make))
        {
            return Task.FromResult(new DnsResult
            {
                Status = DnsStatus.Success,
                Name = key.Item1,
                CanonicalName = key.Item1,
                Type = type,
                Records = make(key.Item1),
                TimeToLive = TimeSpan.FromMinutes(5),
                AuthenticData = signed,
                IsAuthenticated = signed,
            });
        }

        var exists = _records.Keys.Any(k => k.Item1 == key.Item1);
        return Task.FromResult(DnsResult.Failure(key.Item1, type, exists ? DnsStatus.NoData : DnsStatus.NxDomain, null) with
        {
            AuthenticData = signed,
            IsAuthenticated = signed,
        });
    }
}
