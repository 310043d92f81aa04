using Postern.Delivery.TlsPolicy;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy.EndToEnd;

/// <summary>
/// DANE from end to end: TLSA records in a zone signed by ldns-signzone, validated by unbound, read through our
/// resolver with AD=1, combined into a requirement and checked in a real TLS handshake.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class DaneDnssecTests(SignedZoneServers dns) : IClassFixture<SignedZoneServers>
{
    /// <summary>What the delivery engine does for one MX host: MX, addresses, TLSA, then the combiner.</summary>
    private static async Task<(TlsPolicyDecision Decision, DaneTlsaState Dane)> DecideAsync(DnsStubResolver resolver, string domain, string host)
    {
        var mx = await resolver.GetMxAsync(domain);
        Assert.True(mx.IsSuccess, $"MX {domain}: {mx.Status} {mx.Error}");
        var addresses = await resolver.GetAddressesAsync(host);
        Assert.True(addresses.IsSuccess, $"A {host}: {addresses.Status} {addresses.Error}");
        var hostAuthenticated = mx.IsAuthenticated && addresses.IsAuthenticated;
        var dane = await DaneTlsaState.LookupAsync(resolver, host, hostAuthenticated);
        var decision = new TlsPolicyResolver().Resolve(new TlsPolicyInput
        {
            Domain = domain,
            MxHost = host,
            Dane = dane,
            MxAuthenticated = mx.IsAuthenticated,
        });
        return (decision, dane);
    }

    [Fact]
    public async Task Signed_DANE_EE_record_authenticates_the_server_in_a_TLS_handshake()
    {
        using var resolver = dns.NewResolver();
        var tlsa = await resolver.GetTlsaAsync(DnsName.TlsaName("mx.dane.test", 25));
        Assert.True(tlsa.IsAuthenticated, "unbound validated the TLSA answer (AD=1 from loopback)");

        var (decision, dane) = await DecideAsync(resolver, "dane.test", "mx.dane.test");

        Assert.Equal(DaneTlsaStatus.Records, dane.Status);
        var requirement = decision.Requirement!;
        Assert.Equal(TlsLevel.Dane, requirement.Level);
        var verifier = new TlsPeerVerifier(requirement, new TlsVerificationOptions { Time = new ManualClock(TestPki.Now) });
        var (connected, sni) = await LoopbackTls.HandshakeAsync(verifier, dns.Leaf, dns.Pki.Intermediate);
        Assert.True(connected, verifier.Outcome?.Detail);
        Assert.Equal("mx.dane.test", sni);
        Assert.Equal(TlsPeerTrust.Verified, verifier.Outcome!.Trust);

        // Another certificate for the same name, from the same CA, is refused: the record pins the key.
        using var impostor = dns.Pki.Leaf(["mx.dane.test"]);
        var second = new TlsPeerVerifier(requirement, new TlsVerificationOptions { Time = new ManualClock(TestPki.Now) });
        Assert.False((await LoopbackTls.HandshakeAsync(second, impostor, dns.Pki.Intermediate)).Connected);
    }

    [Fact]
    public async Task Signed_DANE_TA_record_authenticates_a_leaf_issued_by_the_published_CA()
    {
        using var resolver = dns.NewResolver();

        var (decision, _) = await DecideAsync(resolver, "dane.test", "mx2.dane.test");

        var result = DaneVerifier.Verify(decision.Requirement!.TlsaRecords, dns.Leaf, [dns.Leaf, dns.Pki.Intermediate],
            decision.Requirement.ReferenceNames, TestPki.Now);
        Assert.Equal(TlsLevel.Dane, decision.Requirement.Level);
        Assert.True(result.IsMatch, result.Reason);
        Assert.Equal("mx2.dane.test", result.MatchedName);
    }

    [Fact]
    public async Task Signed_records_that_are_all_unusable_make_TLS_mandatory_without_authentication()
    {
        using var resolver = dns.NewResolver();

        var (decision, dane) = await DecideAsync(resolver, "dane.test", "mx3.dane.test");

        Assert.Equal(DaneTlsaStatus.Records, dane.Status);
        Assert.Empty(dane.UsableRecords);
        Assert.Equal(TlsLevel.Encrypt, decision.Requirement!.Level);
        Assert.Equal(TlsPolicySource.Dane, decision.Requirement.Source);
    }

    [Fact]
    public async Task Authenticated_absence_of_TLSA_leaves_DANE_out()
    {
        using var resolver = dns.NewResolver();

        var (decision, dane) = await DecideAsync(resolver, "dane.test", "nodane.dane.test");

        Assert.Equal(DaneTlsaStatus.NoRecords, dane.Status);
        Assert.Equal(TlsLevel.May, decision.Requirement!.Level);
    }

    [Fact]
    public async Task TLSA_in_an_unsigned_zone_is_not_used()
    {
        using var resolver = dns.NewResolver();
        var tlsa = await resolver.GetTlsaAsync(DnsName.TlsaName("mx.plain.test", 25));
        Assert.True(tlsa.IsSuccess && !tlsa.IsAuthenticated, $"{tlsa.Status} AD={tlsa.AuthenticData}");

        var (decision, dane) = await DecideAsync(resolver, "plain.test", "mx.plain.test");

        Assert.Equal(DaneTlsaStatus.NotApplicable, dane.Status);
        Assert.Equal(TlsLevel.May, decision.Requirement!.Level);
    }

    [Fact]
    public async Task A_TLSA_record_that_fails_validation_defers_the_host()
    {
        using var resolver = dns.NewResolver();

        var (decision, dane) = await DecideAsync(resolver, "bogus.test", "mx.bogus.test");

        Assert.Equal(DaneTlsaStatus.LookupFailed, dane.Status);
        Assert.Equal(TlsPolicyOutcome.DeferHost, decision.Outcome);
        Assert.Null(decision.Requirement);
    }
}
