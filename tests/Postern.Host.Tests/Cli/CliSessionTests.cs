using System.Text.Json;
using Postern.Core.Tenants;
using Postern.Host.Cli;
using Postern.Host.Configuration;

namespace Postern.Host.Tests.Cli;

public sealed class CliSessionTests : IDisposable
{
    private readonly CliHarness _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task A_realistic_session_builds_the_directory_the_status_counts()
    {
        await _cli.OkAsync("reseller", "add", "Blue Hosting");
        await _cli.OkAsync("customer", "add", "Acme", "--reseller", "Blue Hosting");
        await _cli.OkAsync("domain", "add", "acme.example", "--customer", "Acme", "--plan", "Enterprise");
        await _cli.OkAsync("domain", "add", "gw.acme.example", "--customer", "Acme", "--relay-host", "mail.acme.example:2525/5", "--relay-host", "backup.acme.example");
        await _cli.OkAsync("domain", "alias", "add", "acme.example", "acme.example.net");

        var alice = await _cli.OkAsync("account", "add", "alice@acme.example", "--name", "Alice Smith", "--quota", "500");
        var generated = alice.Out.Split('\n').Single(l => l.StartsWith("password: ", StringComparison.Ordinal))["password: ".Length..].Trim();
        Assert.True(generated.Length >= 16, alice.Out);
        var bob = await _cli.RunWithInputAsync("Correct-Horse-1\n", "account", "add", "bob@acme.example", "--password-stdin");
        Assert.Equal(0, bob.ExitCode);
        Assert.DoesNotContain("Correct-Horse-1", bob.Out + bob.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("password", bob.Out, StringComparison.Ordinal);

        await _cli.OkAsync("alias", "add", "info@acme.example", "alice@acme.example");
        await _cli.OkAsync("alias", "add", "@acme.example", "bob@acme.example");
        await _cli.OkAsync("list", "add", "team@acme.example", "--name", "The Team", "--posting", "members");
        await _cli.OkAsync("list", "member", "add", "team@acme.example", "alice@acme.example");
        await _cli.OkAsync("list", "member", "add", "team@acme.example", "partner@elsewhere.example");
        await _cli.OkAsync("forward", "set", "bob@acme.example", "--to", "bob@home.example", "--keep-copy");
        await _cli.OkAsync("role", "add", "helpdesk", "--permission", "view-directory", "view-quarantine", "manage-quarantine");
        var admin = await _cli.OkAsync("admin", "add", "carol", "--role", "helpdesk", "--scope", "customer:Acme");
        Assert.Contains("one-time password: ", admin.Out, StringComparison.Ordinal);

        var counts = JsonDocument.Parse(await _cli.CountsAsync()).RootElement;
        Assert.Equal(1, counts.GetProperty("resellers").GetInt32());
        Assert.Equal(1, counts.GetProperty("customers").GetInt32());
        Assert.Equal(2, counts.GetProperty("domains").GetInt32());
        Assert.Equal(1, counts.GetProperty("domainAliases").GetInt32());
        Assert.Equal(2, counts.GetProperty("accounts").GetInt32());
        Assert.Equal(1, counts.GetProperty("aliases").GetInt32());
        Assert.Equal(1, counts.GetProperty("lists").GetInt32());
        Assert.Equal(1, counts.GetProperty("admins").GetInt32());

        // The helpdesk's questions: where do these addresses go?
        var catchAll = (await _cli.OkAsync("resolve", "nobody+tag@acme.example.net")).Out;
        Assert.Contains("kind:     catch-all", catchAll, StringComparison.Ordinal);
        Assert.Contains("mailbox bob@acme.example", catchAll, StringComparison.Ordinal);
        Assert.Contains("remote  bob@home.example", catchAll, StringComparison.Ordinal);
        var list = (await _cli.OkAsync("resolve", "team@acme.example", "--json")).Json();
        Assert.Equal("list", list.GetProperty("kind").GetString());
        Assert.Equal(["alice@acme.example"], list.GetProperty("mailboxes").EnumerateArray().Select(m => m.GetProperty("address").GetString()));
        Assert.Equal(["partner@elsewhere.example"], list.GetProperty("remote").EnumerateArray().Select(m => m.GetString()));
        var relay = (await _cli.OkAsync("resolve", "anyone@gw.acme.example")).Out;
        Assert.Contains("relay   anyone@gw.acme.example via mail.acme.example:2525 (priority 5)", relay, StringComparison.Ordinal);

        var show = (await _cli.OkAsync("account", "show", "alice@acme.example")).Out;
        Assert.Contains("Alice Smith", show, StringComparison.Ordinal);
        Assert.Contains("500 MB", show, StringComparison.Ordinal);
        Assert.Contains("info@acme.example", show, StringComparison.Ordinal);
        var domain = (await _cli.OkAsync("domain", "show", "acme.example")).Out;
        Assert.Contains("catch-all:   bob@acme.example", domain, StringComparison.Ordinal);
        Assert.Contains("aliases:     acme.example.net", domain, StringComparison.Ordinal);
        Assert.Contains("plan:        Enterprise", domain, StringComparison.Ordinal);

        // The passwords printed (or read from stdin) are the ones that sign in; none is stored in clear.
        await AssertPasswordAsync("alice@acme.example", generated);
        await AssertPasswordAsync("bob@acme.example", "Correct-Horse-1");
    }

    [Fact]
    public async Task Passwd_disable_enable_and_remove_change_the_account()
    {
        await SetUpAsync();
        Assert.Equal(0, (await _cli.RunWithInputAsync("New-Secret-2\n", "account", "passwd", "bob@acme.example", "--password-stdin")).ExitCode);
        await AssertPasswordAsync("bob@acme.example", "New-Secret-2");

        await _cli.OkAsync("account", "disable", "bob@acme.example");
        Assert.Contains("disabled:  yes", (await _cli.OkAsync("account", "show", "bob@acme.example")).Out, StringComparison.Ordinal);
        Assert.Contains("disabled account", (await _cli.OkAsync("resolve", "bob@acme.example")).Out, StringComparison.Ordinal);
        await _cli.OkAsync("account", "enable", "bob@acme.example");
        Assert.Contains("mailbox bob@acme.example", (await _cli.OkAsync("resolve", "bob@acme.example")).Out, StringComparison.Ordinal);

        await _cli.OkAsync("forward", "set", "bob@acme.example", "--to", "bob@home.example");
        Assert.Contains("remote  bob@home.example", (await _cli.OkAsync("resolve", "bob@acme.example")).Out, StringComparison.Ordinal);
        await _cli.OkAsync("forward", "set", "bob@acme.example");
        Assert.DoesNotContain("bob@home.example", (await _cli.OkAsync("resolve", "bob@acme.example")).Out, StringComparison.Ordinal);

        var refused = await _cli.RunAsync("account", "remove", "bob@acme.example");
        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("--yes", refused.Error, StringComparison.Ordinal);
        await _cli.OkAsync("account", "show", "bob@acme.example");
        await _cli.OkAsync("account", "remove", "bob@acme.example", "--yes");
        Assert.Equal(3, (await _cli.RunAsync("account", "show", "bob@acme.example")).ExitCode);
    }

    [Fact]
    public async Task Domain_remove_says_what_it_would_remove_and_needs_yes()
    {
        await SetUpAsync();
        var before = await _cli.CountsAsync();
        var refused = await _cli.RunAsync("domain", "remove", "acme.example");
        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("postern: yes: this would remove the domain acme.example with 0 domain aliases, 2 accounts and 1 distribution list", refused.Error, StringComparison.Ordinal);
        Assert.Equal(before, await _cli.CountsAsync());

        await _cli.OkAsync("domain", "remove", "acme.example", "--yes");
        Assert.Equal(3, (await _cli.RunAsync("domain", "show", "acme.example")).ExitCode);
        var counts = JsonDocument.Parse(await _cli.CountsAsync()).RootElement;
        Assert.Equal(0, counts.GetProperty("domains").GetInt32());
        Assert.Equal(0, counts.GetProperty("accounts").GetInt32());
    }

    [Fact]
    public async Task Policies_are_stored_per_scope_and_merged_for_an_account()
    {
        await SetUpAsync();
        await _cli.OkAsync("policy", "set", "domain:acme.example", "--reject-level", "12", "--digest", "weekly");
        await _cli.OkAsync("policy", "set", "account:bob@acme.example", "--tag-level", "1.5", "--quarantine-retention-days", "0");
        await _cli.OkAsync("policy", "set", "domain:acme.example", "--spammy-level", "3");

        var stored = (await _cli.OkAsync("policy", "show", "domain:acme.example", "--json")).Json().GetProperty("policy");
        Assert.Equal(12, stored.GetProperty("rejectLevel").GetDouble());
        Assert.Equal(3, stored.GetProperty("spammyLevel").GetDouble());
        Assert.Equal(JsonValueKind.Null, stored.GetProperty("tagLevel").ValueKind);

        var effective = (await _cli.OkAsync("policy", "effective", "bob@acme.example", "--json")).Json().GetProperty("policy");
        Assert.Equal(1.5, effective.GetProperty("tagLevel").GetDouble());
        Assert.Equal(3, effective.GetProperty("spammyLevel").GetDouble());
        Assert.Equal(FilterPolicy.BuiltInDefault.QuarantineLevel, effective.GetProperty("quarantineLevel").GetDouble());
        Assert.Equal(12, effective.GetProperty("rejectLevel").GetDouble());
        Assert.Equal(0, effective.GetProperty("quarantineRetentionDays").GetInt32());
        Assert.Equal("weekly", effective.GetProperty("digestFrequency").GetString());

        var aliceEffective = (await _cli.OkAsync("policy", "effective", "alice@acme.example", "--json")).Json().GetProperty("policy");
        Assert.Equal(FilterPolicy.BuiltInDefault.TagLevel, aliceEffective.GetProperty("tagLevel").GetDouble());
    }

    [Fact]
    public async Task Plan_set_changes_the_domain_plan_and_refuses_an_add_on()
    {
        await SetUpAsync();
        await _cli.OkAsync("plan", "set", "acme.example", "Compliance", "--hosted-mail");
        var domain = (await _cli.OkAsync("domain", "show", "acme.example", "--json")).Json();
        Assert.Equal("Compliance", domain.GetProperty("plan").GetString());
        Assert.True(domain.GetProperty("hostedMailAddOn").GetBoolean());

        var addOn = await _cli.RunAsync("plan", "set", "acme.example", "Hosted Mail");
        Assert.Equal(4, addOn.ExitCode);
        Assert.StartsWith("postern: plan: ", addOn.Error, StringComparison.Ordinal);
        var unknown = await _cli.RunAsync("plan", "set", "acme.example", "Gold");
        Assert.Equal(3, unknown.ExitCode);
    }

    private async Task SetUpAsync()
    {
        await _cli.OkAsync("customer", "add", "Acme");
        await _cli.OkAsync("domain", "add", "acme.example", "--customer", "Acme");
        await _cli.OkAsync("account", "add", "alice@acme.example", "--password", "Alice-Secret-1");
        await _cli.OkAsync("account", "add", "bob@acme.example", "--password", "Bob-Secret-1");
        await _cli.OkAsync("alias", "add", "info@acme.example", "alice@acme.example");
        await _cli.OkAsync("list", "add", "team@acme.example");
    }

    private async Task AssertPasswordAsync(string address, string password)
    {
        var config = ConfigurationLoader.Load(new ConfigurationSources(null, _cli.DataFolder, []));
        using var context = CliContext.Open(config, json: false, TextWriter.Null, TextWriter.Null);
        var (account, _) = await context.Directory.RequireAccountAsync(address);
        Assert.NotEqual(password, account.PasswordHash);
        var check = context.Hasher.Verify(account.PasswordHash, password);
        Assert.True(check is PasswordCheck.Match or PasswordCheck.MatchNeedsRehash, $"{address}: {check}");
    }
}
