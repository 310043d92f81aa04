using System.Text.Json.Nodes;
using Postern.Core.Tenants;

namespace Postern.Tenants.Tests;

public sealed class AccessAndPolicyTests : IDisposable
{
    private readonly TestDirectory _d = new();

    public void Dispose() => _d.Dispose();

    [Fact]
    public async Task Admins_act_only_inside_their_scope()
    {
        await _d.Service.AddResellerAsync("Resale");
        await _d.Service.AddCustomerAsync("Theirs", "Resale");
        await _d.Service.AddCustomerAsync("Other", null);
        var theirs = await _d.Service.AddDomainAsync("theirs.test", "Theirs", DomainKind.Hosted, []);
        var other = await _d.Service.AddDomainAsync("other.test", "Other", DomainKind.Hosted, []);
        var account = await _d.Service.AddAccountAsync("u@theirs.test", "pw", null, 0);

        var access = new DirectoryAccess(_d.Store);
        var resellerScope = await _d.Service.ParseScopeAsync("reseller:Resale");
        var resellerAdmin = await access.LoadAsync(await _d.Service.AddAdminAsync("r", "pw", [BuiltInRoles.ResellerAdmin], resellerScope));
        var quarantineOnly = await access.LoadAsync(await _d.Service.AddAdminAsync("q", "pw", [BuiltInRoles.QuarantineManager], await _d.Service.ParseScopeAsync("domain:theirs.test")));

        Assert.True(await access.MayAsync(resellerAdmin, Permission.ManageAccounts, new Scope(ScopeKind.Account, account.Id)));
        Assert.True(await access.MayAsync(resellerAdmin, Permission.ManageDomains, new Scope(ScopeKind.Domain, theirs.Id)));
        Assert.False(await access.MayAsync(resellerAdmin, Permission.ManageDomains, new Scope(ScopeKind.Domain, other.Id)));
        Assert.False(await access.MayAsync(resellerAdmin, Permission.ManageDomains, Scope.Global));

        Assert.True(await access.MayAsync(quarantineOnly, Permission.ManageQuarantine, new Scope(ScopeKind.Account, account.Id)));
        Assert.False(await access.MayAsync(quarantineOnly, Permission.ManageAccounts, new Scope(ScopeKind.Account, account.Id)));
        Assert.False(await access.MayAsync(quarantineOnly, Permission.ManageQuarantine, new Scope(ScopeKind.Domain, other.Id)));
        Assert.False(await access.MayAsync(quarantineOnly, Permission.ManageQuarantine, new Scope(ScopeKind.Account, 999_999)));
    }

    [Fact]
    public async Task Only_the_reseller_or_global_changes_a_resold_customers_plan()
    {
        await _d.Service.AddResellerAsync("Resale");
        await _d.Service.AddCustomerAsync("Resold", "Resale");
        await _d.Service.AddCustomerAsync("Direct", null);
        await _d.Service.AddDomainAsync("resold.test", "Resold", DomainKind.Hosted, []);
        await _d.Service.AddDomainAsync("direct.test", "Direct", DomainKind.Hosted, []);
        var access = new DirectoryAccess(_d.Store);
        var resoldAdmin = await access.LoadAsync(await _d.Service.AddAdminAsync("c1", "pw", [BuiltInRoles.CustomerAdmin], await _d.Service.ParseScopeAsync("customer:Resold")));
        var directAdmin = await access.LoadAsync(await _d.Service.AddAdminAsync("c2", "pw", [BuiltInRoles.CustomerAdmin], await _d.Service.ParseScopeAsync("customer:Direct")));
        var reseller = await access.LoadAsync(await _d.Service.AddAdminAsync("r", "pw", [BuiltInRoles.ResellerAdmin], await _d.Service.ParseScopeAsync("reseller:Resale")));

        var e = await Assert.ThrowsAsync<DirectoryValidationException>(() => _d.Service.SetPlanAsync("resold.test", BuiltInPlans.Enterprise, false, resoldAdmin));
        Assert.Equal("plan", e.Field);
        await _d.Service.SetPlanAsync("resold.test", BuiltInPlans.Enterprise, true, reseller);
        await _d.Service.SetPlanAsync("direct.test", BuiltInPlans.Compliance, false, directAdmin);
        await _d.Service.SetPlanAsync("direct.test", BuiltInPlans.Basics, false, AdminPrincipal.Console);
        Assert.Equal(BuiltInPlans.Basics, (await _d.Store.GetPlanAsync((await _d.Service.RequireDomainAsync("direct.test")).PlanId!.Value, default))!.Name);
    }

