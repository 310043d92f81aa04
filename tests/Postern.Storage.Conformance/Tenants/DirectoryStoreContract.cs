using Postern.Core.Storage;
using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Storage.Conformance.Tenants;

/// <summary>What every <see cref="IDirectoryStore"/> backend must do. A backend's test project derives from this.</summary>
public abstract class DirectoryStoreContract
{
    private static readonly CancellationToken None = CancellationToken.None;

    /// <summary>A new, empty store (built-in roles and plans seeded).</summary>
    protected abstract IDirectoryStore CreateStore();

    private static async Task<(IDirectoryStore Store, Customer Customer, MailDomain Domain)> WithDomainAsync(IDirectoryStore store, string name = "example.com", DomainKind kind = DomainKind.Hosted)
    {
        var customer = await store.AddCustomerAsync("Customer of " + name, null, None);
        var domain = await store.AddDomainAsync(new NewDomain(customer.Id, DomainName.Parse(name), kind, kind.HasFlag(DomainKind.Relay) ? [new RelayHost("mx.customer.test", 2525, 5)] : []), None);
        return (store, customer, domain);
    }

    [Fact]
    public async Task New_store_has_the_built_in_roles_and_plans()
    {
        var store = CreateStore();
        var roles = await store.ListRolesAsync(None);
        Assert.Equal(BuiltInRoles.All.Keys.Order(StringComparer.Ordinal), roles.Where(r => r.BuiltIn).Select(r => r.Name).Order(StringComparer.Ordinal));
        var quarantine = await store.FindRoleAsync(BuiltInRoles.QuarantineManager, None);
        Assert.NotNull(quarantine);
        Assert.Contains(Permission.ManageQuarantine, quarantine.Permissions);
        Assert.DoesNotContain(Permission.ManageAccounts, quarantine.Permissions);
        var plans = await store.ListPlansAsync(None);
        Assert.Contains(plans, p => p.Name == BuiltInPlans.Basics && !p.IsAddOn);
        Assert.Contains(plans, p => p.Name == BuiltInPlans.HostedMail && p.IsAddOn);
    }

