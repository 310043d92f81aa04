namespace Postern.Core.Tenants;

/// <summary>What an admin may do. Persisted by name in roles; numeric values fixed as well.</summary>
public enum Permission
{
    ViewDirectory = 1,
    ManageResellers = 2,
    ManageCustomers = 3,
    ManageDomains = 4,
    ManageAccounts = 5,
    ManageAdmins = 6,
    ViewAllowBlockLists = 7,
    ManageAllowBlockLists = 8,
    ViewQuarantine = 9,
    ManageQuarantine = 10,
    ManageBillingPlan = 11,
    ManageBranding = 12,
    ManageContacts = 13,
    ManageDeliverySettings = 14,
    ViewLogs = 15,
    ManagePolicies = 16,
    ManageRoles = 17,
}

public sealed record Role(long Id, string Name, IReadOnlySet<Permission> Permissions, bool BuiltIn);

public sealed record AdminLogin(
    long Id,
    string Login,
    string PasswordHash,
    Scope Scope,
    IReadOnlyList<string> Roles,
    bool Disabled,
    bool MustChangePassword,
    DateTimeOffset Created);

/// <summary>The built-in roles, created with the store.</summary>
public static class BuiltInRoles
{
    public const string GlobalAdmin = "global admin";
    public const string ResellerAdmin = "reseller admin";
    public const string CustomerAdmin = "customer admin";
    public const string DomainAdmin = "domain admin";
    public const string QuarantineManager = "quarantine manager";
    public const string AllowBlockListManager = "allow/block-list manager";
    public const string ReadOnly = "read-only";

    public static IReadOnlyDictionary<string, IReadOnlySet<Permission>> All { get; } = new Dictionary<string, IReadOnlySet<Permission>>(StringComparer.Ordinal)
    {
        [GlobalAdmin] = Enum.GetValues<Permission>().ToHashSet(),
        [ResellerAdmin] = Enum.GetValues<Permission>().Where(p => p != Permission.ManageResellers).ToHashSet(),
        [CustomerAdmin] = Enum.GetValues<Permission>().Where(p => p is not (Permission.ManageResellers or Permission.ManageCustomers)).ToHashSet(),
        [DomainAdmin] = new HashSet<Permission>
        {
            Permission.ViewDirectory, Permission.ManageAccounts, Permission.ViewAllowBlockLists, Permission.ManageAllowBlockLists,
            Permission.ViewQuarantine, Permission.ManageQuarantine, Permission.ViewLogs, Permission.ManageContacts,
        },
        [QuarantineManager] = new HashSet<Permission> { Permission.ViewDirectory, Permission.ViewQuarantine, Permission.ManageQuarantine, Permission.ViewLogs },
        [AllowBlockListManager] = new HashSet<Permission>
        {
            Permission.ViewDirectory, Permission.ViewAllowBlockLists, Permission.ManageAllowBlockLists, Permission.ViewQuarantine, Permission.ViewLogs,
        },
        [ReadOnly] = new HashSet<Permission> { Permission.ViewDirectory, Permission.ViewAllowBlockLists, Permission.ViewQuarantine, Permission.ViewLogs },
    };
}
