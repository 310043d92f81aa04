using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Delivery.TlsPolicy;

/// <summary>
/// How far the server's certificate was trusted, in Postfix's words (its "... TLS connection established" log
/// lines). Persisted values: do not renumber.
/// </summary>
public enum TlsPeerTrust
{
    /// <summary>The server sent no certificate.</summary>
    Anonymous = 0,

    /// <summary>The certificate does not chain to a trusted root (or did not match DANE).</summary>
    Untrusted = 1,

    /// <summary>The chain is trusted but the certificate does not name the host.</summary>
    Trusted = 2,

    /// <summary>The chain is trusted and the name matches, or DANE matched.</summary>
    Verified = 3,
}

/// <summary>Trust settings for <see cref="TlsPeerVerifier"/>.</summary>
public sealed record TlsVerificationOptions
{
    /// <summary>The roots for <see cref="TlsLevel.Verify"/> and for logging; null for the system's roots (tests inject their own).</summary>
    public X509Certificate2Collection? TrustRoots { get; init; }

    /// <summary>The clock certificates are checked against.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>What the certificate check of one TLS handshake found.</summary>
public sealed record TlsHandshakeOutcome
{
    /// <summary>How far the certificate was trusted.</summary>
    public required TlsPeerTrust Trust { get; init; }

    /// <summary>True when the level's check passed and the handshake was allowed to complete.</summary>
    public required bool Accepted { get; init; }

    /// <summary>The level that was checked.</summary>
    public required TlsLevel Level { get; init; }

    /// <summary>Details for logs: what matched or failed.</summary>
    public required string Detail { get; init; }

    /// <summary>The reference name the certificate matched, if any.</summary>
    public string? MatchedName { get; init; }

    /// <summary>The certificate's subject.</summary>
    public string? Subject { get; init; }

    /// <summary>The certificate's issuer.</summary>
    public string? Issuer { get; init; }

    /// <summary>The SHA-256 fingerprint of the certificate (hex), as Postfix logs it.</summary>
    public string? Sha256Fingerprint { get; init; }

    /// <summary>The DANE check, under <see cref="TlsLevel.Dane"/>.</summary>
    public DaneVerificationResult? Dane { get; init; }

    /// <summary>Under an MTA-STS policy in testing mode: what enforce would have refused about this certificate, if anything.</summary>
    public MtaStsTestingFailure? MtaStsFailure { get; init; }
}

/// <summary>
/// The certificate check of one STARTTLS handshake, for the SMTP client: <see cref="CreateClientOptions"/> gives the
/// <see cref="SslClientAuthenticationOptions"/> (SNI and a validation callback implementing the level), and
/// <see cref="Outcome"/> holds what the callback found, for the log line and for MTA-STS testing reports.
/// <list type="bullet">
/// <item><see cref="TlsLevel.May"/>, <see cref="TlsLevel.Encrypt"/>: any certificate is accepted; the chain and the MX
/// host name are still checked, only to log Trusted/Verified/Untrusted.</item>
/// <item><see cref="TlsLevel.Verify"/>: the chain must lead to the trust roots (no revocation checks, no downloads)
/// and the certificate must carry one of <see cref="TlsRequirement.ReferenceNames"/>.</item>
/// <item><see cref="TlsLevel.Dane"/>: <see cref="DaneVerifier"/> with the usable TLSA records.</item>
/// </list>
/// SNI is the MX host name at every level (RFC 7672 §8.1 asks for it with DANE; it does no harm elsewhere and helps
/// servers with several certificates); an IP-literal host sends none. Use one instance per handshake.
/// </summary>
public sealed class TlsPeerVerifier
{
    private readonly TlsVerificationOptions _options;
    private TlsHandshakeOutcome? _outcome;

    public TlsPeerVerifier(TlsRequirement requirement, TlsVerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(requirement);
        Requirement = requirement;
        _options = options ?? new TlsVerificationOptions();
    }

    /// <summary>The requirement being enforced.</summary>
    public TlsRequirement Requirement { get; }

    /// <summary>What the certificate check found; null until the server's certificate arrived.</summary>
    public TlsHandshakeOutcome? Outcome => Volatile.Read(ref _outcome);

