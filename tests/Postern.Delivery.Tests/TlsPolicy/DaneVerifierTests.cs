using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy;

/// <summary>DANE for SMTP (RFC 7672 §3, RFC 6698, RFC 7671) against certificates made in-process.</summary>
public sealed class DaneVerifierTests : IDisposable
{
    private const string Mx = "mx.example.com";
    private readonly TestPki _pki = new();
    private readonly X509Certificate2 _leaf;

    public DaneVerifierTests()
    {
        _leaf = _pki.Leaf([Mx]);
    }

    public void Dispose()
    {
        _leaf.Dispose();
        _pki.Dispose();
    }

    private X509Certificate2[] Chain => [_leaf, _pki.Intermediate, _pki.Root];

    private DaneVerificationResult Verify(params TlsaRecord[] records) =>
        DaneVerifier.Verify(records, _leaf, Chain, [Mx], TestPki.Now);

    [Theory]
    [InlineData(1, 1)] // 3 1 1: the usual record, SHA-256 of the key
    [InlineData(0, 1)] // 3 0 1: SHA-256 of the whole certificate
    [InlineData(1, 2)] // 3 1 2: SHA-512 of the key
    [InlineData(0, 0)] // 3 0 0: the whole certificate
    [InlineData(1, 0)] // 3 1 0: the whole key
    [InlineData(0, 2)]
    public void DANE_EE_matches_the_leaf_by_certificate_or_key(byte selector, byte matching)
    {
        var result = Verify(TestPki.Tlsa(_leaf, 3, selector, matching));

        Assert.True(result.IsMatch, result.Reason);
        Assert.Equal(3, result.MatchedRecord!.CertificateUsage);
    }

    [Fact]
    public void Association_data_is_what_openssl_computes_for_3_1_1()
    {
        // openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256: the SPKI digest.
        var spki = _leaf.PublicKey.ExportSubjectPublicKeyInfo();
        Assert.Equal(SHA256.HashData(spki), DaneVerifier.ComputeAssociationData(_leaf, 1, 1));
        Assert.Equal(SHA512.HashData(_leaf.RawData), DaneVerifier.ComputeAssociationData(_leaf, 0, 2));
    }

