using System.Net;

namespace Postern.Dns;

/// <summary>
/// A DNS resolver. Only <see cref="ResolveAsync"/> must be implemented (fakes in tests implement just that);
/// the typed look-ups are built on it. Names may be U-labels and any case; no search list is applied.
/// Methods never throw for DNS problems (they report them in the status); they throw
/// <see cref="OperationCanceledException"/> when the caller's token is cancelled.
/// </summary>
public interface IDnsResolver
{
    /// <summary>Resolves one name and type, following CNAMEs.</summary>
    Task<DnsResult> ResolveAsync(string name, DnsRecordType type, CancellationToken cancellationToken = default);

    /// <summary>A and AAAA records together (A first, then AAAA, each in server order).</summary>
    Task<DnsResult<IPAddress>> GetAddressesAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetAddressesAsync(this, name, cancellationToken);

    /// <summary>MX records sorted by preference (equal preferences keep server order; shuffle them if needed).</summary>
    Task<DnsResult<MxRecord>> GetMxAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetMxAsync(this, name, cancellationToken);

    /// <summary>TXT records; each keeps its strings and offers them joined as <see cref="TxtRecord.Text"/>.</summary>
    Task<DnsResult<TxtRecord>> GetTxtAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetTxtAsync(this, name, cancellationToken);

    /// <summary>Host names for an address (PTR in in-addr.arpa or ip6.arpa).</summary>
    Task<DnsResult<string>> GetPtrAsync(IPAddress address, CancellationToken cancellationToken = default) =>
        DnsLookups.GetPtrAsync(this, address, cancellationToken);

    /// <summary>TLSA records at a name such as <c>_25._tcp.mx.example.com</c> (see <see cref="DnsName.TlsaName"/>).</summary>
    Task<DnsResult<TlsaRecord>> GetTlsaAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetTlsaAsync(this, name, cancellationToken);

    /// <summary>SRV records sorted by priority, then by weight (highest first).</summary>
    Task<DnsResult<SrvRecord>> GetSrvAsync(string name, CancellationToken cancellationToken = default) =>
        DnsLookups.GetSrvAsync(this, name, cancellationToken);
}

/// <summary>The typed look-ups, built on <see cref="IDnsResolver.ResolveAsync"/> of any resolver.</summary>
public static class DnsLookups
{
    /// <summary>See <see cref="IDnsResolver.GetAddressesAsync"/>.</summary>
    public static async Task<DnsResult<IPAddress>> GetAddressesAsync(IDnsResolver resolver, string name,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var a = resolver.ResolveAsync(name, DnsRecordType.A, cancellationToken);
        var aaaa = resolver.ResolveAsync(name, DnsRecordType.AAAA, cancellationToken);
        var results = await Task.WhenAll(a, aaaa).ConfigureAwait(false);
        return DnsResolverHelpers.CombineAddresses(results[0], results[1]);
    }

    /// <summary>See <see cref="IDnsResolver.GetMxAsync"/>.</summary>
    public static async Task<DnsResult<MxRecord>> GetMxAsync(IDnsResolver resolver, string name,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var r = await resolver.ResolveAsync(name, DnsRecordType.MX, cancellationToken).ConfigureAwait(false);
        return DnsResult<MxRecord>.From(r, [.. r.RecordsOf<MxRecord>().OrderBy(m => m.Preference)]);
    }

    /// <summary>See <see cref="IDnsResolver.GetTxtAsync"/>.</summary>
    public static async Task<DnsResult<TxtRecord>> GetTxtAsync(IDnsResolver resolver, string name,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var r = await resolver.ResolveAsync(name, DnsRecordType.TXT, cancellationToken).ConfigureAwait(false);
        return DnsResult<TxtRecord>.From(r, [.. r.RecordsOf<TxtRecord>()]);
    }

