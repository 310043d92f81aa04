using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Delivery.TlsPolicy;

/// <summary>The result of building a certificate chain to trust roots.</summary>
/// <param name="IsValid">True when the chain leads to a trust root and every certificate in it is valid now.</param>
/// <param name="Error">Why not, when it does not (the chain status flags).</param>
internal readonly record struct ChainCheck(bool IsValid, string? Error);

/// <summary>PKIX chain building and RFC 6125 name matching for the TLS policy code.</summary>
internal static class CertificateChecks
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1", "Server Authentication");

    /// <summary>
    /// Builds the chain of <paramref name="leaf"/> with the <paramref name="presented"/> certificates as
    /// intermediates, to <paramref name="roots"/> (the system's roots when null). No revocation checks and no
    /// downloads of missing intermediates (as Postfix; a test or a delivery must not reach out to AIA URLs).
    /// The leaf must allow server authentication if it restricts its key usage.
    /// </summary>
    public static ChainCheck BuildChain(X509Certificate2 leaf, IEnumerable<X509Certificate2> presented,
        X509Certificate2Collection? roots, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.DisableCertificateDownloads = true;
        policy.VerificationTime = now.UtcDateTime;
        policy.ApplicationPolicy.Add(ServerAuth);
        foreach (var cert in presented)
        {
            if (!cert.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
            {
                policy.ExtraStore.Add(cert);
            }
        }

        if (roots is not null)
        {
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(roots);
        }

        try
        {
            var ok = chain.Build(leaf);
            var error = ok ? null : string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
            return new ChainCheck(ok, ok ? null : (error is { Length: > 0 } ? error : "chain not valid"));
        }
        catch (CryptographicException e)
        {
            return new ChainCheck(false, e.Message);
        }
    }

    /// <summary>
    /// Builds the chain of <paramref name="leaf"/> up to <paramref name="anchor"/> (DANE-TA, which need not be a
    /// self-signed root): every certificate from the leaf to the anchor must be valid now, correctly signed and fit
    /// for its place; whatever lies above the anchor is not looked at.
    /// </summary>
    public static ChainCheck BuildChainToAnchor(X509Certificate2 leaf, IEnumerable<X509Certificate2> presented,
        X509Certificate2 anchor, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.DisableCertificateDownloads = true;
        policy.VerificationTime = now.UtcDateTime;
        policy.ApplicationPolicy.Add(ServerAuth);
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.Add(anchor);
        foreach (var cert in presented)
        {
            if (!cert.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
            {
                policy.ExtraStore.Add(cert);
            }
        }

        try
        {
            chain.Build(leaf);
            var elements = chain.ChainElements;
            for (var i = 0; i < elements.Count; i++)
            {
                var element = elements[i];
                var isAnchor = element.Certificate.RawDataMemory.Span.SequenceEqual(anchor.RawDataMemory.Span);

                // Above a non-root anchor the chain builder looks for its issuer and reports it missing or
                // untrusted: that is not the anchor's problem.
                var problems = element.ChainElementStatus.Select(s => s.Status)
                    .Where(s => s != X509ChainStatusFlags.NoError
                        && !(isAnchor && s is X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain))
                    .Distinct().ToList();
                if (problems.Count > 0)
                {
                    return new ChainCheck(false, $"{element.Certificate.Subject}: {string.Join(", ", problems)}");
                }

                if (isAnchor)
                {
                    return new ChainCheck(true, null);
                }
            }

            return new ChainCheck(false, "the chain does not lead to the trust anchor");
        }
        catch (CryptographicException e)
        {
            return new ChainCheck(false, e.Message);
        }
    }

    /// <summary>
    /// The first of <paramref name="names"/> that <paramref name="leaf"/> is valid for (subjectAltName DNS names, or
    /// the common name when there are none; a wildcard only as the whole left-most label), or null.
    /// </summary>
    public static string? MatchName(X509Certificate2 leaf, IReadOnlyList<string> names)
    {
        foreach (var raw in names)
        {
            var name = TlsHostName.Normalize(raw);
            if (name.Length == 0)
            {
                continue;
            }

            try
            {
                if (leaf.MatchesHostname(name, allowWildcards: true, allowCommonName: true))
                {
                    return name;
                }
            }
            catch (ArgumentException)
            {
            }
            catch (CryptographicException)
            {
            }
        }

        return null;
    }

    /// <summary>
    /// The certificates the server sent, leaf first: SslStream hands them to the validation callback in the
    /// chain's <see cref="X509ChainPolicy.ExtraStore"/> (the chain elements may hold roots from the local store).
    /// </summary>
    public static IReadOnlyList<X509Certificate2> Presented(X509Certificate2 leaf, X509Chain? chain)
    {
        var list = new List<X509Certificate2> { leaf };
        if (chain is not null)
        {
            foreach (var cert in chain.ChainPolicy.ExtraStore)
            {
                if (!list.Any(c => c.RawDataMemory.Span.SequenceEqual(cert.RawDataMemory.Span)))
                {
                    list.Add(cert);
                }
            }
        }

        return list;
    }
}
