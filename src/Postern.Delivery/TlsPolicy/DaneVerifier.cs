using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Postern.Dns;

namespace Postern.Delivery.TlsPolicy;

/// <summary>The TLSA certificate usages (RFC 6698 §2.1.1, acronyms from RFC 7218).</summary>
public enum TlsaUsage : byte
{
    /// <summary>PKIX-TA(0): unusable for SMTP (RFC 7672 §3.1.3).</summary>
    PkixTa = 0,

    /// <summary>PKIX-EE(1): unusable for SMTP (RFC 7672 §3.1.3).</summary>
    PkixEe = 1,

    /// <summary>DANE-TA(2): a trust anchor in the server's chain; the leaf must chain to it and carry the MX host name.</summary>
    DaneTa = 2,

    /// <summary>DANE-EE(3): the server's own certificate or key; no name or expiry checks (RFC 7672 §3.1.1).</summary>
    DaneEe = 3,
}

/// <summary>The outcome of checking a server's certificate against TLSA records.</summary>
/// <param name="IsMatch">True when the certificate is authenticated by one of the records.</param>
/// <param name="MatchedRecord">The record that authenticated it.</param>
/// <param name="MatchedName">For DANE-TA, the reference name the leaf certificate matched.</param>
/// <param name="Reason">What matched, or why nothing did (for logs).</param>
public sealed record DaneVerificationResult(bool IsMatch, TlsaRecord? MatchedRecord, string? MatchedName, string Reason);

/// <summary>
/// Checks a TLS server's certificate against the TLSA records of its MX host, as RFC 7672 §3 (with RFC 6698 and
/// RFC 7671) describes for SMTP:
/// <list type="bullet">
/// <item>Only DANE-TA(2) and DANE-EE(3) records with selector Cert(0)/SPKI(1) and matching type Full(0)/SHA2-256(1)/
/// SHA2-512(2), whose data has the digest's length, are usable; the rest are ignored (RFC 7672 §3.1.3, RFC 7671 §4).</item>
/// <item>DANE-EE(3) matches the leaf certificate (its DER, or its SubjectPublicKeyInfo DER), with no name check and
/// no expiry check (RFC 7672 §3.1.1).</item>
/// <item>DANE-TA(2) matches a certificate the server sent other than the leaf (RFC 7672 §3.1.2: servers must send the
/// trust anchor). The leaf must then chain to that certificate, with the usual validity-period checks on every
/// certificate of the chain, and must carry one of the reference names (the MX host name; a wildcard only as the
/// whole left-most label, RFC 7672 §3.2.3).</item>
/// </list>
/// Thread-safe and total: bad records or certificates give a non-match with a reason.
/// </summary>
public static class DaneVerifier
{
    /// <summary>True when a record is usable for SMTP (see the class summary).</summary>
    public static bool IsUsable(TlsaRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.CertificateUsage is not ((byte)TlsaUsage.DaneTa or (byte)TlsaUsage.DaneEe) || record.Selector > 1)
        {
            return false;
        }

