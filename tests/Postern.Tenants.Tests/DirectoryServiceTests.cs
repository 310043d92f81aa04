using Postern.Core.Tenants;

namespace Postern.Tenants.Tests;

public sealed class DirectoryServiceTests : IDisposable
{
    private readonly TestDirectory _d = new();

    public void Dispose() => _d.Dispose();

    private async Task<long> StampAsync() => await _d.Store.GetChangeStampAsync(default);

    /// <summary>Runs a change that must be refused, and checks the field named and that nothing was written.</summary>
    private async Task RefusedAsync(string field, Func<Task> change)
    {
        var before = await StampAsync();
        var e = await Assert.ThrowsAnyAsync<Exception>(change);
        var named = e switch
        {
            DirectoryValidationException v => v.Field,
            DirectoryObjectNotFoundException n => n.Field,
            _ => throw new Xunit.Sdk.XunitException($"unexpected {e.GetType().Name}: {e.Message}"),
        };
        Assert.Equal(field, named);
        Assert.Equal(before, await StampAsync());
    }

    [Fact]
    public async Task Duplicates_are_refused_naming_the_field()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddAccountAsync("alice@example.com", "pw", null, 0);
        await RefusedAsync("domain", () => _d.Service.AddDomainAsync("EXAMPLE.com", "Example Inc", DomainKind.Hosted, []));
        await RefusedAsync("email", () => _d.Service.AddAccountAsync("Alice@example.com", "pw", null, 0));
        await RefusedAsync("name", () => _d.Service.AddCustomerAsync("example inc", null));
    }

    [Fact]
    public async Task An_alias_cannot_shadow_an_account_and_must_stay_within_the_customer()
    {
        await _d.HostedDomainAsync("example.com", "One");
        await _d.HostedDomainAsync("other.test", "Two");
        await _d.HostedDomainAsync("sister.test", "One");
        await _d.Service.AddAccountAsync("alice@example.com", "pw", null, 0);
        await _d.Service.AddAccountAsync("bob@example.com", "pw", null, 0);
        await RefusedAsync("alias", () => _d.Service.AddAliasAsync("bob@example.com", "alice@example.com"));
        await RefusedAsync("alias", () => _d.Service.AddAliasAsync("alice@other.test", "alice@example.com"));
        await _d.Service.AddAliasAsync("alice@sister.test", "alice@example.com");
        await RefusedAsync("alias", () => _d.Service.AddAliasAsync("x@nowhere.test", "alice@example.com"));
    }

    [Fact]
    public async Task A_list_cannot_contain_itself_directly_or_through_another_list()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddListAsync("a@example.com", null, ListPostingPolicy.Anyone);
        await _d.Service.AddListAsync("b@example.com", null, ListPostingPolicy.Anyone);
        await RefusedAsync("member", () => _d.Service.AddListMemberAsync("a@example.com", "A@example.com", _d.Resolver));
        await _d.Service.AddListMemberAsync("a@example.com", "b@example.com", _d.Resolver);
        _d.Resolver.Invalidate();
        await RefusedAsync("member", () => _d.Service.AddListMemberAsync("b@example.com", "a@example.com", _d.Resolver));
    }

    [Theory]
    [InlineData("not-an-address", "email")]
    [InlineData("a@b", "email")]
    [InlineData("a..b@example.com", "email")]
    [InlineData("a@-bad-.example", "email")]
    [InlineData("a@xn--zz.example", "email")]
    [InlineData("a b@example.com", "email")]
    public async Task Invalid_addresses_and_idns_are_refused(string address, string field)
    {
        await _d.HostedDomainAsync();
        await RefusedAsync(field, () => _d.Service.AddAccountAsync(address, "pw", null, 0));
    }

    [Fact]
    public async Task Bad_quotas_roles_scopes_and_passwords_are_refused()
    {
        await _d.HostedDomainAsync();
        await RefusedAsync("quota", () => _d.Service.AddAccountAsync("q@example.com", "pw", null, -1));
        await RefusedAsync("password", () => _d.Service.AddAccountAsync("q@example.com", "", null, 1));
        await RefusedAsync("role", () => _d.Service.AddAdminAsync("ops", "pw", ["supreme leader"], Scope.Global));
        await RefusedAsync("scope", () => _d.Service.ParseScopeAsync("planet:earth"));
        await RefusedAsync("scope", () => _d.Service.ParseScopeAsync("customer:Nobody"));
        await RefusedAsync("scope", () => _d.Service.ParseScopeAsync("domain:nowhere.test"));
        await RefusedAsync("scope", () => _d.Service.ParseScopeAsync("reseller:Nobody"));
        await RefusedAsync("relay-host", () => _d.Service.AddDomainAsync("relay.test", "Example Inc", DomainKind.Relay, []));
        await RefusedAsync("relay-host", () => _d.Service.AddDomainAsync("relay.test", "Example Inc", DomainKind.Relay, ["mx.test:99999"]));
        await RefusedAsync("email", () => _d.Service.SetQuotaAsync("ghost@example.com", 5));
    }

    [Fact]
    public async Task Accounts_cannot_live_in_relay_domains_or_be_added_through_a_domain_alias()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddDomainAliasAsync("example.com", "example.org");
        await _d.Service.AddDomainAsync("relay.test", "Example Inc", DomainKind.Relay, ["[2001:db8::1]:2525", "mx2.relay.test/20"]);
        await RefusedAsync("email", () => _d.Service.AddAccountAsync("a@relay.test", "pw", null, 0));
        await RefusedAsync("email", () => _d.Service.AddAccountAsync("a@example.org", "pw", null, 0));
        var relay = await _d.Service.RequireDomainAsync("relay.test");
        Assert.Equal([new RelayHost("2001:db8::1", 2525, 10), new RelayHost("mx2.relay.test", 25, 20)], relay.RelayHosts);
    }

    [Fact]
    public async Task Account_lifecycle()
    {
        await _d.HostedDomainAsync();
        var account = await _d.Service.AddAccountAsync("life@example.com", "first", "Life", 50);
        Assert.Equal(50L * 1024 * 1024, account.QuotaBytes);
        Assert.Equal(PasswordCheck.Match, new TestHasher().Verify(account.PasswordHash, "first"));
        await _d.Service.SetPasswordAsync("life@example.com", "second");
        var (updated, _) = await _d.Service.RequireAccountAsync("LIFE@example.com");
        Assert.Equal(PasswordCheck.Match, new TestHasher().Verify(updated.PasswordHash, "second"));
        await _d.Service.SetDisabledAsync("life@example.com", true);
        Assert.True((await _d.Service.RequireAccountAsync("life@example.com")).Account.Disabled);
        Assert.True(await _d.Service.RemoveAccountAsync("life@example.com"));
        await Assert.ThrowsAsync<DirectoryObjectNotFoundException>(() => _d.Service.RequireAccountAsync("life@example.com"));
    }

    [Fact]
    public async Task An_account_cannot_forward_to_itself()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddAccountAsync("me@example.com", "pw", null, 0);
        await RefusedAsync("to", () => _d.Service.SetForwardAsync("me@example.com", ["ME@example.com"], false));
    }

    [Fact]
    public async Task Settings_must_be_json_objects()
    {
        await _d.HostedDomainAsync();
        await RefusedAsync("settings", () => _d.Service.SetDomainSettingsAsync("example.com", "[1,2]"));
        await RefusedAsync("settings", () => _d.Service.SetDomainSettingsAsync("example.com", "{broken"));
        await _d.Service.SetDomainSettingsAsync("example.com", """{ "forwarding" : false }""");
        Assert.Equal("""{"forwarding":false}""", (await _d.Service.RequireDomainAsync("example.com")).SettingsJson);
    }

    [Fact]
    public async Task New_passwords_need_the_minimum_length_by_default()
    {
        await _d.HostedDomainAsync();
        var strict = new DirectoryService(_d.Store, new TestHasher());
        var before = await StampAsync();
        var e = await Assert.ThrowsAsync<DirectoryValidationException>(() => strict.AddAccountAsync("short@example.com", "seven77", null, 0));
        Assert.Equal("password", e.Field);
        Assert.Contains("at least 8", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, await StampAsync());
        await strict.AddAccountAsync("long@example.com", "eight888", null, 0);
        await Assert.ThrowsAsync<DirectoryValidationException>(() => strict.SetPasswordAsync("long@example.com", "short"));
    }

    [Fact]
    public async Task Score_levels_must_rise_from_tag_to_reject()
    {
        await RefusedAsync("reject-level", () => _d.Service.SetPolicyAsync(Scope.Global, "p", new FilterPolicy { QuarantineLevel = 8, RejectLevel = 5 }));
        await RefusedAsync("quarantine-level", () => _d.Service.SetPolicyAsync(Scope.Global, "p", new FilterPolicy { TagLevel = 3, QuarantineLevel = 2 }));
        await _d.Service.SetPolicyAsync(Scope.Global, "p", new FilterPolicy { TagLevel = 2, RejectLevel = 20 });
    }

    [Fact]
    public async Task Forwarding_needs_a_plan_that_includes_it()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddAccountAsync("f@example.com", "pw", null, 0);
        await _d.Store.AddPlanAsync("Filtering only", """{"spamFilter":true}""", isAddOn: false, isLegacy: false, default);
        await _d.Service.SetPlanAsync("example.com", "Filtering only", false, AdminPrincipal.Console);
        await RefusedAsync("to", () => _d.Service.SetForwardAsync("f@example.com", ["away@elsewhere.test"], false));
        await _d.Service.SetForwardAsync("f@example.com", [], false); // clearing is always allowed
        await _d.Service.SetPlanAsync("example.com", BuiltInPlans.Basics, false, AdminPrincipal.Console);
        await _d.Service.SetForwardAsync("f@example.com", ["away@elsewhere.test"], false);
    }
}
