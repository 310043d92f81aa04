using System.Text.Json;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage;
using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Storage.Sqlite.Tenants;

/// <summary>The directory in <c>directory.db</c>.</summary>
public sealed class SqliteDirectoryStore : IDirectoryStore, IDisposable
{
    private const string DomainColumns = "d.id, d.customer_id, d.name, d.kind, d.relay_hosts, d.subaddress_separators, d.plan_id, d.hosted_addon, d.catch_all_account_id, d.settings, d.created, d.quota_bytes";
    private const string AccountColumns = "id, domain_id, local_part, display_name, password_hash, quota_bytes, disabled, forward_to, forward_keep_copy, settings, created";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly TimeProvider _time;

    private SqliteDirectoryStore(SqliteDatabase database, TimeProvider time)
    {
        Database = database;
        _time = time;
    }

    public SqliteDatabase Database { get; }

    /// <summary>Opens (creating and migrating as needed) <c>directory.db</c> in <paramref name="dataFolder"/>.</summary>
    public static SqliteDirectoryStore Open(string dataFolder, TimeProvider? time = null)
    {
        var database = new SqliteDatabase(System.IO.Path.Combine(dataFolder, "directory.db"), "directory", DirectorySchema.Migrations);
        database.Migrate();
        var store = new SqliteDirectoryStore(database, time ?? TimeProvider.System);
        store.Seed();
        return store;
    }

    public void Dispose() => Database.Dispose();

