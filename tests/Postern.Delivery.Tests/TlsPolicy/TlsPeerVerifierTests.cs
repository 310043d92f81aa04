using System.Security.Cryptography.X509Certificates;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy;

/// <summary>
/// The client side of STARTTLS at each level, with real TLS handshakes over loopback (an in-process SslStream server
/// sending a leaf and its intermediate, as a mail server does).
/// </summary>
public sealed class TlsPeerVerifierTests : IDisposable
{
    private const string Mx = "mx.example.com";
    private readonly TestPki _pki = new();
    private readonly X509Certificate2 _leaf;

    public TlsPeerVerifierTests()
    {
        _leaf = _pki.Leaf([Mx]);
    }

    public void Dispose()
    {
        _leaf.Dispose();
        _pki.Dispose();
    }

    private TlsVerificationOptions Trust => new() { TrustRoots = _pki.Roots, Time = new ManualClock(TestPki.Now) };

    private static TlsRequirement Requirement(TlsLevel level, string[]? names = null, IReadOnlyList<TlsaRecord>? tlsa = null, bool reportOnly = false) => new()
    {
        Level = level,
        Source = TlsPolicySource.AdminPolicy,
        Domain = "example.com",
        MxHost = Mx,
        ReferenceNames = names ?? [Mx],
        TlsaRecords = tlsa ?? [],
        ReportOnly = reportOnly,
        ReportOnlyReferenceNames = reportOnly ? [Mx] : [],
    };