    /// <summary>See <see cref="IDnsResolver.GetPtrAsync"/>.</summary>
    public static async Task<DnsResult<string>> GetPtrAsync(IDnsResolver resolver, IPAddress address,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var r = await resolver.ResolveAsync(DnsName.ReverseName(address), DnsRecordType.PTR, cancellationToken)
            .ConfigureAwait(false);
        return DnsResult<string>.From(r, [.. r.RecordsOf<PtrRecord>().Select(p => p.Target)]);
    }

    /// <summary>
    /// Forward-confirmed reverse DNS (FCrDNS, as Postfix's smtpd does it): the first of at most
    /// <paramref name="maxNames"/> PTR names whose A or AAAA records include <paramref name="address"/>, or
    /// null (no PTR, no name that maps back, or a DNS failure; a name that does not map back proves nothing).
    /// </summary>
    public static async Task<string?> GetVerifiedHostNameAsync(IDnsResolver resolver, IPAddress address, int maxNames = 3,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var names = await GetPtrAsync(resolver, address, cancellationToken).ConfigureAwait(false);
        foreach (var name in names.Values.Take(maxNames))
        {
            var forward = await resolver.ResolveAsync(name, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? DnsRecordType.AAAA : DnsRecordType.A, cancellationToken).ConfigureAwait(false);
            var addresses = forward.RecordsOf<ARecord>().Select(r => r.Address).Concat(forward.RecordsOf<AaaaRecord>().Select(r => r.Address));
            if (addresses.Any(a => a.Equals(address)))
            {
                return name;
            }
        }

        return null;
    }

    /// <summary>See <see cref="IDnsResolver.GetTlsaAsync"/>.</summary>
    public static async Task<DnsResult<TlsaRecord>> GetTlsaAsync(IDnsResolver resolver, string name,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var r = await resolver.ResolveAsync(name, DnsRecordType.TLSA, cancellationToken).ConfigureAwait(false);
        return DnsResult<TlsaRecord>.From(r, [.. r.RecordsOf<TlsaRecord>()]);
    }

    /// <summary>See <see cref="IDnsResolver.GetSrvAsync"/>.</summary>
    public static async Task<DnsResult<SrvRecord>> GetSrvAsync(IDnsResolver resolver, string name,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var r = await resolver.ResolveAsync(name, DnsRecordType.SRV, cancellationToken).ConfigureAwait(false);
        return DnsResult<SrvRecord>.From(r,
            [.. r.RecordsOf<SrvRecord>().OrderBy(s => s.Priority).ThenByDescending(s => s.Weight)]);
    }
}

internal static class DnsResolverHelpers
{
    public static DnsResult<IPAddress> CombineAddresses(DnsResult a, DnsResult aaaa)
    {
        var addresses = a.RecordsOf<ARecord>().Select(r => r.Address)
            .Concat(aaaa.RecordsOf<AaaaRecord>().Select(r => r.Address)).ToArray();
        DnsStatus status;
        if (addresses.Length > 0)
        {
            status = DnsStatus.Success;
        }
        else if (a.Status.IsTemporaryFailure() || !a.Status.IsDefinitive())
        {
            status = a.Status;
        }
        else if (aaaa.Status.IsTemporaryFailure() || !aaaa.Status.IsDefinitive())
        {
            status = aaaa.Status;
        }
        else if (a.Status == DnsStatus.NxDomain || aaaa.Status == DnsStatus.NxDomain)
        {
            status = DnsStatus.NxDomain;
        }
        else
        {
            status = DnsStatus.NoData;
        }

        var withData = addresses.Length == 0 ? [a, aaaa] : new[] { a, aaaa }.Where(r => r.IsSuccess).ToArray();
        var ttl = withData.Min(r => r.TimeToLive);
        return new DnsResult<IPAddress>
        {
            Status = status,
            Name = a.Name,
            CanonicalName = a.IsSuccess ? a.CanonicalName : aaaa.CanonicalName,
            Values = addresses,
            AuthenticData = withData.All(r => r.AuthenticData),
            IsAuthenticated = withData.All(r => r.IsAuthenticated),
            TimeToLive = ttl,
            Error = a.Error ?? aaaa.Error,
        };
    }
}