    /// <summary>The name sent as SNI and given to SslStream as the target host.</summary>
    public string TargetHost => Requirement.MxHost;

    /// <summary>The options for <see cref="SslStream.AuthenticateAsClientAsync(SslClientAuthenticationOptions, CancellationToken)"/>.</summary>
    /// <exception cref="InvalidOperationException">The level is <see cref="TlsLevel.None"/> (no STARTTLS at all).</exception>
    public SslClientAuthenticationOptions CreateClientOptions()
    {
        if (Requirement.Level == TlsLevel.None)
        {
            throw new InvalidOperationException("TLS level none never starts TLS.");
        }

        return new SslClientAuthenticationOptions
        {
            TargetHost = TargetHost,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) => Validate(certificate, chain),
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
        };
    }

    /// <summary>The validation callback's work: checks the certificate, records <see cref="Outcome"/>, returns whether to accept it.</summary>
    public bool Validate(X509Certificate? certificate, X509Chain? chain)
    {
        var outcome = Check(certificate, chain);
        Volatile.Write(ref _outcome, outcome);
        return outcome.Accepted;
    }

    private TlsHandshakeOutcome Check(X509Certificate? certificate, X509Chain? chain)
    {
        var level = Requirement.Level;
        if (certificate is null)
        {
            var accepted = level is TlsLevel.May or TlsLevel.Encrypt;
            return new TlsHandshakeOutcome
            {
                Trust = TlsPeerTrust.Anonymous,
                Accepted = accepted,
                Level = level,
                Detail = "the server sent no certificate",
                MtaStsFailure = Requirement.ReportOnly ? MtaStsTestingFailure.CertificateNotTrusted : null,
            };
        }

        using var owned = certificate as X509Certificate2 is null ? new X509Certificate2(certificate) : null;
        var leaf = owned ?? (X509Certificate2)certificate;
        var now = _options.Time.GetUtcNow();
        var presented = CertificateChecks.Presented(leaf, chain);
        var pkix = CertificateChecks.BuildChain(leaf, presented, _options.TrustRoots, now);
        var names = level == TlsLevel.Verify && Requirement.ReferenceNames.Count > 0 ? Requirement.ReferenceNames : [Requirement.MxHost];
        var matched = CertificateChecks.MatchName(leaf, names);
        var trust = !pkix.IsValid ? TlsPeerTrust.Untrusted : matched is null ? TlsPeerTrust.Trusted : TlsPeerTrust.Verified;
        var pkixDetail = trust switch
        {
            TlsPeerTrust.Verified => $"chain trusted, name {matched}",
            TlsPeerTrust.Trusted => $"chain trusted, but the certificate is not for {string.Join(" or ", names)}",
            _ => $"chain not trusted: {pkix.Error}",
        };

        MtaStsTestingFailure? stsFailure = null;
        if (Requirement.ReportOnly)
        {
            var stsName = CertificateChecks.MatchName(leaf, Requirement.ReportOnlyReferenceNames);
            stsFailure = !pkix.IsValid ? MtaStsTestingFailure.CertificateNotTrusted
                : stsName is null ? MtaStsTestingFailure.CertificateNameMismatch : null;
        }

        DaneVerificationResult? dane = null;
        bool accept;
        string detail;
        if (level == TlsLevel.Dane)
        {
            dane = DaneVerifier.Verify(Requirement.TlsaRecords, leaf, presented, Requirement.ReferenceNames, now);
            accept = dane.IsMatch;
            trust = dane.IsMatch ? TlsPeerTrust.Verified : TlsPeerTrust.Untrusted;
            matched = dane.MatchedName;
            detail = dane.Reason;
        }
        else
        {
            accept = level != TlsLevel.Verify || trust == TlsPeerTrust.Verified;
            detail = pkixDetail;
        }

        return new TlsHandshakeOutcome
        {
            Trust = trust,
            Accepted = accept,
            Level = level,
            Detail = detail,
            MatchedName = matched,
            Subject = leaf.Subject,
            Issuer = leaf.Issuer,
            Sha256Fingerprint = Convert.ToHexString(SHA256.HashData(leaf.RawDataMemory.Span)),
            Dane = dane,
            MtaStsFailure = stsFailure,
        };
    }
}