    [Fact]
    public async Task Verify_accepts_a_chain_to_the_trusted_root_with_the_MX_name_and_sends_SNI()
    {
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Verify), Trust);

        var (connected, sni) = await LoopbackTls.HandshakeAsync(verifier, _leaf, _pki.Intermediate);

        Assert.True(connected, verifier.Outcome?.Detail);
        Assert.Equal(Mx, sni);
        Assert.Equal(TlsPeerTrust.Verified, verifier.Outcome!.Trust);
        Assert.Equal(Mx, verifier.Outcome.MatchedName);
        Assert.Equal(64, verifier.Outcome.Sha256Fingerprint!.Length);
    }

    [Fact]
    public async Task Verify_refuses_a_self_signed_certificate()
    {
        using var selfSigned = TestPki.SelfSigned(Mx);
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Verify), Trust);

        var (connected, _) = await LoopbackTls.HandshakeAsync(verifier, selfSigned);

        Assert.False(connected);
        Assert.False(verifier.Outcome!.Accepted);
        Assert.Equal(TlsPeerTrust.Untrusted, verifier.Outcome.Trust);
    }

    [Fact]
    public async Task Verify_refuses_a_trusted_certificate_for_another_name()
    {
        using var other = _pki.Leaf(["mail.example.org"]);
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Verify), Trust);

        var (connected, _) = await LoopbackTls.HandshakeAsync(verifier, other, _pki.Intermediate);

        Assert.False(connected);
        Assert.Equal(TlsPeerTrust.Trusted, verifier.Outcome!.Trust);
    }

    [Fact]
    public async Task Verify_accepts_an_admin_match_name_other_than_the_MX_host()
    {
        using var other = _pki.Leaf(["relay.customer.example"]);
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Verify, ["relay.customer.example"]), Trust);

        var (connected, _) = await LoopbackTls.HandshakeAsync(verifier, other, _pki.Intermediate);

        Assert.True(connected, verifier.Outcome?.Detail);
    }

    [Fact]
    public async Task Verify_refuses_an_expired_certificate()
    {
        using var expired = _pki.Leaf([Mx], notBefore: TestPki.Now.AddMonths(-6), notAfter: TestPki.Now.AddDays(-1));
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Verify), Trust);

        var (connected, _) = await LoopbackTls.HandshakeAsync(verifier, expired, _pki.Intermediate);

        Assert.False(connected);
        Assert.Contains("NotTimeValid", verifier.Outcome!.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_refuses_a_chain_without_its_intermediate()
    {
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Verify), Trust);

        var (connected, _) = await LoopbackTls.HandshakeAsync(verifier, _leaf);

        Assert.False(connected);
    }

    [Theory]
    [InlineData(TlsLevel.Encrypt)]
    [InlineData(TlsLevel.May)]
    public async Task Encrypt_and_may_accept_a_self_signed_certificate_and_log_it_as_untrusted(TlsLevel level)
    {
        using var selfSigned = TestPki.SelfSigned(Mx);
        var verifier = new TlsPeerVerifier(Requirement(level), Trust);

        var (connected, _) = await LoopbackTls.HandshakeAsync(verifier, selfSigned);

        Assert.True(connected);
        Assert.True(verifier.Outcome!.Accepted);
        Assert.Equal(TlsPeerTrust.Untrusted, verifier.Outcome.Trust);
    }

    [Fact]
    public async Task Encrypt_logs_a_good_certificate_as_verified()
    {
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Encrypt), Trust);

        await LoopbackTls.HandshakeAsync(verifier, _leaf, _pki.Intermediate);

        Assert.Equal(TlsPeerTrust.Verified, verifier.Outcome!.Trust);
    }

    [Fact]
    public async Task Dane_EE_accepts_a_self_signed_certificate_whose_key_is_published()
    {
        using var selfSigned = TestPki.SelfSigned("localhost");
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Dane, tlsa: [TestPki.Tlsa(selfSigned, 3, 1, 1)]), Trust);

        var (connected, sni) = await LoopbackTls.HandshakeAsync(verifier, selfSigned);

        Assert.True(connected, verifier.Outcome?.Detail);
        Assert.Equal(Mx, sni);
        Assert.Equal(TlsPeerTrust.Verified, verifier.Outcome!.Trust);
    }

    [Fact]
    public async Task Dane_refuses_a_good_WebPKI_certificate_that_the_TLSA_records_do_not_name()
    {
        using var other = _pki.Leaf([Mx]);
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Dane, tlsa: [TestPki.Tlsa(other, 3, 1, 1)]), Trust);

        var (connected, _) = await LoopbackTls.HandshakeAsync(verifier, _leaf, _pki.Intermediate);

        Assert.False(connected);
        Assert.Equal(TlsPeerTrust.Untrusted, verifier.Outcome!.Trust);
        Assert.False(verifier.Outcome.Dane!.IsMatch);
    }

    [Fact]
    public async Task Dane_TA_matches_the_intermediate_the_server_sends()
    {
        // The DANE-TA check needs the certificates the server sent: SslStream gives them in the chain's extra store.
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Dane, tlsa: [TestPki.Tlsa(_pki.Intermediate, 2, 1, 1)]),
            new TlsVerificationOptions { Time = new ManualClock(TestPki.Now) });

        var (connected, _) = await LoopbackTls.HandshakeAsync(verifier, _leaf, _pki.Intermediate);

        Assert.True(connected, verifier.Outcome?.Detail);
        Assert.Equal(Mx, verifier.Outcome!.MatchedName);
    }

    [Fact]
    public async Task Testing_mode_flags_what_enforce_would_refuse_but_the_handshake_goes_on()
    {
        using var selfSigned = TestPki.SelfSigned(Mx);
        using var otherName = _pki.Leaf(["other.example.net"]);
        var a = new TlsPeerVerifier(Requirement(TlsLevel.May, reportOnly: true), Trust);
        var b = new TlsPeerVerifier(Requirement(TlsLevel.May, reportOnly: true), Trust);
        var c = new TlsPeerVerifier(Requirement(TlsLevel.May, reportOnly: true), Trust);

        Assert.True((await LoopbackTls.HandshakeAsync(a, selfSigned)).Connected);
        Assert.True((await LoopbackTls.HandshakeAsync(b, otherName, _pki.Intermediate)).Connected);
        Assert.True((await LoopbackTls.HandshakeAsync(c, _leaf, _pki.Intermediate)).Connected);

        Assert.Equal(MtaStsTestingFailure.CertificateNotTrusted, a.Outcome!.MtaStsFailure);
        Assert.Equal(MtaStsTestingFailure.CertificateNameMismatch, b.Outcome!.MtaStsFailure);
        Assert.Null(c.Outcome!.MtaStsFailure);
    }

    [Fact]
    public void Level_none_has_no_client_options()
    {
        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.None));

        Assert.Throws<InvalidOperationException>(() => verifier.CreateClientOptions());
    }

    [Fact]
    public void No_certificate_at_all_is_anonymous_and_refused_when_authentication_is_required()
    {
        var may = new TlsPeerVerifier(Requirement(TlsLevel.May));
        var verify = new TlsPeerVerifier(Requirement(TlsLevel.Verify));

        Assert.True(may.Validate(null, null));
        Assert.False(verify.Validate(null, null));
        Assert.Equal(TlsPeerTrust.Anonymous, verify.Outcome!.Trust);
    }
}
