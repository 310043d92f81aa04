using Postern.Core.Tenants;

namespace Postern.Tenants;

/// <summary>A signed-in admin: where they act (scope) and what they may do there (the union of their roles).</summary>
public sealed record AdminPrincipal(long AdminId, string Login, Scope Scope, IReadOnlySet<Permission> Permissions)
{
    /// <summary>The command line on the server itself acts as a global admin.</summary>
    public static AdminPrincipal Console { get; } = new(0, "console", Scope.Global, Enum.GetValues<Permission>().ToHashSet());
}

/// <summary>
/// Tenant isolation and permissions, enforced in the services: an admin acts only on objects inside
/// their scope, and only with the permissions their roles grant.
/// </summary>
public sealed class DirectoryAccess(IDirectoryStore store)
{
    /// <summary>Builds the principal of an admin login (roles resolved to permissions).</summary>
    public async Task<AdminPrincipal> LoadAsync(AdminLogin admin, CancellationToken cancellationToken = default)
    {
        var permissions = new HashSet<Permission>();
        foreach (var roleName in admin.Roles)
        {
            var role = await store.FindRoleAsync(roleName, cancellationToken).ConfigureAwait(false);
            if (role is not null)
            {
                permissions.UnionWith(role.Permissions);
            }
        }

        return new AdminPrincipal(admin.Id, admin.Login, admin.Scope, permissions);
    }

    /// <summary>True when <paramref name="inner"/> lies within <paramref name="outer"/> (a scope contains itself).</summary>
    public async Task<bool> ContainsAsync(Scope outer, Scope inner, CancellationToken cancellationToken = default)
    {
        if (outer.Kind == ScopeKind.Global || outer == inner)
        {
            return true;
        }

        var chain = await AncestryAsync(inner, cancellationToken).ConfigureAwait(false);
        return chain.Contains(outer);
    }

    /// <summary>May <paramref name="admin"/> do <paramref name="permission"/> on an object at <paramref name="target"/>?</summary>
    public async Task<bool> MayAsync(AdminPrincipal admin, Permission permission, Scope target, CancellationToken cancellationToken = default) =>
        admin.Permissions.Contains(permission) && await ContainsAsync(admin.Scope, target, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Plans are sold by the reseller: a customer that belongs to a reseller cannot change its own plan;
    /// the reseller (or a global admin) can. A direct customer's admins may, with the permission.
    /// </summary>
    public async Task<bool> MayChangePlanAsync(AdminPrincipal admin, MailDomain domain, CancellationToken cancellationToken = default)
    {
        if (!await MayAsync(admin, Permission.ManageBillingPlan, new Scope(ScopeKind.Domain, domain.Id), cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        if (admin.Scope.Kind is ScopeKind.Global or ScopeKind.Reseller)
        {
            return true;
        }

        var customer = await store.GetCustomerAsync(domain.CustomerId, cancellationToken).ConfigureAwait(false);
        return customer is not null && customer.IsDirect;
    }

    /// <summary>The scopes above <paramref name="scope"/>, nearest first, ending with global.</summary>
    public async Task<IReadOnlyList<Scope>> AncestryAsync(Scope scope, CancellationToken cancellationToken = default)
    {
        var chain = new List<Scope>();
        var current = scope;
        while (current.Kind != ScopeKind.Global)
        {
            Scope? parent = current.Kind switch
            {
                ScopeKind.Account => await store.GetAccountAsync(current.Id, cancellationToken).ConfigureAwait(false) is { } a ? new Scope(ScopeKind.Domain, a.DomainId) : null,
                ScopeKind.Domain => await store.GetDomainAsync(current.Id, cancellationToken).ConfigureAwait(false) is { } d ? new Scope(ScopeKind.Customer, d.CustomerId) : null,
                ScopeKind.Customer => await store.GetCustomerAsync(current.Id, cancellationToken).ConfigureAwait(false) is { } c
                    ? c.ResellerId is { } r ? new Scope(ScopeKind.Reseller, r) : Scope.Global
                    : null,
                _ => Scope.Global,
            };
            if (parent is null)
            {
                break; // the object does not exist: it belongs to no one
            }

            chain.Add(parent.Value);
            current = parent.Value;
        }

        return chain;
    }
}
