using System.Text.Json;

namespace Postern.Host.Tests.Cli;

public sealed class CliImportAndDnsTests : IDisposable
{
    private const string BadCsv =
        "email,password,name,quota\n" +
        "carol@acme.example,Carol-Secret-1,Carol,100\n" +
        "dave@acme.example,Dave-Secret-1,Dave\n" +
        "frank@acme.example,Frank-Secret-1,\"Frank F\",0\n" +
        "erin@acme.example,\"Erin-Secret-1,Erin,0\n";

    private readonly CliHarness _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Import_with_errors_is_refused_naming_each_line_and_imports_nothing()
    {
        await SetUpAsync();
        var before = await _cli.CountsAsync();
        var result = await _cli.RunAsync("account", "import", await WriteCsvAsync(BadCsv));

        Assert.True(result.ExitCode == 4, result.ToString());
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("line 3: csv: expected 4 columns (email, password, name, quota), found 3", lines[0]);
        Assert.Equal("line 5: csv: a quoted field is not closed", lines[1]);
        Assert.Contains("nothing was imported", lines[^1], StringComparison.Ordinal);
        Assert.Equal(before, await _cli.CountsAsync());

        var json = await _cli.RunAsync("account", "import", await WriteCsvAsync(BadCsv), "--json");
        Assert.Equal(4, json.ExitCode);
        Assert.Equal(string.Empty, json.Out);
        var report = json.ErrorJson();
        Assert.Equal("csv", report.GetProperty("field").GetString());
        Assert.Equal(4, report.GetProperty("exitCode").GetInt32());
        Assert.Equal(0, report.GetProperty("imported").GetInt32());
        Assert.Equal([3, 5], report.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("line").GetInt32()));
        Assert.Equal(before, await _cli.CountsAsync());
    }

    [Fact]
    public async Task Import_dry_run_checks_every_line_and_changes_nothing()
    {
        await SetUpAsync();
        var before = await _cli.CountsAsync();
        var bad = await _cli.RunAsync("account", "import", await WriteCsvAsync(BadCsv), "--dry-run");
        Assert.Equal(4, bad.ExitCode);
        Assert.Contains("line 3: csv:", bad.Error, StringComparison.Ordinal);
        Assert.Contains("dry run: 2 accounts valid, 2 lines with errors", bad.Error, StringComparison.Ordinal);

        var good = await _cli.RunAsync("account", "import", await WriteCsvAsync("carol@acme.example,Carol-Secret-1,Carol,100\n"), "--dry-run");
        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Contains("dry run: 1 account valid", good.Out, StringComparison.Ordinal);
        Assert.Equal(before, await _cli.CountsAsync());
    }

    [Fact]
    public async Task Import_partial_imports_the_good_lines_and_reports_the_bad_ones()
    {
        await SetUpAsync();
        var result = await _cli.RunAsync("account", "import", await WriteCsvAsync(BadCsv), "--partial", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = result.Json();
        Assert.Equal(2, report.GetProperty("imported").GetInt32());
        Assert.Equal([3, 5], report.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("line").GetInt32()));
        Assert.All(report.GetProperty("errors").EnumerateArray(), e => Assert.Equal("csv", e.GetProperty("field").GetString()));
        var accounts = (await _cli.OkAsync("account", "list", "acme.example", "--json")).Json().EnumerateArray()
            .Select(a => a.GetProperty("address").GetString()).Order(StringComparer.Ordinal);
        Assert.Equal(["alice@acme.example", "carol@acme.example", "frank@acme.example"], accounts);
        var frank = (await _cli.OkAsync("account", "show", "frank@acme.example", "--json")).Json();
        Assert.Equal("Frank F", frank.GetProperty("name").GetString());

        var nothingGood = await _cli.RunAsync("account", "import", await WriteCsvAsync("zed@acme.example,x\n"), "--partial");
        Assert.Equal(4, nothingGood.ExitCode);
        Assert.StartsWith("line 1: csv: expected 4 columns", nothingGood.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_reads_standard_input_and_refuses_existing_accounts()
    {
        await SetUpAsync();
        var result = await _cli.RunWithInputAsync("alice@acme.example,Alice-Secret-2,Alice,0\ngus@acme.example,Gus-Secret-1,Gus,-1\n", "account", "import", "-");
        Assert.Equal(4, result.ExitCode);
        Assert.Contains("line 1: email: 'alice@acme.example' exists already", result.Error, StringComparison.Ordinal);
        Assert.Contains("line 2: quota: ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dns_records_for_a_plain_domain_and_its_alias_are_ready_to_paste()
    {
        await SetUpAsync();
        await _cli.OkAsync("domain", "alias", "add", "acme.example", "acme.example.net");
        var zone = (await _cli.OkAsync("dns", "records", "acme.example")).Out;
        var records = zone.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';')).ToList();
        Assert.Equal(
        [
            "acme.example. 3600 IN MX 10 mx.postern.test.",
            "acme.example. 3600 IN TXT \"v=spf1 mx -all\"",
            "_dmarc.acme.example. 3600 IN TXT \"v=DMARC1; p=none; rua=mailto:postmaster@acme.example\"",
            "acme.example.net. 3600 IN MX 10 mx.postern.test.",
            "acme.example.net. 3600 IN TXT \"v=spf1 mx -all\"",
            "_dmarc.acme.example.net. 3600 IN TXT \"v=DMARC1; p=none; rua=mailto:postmaster@acme.example.net\"",
        ], records);
        Assert.Contains("p=quarantine", zone, StringComparison.Ordinal);
        Assert.Contains("; DKIM, MTA-STS and autoconfig records are not generated yet", zone, StringComparison.Ordinal);
        Assert.DoesNotContain("outbound", zone, StringComparison.Ordinal);

        var json = (await _cli.OkAsync("dns", "records", "acme.example", "--json")).Json();
        Assert.Equal(6, json.GetArrayLength());
        var mx = json[0];
        Assert.Equal("acme.example.", mx.GetProperty("name").GetString());
        Assert.Equal("MX", mx.GetProperty("type").GetString());
        Assert.Equal(3600, mx.GetProperty("ttl").GetInt32());
        Assert.Equal("10 mx.postern.test.", mx.GetProperty("value").GetString());
        Assert.Equal("mx", mx.GetProperty("purpose").GetString());
        Assert.Equal("v=spf1 mx -all", json[1].GetProperty("value").GetString());
    }

    [Fact]
    public async Task Dns_records_for_an_idn_relay_domain_use_the_a_label_and_name_the_u_label()
    {
        await SetUpAsync();
        await _cli.OkAsync("domain", "add", "BÜCHER.example", "--customer", "Acme", "--relay-host", "mail.buecher.example");
        var zone = (await _cli.OkAsync("dns", "records", "xn--bcher-kva.example")).Out;
        Assert.Contains("; bücher.example (written below in its A-label form xn--bcher-kva.example)", zone, StringComparison.Ordinal);
        Assert.Contains("\nxn--bcher-kva.example. 3600 IN MX 10 mx.postern.test.\n", zone, StringComparison.Ordinal);
        Assert.Contains("\n_dmarc.xn--bcher-kva.example. 3600 IN TXT \"v=DMARC1; p=none; rua=mailto:postmaster@xn--bcher-kva.example\"\n", zone, StringComparison.Ordinal);
        Assert.Contains("customer's own outbound mail servers must be added", zone, StringComparison.Ordinal);
        Assert.DoesNotContain("bücher.example.", zone, StringComparison.Ordinal);

        var json = (await _cli.OkAsync("dns", "records", "bücher.example", "--json")).Json();
        Assert.All(json.EnumerateArray(), r => Assert.EndsWith("xn--bcher-kva.example.", r.GetProperty("name").GetString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Lists_print_json_arrays_of_objects()
    {
        await SetUpAsync();
        await _cli.OkAsync("reseller", "add", "Blue Hosting");
        await _cli.OkAsync("customer", "add", "Bolt", "--reseller", "Blue Hosting");
        await _cli.OkAsync("domain", "add", "gw.example", "--customer", "Bolt", "--relay-host", "mx1.bolt.example:2525/5");

        var domains = (await _cli.OkAsync("domain", "list", "--customer", "Bolt", "--json")).Json();
        var gw = Assert.Single(domains.EnumerateArray());
        Assert.Equal("gw.example", gw.GetProperty("name").GetString());
        Assert.Equal("relay", gw.GetProperty("kind").GetString());
        Assert.Equal("Bolt", gw.GetProperty("customer").GetString());
        var host = Assert.Single(gw.GetProperty("relayHosts").EnumerateArray());
        Assert.Equal(2525, host.GetProperty("port").GetInt32());
        Assert.Equal(5, host.GetProperty("priority").GetInt32());

        var customers = (await _cli.OkAsync("customer", "list", "--json")).Json();
        Assert.Equal(["Acme", "Bolt"], customers.EnumerateArray().Select(c => c.GetProperty("name").GetString()).Order(StringComparer.Ordinal));
        var resellers = (await _cli.OkAsync("reseller", "list", "--json")).Json();
        Assert.Equal(1, Assert.Single(resellers.EnumerateArray()).GetProperty("customers").GetInt32());
        var roles = (await _cli.OkAsync("role", "list", "--json")).Json();
        Assert.Contains(roles.EnumerateArray(), r => r.GetProperty("name").GetString() == "quarantine manager" && r.GetProperty("builtIn").GetBoolean());
        var plans = (await _cli.OkAsync("plan", "list", "--json")).Json();
        Assert.Contains(plans.EnumerateArray(), p => p.GetProperty("name").GetString() == "Hosted Mail" && p.GetProperty("addOn").GetBoolean());
        var accounts = (await _cli.OkAsync("account", "list", "acme.example", "--json")).Json();
        var alice = Assert.Single(accounts.EnumerateArray());
        Assert.Equal(JsonValueKind.Object, alice.ValueKind);
        Assert.Equal("alice@acme.example", alice.GetProperty("address").GetString());
        var empty = (await _cli.OkAsync("admin", "list", "--json")).Json();
        Assert.Equal(JsonValueKind.Array, empty.ValueKind);
        Assert.Equal(0, empty.GetArrayLength());
    }

    private async Task SetUpAsync()
    {
        await _cli.OkAsync("customer", "add", "Acme");
        await _cli.OkAsync("domain", "add", "acme.example", "--customer", "Acme");
        await _cli.OkAsync("account", "add", "alice@acme.example", "--password", "Alice-Secret-1");
    }

    private async Task<string> WriteCsvAsync(string content)
    {
        Directory.CreateDirectory(_cli.DataFolder);
        var path = Path.Combine(_cli.DataFolder, Guid.NewGuid().ToString("N") + ".csv");
        await File.WriteAllTextAsync(path, content);
        return path;
    }
}
