using Postern.Primitives;

namespace Postern.Core.Tenants;

public sealed record NewDomain(
    long CustomerId,
    DomainName Name,
    DomainKind Kind,
    IReadOnlyList<RelayHost> RelayHosts,
    string SubaddressSeparators = "+",
    long? PlanId = null,
    bool HostedMailAddOn = false);

public sealed record NewAccount(
    long DomainId,
    string LocalPart,
    string DisplayName,
    string PasswordHash,
    long QuotaBytes);

public sealed record DirectoryCounts(int Resellers, int Customers, int Domains, int DomainAliases, int Accounts, int Aliases, int Lists, int Admins);

/// <summary>
/// Persistence of the tenant directory. Implementations store and fetch; they do not decide policy
/// (validation, resolution order, permissions live in the directory services). Names handed in are
/// already normalised: domains in A-label lower case, local parts as given plus their folded key
/// (<see cref="EmailAddress.FoldLocalPart"/>). Every local part of a domain belongs to exactly one
/// owner (account, alias or list): a second one fails with <see cref="Storage.StoreConflictException"/>.
/// </summary>
public interface IDirectoryStore
{
    /// <summary>A number that changes whenever any directory data changes, in this process or another (cache invalidation).</summary>
    Task<long> GetChangeStampAsync(CancellationToken cancellationToken);

    Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken);

    Task<DirectoryCounts> CountAsync(CancellationToken cancellationToken);

    // Resellers and customers
    Task<Reseller> AddResellerAsync(string name, CancellationToken cancellationToken);

    Task<Reseller?> GetResellerAsync(long id, CancellationToken cancellationToken);

    Task<Reseller?> FindResellerAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<Reseller>> ListResellersAsync(CancellationToken cancellationToken);

    Task<Customer> AddCustomerAsync(string name, long? resellerId, CancellationToken cancellationToken);

    Task<Customer?> GetCustomerAsync(long id, CancellationToken cancellationToken);

    Task<Customer?> FindCustomerAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<Customer>> ListCustomersAsync(long? resellerId, CancellationToken cancellationToken);

    // Domains
    Task<MailDomain> AddDomainAsync(NewDomain domain, CancellationToken cancellationToken);

    Task<MailDomain?> GetDomainAsync(long id, CancellationToken cancellationToken);

    /// <summary>Finds a domain by its name or one of its domain aliases (A-label form).</summary>
    Task<MailDomain?> FindDomainAsync(string asciiName, CancellationToken cancellationToken);

    Task<IReadOnlyList<MailDomain>> ListDomainsAsync(long? customerId, CancellationToken cancellationToken);

    Task UpdateDomainAsync(MailDomain domain, CancellationToken cancellationToken);

    /// <summary>Removes a domain with its aliases, accounts, lists and addresses.</summary>
    Task<bool> RemoveDomainAsync(long id, CancellationToken cancellationToken);

    Task AddDomainAliasAsync(long domainId, DomainName alias, CancellationToken cancellationToken);

    Task<bool> RemoveDomainAliasAsync(DomainName alias, CancellationToken cancellationToken);

    Task<IReadOnlyList<DomainName>> ListDomainAliasesAsync(long domainId, CancellationToken cancellationToken);

    // Addresses
    Task<AddressEntry?> FindAddressAsync(long domainId, string localPartKey, CancellationToken cancellationToken);

    // Accounts
    Task<Account> AddAccountAsync(NewAccount account, CancellationToken cancellationToken);

    /// <summary>Adds all accounts in one transaction: all or nothing.</summary>
    Task<int> AddAccountsAsync(IReadOnlyList<NewAccount> accounts, CancellationToken cancellationToken);

    Task<Account?> GetAccountAsync(long id, CancellationToken cancellationToken);

    Task<IReadOnlyList<Account>> ListAccountsAsync(long domainId, CancellationToken cancellationToken);

    Task UpdateAccountAsync(Account account, CancellationToken cancellationToken);

    /// <summary>Removes the account, its aliases and its list memberships' address rows.</summary>
    Task<bool> RemoveAccountAsync(long id, CancellationToken cancellationToken);

    // Aliases
    Task AddAliasAsync(AccountAlias alias, CancellationToken cancellationToken);

    Task<bool> RemoveAliasAsync(long domainId, string localPartKey, CancellationToken cancellationToken);

    Task<IReadOnlyList<AccountAlias>> ListAliasesAsync(long accountId, CancellationToken cancellationToken);

    // Distribution lists
    Task<DistributionList> AddListAsync(long domainId, string localPart, string name, ListPostingPolicy postingPolicy, CancellationToken cancellationToken);

    Task<DistributionList?> GetListAsync(long id, CancellationToken cancellationToken);

    Task<IReadOnlyList<DistributionList>> ListListsAsync(long domainId, CancellationToken cancellationToken);

    /// <summary>Adds a member address (internal or external, normalised key form). False when already a member.</summary>
    Task<bool> AddListMemberAsync(long listId, string memberAddress, CancellationToken cancellationToken);

    Task<bool> RemoveListMemberAsync(long listId, string memberAddress, CancellationToken cancellationToken);

    Task<bool> RemoveListAsync(long id, CancellationToken cancellationToken);

    // Roles and admin logins
    Task<Role> AddRoleAsync(string name, IReadOnlySet<Permission> permissions, CancellationToken cancellationToken);

    Task<Role?> FindRoleAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<Role>> ListRolesAsync(CancellationToken cancellationToken);

    Task<AdminLogin> AddAdminAsync(string login, string passwordHash, Scope scope, IReadOnlyList<string> roles, bool mustChangePassword, CancellationToken cancellationToken);

    Task<AdminLogin?> FindAdminAsync(string login, CancellationToken cancellationToken);

    Task<IReadOnlyList<AdminLogin>> ListAdminsAsync(CancellationToken cancellationToken);

    Task UpdateAdminPasswordAsync(long adminId, string passwordHash, bool mustChangePassword, CancellationToken cancellationToken);

    // Plans
    Task<Plan> AddPlanAsync(string name, string featuresJson, bool isAddOn, bool isLegacy, CancellationToken cancellationToken);

    Task<Plan?> GetPlanAsync(long id, CancellationToken cancellationToken);

    Task<Plan?> FindPlanAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<Plan>> ListPlansAsync(CancellationToken cancellationToken);

    // Filter policies
    /// <summary>Attaches (or replaces) the policy of a scope; null removes it.</summary>
    Task SetPolicyAsync(Scope scope, string name, FilterPolicy? policy, CancellationToken cancellationToken);

    Task<FilterPolicyAssignment?> GetPolicyAsync(Scope scope, CancellationToken cancellationToken);
}