    [Fact]
    public void DANE_EE_for_another_key_does_not_match()
    {
        using var other = _pki.Leaf([Mx]);

        var result = Verify(TestPki.Tlsa(other, 3, 1, 1));

        Assert.False(result.IsMatch);
        Assert.Contains("DANE-EE", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DANE_EE_ignores_the_name_and_expiry_of_the_leaf()
    {
        // RFC 7672 §3.1.1: with DANE-EE the key is the identity; an expired certificate for another name still matches.
        using var expired = _pki.Leaf(["something-else.example.net"], notBefore: TestPki.Now.AddMonths(-10), notAfter: TestPki.Now.AddMonths(-9));
        using var selfSigned = TestPki.SelfSigned("localhost", TestPki.Now.AddYears(-3), TestPki.Now.AddYears(-2));

        var a = DaneVerifier.Verify([TestPki.Tlsa(expired, 3, 1, 1)], expired, [expired, _pki.Intermediate], [Mx], TestPki.Now);
        var b = DaneVerifier.Verify([TestPki.Tlsa(selfSigned, 3, 0, 1)], selfSigned, [selfSigned], [Mx], TestPki.Now);

        Assert.True(a.IsMatch, a.Reason);
        Assert.True(b.IsMatch, b.Reason);
    }

    [Theory]
    [InlineData(0, 1)] // 2 0 1: SHA-256 of the CA certificate
    [InlineData(1, 1)] // 2 1 1: SHA-256 of the CA key
    [InlineData(0, 0)]
    [InlineData(1, 2)]
    public void DANE_TA_for_the_intermediate_matches_and_checks_the_name(byte selector, byte matching)
    {
        var result = Verify(TestPki.Tlsa(_pki.Intermediate, 2, selector, matching));

        Assert.True(result.IsMatch, result.Reason);
        Assert.Equal(Mx, result.MatchedName);
    }

    [Fact]
    public void DANE_TA_for_the_root_matches_when_the_server_sends_the_root()
    {
        var record = TestPki.Tlsa(_pki.Root, 2, 0, 1);

        Assert.True(Verify(record).IsMatch);
        var withoutRoot = DaneVerifier.Verify([record], _leaf, [_leaf, _pki.Intermediate], [Mx], TestPki.Now);
        Assert.False(withoutRoot.IsMatch);
        Assert.Contains("DANE-TA", withoutRoot.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DANE_TA_with_the_wrong_name_does_not_match()
    {
        var result = DaneVerifier.Verify([TestPki.Tlsa(_pki.Intermediate, 2, 1, 1)], _leaf, Chain, ["mx2.example.com"], TestPki.Now);

        Assert.False(result.IsMatch);
        Assert.Contains("not for mx2.example.com", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("*.example.com", "mx.example.com", true)]
    [InlineData("*.example.com", "a.b.example.com", false)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("MX.Example.COM", "mx.example.com.", true)]
    public void DANE_TA_name_check_allows_a_wildcard_only_as_the_whole_leftmost_label(string certName, string reference, bool match)
    {
        using var leaf = _pki.Leaf([certName]);

        var result = DaneVerifier.Verify([TestPki.Tlsa(_pki.Intermediate, 2, 1, 1)], leaf, [leaf, _pki.Intermediate], [reference], TestPki.Now);

        Assert.Equal(match, result.IsMatch);
    }

    [Fact]
    public void DANE_TA_refuses_an_expired_leaf()
    {
        using var expired = _pki.Leaf([Mx], notBefore: TestPki.Now.AddDays(-90), notAfter: TestPki.Now.AddDays(-1));

        var result = DaneVerifier.Verify([TestPki.Tlsa(_pki.Intermediate, 2, 1, 1)], expired, [expired, _pki.Intermediate], [Mx], TestPki.Now);

        Assert.False(result.IsMatch);
        Assert.Contains("does not chain", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DANE_TA_refuses_a_leaf_that_another_CA_signed()
    {
        using var otherPki = new TestPki("Other");
        using var leaf = otherPki.Leaf([Mx]);

        // The server sends our intermediate (which matches the record) but its leaf was issued by someone else.
        var result = DaneVerifier.Verify([TestPki.Tlsa(_pki.Intermediate, 2, 1, 1)], leaf, [leaf, _pki.Intermediate], [Mx], TestPki.Now);

        Assert.False(result.IsMatch);
    }

    [Fact]
    public void DANE_TA_does_not_match_the_leaf_itself()
    {
        var result = Verify(TestPki.Tlsa(_leaf, 2, 1, 1));

        Assert.False(result.IsMatch);
    }

    [Theory]
    [InlineData(0)] // PKIX-TA
    [InlineData(1)] // PKIX-EE
    public void PKIX_usages_are_ignored_even_when_they_would_match(byte usage)
    {
        // RFC 7672 §3.1.3: usages 0 and 1 are unusable for SMTP.
        var record = TestPki.Tlsa(usage == 0 ? _pki.Root : _leaf, usage, 0, 1);

        Assert.False(DaneVerifier.IsUsable(record));
        var result = Verify(record);
        Assert.False(result.IsMatch);
        Assert.Contains("no usable TLSA records", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_selectors_matching_types_and_wrong_digest_lengths_are_unusable()
    {
        var good = TestPki.Tlsa(_leaf, 3, 1, 1);
        TlsaRecord[] bad =
        [
            good with { Selector = 2 },
            good with { MatchingType = 3 },
            good with { MatchingType = 2 },                       // 32 bytes is not a SHA-512 digest
            good with { CertificateAssociationData = good.CertificateAssociationData[..31] },
            good with { MatchingType = 0, CertificateAssociationData = [] },
            good with { CertificateUsage = 4 },
        ];

        Assert.All(bad, r => Assert.False(DaneVerifier.IsUsable(r)));
        Assert.Empty(DaneVerifier.UsableRecords(bad));
        Assert.False(Verify(bad).IsMatch);
        Assert.True(Verify([.. bad, good]).IsMatch);
    }

    [Fact]
    public void Any_matching_record_in_the_set_is_enough()
    {
        using var next = _pki.Leaf([Mx]);

        // Key rollover: the current and the next key published side by side, plus junk.
        var result = Verify(TestPki.Tlsa(next, 3, 1, 1), TestPki.Tlsa(_pki.Root, 0, 0, 1), TestPki.Tlsa(_leaf, 3, 1, 1));

        Assert.True(result.IsMatch, result.Reason);
    }

    [Fact]
    public void Verify_with_an_X509Chain_reads_the_presented_certificates_from_its_extra_store()
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.ExtraStore.Add(_pki.Intermediate);

        var result = DaneVerifier.Verify([TestPki.Tlsa(_pki.Intermediate, 2, 1, 1)], _leaf, chain, [Mx], TestPki.Now);

        Assert.True(result.IsMatch, result.Reason);
    }
}
