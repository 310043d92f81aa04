using Postern.Core.Tenants;

namespace Postern.Tenants;

/// <summary>
/// The effective filter policy of a recipient: the built-in default, overlaid field by field with the
/// policies attached at global, reseller, customer, domain and account level (the nearest level wins
/// for each field it sets).
/// </summary>
public sealed class PolicyResolver(IDirectoryStore store)
{
    public async Task<FilterPolicy> GetForAccountAsync(long accountId, CancellationToken cancellationToken = default)
    {
        var chain = await new DirectoryAccess(store).AncestryAsync(new Scope(ScopeKind.Account, accountId), cancellationToken).ConfigureAwait(false);
        return await OverlayAsync([new Scope(ScopeKind.Account, accountId), .. chain], cancellationToken).ConfigureAwait(false);
    }

    public async Task<FilterPolicy> GetForDomainAsync(long domainId, CancellationToken cancellationToken = default)
    {
        var chain = await new DirectoryAccess(store).AncestryAsync(new Scope(ScopeKind.Domain, domainId), cancellationToken).ConfigureAwait(false);
        return await OverlayAsync([new Scope(ScopeKind.Domain, domainId), .. chain], cancellationToken).ConfigureAwait(false);
    }

    private async Task<FilterPolicy> OverlayAsync(IReadOnlyList<Scope> nearestFirst, CancellationToken cancellationToken)
    {
        var effective = FilterPolicy.BuiltInDefault;
        var scopes = nearestFirst.Contains(Scope.Global) ? nearestFirst : [.. nearestFirst, Scope.Global];
        for (var i = scopes.Count - 1; i >= 0; i--)
        {
            var assigned = await store.GetPolicyAsync(scopes[i], cancellationToken).ConfigureAwait(false);
            effective = effective.OverlaidWith(assigned?.Policy);
        }

        return effective;
    }
}
