using System.Text.Json;

namespace Postern.Host.Tests.Cli;

public sealed class CliErrorTests : IDisposable
{
    private readonly CliHarness _cli = new();

    public void Dispose() => _cli.Dispose();

    public static TheoryData<string, int, string> BadInputs() => new()
    {
        { "domain add acme.example --customer Acme", 4, "domain" },
        { "domain add ACME.example. --customer Acme", 4, "domain" },
        { "domain alias add acme.example acme.example", 4, "alias" },
        { "account add alice@acme.example --password Other-Secret-1", 4, "email" },
        { "account add ALICE@acme.example --password Other-Secret-1", 4, "email" },
        { "account add info@acme.example --password Other-Secret-1", 4, "email" },
        { "alias add info@acme.example bob@acme.example", 4, "alias" },
        { "alias add bob@acme.example alice@acme.example", 4, "alias" },
        { "alias add team@acme.example alice@acme.example", 4, "alias" },
        { "alias add info@other.example alice@acme.example", 4, "alias" },
        { "list member add team@acme.example team@acme.example", 4, "member" },
        { "list member add team@acme.example TEAM@acme.example", 4, "member" },
        { "list member add team@acme.example alice@acme.example", 4, "member" },
        { "list member add staff@acme.example team@acme.example", 4, "member" },
        { "admin add carol --role nosuch --scope global --password Carol-Secret-1", 4, "role" },
        { "admin add carol --role read-only --scope planet:Mars --password Carol-Secret-1", 4, "scope" },
        { "admin add carol --role read-only --scope customer:Nobody --password Carol-Secret-1", 3, "scope" },
        { "role add helpdesk --permission fly-to-the-moon", 4, "permission" },
        { "account add not-an-address --password Carol-Secret-1", 4, "email" },
        { "account add carol@nowhere.example --password Carol-Secret-1", 3, "email" },
        { "account add carol@relay.example --password Carol-Secret-1", 4, "email" },
        { "domain add xn--zz.example --customer Acme", 4, "domain" },
        { "domain add -bücher.example --customer Acme", 4, "domain" },
        { "account add carol@acme.example --password Carol-Secret-1 --quota -5", 4, "quota" },
        { "account add carol@acme.example --password Carol-Secret-1 --quota lots", 2, "usage" },
        { "account add carol@acme.example --password Carol-Secret-1 --password-stdin", 2, "password" },
        { "domain add new.example --customer Nobody", 3, "customer" },
        { "domain add new.example --customer Acme --kind weird", 2, "kind" },
        { "domain add new.example --customer Acme --kind relay", 4, "relay-host" },
        { "domain add new.example --customer Acme --relay-host mail.example:99999", 4, "relay-host" },
        { "domain remove acme.example", 2, "yes" },
        { "domain remove acme.example.net --yes", 4, "domain" },
        { "domain alias remove nosuch.example", 3, "alias" },
        { "alias remove nobody@acme.example", 3, "alias" },
        { "list add team@acme.example", 4, "list" },
        { "list add news@acme.example --posting everybody", 2, "posting" },
        { "list member remove team@acme.example stranger@else.example", 3, "member" },
        { "forward set alice@acme.example --to alice@acme.example", 4, "to" },
        { "forward set alice@acme.example --keep-copy", 2, "keep-copy" },
        { "customer add Acme", 4, "name" },
        { "customer add Other --reseller Nobody", 3, "reseller" },
        { "policy set domain:acme.example --quarantine-retention-days 5000", 4, "quarantine-retention-days" },
        { "policy set domain:acme.example --digest hourly", 2, "digest" },
        { "policy set account:nobody@acme.example --tag-level 3", 3, "scope" },
        { "policy show domain:nowhere.example", 3, "scope" },
        { "resolve not-an-address", 4, "address" },
        { "domain", 2, "command" },
        { "account add", 2, "usage" },
        { "account add carol@acme.example --frobnicate", 2, "usage" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Bad_input_is_refused_with_the_field_named_and_the_store_unchanged(string commandLine, int exitCode, string field)
    {
        await SetUpAsync();
        var before = await _cli.CountsAsync();
        var domainsBefore = (await _cli.OkAsync("domain", "list", "--json")).Out;
        var listBefore = (await _cli.OkAsync("list", "show", "team@acme.example", "--json")).Out;

        var result = await _cli.RunAsync(commandLine.Split(' '));

        Assert.True(result.ExitCode == exitCode, result.ToString());
        Assert.StartsWith($"postern: {field}: ", result.Error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, result.Out);
        Assert.Equal(before, await _cli.CountsAsync());
        Assert.Equal(domainsBefore, (await _cli.OkAsync("domain", "list", "--json")).Out);
        Assert.Equal(listBefore, (await _cli.OkAsync("list", "show", "team@acme.example", "--json")).Out);

        var json = await _cli.RunAsync([.. commandLine.Split(' '), "--json"]);
        Assert.Equal(exitCode, json.ExitCode);
        var error = json.ErrorJson();
        Assert.Equal(field, error.GetProperty("field").GetString());
        Assert.Equal(exitCode, error.GetProperty("exitCode").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("error").GetString()));
    }

    [Fact]
    public async Task Passwords_are_never_printed_and_an_empty_stdin_password_is_refused()
    {
        await SetUpAsync();
        var outputs = new List<CliResult>
        {
            await _cli.OkAsync("account", "add", "carol@acme.example", "--password", "Carol-Secret-1"),
            await _cli.OkAsync("account", "passwd", "carol@acme.example", "--password", "Carol-Secret-2"),
            await _cli.OkAsync("account", "show", "carol@acme.example", "--json"),
            await _cli.OkAsync("account", "list", "acme.example", "--json"),
            await _cli.OkAsync("account", "list", "acme.example"),
            await _cli.OkAsync("admin", "add", "dave", "--role", "read-only", "--scope", "domain:acme.example", "--password", "Dave-Secret-1"),
            await _cli.OkAsync("admin", "list", "--json"),
            await _cli.OkAsync("admin", "list"),
        };
        foreach (var o in outputs)
        {
            var text = o.Out + o.Error;
            Assert.DoesNotContain("Secret", text, StringComparison.Ordinal);
            Assert.DoesNotContain("$", text, StringComparison.Ordinal);
            Assert.DoesNotContain("hash", text, StringComparison.OrdinalIgnoreCase);
        }

        var empty = await _cli.RunWithInputAsync(string.Empty, "account", "add", "erin@acme.example", "--password-stdin");
        Assert.Equal(4, empty.ExitCode);
        Assert.StartsWith("postern: password: ", empty.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_describes_a_command_and_changes_nothing()
    {
        var help = await _cli.RunAsync("domain", "add", "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("--customer", help.Out, StringComparison.Ordinal);
        Assert.Contains("--relay-host", help.Out, StringComparison.Ordinal);
        Assert.Contains("--kind", help.Out, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_cli.DataFolder));
    }

    [Fact]
    public async Task A_list_cannot_contain_itself_through_another_list()
    {
        await SetUpAsync();
        var team = (await _cli.OkAsync("list", "show", "team@acme.example", "--json")).Out;
        var result = await _cli.RunAsync("list", "member", "add", "team@acme.example", "staff@acme.example");
        Assert.Equal(4, result.ExitCode);
        Assert.Equal("postern: member: adding 'staff@acme.example' would make 'team@acme.example' contain itself through another list\n", result.Error);
        Assert.Equal(team, (await _cli.OkAsync("list", "show", "team@acme.example", "--json")).Out);
    }

    private async Task SetUpAsync()
    {
        await _cli.OkAsync("customer", "add", "Acme");
        await _cli.OkAsync("customer", "add", "Other");
        await _cli.OkAsync("domain", "add", "acme.example", "--customer", "Acme");
        await _cli.OkAsync("domain", "alias", "add", "acme.example", "acme.example.net");
        await _cli.OkAsync("domain", "add", "other.example", "--customer", "Other");
        await _cli.OkAsync("domain", "add", "relay.example", "--customer", "Acme", "--relay-host", "mail.acme.example");
        await _cli.OkAsync("account", "add", "alice@acme.example", "--password", "Alice-Secret-1");
        await _cli.OkAsync("account", "add", "bob@acme.example", "--password", "Bob-Secret-1");
        await _cli.OkAsync("alias", "add", "info@acme.example", "alice@acme.example");
        await _cli.OkAsync("list", "add", "team@acme.example");
        await _cli.OkAsync("list", "add", "staff@acme.example");
        await _cli.OkAsync("list", "member", "add", "team@acme.example", "alice@acme.example");
        await _cli.OkAsync("list", "member", "add", "staff@acme.example", "team@acme.example");
        _ = JsonDocument.Parse(await _cli.CountsAsync());
    }
}
