using System.Net;

namespace Postern.Dns.Tests.EndToEnd;

/// <summary>The resolver against unbound (validating) in front of nsd serving local zone files.</summary>
[Trait("Category", "EndToEnd")]
public sealed class RealServerTests(DnsServersFixture servers) : IClassFixture<DnsServersFixture>
{
    [Fact]
    public async Task A_and_AAAA_addresses()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.GetAddressesAsync("mx1.e2e.test");

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal([IPAddress.Parse("192.0.2.25"), IPAddress.Parse("2001:db8::25")], result.Values);
    }

    [Fact]
    public async Task NS_and_SOA_from_a_real_authoritative_server()
    {
        using var resolver = servers.NewResolver();

        var ns = await resolver.ResolveAsync("e2e.test", DnsRecordType.NS);
        var soa = await resolver.ResolveAsync("e2e.test", DnsRecordType.SOA);

        Assert.Equal(DnsStatus.Success, ns.Status);
        Assert.Equal(["ns1.e2e.test"], ns.RecordsOf<NsRecord>().Select(r => r.Host));
        var record = Assert.Single(soa.RecordsOf<SoaRecord>());
        Assert.Equal(("ns1.e2e.test", "hostmaster.e2e.test", 1u, 3600u, 600u, 86400u, 60u),
            (record.PrimaryServer, record.ResponsibleMailbox, record.Serial, record.Refresh, record.Retry, record.Expire, record.Minimum));
    }

    [Fact]
    public async Task MX_sorted_by_preference()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.GetMxAsync("E2E.test");

        Assert.Equal([(10, "mx1.e2e.test"), (20, "mx2.e2e.test")],
            result.Values.Select(m => ((int)m.Preference, m.Exchange)));
    }

    [Fact]
    public async Task TXT_with_several_strings_keeps_them_and_joins_them()
    {
        using var resolver = servers.NewResolver();

        var txt = Assert.Single((await resolver.GetTxtAsync("spf.e2e.test")).Values);

        Assert.Equal(["v=spf1 ip4:192.0.2.0/24", " -all"], txt.Strings);
        Assert.Equal("v=spf1 ip4:192.0.2.0/24 -all", txt.Text);
    }

    [Fact]
    public async Task Long_TXT_that_does_not_fit_in_UDP_arrives_whole_through_TCP_fallback()
    {
        using var resolver = servers.NewResolver();

        var txt = Assert.Single((await resolver.GetTxtAsync(DnsServersFixture.LongTxtName)).Values);

        Assert.Equal(DnsServersFixture.LongTxtStrings, txt.Strings);
        Assert.Equal(2000, txt.Text.Length);
    }

    [Fact]
    public async Task TCP_only_resolver_gets_the_same_answers()
    {
        using var resolver = servers.NewResolver(tcpOnly: true);

        var mx = await resolver.GetMxAsync("e2e.test");
        var txt = await resolver.GetTxtAsync(DnsServersFixture.LongTxtName);

        Assert.Equal(2, mx.Values.Count);
        Assert.Equal(2000, Assert.Single(txt.Values).Text.Length);
    }

    [Fact]
    public async Task CNAME_chain_is_followed_to_the_final_name()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.ResolveAsync("www.e2e.test", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal("host.e2e.test", result.CanonicalName);
        Assert.Equal(["web.e2e.test", "host.e2e.test"], result.CnameChain.Select(c => c.Target));
        Assert.Equal(IPAddress.Parse("192.0.2.80"), Assert.IsType<ARecord>(Assert.Single(result.Records)).Address);
    }

    [Fact]
    public async Task CNAME_loop_is_reported()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.ResolveAsync("loop1.e2e.test", DnsRecordType.A);

        // unbound itself answers SERVFAIL or returns the loop; either way no records and no hang.
        Assert.Contains(result.Status, new[] { DnsStatus.CnameLoop, DnsStatus.ServerFailure });
        Assert.Empty(result.Records);
    }

    [Fact]
    public async Task PTR_for_an_address()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.GetPtrAsync(IPAddress.Parse("192.0.2.80"));

        Assert.Equal(["host.e2e.test"], result.Values);
    }

    [Fact]
    public async Task SRV_sorted_by_priority()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.GetSrvAsync("_imaps._tcp.e2e.test");

        Assert.Equal([("mx1.e2e.test", 0), ("host.e2e.test", 10)], result.Values.Select(s => (s.Target, (int)s.Priority)));
        Assert.All(result.Values, s => Assert.Equal(993, s.Port));
    }

    [Fact]
    public async Task TLSA_fields()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.GetTlsaAsync(DnsName.TlsaName("mx1.e2e.test", 25));

        var tlsa = Assert.Single(result.Values);
        Assert.Equal((3, 1, 1), (tlsa.CertificateUsage, tlsa.Selector, tlsa.MatchingType));
        Assert.Equal(DnsServersFixture.TlsaHash, tlsa.CertificateAssociationData);
        Assert.False(result.IsAuthenticated);
    }

    [Fact]
    public async Task Unicode_name_is_found_by_its_A_label()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.GetAddressesAsync("Bücher.e2e.test");

        Assert.Equal([IPAddress.Parse("192.0.2.77")], result.Values);
    }

    [Fact]
    public async Task Missing_name_is_NXDOMAIN_and_missing_type_is_NODATA_with_SOA_ttl()
    {
        using var resolver = servers.NewResolver();

        var missing = await resolver.ResolveAsync("nothing.e2e.test", DnsRecordType.A);
        var noMx = await resolver.ResolveAsync("host.e2e.test", DnsRecordType.MX);

        Assert.Equal(DnsStatus.NxDomain, missing.Status);
        Assert.Equal(DnsStatus.NoData, noMx.Status);
        Assert.InRange(noMx.TimeToLive, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task Signed_zone_answers_with_AD_and_is_authenticated()
    {
        using var resolver = servers.NewResolver();

        var a = await resolver.ResolveAsync("www.signed.test", DnsRecordType.A);
        var tlsa = await resolver.GetTlsaAsync("_25._tcp.www.signed.test");

        Assert.Equal(DnsStatus.Success, a.Status);
        Assert.True(a.AuthenticData);
        Assert.True(a.IsAuthenticated);
        Assert.True(tlsa.IsAuthenticated);
        Assert.Equal(DnsServersFixture.TlsaHash, Assert.Single(tlsa.Values).CertificateAssociationData);
    }

    [Fact]
    public async Task Signed_zone_negative_answer_is_authenticated_too()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.ResolveAsync("nothing.signed.test", DnsRecordType.A);

        Assert.Equal(DnsStatus.NxDomain, result.Status);
        Assert.True(result.IsAuthenticated);
    }

    [Fact]
    public async Task Unsigned_zone_answers_without_AD()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.ResolveAsync("host.e2e.test", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.False(result.AuthenticData);
        Assert.False(result.IsAuthenticated);
    }

    [Fact]
    public async Task CNAME_from_an_unsigned_zone_into_a_signed_one_is_not_authenticated()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.ResolveAsync("to-signed.e2e.test", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.Equal("www.signed.test", result.CanonicalName);
        Assert.False(result.IsAuthenticated);
    }

    [Fact]
    public async Task Zone_with_a_broken_signature_is_SERVFAIL()
    {
        using var resolver = servers.NewResolver();

        var result = await resolver.ResolveAsync("www.bogus.test", DnsRecordType.A);

        Assert.Equal(DnsStatus.ServerFailure, result.Status);
        Assert.Empty(result.Records);
        Assert.False(result.IsAuthenticated);
    }

    [Fact]
    public async Task Authoritative_server_without_validation_never_sets_AD()
    {
        using var resolver = servers.NewResolver(server: servers.Nsd);

        var result = await resolver.ResolveAsync("www.signed.test", DnsRecordType.A);

        Assert.Equal(DnsStatus.Success, result.Status);
        Assert.False(result.AuthenticData);
    }
}