    public Task<long> GetChangeStampAsync(CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Scalar<long>("SELECT value FROM meta WHERE key = 'change_stamp'")));

    public Task<int> GetSchemaVersionAsync(CancellationToken cancellationToken) => Task.FromResult(Database.SchemaVersion());

    public Task<DirectoryCounts> CountAsync(CancellationToken cancellationToken) => Task.FromResult(Database.Read(c =>
    {
        int Count(string table, string where = "") => c.Scalar<int>($"SELECT count(*) FROM {table} {where}");
        return new DirectoryCounts(
            Count("resellers"), Count("customers"), Count("domains"), Count("domain_aliases"), Count("accounts"),
            Count("addresses", "WHERE kind = 2"), Count("lists"), Count("admins"));
    }));

    // ---- Resellers and customers ----
    public Task<Reseller> AddResellerAsync(string name, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var now = _time.GetUtcNow();
        var id = Insert(c, tx, "INSERT INTO resellers (name, created) VALUES ($n, $t) RETURNING id", $"a reseller named '{name}' exists already", ("$n", name), ("$t", now.ToUnixTimeMilliseconds()));
        return new Reseller(id, name, now);
    });

    public Task<Reseller?> GetResellerAsync(long id, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, name, created FROM resellers WHERE id = $id", ReadReseller, null, ("$id", id)).FirstOrDefault()));

    public Task<Reseller?> FindResellerAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, name, created FROM resellers WHERE name = $n", ReadReseller, null, ("$n", name)).FirstOrDefault()));

    public Task<IReadOnlyList<Reseller>> ListResellersAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Reseller>>(Database.Read(c => c.Query("SELECT id, name, created FROM resellers ORDER BY name", ReadReseller)));

    public Task<Customer> AddCustomerAsync(string name, long? resellerId, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var now = _time.GetUtcNow();
        var id = Insert(c, tx, "INSERT INTO customers (name, reseller_id, created) VALUES ($n, $r, $t) RETURNING id", $"a customer named '{name}' exists already",
            ("$n", name), ("$r", resellerId), ("$t", now.ToUnixTimeMilliseconds()));
        return new Customer(id, name, resellerId, now);
    });

    public Task<Customer?> GetCustomerAsync(long id, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, name, reseller_id, created FROM customers WHERE id = $id", ReadCustomer, null, ("$id", id)).FirstOrDefault()));

    public Task<Customer?> FindCustomerAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, name, reseller_id, created FROM customers WHERE name = $n", ReadCustomer, null, ("$n", name)).FirstOrDefault()));

    public Task<IReadOnlyList<Customer>> ListCustomersAsync(long? resellerId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Customer>>(Database.Read(c => resellerId is null
            ? c.Query("SELECT id, name, reseller_id, created FROM customers ORDER BY name", ReadCustomer)
            : c.Query("SELECT id, name, reseller_id, created FROM customers WHERE reseller_id = $r ORDER BY name", ReadCustomer, null, ("$r", resellerId))));

    // ---- Domains ----
    public Task<MailDomain> AddDomainAsync(NewDomain domain, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        EnsureDomainNameFree(c, tx, domain.Name);
        var now = _time.GetUtcNow();
        var id = Insert(c, tx, """
            INSERT INTO domains (customer_id, name, kind, relay_hosts, subaddress_separators, plan_id, hosted_addon, catch_all_account_id, settings, created)
            VALUES ($c, $n, $k, $r, $s, $p, $h, NULL, '{}', $t) RETURNING id
            """, $"the domain '{domain.Name}' exists already",
            ("$c", domain.CustomerId), ("$n", domain.Name.Ascii), ("$k", (int)domain.Kind), ("$r", JsonSerializer.Serialize(domain.RelayHosts, Json)),
            ("$s", domain.SubaddressSeparators), ("$p", domain.PlanId), ("$h", domain.HostedMailAddOn ? 1 : 0), ("$t", now.ToUnixTimeMilliseconds()));
        return new MailDomain(id, domain.CustomerId, domain.Name, domain.Kind, domain.RelayHosts, domain.SubaddressSeparators, domain.PlanId, domain.HostedMailAddOn, null, "{}", now);
    });

    public Task<MailDomain?> GetDomainAsync(long id, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query($"SELECT {DomainColumns} FROM domains d WHERE d.id = $id", ReadDomain, null, ("$id", id)).FirstOrDefault()));

    public Task<MailDomain?> FindDomainAsync(string asciiName, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query($"""
            SELECT {DomainColumns} FROM domains d WHERE d.name = $n
            UNION ALL
            SELECT {DomainColumns} FROM domain_aliases a JOIN domains d ON d.id = a.domain_id WHERE a.name = $n
            LIMIT 1
            """, ReadDomain, null, ("$n", asciiName)).FirstOrDefault()));

    public Task<IReadOnlyList<MailDomain>> ListDomainsAsync(long? customerId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<MailDomain>>(Database.Read(c => customerId is null
            ? c.Query($"SELECT {DomainColumns} FROM domains d ORDER BY d.name", ReadDomain)
            : c.Query($"SELECT {DomainColumns} FROM domains d WHERE d.customer_id = $c ORDER BY d.name", ReadDomain, null, ("$c", customerId))));

    public Task UpdateDomainAsync(MailDomain domain, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var n = c.Execute("""
            UPDATE domains SET customer_id = $c, kind = $k, relay_hosts = $r, subaddress_separators = $s, plan_id = $p, hosted_addon = $h,
                catch_all_account_id = $ca, settings = $set, quota_bytes = $q WHERE id = $id
            """, tx, ("$q", domain.QuotaBytes), ("$c", domain.CustomerId), ("$k", (int)domain.Kind), ("$r", JsonSerializer.Serialize(domain.RelayHosts, Json)), ("$s", domain.SubaddressSeparators),
            ("$p", domain.PlanId), ("$h", domain.HostedMailAddOn ? 1 : 0), ("$ca", domain.CatchAllAccountId), ("$set", domain.SettingsJson), ("$id", domain.Id));
        return n == 1 ? true : throw new KeyNotFoundException($"domain {domain.Id} does not exist");
    });

    public Task<bool> RemoveDomainAsync(long id, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        c.Execute("DELETE FROM policies WHERE scope_kind = 4 AND scope_id IN (SELECT id FROM accounts WHERE domain_id = $id)", tx, ("$id", id));
        c.Execute("DELETE FROM policies WHERE scope_kind = 3 AND scope_id = $id", tx, ("$id", id));
        return c.Execute("DELETE FROM domains WHERE id = $id", tx, ("$id", id)) == 1;
    });

    public Task AddDomainAliasAsync(long domainId, DomainName alias, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        EnsureDomainNameFree(c, tx, alias);
        Insert(c, tx, "INSERT INTO domain_aliases (name, domain_id) VALUES ($n, $d) RETURNING 0", $"the domain alias '{alias}' exists already", ("$n", alias.Ascii), ("$d", domainId));
        return true;
    });

    public Task<bool> RemoveDomainAliasAsync(DomainName alias, CancellationToken cancellationToken) =>
        Write(cancellationToken, (c, tx) => c.Execute("DELETE FROM domain_aliases WHERE name = $n", tx, ("$n", alias.Ascii)) == 1);

    public Task<IReadOnlyList<DomainName>> ListDomainAliasesAsync(long domainId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DomainName>>(Database.Read(c => c.Query("SELECT name FROM domain_aliases WHERE domain_id = $d ORDER BY name", r => DomainName.Parse(r.GetString(0)), null, ("$d", domainId))));

    // ---- Addresses ----
    public Task<AddressEntry?> FindAddressAsync(long domainId, string localPartKey, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT domain_id, local_part, kind, owner_id FROM addresses WHERE domain_id = $d AND local_key = $k",
            r => new AddressEntry(r.GetInt64(0), r.GetString(1), (AddressOwnerKind)r.GetInt32(2), r.GetInt64(3)), null, ("$d", domainId), ("$k", localPartKey)).FirstOrDefault()));

    // ---- Accounts ----
    public Task<Account> AddAccountAsync(NewAccount account, CancellationToken cancellationToken) =>
        Write(cancellationToken, (c, tx) => InsertAccount(c, tx, account));

    public Task<int> AddAccountsAsync(IReadOnlyList<NewAccount> accounts, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        foreach (var account in accounts)
        {
            InsertAccount(c, tx, account);
        }

        return accounts.Count;
    });

    public Task<Account?> GetAccountAsync(long id, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query($"SELECT {AccountColumns} FROM accounts WHERE id = $id", ReadAccount, null, ("$id", id)).FirstOrDefault()));

    public Task<IReadOnlyList<Account>> ListAccountsAsync(long domainId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Account>>(Database.Read(c => c.Query($"SELECT {AccountColumns} FROM accounts WHERE domain_id = $d ORDER BY local_key", ReadAccount, null, ("$d", domainId))));

    public Task UpdateAccountAsync(Account account, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var n = c.Execute("""
            UPDATE accounts SET display_name = $n, password_hash = $p, quota_bytes = $q, disabled = $dis, forward_to = $f, forward_keep_copy = $k, settings = $s
            WHERE id = $id
            """, tx, ("$n", account.DisplayName), ("$p", account.PasswordHash), ("$q", account.QuotaBytes), ("$dis", account.Disabled ? 1 : 0),
            ("$f", JsonSerializer.Serialize(account.ForwardTo, Json)), ("$k", account.ForwardKeepCopy ? 1 : 0), ("$s", account.SettingsJson), ("$id", account.Id));
        return n == 1 ? true : throw new KeyNotFoundException($"account {account.Id} does not exist");
    });

    public Task<bool> RemoveAccountAsync(long id, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        c.Execute("DELETE FROM addresses WHERE kind IN (1, 2) AND owner_id = $id", tx, ("$id", id));
        c.Execute("UPDATE domains SET catch_all_account_id = NULL WHERE catch_all_account_id = $id", tx, ("$id", id));
        c.Execute("DELETE FROM policies WHERE scope_kind = 4 AND scope_id = $id", tx, ("$id", id));
        return c.Execute("DELETE FROM accounts WHERE id = $id", tx, ("$id", id)) == 1;
    });

    // ---- Aliases ----
    public Task AddAliasAsync(AccountAlias alias, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var key = EmailAddress.FoldLocalPart(alias.LocalPart);
        Insert(c, tx, "INSERT INTO addresses (domain_id, local_key, local_part, kind, owner_id) VALUES ($d, $k, $l, 2, $o) RETURNING 0",
            $"the address '{alias.LocalPart}' is already in use in this domain", ("$d", alias.DomainId), ("$k", key), ("$l", alias.LocalPart), ("$o", alias.AccountId));
        return true;
    });

    public Task<bool> RemoveAliasAsync(long domainId, string localPartKey, CancellationToken cancellationToken) =>
        Write(cancellationToken, (c, tx) => c.Execute("DELETE FROM addresses WHERE domain_id = $d AND local_key = $k AND kind = 2", tx, ("$d", domainId), ("$k", localPartKey)) == 1);

    public Task<IReadOnlyList<AccountAlias>> ListAliasesAsync(long accountId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<AccountAlias>>(Database.Read(c => c.Query("SELECT domain_id, local_part, owner_id FROM addresses WHERE kind = 2 AND owner_id = $o ORDER BY domain_id, local_key",
            r => new AccountAlias(r.GetInt64(0), r.GetString(1), r.GetInt64(2)), null, ("$o", accountId))));

    // ---- Lists ----
    public Task<DistributionList> AddListAsync(long domainId, string localPart, string name, ListPostingPolicy postingPolicy, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var key = EmailAddress.FoldLocalPart(localPart);
        var id = Insert(c, tx, "INSERT INTO lists (domain_id, local_part, local_key, name, posting_policy) VALUES ($d, $l, $k, $n, $p) RETURNING id",
            $"the address '{localPart}' is already in use in this domain", ("$d", domainId), ("$l", localPart), ("$k", key), ("$n", name), ("$p", (int)postingPolicy));
        Insert(c, tx, "INSERT INTO addresses (domain_id, local_key, local_part, kind, owner_id) VALUES ($d, $k, $l, 3, $o) RETURNING 0",
            $"the address '{localPart}' is already in use in this domain", ("$d", domainId), ("$k", key), ("$l", localPart), ("$o", id));
        return new DistributionList(id, domainId, localPart, name, postingPolicy, []);
    });

    public Task<DistributionList?> GetListAsync(long id, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => ReadLists(c, "WHERE id = $id", ("$id", id)).FirstOrDefault()));

    public Task<IReadOnlyList<DistributionList>> ListListsAsync(long domainId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DistributionList>>(Database.Read(c => ReadLists(c, "WHERE domain_id = $d ORDER BY local_key", ("$d", domainId))));

    public Task<bool> AddListMemberAsync(long listId, string memberAddress, CancellationToken cancellationToken) =>
        Write(cancellationToken, (c, tx) => c.Execute("INSERT OR IGNORE INTO list_members (list_id, address) VALUES ($l, $a)", tx, ("$l", listId), ("$a", memberAddress)) == 1);

    public Task<bool> RemoveListMemberAsync(long listId, string memberAddress, CancellationToken cancellationToken) =>
        Write(cancellationToken, (c, tx) => c.Execute("DELETE FROM list_members WHERE list_id = $l AND address = $a", tx, ("$l", listId), ("$a", memberAddress)) == 1);

    public Task<bool> RemoveListAsync(long id, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        c.Execute("DELETE FROM addresses WHERE kind = 3 AND owner_id = $id", tx, ("$id", id));
        return c.Execute("DELETE FROM lists WHERE id = $id", tx, ("$id", id)) == 1;
    });

    // ---- Roles and admins ----
    public Task<Role> AddRoleAsync(string name, IReadOnlySet<Permission> permissions, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var id = Insert(c, tx, "INSERT INTO roles (name, permissions, builtin) VALUES ($n, $p, 0) RETURNING id", $"a role named '{name}' exists already",
            ("$n", name), ("$p", SerializePermissions(permissions)));
        return new Role(id, name, permissions, false);
    });

    public Task<Role?> FindRoleAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, name, permissions, builtin FROM roles WHERE name = $n", ReadRole, null, ("$n", name)).FirstOrDefault()));

    public Task<IReadOnlyList<Role>> ListRolesAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Role>>(Database.Read(c => c.Query("SELECT id, name, permissions, builtin FROM roles ORDER BY builtin DESC, name", ReadRole)));

    public Task<AdminLogin> AddAdminAsync(string login, string passwordHash, Scope scope, IReadOnlyList<string> roles, bool mustChangePassword, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var now = _time.GetUtcNow();
        var id = Insert(c, tx, """
            INSERT INTO admins (login, password_hash, scope_kind, scope_id, roles, disabled, must_change_password, created)
            VALUES ($l, $p, $sk, $si, $r, 0, $m, $t) RETURNING id
            """, $"an admin login '{login}' exists already",
            ("$l", login), ("$p", passwordHash), ("$sk", (int)scope.Kind), ("$si", scope.Id), ("$r", JsonSerializer.Serialize(roles, Json)),
            ("$m", mustChangePassword ? 1 : 0), ("$t", now.ToUnixTimeMilliseconds()));
        return new AdminLogin(id, login, passwordHash, scope, roles, false, mustChangePassword, now);
    });

    public Task<AdminLogin?> FindAdminAsync(string login, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, login, password_hash, scope_kind, scope_id, roles, disabled, must_change_password, created FROM admins WHERE login = $l",
            ReadAdmin, null, ("$l", login)).FirstOrDefault()));

    public Task<IReadOnlyList<AdminLogin>> ListAdminsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<AdminLogin>>(Database.Read(c => c.Query("SELECT id, login, password_hash, scope_kind, scope_id, roles, disabled, must_change_password, created FROM admins ORDER BY login", ReadAdmin)));

    public Task UpdateAdminPasswordAsync(long adminId, string passwordHash, bool mustChangePassword, CancellationToken cancellationToken) =>
        Write(cancellationToken, (c, tx) => c.Execute("UPDATE admins SET password_hash = $p, must_change_password = $m WHERE id = $id", tx,
            ("$p", passwordHash), ("$m", mustChangePassword ? 1 : 0), ("$id", adminId)) == 1);

    // ---- Plans ----
    public Task<Plan> AddPlanAsync(string name, string featuresJson, bool isAddOn, bool isLegacy, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        var id = Insert(c, tx, "INSERT INTO plans (name, features, is_addon, is_legacy) VALUES ($n, $f, $a, $l) RETURNING id", $"a plan named '{name}' exists already",
            ("$n", name), ("$f", featuresJson), ("$a", isAddOn ? 1 : 0), ("$l", isLegacy ? 1 : 0));
        return new Plan(id, name, featuresJson, isAddOn, isLegacy);
    });

    public Task<Plan?> GetPlanAsync(long id, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, name, features, is_addon, is_legacy FROM plans WHERE id = $id", ReadPlan, null, ("$id", id)).FirstOrDefault()));

    public Task<Plan?> FindPlanAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, name, features, is_addon, is_legacy FROM plans WHERE name = $n", ReadPlan, null, ("$n", name)).FirstOrDefault()));

    public Task<IReadOnlyList<Plan>> ListPlansAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Plan>>(Database.Read(c => c.Query("SELECT id, name, features, is_addon, is_legacy FROM plans ORDER BY id", ReadPlan)));

    // ---- Policies ----
    public Task SetPolicyAsync(Scope scope, string name, FilterPolicy? policy, CancellationToken cancellationToken) => Write(cancellationToken, (c, tx) =>
    {
        if (policy is null)
        {
            return c.Execute("DELETE FROM policies WHERE scope_kind = $k AND scope_id = $i", tx, ("$k", (int)scope.Kind), ("$i", scope.Id));
        }

        var nextId = c.Scalar<long>("SELECT coalesce(max(id), 0) + 1 FROM policies", tx);
        return c.Execute("""
            INSERT INTO policies (scope_kind, scope_id, id, name, policy) VALUES ($k, $i, $id, $n, $p)
            ON CONFLICT (scope_kind, scope_id) DO UPDATE SET name = excluded.name, policy = excluded.policy
            """, tx, ("$k", (int)scope.Kind), ("$i", scope.Id), ("$id", nextId), ("$n", name), ("$p", JsonSerializer.Serialize(policy, Json)));
    });

    public Task<FilterPolicyAssignment?> GetPolicyAsync(Scope scope, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query("SELECT id, name, scope_kind, scope_id, policy FROM policies WHERE scope_kind = $k AND scope_id = $i",
            r => new FilterPolicyAssignment(r.GetInt64(0), r.GetString(1), new Scope((ScopeKind)r.GetInt32(2), r.GetInt64(3)),
                JsonSerializer.Deserialize<FilterPolicy>(r.GetString(4), Json) ?? new FilterPolicy()),
            null, ("$k", (int)scope.Kind), ("$i", scope.Id)).FirstOrDefault()));

    // ---- Internals ----
    private Task<T> Write<T>(CancellationToken cancellationToken, Func<SqliteConnection, SqliteTransaction, T> work) =>
        Database.WriteAsync((c, tx) =>
        {
            var result = work(c, tx);
            c.Execute("UPDATE meta SET value = value + 1 WHERE key = 'change_stamp'", tx);
            return result;
        }, cancellationToken);

    private static long Insert(SqliteConnection c, SqliteTransaction tx, string sql, string conflictMessage, params (string, object?)[] parameters)
    {
        try
        {
            return c.Scalar<long>(sql, tx, parameters);
        }
        catch (SqliteException e) when (e.IsUniqueViolation())
        {
            throw new StoreConflictException(conflictMessage);
        }
    }

    private static void EnsureDomainNameFree(SqliteConnection c, SqliteTransaction tx, DomainName name)
    {
        var taken = c.Scalar<long>("SELECT (SELECT count(*) FROM domains WHERE name = $n) + (SELECT count(*) FROM domain_aliases WHERE name = $n)", tx, ("$n", name.Ascii));
        if (taken > 0)
        {
            throw new StoreConflictException($"the domain '{name}' exists already (as a domain or a domain alias)");
        }
    }

    private Account InsertAccount(SqliteConnection c, SqliteTransaction tx, NewAccount account)
    {
        var now = _time.GetUtcNow();
        var key = EmailAddress.FoldLocalPart(account.LocalPart);
        var conflict = $"the address '{account.LocalPart}' is already in use in this domain";
        var id = Insert(c, tx, """
            INSERT INTO accounts (domain_id, local_part, local_key, display_name, password_hash, quota_bytes, disabled, forward_to, forward_keep_copy, settings, created)
            VALUES ($d, $l, $k, $n, $p, $q, 0, '[]', 0, '{}', $t) RETURNING id
            """, conflict, ("$d", account.DomainId), ("$l", account.LocalPart), ("$k", key), ("$n", account.DisplayName), ("$p", account.PasswordHash),
            ("$q", account.QuotaBytes), ("$t", now.ToUnixTimeMilliseconds()));
        Insert(c, tx, "INSERT INTO addresses (domain_id, local_key, local_part, kind, owner_id) VALUES ($d, $k, $l, 1, $o) RETURNING 0", conflict,
            ("$d", account.DomainId), ("$k", key), ("$l", account.LocalPart), ("$o", id));
        return new Account(id, account.DomainId, account.LocalPart, account.DisplayName, account.PasswordHash, account.QuotaBytes, false, [], false, "{}", now);
    }

    private void Seed() => Database.Write((c, tx) =>
    {
        foreach (var (name, permissions) in BuiltInRoles.All)
        {
            c.Execute("INSERT INTO roles (name, permissions, builtin) VALUES ($n, $p, 1) ON CONFLICT (name) DO UPDATE SET permissions = excluded.permissions WHERE builtin = 1", tx,
                ("$n", name), ("$p", SerializePermissions(permissions)));
        }

        foreach (var (name, features, addOn) in BuiltInPlans.All)
        {
            c.Execute("INSERT OR IGNORE INTO plans (name, features, is_addon, is_legacy) VALUES ($n, $f, $a, 0)", tx, ("$n", name), ("$f", features), ("$a", addOn ? 1 : 0));
        }

        return 0;
    });

    private static string SerializePermissions(IReadOnlySet<Permission> permissions) =>
        JsonSerializer.Serialize(permissions.Select(p => p.ToString()).Order(StringComparer.Ordinal), Json);

    private static IReadOnlySet<Permission> DeserializePermissions(string json) =>
        (JsonSerializer.Deserialize<string[]>(json, Json) ?? []).Select(s => Enum.TryParse<Permission>(s, out var p) ? (Permission?)p : null)
            .Where(p => p is not null).Select(p => p!.Value).ToHashSet();

    private List<DistributionList> ReadLists(SqliteConnection c, string where, params (string, object?)[] parameters)
    {
        var lists = c.Query($"SELECT id, domain_id, local_part, name, posting_policy FROM lists {where}",
            r => (Id: r.GetInt64(0), Domain: r.GetInt64(1), Local: r.GetString(2), Name: r.GetString(3), Policy: (ListPostingPolicy)r.GetInt32(4)), null, parameters);
        return lists.Select(l => new DistributionList(l.Id, l.Domain, l.Local, l.Name, l.Policy,
            c.Query("SELECT address FROM list_members WHERE list_id = $l ORDER BY address", r => r.GetString(0), null, ("$l", l.Id)))).ToList();
    }

    private static DateTimeOffset Time(SqliteDataReader r, int i) => DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));

    private static Reseller ReadReseller(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), Time(r, 2));

    private static Customer ReadCustomer(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetNullableInt64(2), Time(r, 3));

    private static MailDomain ReadDomain(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetInt64(1), DomainName.Parse(r.GetString(2)), (DomainKind)r.GetInt32(3),
        JsonSerializer.Deserialize<RelayHost[]>(r.GetString(4), Json) ?? [], r.GetString(5), r.GetNullableInt64(6), r.GetInt32(7) != 0,
        r.GetNullableInt64(8), r.GetString(9), Time(r, 10), r.GetInt64(11));

    private static Account ReadAccount(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt64(5), r.GetInt32(6) != 0,
        JsonSerializer.Deserialize<string[]>(r.GetString(7), Json) ?? [], r.GetInt32(8) != 0, r.GetString(9), Time(r, 10));

    private static Role ReadRole(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), DeserializePermissions(r.GetString(2)), r.GetInt32(3) != 0);

    private static AdminLogin ReadAdmin(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), new Scope((ScopeKind)r.GetInt32(3), r.GetInt64(4)),
        JsonSerializer.Deserialize<string[]>(r.GetString(5), Json) ?? [], r.GetInt32(6) != 0, r.GetInt32(7) != 0, Time(r, 8));

    private static Plan ReadPlan(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt32(3) != 0, r.GetInt32(4) != 0);

}