    [Fact]
    public async Task The_effective_policy_takes_each_field_from_the_nearest_level()
    {
        await _d.Service.AddResellerAsync("Resale");
        await _d.Service.AddCustomerAsync("Cust", "Resale");
        var domain = await _d.Service.AddDomainAsync("p.test", "Cust", DomainKind.Hosted, []);
        var account = await _d.Service.AddAccountAsync("u@p.test", "pw", null, 0);
        var other = await _d.Service.AddAccountAsync("v@p.test", "pw", null, 0);
        await _d.Service.SetPolicyAsync(Scope.Global, "global", new FilterPolicy { RejectLevel = 12, TagLevel = 3 });
        await _d.Service.SetPolicyAsync(await _d.Service.ParseScopeAsync("reseller:Resale"), "reseller", new FilterPolicy { QuarantineLevel = 5 });
        await _d.Service.SetPolicyAsync(await _d.Service.ParseScopeAsync("customer:Cust"), "school", new FilterPolicy { QuarantineRetentionDays = 0 });
        await _d.Service.SetPolicyAsync(new Scope(ScopeKind.Domain, domain.Id), "domain", new FilterPolicy { TagLevel = 1 });
        await _d.Service.SetPolicyAsync(new Scope(ScopeKind.Account, account.Id), "vip", new FilterPolicy { RejectLevel = 30, BypassSpamChecks = true });

        var resolver = new PolicyResolver(_d.Store);
        var p = await resolver.GetForAccountAsync(account.Id);
        Assert.Equal(30, p.RejectLevel);
        Assert.True(p.BypassSpamChecks);
        Assert.Equal(1, p.TagLevel);
        Assert.Equal(0, p.QuarantineRetentionDays);
        Assert.Equal(5, p.QuarantineLevel);
        Assert.Equal(FilterPolicy.BuiltInDefault.SpammyLevel, p.SpammyLevel);

        var q = await resolver.GetForAccountAsync(other.Id);
        Assert.Equal(12, q.RejectLevel);
        Assert.False(q.BypassSpamChecks);
    }

    [Fact]
    public async Task A_bad_policy_is_refused()
    {
        var e = await Assert.ThrowsAsync<DirectoryValidationException>(() => _d.Service.SetPolicyAsync(Scope.Global, "x", new FilterPolicy { QuarantineRetentionDays = -1 }));
        Assert.Equal("quarantine-retention-days", e.Field);
    }

    // RFC 7386 appendix A, every example.
    [Theory]
    [InlineData("""{"a":"b"}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"b":"c"}""", """{"a":"b","b":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"a":null}""", """{}""")]
    [InlineData("""{"a":"b","b":"c"}""", """{"a":null}""", """{"b":"c"}""")]
    [InlineData("""{"a":["b"]}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"c"}""", """{"a":["b"]}""", """{"a":["b"]}""")]
    [InlineData("""{"a":{"b":"c"}}""", """{"a":{"b":"d","c":null}}""", """{"a":{"b":"d"}}""")]
    [InlineData("""{"a":[{"b":"c"}]}""", """{"a":[1]}""", """{"a":[1]}""")]
    [InlineData("""["a","b"]""", """["c","d"]""", """["c","d"]""")]
    [InlineData("""{"a":"b"}""", """["c"]""", """["c"]""")]
    [InlineData("""{"a":"foo"}""", "null", "null")]
    [InlineData("""{"a":"foo"}""", "\"bar\"", "\"bar\"")]
    [InlineData("""{"e":null}""", """{"a":1}""", """{"e":null,"a":1}""")]
    [InlineData("""[1,2]""", """{"a":"b","c":null}""", """{"a":"b"}""")]
    [InlineData("""{}""", """{"a":{"bb":{"ccc":null}}}""", """{"a":{"bb":{}}}""")]
    public void Merge_patch_follows_rfc_7386(string target, string patch, string expected)
    {
        var result = FeatureSettings.MergePatch(JsonNode.Parse(target), JsonNode.Parse(patch));
        Assert.Equal(expected, result?.ToJsonString() ?? "null");
    }

    [Fact]
    public async Task Account_settings_override_domain_settings_and_plans_gate_features()
    {
        await _d.HostedDomainAsync();
        var a = await _d.Service.AddAccountAsync("s@example.com", "pw", null, 0);
        await _d.Service.SetPlanAsync("example.com", BuiltInPlans.Basics, false, AdminPrincipal.Console);
        await _d.Service.SetDomainSettingsAsync("example.com", """{"forwarding":false,"digest":{"hour":7,"lang":"en"}}""");
        await _d.Service.SetAccountSettingsAsync("s@example.com", """{"forwarding":true,"digest":{"lang":"de"}}""");
        var settings = new FeatureSettings(_d.Store);
        var effective = await settings.GetForAccountAsync(a.Id);
        Assert.True(effective.MayForward);
        Assert.Equal("""{"forwarding":true,"digest":{"hour":7,"lang":"de"}}""", effective.Settings.ToJsonString());
        Assert.False(effective.HasFeature(BuiltInPlans.Features.Mailboxes));
        Assert.False(effective.HasFeature(BuiltInPlans.Features.Continuity));

        await _d.Service.SetAccountSettingsAsync("s@example.com", "{}");
        Assert.False((await settings.GetForAccountAsync(a.Id)).MayForward);
        await _d.Service.SetPlanAsync("example.com", BuiltInPlans.Enterprise, true, AdminPrincipal.Console);
        var enterprise = await settings.GetForAccountAsync(a.Id);
        Assert.True(enterprise.HasFeature(BuiltInPlans.Features.Continuity));
        Assert.True(enterprise.HasFeature(BuiltInPlans.Features.Mailboxes));
    }
}
