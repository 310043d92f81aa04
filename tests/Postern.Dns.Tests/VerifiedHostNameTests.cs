using System.Net;

namespace Postern.Dns.Tests;

/// <summary>Forward-confirmed reverse DNS, the name an SMTP server shows in Received for its client.</summary>
public class VerifiedHostNameTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.25");

    [Fact]
    public async Task A_ptr_name_that_maps_back_to_the_address_is_verified()
    {
        var dns = new TableResolver()
            .Add(new PtrRecord("25.2.0.192.in-addr.arpa", 300, "mail.sender.test"))
            .Add(new ARecord("mail.sender.test", 300, Client));
        Assert.Equal("mail.sender.test", await DnsLookups.GetVerifiedHostNameAsync(dns, Client));
        Assert.Equal("mail.sender.test", await DnsLookups.GetVerifiedHostNameAsync(dns, Client.MapToIPv6()));
    }

    [Fact]
    public async Task A_ptr_name_that_points_elsewhere_proves_nothing()
    {
        var dns = new TableResolver()
            .Add(new PtrRecord("25.2.0.192.in-addr.arpa", 300, "www.bank.test"))
            .Add(new ARecord("www.bank.test", 300, IPAddress.Parse("198.51.100.1")));
        Assert.Null(await DnsLookups.GetVerifiedHostNameAsync(dns, Client));
    }

    [Fact]
    public async Task The_first_of_several_names_that_maps_back_wins_and_ipv6_is_checked_with_aaaa()
    {
        var v6 = IPAddress.Parse("2001:db8::25");
        var dns = new TableResolver()
            .Add(new PtrRecord(DnsName.ReverseName(v6), 300, "fake.test"))
            .Add(new PtrRecord(DnsName.ReverseName(v6), 300, "real.sender.test"))
            .Add(new AaaaRecord("fake.test", 300, IPAddress.Parse("2001:db8::99")))
            .Add(new AaaaRecord("real.sender.test", 300, v6));
        Assert.Equal("real.sender.test", await DnsLookups.GetVerifiedHostNameAsync(dns, v6));
    }

    [Fact]
    public async Task No_ptr_or_a_failing_server_gives_no_name()
    {
        Assert.Null(await DnsLookups.GetVerifiedHostNameAsync(new TableResolver(), Client));
        Assert.Null(await DnsLookups.GetVerifiedHostNameAsync(new TableResolver { Failing = true }, Client));
    }

    /// <summary>Answers from a table; every other question is NXDOMAIN (or SERVFAIL when failing).</summary>
    private sealed class TableResolver : IDnsResolver
    {
        private readonly List<DnsRecord> _records = [];

        public bool Failing { get; init; }

        public TableResolver Add(DnsRecord record)
        {
            _records.Add(record);
            return this;
        }

        public Task<DnsResult> ResolveAsync(string name, DnsRecordType type, CancellationToken cancellationToken = default)
        {
            var found = _records.Where(r => r.Type == type && string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase)).ToList();
            return Task.FromResult(new DnsResult
            {
                Status = Failing ? DnsStatus.ServerFailure : found.Count > 0 ? DnsStatus.Success : DnsStatus.NxDomain,
                Name = name,
                Type = type,
                CanonicalName = name,
                Records = found,
            });
        }
    }
}