    [Fact]
    public async Task Resellers_and_customers_nest_and_names_are_unique()
    {
        var store = CreateStore();
        var reseller = await store.AddResellerAsync("Acme Resale", None);
        var customer = await store.AddCustomerAsync("Globex", reseller.Id, None);
        var direct = await store.AddCustomerAsync("Initech", null, None);
        Assert.Equal(reseller.Id, (await store.GetCustomerAsync(customer.Id, None))!.ResellerId);
        Assert.True((await store.GetCustomerAsync(direct.Id, None))!.IsDirect);
        Assert.Single(await store.ListCustomersAsync(reseller.Id, None));
        Assert.Equal(2, (await store.ListCustomersAsync(null, None)).Count);
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddResellerAsync("acme resale", None));
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddCustomerAsync("GLOBEX", null, None));
        Assert.Equal(customer.Id, (await store.FindCustomerAsync("globex", None))!.Id);
    }

    [Fact]
    public async Task Domains_are_found_by_name_and_by_domain_alias()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore(), "example.com", DomainKind.Both);
        await store.AddDomainAliasAsync(domain.Id, DomainName.Parse("example.net"), None);
        Assert.Equal(domain.Id, (await store.FindDomainAsync("example.com", None))!.Id);
        Assert.Equal(domain.Id, (await store.FindDomainAsync("example.net", None))!.Id);
        Assert.Null(await store.FindDomainAsync("example.org", None));
        var found = await store.GetDomainAsync(domain.Id, None);
        Assert.Equal(DomainKind.Both, found!.Kind);
        Assert.Equal(new RelayHost("mx.customer.test", 2525, 5), Assert.Single(found.RelayHosts));
        Assert.Equal([DomainName.Parse("example.net")], await store.ListDomainAliasesAsync(domain.Id, None));
        await store.UpdateDomainAsync(found with { QuotaBytes = 5_000_000, SubaddressSeparators = "+-", SettingsJson = """{"x":true}""" }, None);
        var updated = await store.GetDomainAsync(domain.Id, None);
        Assert.Equal((5_000_000L, "+-", """{"x":true}"""), (updated!.QuotaBytes, updated.SubaddressSeparators, updated.SettingsJson));
    }

    [Fact]
    public async Task A_domain_name_is_either_a_domain_or_an_alias_never_both()
    {
        var (store, customer, domain) = await WithDomainAsync(CreateStore());
        await store.AddDomainAliasAsync(domain.Id, DomainName.Parse("alias.test"), None);
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddDomainAsync(new NewDomain(customer.Id, DomainName.Parse("alias.test"), DomainKind.Hosted, []), None));
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddDomainAliasAsync(domain.Id, DomainName.Parse("example.com"), None));
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddDomainAsync(new NewDomain(customer.Id, DomainName.Parse("example.com"), DomainKind.Hosted, []), None));
    }

    [Fact]
    public async Task Every_local_part_has_one_owner_across_accounts_aliases_and_lists()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore());
        var alice = await store.AddAccountAsync(new NewAccount(domain.Id, "Alice", "Alice A.", "{PLAIN}x", 0), None);
        await store.AddAliasAsync(new AccountAlias(domain.Id, "sales", alice.Id), None);
        await store.AddListAsync(domain.Id, "team", "The team", ListPostingPolicy.MembersOnly, None);

        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddAccountAsync(new NewAccount(domain.Id, "alice", "", "{PLAIN}x", 0), None));
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddAccountAsync(new NewAccount(domain.Id, "SALES", "", "{PLAIN}x", 0), None));
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddAliasAsync(new AccountAlias(domain.Id, "Team", alice.Id), None));
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddListAsync(domain.Id, "alice", "x", ListPostingPolicy.Anyone, None));

        var entry = await store.FindAddressAsync(domain.Id, "sales", None);
        Assert.Equal(AddressOwnerKind.Alias, entry!.Kind);
        Assert.Equal(alice.Id, entry.OwnerId);
        Assert.Equal(AddressOwnerKind.Account, (await store.FindAddressAsync(domain.Id, "alice", None))!.Kind);
        Assert.Equal(AddressOwnerKind.List, (await store.FindAddressAsync(domain.Id, "team", None))!.Kind);
        Assert.Equal("Alice", (await store.GetAccountAsync(alice.Id, None))!.LocalPart);
    }

    [Fact]
    public async Task Bulk_add_is_all_or_nothing()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore());
        await store.AddAccountAsync(new NewAccount(domain.Id, "taken", "", "{PLAIN}x", 0), None);
        var batch = new[] { new NewAccount(domain.Id, "one", "", "{PLAIN}x", 0), new NewAccount(domain.Id, "taken", "", "{PLAIN}x", 0) };
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddAccountsAsync(batch, None));
        Assert.Null(await store.FindAddressAsync(domain.Id, "one", None));
        Assert.Single(await store.ListAccountsAsync(domain.Id, None));

        Assert.Equal(2, await store.AddAccountsAsync([new NewAccount(domain.Id, "one", "", "{PLAIN}x", 0), new NewAccount(domain.Id, "two", "", "{PLAIN}x", 0)], None));
        Assert.Equal(3, (await store.ListAccountsAsync(domain.Id, None)).Count);
    }

    [Fact]
    public async Task Account_updates_are_kept()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore());
        var bob = await store.AddAccountAsync(new NewAccount(domain.Id, "bob", "Bob", "{PLAIN}x", 100), None);
        await store.UpdateAccountAsync(bob with { Disabled = true, QuotaBytes = 5, ForwardTo = ["x@elsewhere.test"], ForwardKeepCopy = true, SettingsJson = """{"a":1}""", PasswordHash = "h2" }, None);
        var read = await store.GetAccountAsync(bob.Id, None);
        Assert.True(read!.Disabled);
        Assert.Equal(5, read.QuotaBytes);
        Assert.Equal(["x@elsewhere.test"], read.ForwardTo);
        Assert.True(read.ForwardKeepCopy);
        Assert.Equal("""{"a":1}""", read.SettingsJson);
        Assert.Equal("h2", read.PasswordHash);
    }

    [Fact]
    public async Task Removing_an_account_frees_its_addresses()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore());
        var carol = await store.AddAccountAsync(new NewAccount(domain.Id, "carol", "", "{PLAIN}x", 0), None);
        await store.AddAliasAsync(new AccountAlias(domain.Id, "c", carol.Id), None);
        await store.UpdateDomainAsync(domain with { CatchAllAccountId = carol.Id }, None);
        Assert.True(await store.RemoveAccountAsync(carol.Id, None));
        Assert.Null(await store.FindAddressAsync(domain.Id, "carol", None));
        Assert.Null(await store.FindAddressAsync(domain.Id, "c", None));
        Assert.Null((await store.GetDomainAsync(domain.Id, None))!.CatchAllAccountId);
        Assert.False(await store.RemoveAccountAsync(carol.Id, None));
        await store.AddAccountAsync(new NewAccount(domain.Id, "carol", "", "{PLAIN}x", 0), None);
    }

    [Fact]
    public async Task Removing_a_domain_removes_what_is_in_it()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore());
        await store.AddDomainAliasAsync(domain.Id, DomainName.Parse("example.net"), None);
        var dave = await store.AddAccountAsync(new NewAccount(domain.Id, "dave", "", "{PLAIN}x", 0), None);
        await store.AddListAsync(domain.Id, "all", "All", ListPostingPolicy.Anyone, None);
        await store.SetPolicyAsync(new Scope(ScopeKind.Account, dave.Id), "p", new FilterPolicy { TagLevel = 1 }, None);
        Assert.True(await store.RemoveDomainAsync(domain.Id, None));
        Assert.Null(await store.FindDomainAsync("example.net", None));
        Assert.Null(await store.GetAccountAsync(dave.Id, None));
        Assert.Null(await store.GetPolicyAsync(new Scope(ScopeKind.Account, dave.Id), None));
        var counts = await store.CountAsync(None);
        Assert.Equal((0, 0, 0, 0), (counts.Domains, counts.DomainAliases, counts.Accounts, counts.Lists));
    }

    [Fact]
    public async Task List_members_are_added_once_and_removed()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore());
        var list = await store.AddListAsync(domain.Id, "staff", "Staff", ListPostingPolicy.DomainOnly, None);
        Assert.True(await store.AddListMemberAsync(list.Id, "a@example.com", None));
        Assert.False(await store.AddListMemberAsync(list.Id, "a@example.com", None));
        Assert.True(await store.AddListMemberAsync(list.Id, "b@elsewhere.test", None));
        var read = await store.GetListAsync(list.Id, None);
        Assert.Equal(["a@example.com", "b@elsewhere.test"], read!.Members);
        Assert.Equal(ListPostingPolicy.DomainOnly, read.PostingPolicy);
        Assert.True(await store.RemoveListMemberAsync(list.Id, "a@example.com", None));
        Assert.False(await store.RemoveListMemberAsync(list.Id, "a@example.com", None));
        Assert.True(await store.RemoveListAsync(list.Id, None));
        Assert.Null(await store.FindAddressAsync(domain.Id, "staff", None));
    }

    [Fact]
    public async Task Admins_have_a_scope_and_roles_and_logins_are_unique_ignoring_case()
    {
        var store = CreateStore();
        var reseller = await store.AddResellerAsync("R", None);
        var admin = await store.AddAdminAsync("Ops", "hash", new Scope(ScopeKind.Reseller, reseller.Id), [BuiltInRoles.ResellerAdmin], true, None);
        var found = await store.FindAdminAsync("ops", None);
        Assert.Equal(admin.Id, found!.Id);
        Assert.Equal(new Scope(ScopeKind.Reseller, reseller.Id), found.Scope);
        Assert.Equal([BuiltInRoles.ResellerAdmin], found.Roles);
        Assert.True(found.MustChangePassword);
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddAdminAsync("OPS", "h", Scope.Global, [BuiltInRoles.ReadOnly], false, None));
        await store.UpdateAdminPasswordAsync(admin.Id, "hash2", false, None);
        found = await store.FindAdminAsync("OPS", None);
        Assert.Equal("hash2", found!.PasswordHash);
        Assert.False(found.MustChangePassword);
    }

    [Fact]
    public async Task Custom_roles_keep_their_permissions()
    {
        var store = CreateStore();
        await store.AddRoleAsync("helpdesk", new HashSet<Permission> { Permission.ViewLogs, Permission.ViewQuarantine }, None);
        var role = await store.FindRoleAsync("Helpdesk", None);
        Assert.False(role!.BuiltIn);
        Assert.Equal(new HashSet<Permission> { Permission.ViewLogs, Permission.ViewQuarantine }, role.Permissions);
        await Assert.ThrowsAsync<StoreConflictException>(() => store.AddRoleAsync(BuiltInRoles.ReadOnly, new HashSet<Permission>(), None));
    }

    [Fact]
    public async Task Policies_are_set_replaced_and_removed_per_scope()
    {
        var store = CreateStore();
        await store.SetPolicyAsync(Scope.Global, "default", new FilterPolicy { RejectLevel = 20, BannedFileRules = ["*.exe"] }, None);
        var read = await store.GetPolicyAsync(Scope.Global, None);
        Assert.Equal(20, read!.Policy.RejectLevel);
        Assert.Null(read.Policy.TagLevel);
        Assert.Equal(["*.exe"], read.Policy.BannedFileRules);
        await store.SetPolicyAsync(Scope.Global, "strict", new FilterPolicy { RejectLevel = 8 }, None);
        read = await store.GetPolicyAsync(Scope.Global, None);
        Assert.Equal(("strict", 8.0), (read!.Name, read.Policy.RejectLevel!.Value));
        await store.SetPolicyAsync(Scope.Global, "strict", null, None);
        Assert.Null(await store.GetPolicyAsync(Scope.Global, None));
    }

    [Fact]
    public async Task The_change_stamp_moves_on_every_write_and_only_then()
    {
        var store = CreateStore();
        var s0 = await store.GetChangeStampAsync(None);
        Assert.Equal(s0, await store.GetChangeStampAsync(None));
        var (_, _, domain) = await WithDomainAsync(store);
        var s1 = await store.GetChangeStampAsync(None);
        Assert.NotEqual(s0, s1);
        await store.ListAccountsAsync(domain.Id, None);
        Assert.Equal(s1, await store.GetChangeStampAsync(None));
        await store.AddAccountAsync(new NewAccount(domain.Id, "e", "", "{PLAIN}x", 0), None);
        Assert.NotEqual(s1, await store.GetChangeStampAsync(None));
    }

    [Fact]
    public async Task Counts_reflect_the_directory()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore());
        var a = await store.AddAccountAsync(new NewAccount(domain.Id, "a", "", "{PLAIN}x", 0), None);
        await store.AddAliasAsync(new AccountAlias(domain.Id, "a2", a.Id), None);
        await store.AddListAsync(domain.Id, "l", "L", ListPostingPolicy.Anyone, None);
        await store.AddAdminAsync("root", "h", Scope.Global, [BuiltInRoles.GlobalAdmin], false, None);
        var counts = await store.CountAsync(None);
        Assert.Equal(new DirectoryCounts(0, 1, 1, 0, 1, 1, 1, 1), counts);
    }

    [Fact]
    public async Task Unicode_local_parts_are_kept_as_given()
    {
        var (store, _, domain) = await WithDomainAsync(CreateStore());
        var account = await store.AddAccountAsync(new NewAccount(domain.Id, "Jürgen", "", "{PLAIN}x", 0), None);
        Assert.Equal("Jürgen", (await store.GetAccountAsync(account.Id, None))!.LocalPart);
        Assert.Equal(account.Id, (await store.FindAddressAsync(domain.Id, EmailAddress.FoldLocalPart("JÜRGEN"), None))!.OwnerId);
    }
}