        var length = record.CertificateAssociationData?.Length ?? 0;
        return record.MatchingType switch
        {
            0 => length > 0,
            1 => length == SHA256.HashSizeInBytes,
            2 => length == SHA512.HashSizeInBytes,
            _ => false,
        };
    }

    /// <summary>The usable records of an RRset, in order.</summary>
    public static IReadOnlyList<TlsaRecord> UsableRecords(IReadOnlyList<TlsaRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return [.. records.Where(r => r is not null && IsUsable(r))];
    }

    /// <summary>
    /// The certificate association data of <paramref name="certificate"/> for a selector (0 = whole certificate,
    /// 1 = SubjectPublicKeyInfo) and matching type (0 = the bytes, 1 = SHA-256, 2 = SHA-512): what a TLSA record
    /// for it carries.
    /// </summary>
    public static byte[] ComputeAssociationData(X509Certificate2 certificate, byte selector, byte matchingType)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var data = selector switch
        {
            0 => certificate.RawData,
            1 => certificate.PublicKey.ExportSubjectPublicKeyInfo(),
            _ => throw new ArgumentOutOfRangeException(nameof(selector), selector, "selector must be 0 or 1"),
        };
        return matchingType switch
        {
            0 => data,
            1 => SHA256.HashData(data),
            2 => SHA512.HashData(data),
            _ => throw new ArgumentOutOfRangeException(nameof(matchingType), matchingType, "matching type must be 0, 1 or 2"),
        };
    }

    /// <summary>
    /// Verifies the server's certificate. <paramref name="chain"/> is the chain the TLS validation callback
    /// receives: the certificates the server sent are in its <see cref="X509ChainPolicy.ExtraStore"/>.
    /// </summary>
    public static DaneVerificationResult Verify(IReadOnlyList<TlsaRecord> records, X509Certificate2 leaf, X509Chain? chain,
        IReadOnlyList<string> referenceNames, DateTimeOffset? now = null)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        return Verify(records, leaf, CertificateChecks.Presented(leaf, chain), referenceNames, now);
    }

    /// <summary>
    /// Verifies the server's certificate. <paramref name="presentedChain"/> holds the certificates the server sent
    /// (the leaf may be among them); <paramref name="now"/> is the time the DANE-TA chain is checked at.
    /// </summary>
    public static DaneVerificationResult Verify(IReadOnlyList<TlsaRecord> records, X509Certificate2 leaf,
        IReadOnlyList<X509Certificate2> presentedChain, IReadOnlyList<string> referenceNames, DateTimeOffset? now = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(presentedChain);
        ArgumentNullException.ThrowIfNull(referenceNames);
        var usable = UsableRecords(records);
        if (usable.Count == 0)
        {
            return new DaneVerificationResult(false, null, null, "no usable TLSA records (only DANE-TA(2) and DANE-EE(3) are used for SMTP)");
        }

        foreach (var record in usable.Where(r => r.CertificateUsage == (byte)TlsaUsage.DaneEe))
        {
            if (Matches(leaf, record))
            {
                return new DaneVerificationResult(true, record, null, $"DANE-EE {Describe(record)} matched the server certificate");
            }
        }

        var anchors = usable.Where(r => r.CertificateUsage == (byte)TlsaUsage.DaneTa).ToList();
        var hadEe = anchors.Count < usable.Count;
        if (anchors.Count == 0)
        {
            return new DaneVerificationResult(false, null, null, "no DANE-EE record matched the server certificate");
        }

        var issuers = presentedChain.Where(c => c is not null && !c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)).ToList();
        var time = now ?? DateTimeOffset.UtcNow;
        string? chainError = null;
        TlsaRecord? anchorRecord = null;
        foreach (var candidate in issuers)
        {
            var record = anchors.FirstOrDefault(r => Matches(candidate, r));
            if (record is null)
            {
                continue;
            }

            anchorRecord ??= record;
            var check = CertificateChecks.BuildChainToAnchor(leaf, issuers, candidate, time);
            if (!check.IsValid)
            {
                chainError ??= $"the server certificate does not chain to the trust anchor {candidate.Subject} matched by {Describe(record)}: {check.Error}";
                continue;
            }

            var name = CertificateChecks.MatchName(leaf, referenceNames);
            if (name is null)
            {
                return new DaneVerificationResult(false, record, null,
                    $"DANE-TA {Describe(record)} matched {candidate.Subject}, but the server certificate is not for {string.Join(" or ", referenceNames)}");
            }

            return new DaneVerificationResult(true, record, name, $"DANE-TA {Describe(record)} matched {candidate.Subject}; name {name}");
        }

        if (chainError is not null)
        {
            return new DaneVerificationResult(false, anchorRecord, null, chainError);
        }

        return new DaneVerificationResult(false, null, null, (hadEe ? "no DANE-EE record matched the server certificate and " : string.Empty)
            + $"no certificate the server sent ({issuers.Count} besides its own) matched a DANE-TA record");
    }

    private static bool Matches(X509Certificate2 certificate, TlsaRecord record)
    {
        try
        {
            return ComputeAssociationData(certificate, record.Selector, record.MatchingType)
                .AsSpan().SequenceEqual(record.CertificateAssociationData);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static string Describe(TlsaRecord r) => $"{r.CertificateUsage} {r.Selector} {r.MatchingType}";
}
