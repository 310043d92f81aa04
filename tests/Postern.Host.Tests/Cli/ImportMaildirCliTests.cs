namespace Postern.Host.Tests.Cli;

public sealed class ImportMaildirCliTests : IDisposable
{
    private readonly CliHarness _cli = new();
    private readonly string _tree = Path.Combine(Path.GetTempPath(), "postern-tree-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        _cli.Dispose();
        if (Directory.Exists(_tree))
        {
            Directory.Delete(_tree, recursive: true);
        }
    }

    [Fact]
    public async Task The_tree_walk_imports_existing_accounts_reports_missing_ones_and_creates_nothing()
    {
        await _cli.OkAsync("customer", "add", "Acme");
        await _cli.OkAsync("domain", "add", "example.com", "--customer", "Acme");
        await _cli.OkAsync("domain", "add", "other.org", "--customer", "Acme");
        await _cli.OkAsync("account", "add", "alice@example.com", "--password", "Alice-Secret-1");
        await _cli.OkAsync("account", "add", "dave@other.org", "--password", "Dave-Secret-1");
        var alice = Mailbox("example.com", "alice", Path.Combine("Maildir"));
        Message(alice, "cur", "1.M1.host:2,S", "Subject: a1\n\none\n");
        Message(alice, "cur", "2.M2.host:2,", "Subject: a2\n\ntwo\n");
        File.WriteAllText(Path.Combine(alice, "dovecot-uidlist"), "3 V1500000001 N3\n1 :1.M1.host\n2 :2.M2.host\n");
        Message(Path.Combine(alice, ".Sent"), "cur", "3.M3.host:2,S", "Subject: sent\n\nsent\n");
        Message(Mailbox("example.com", "ghost", string.Empty), "new", "4.M4.host", "Subject: nobody\n\n?\n");
        Message(Mailbox("other.org", "dave", string.Empty), "new", "5.M5.host", "Subject: d\n\nd\n");
        var accountsBefore = await _cli.CountsAsync();
        var filesBefore = Directory.GetFileSystemEntries(_tree, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

        var result = await _cli.RunAsync("import", "maildir", "--tree", _tree, "--domain", "example.com");

        Assert.True(result.ExitCode == 4, result.ToString());
        Assert.Contains("alice@example.com <- ", result.Out, StringComparison.Ordinal);
        Assert.Contains("  INBOX: 2 messages imported, 0 already there, 0 failed (UIDVALIDITY 1500000001, UIDs kept)", result.Out, StringComparison.Ordinal);
        Assert.Contains("  Sent: 1 message imported, 0 already there, 0 failed", result.Out, StringComparison.Ordinal);
        Assert.Contains("no such account, not imported: ghost@example.com", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("dave", result.Out, StringComparison.Ordinal);
        Assert.Equal(accountsBefore, await _cli.CountsAsync());
        Assert.Equal(filesBefore, Directory.GetFileSystemEntries(_tree, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));

        var json = await _cli.RunAsync("import", "maildir", "--tree", _tree, "--json");
        Assert.True(json.ExitCode == 4, json.ToString());
        var report = json.Json();
        Assert.False(report.GetProperty("complete").GetBoolean());
        Assert.Equal(["alice@example.com", "dave@other.org"], report.GetProperty("accounts").EnumerateArray().Select(a => a.GetProperty("address").GetString()));
        var again = report.GetProperty("accounts")[0].GetProperty("folders")[0];
        Assert.Equal(0, again.GetProperty("imported").GetInt32());
        Assert.Equal(2, again.GetProperty("alreadyImported").GetInt32());
        Assert.Equal(1, report.GetProperty("accounts")[1].GetProperty("imported").GetInt32());
    }

    [Fact]
    public async Task One_account_imports_with_exit_zero_and_bad_usage_exits_two()
    {
        await _cli.OkAsync("customer", "add", "Acme");
        await _cli.OkAsync("domain", "add", "example.com", "--customer", "Acme");
        await _cli.OkAsync("account", "add", "alice@example.com", "--password", "Alice-Secret-1");
        var maildir = Mailbox("example.com", "alice", string.Empty);
        Message(maildir, "new", "1.M1.host", "Subject: hi\n\nhi\n");

        var ok = await _cli.RunAsync("import", "maildir", "--account", "alice@example.com", maildir);
        var missing = await _cli.RunAsync("import", "maildir", "--account", "nobody@example.com", maildir);
        var both = await _cli.RunAsync("import", "maildir", "--account", "alice@example.com", "--tree", _tree);
        var notThere = await _cli.RunAsync("import", "maildir", "--account", "alice@example.com", Path.Combine(_tree, "nope"));

        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("  INBOX: 1 message imported", ok.Out, StringComparison.Ordinal);
        Assert.True(missing.ExitCode == 3, missing.ToString());
        Assert.True(both.ExitCode == 2, both.ToString());
        Assert.True(notThere.ExitCode == 2, notThere.ToString());

        var emptyTree = await _cli.RunAsync("import", "maildir", "--tree", _tree, "--domain", "nowhere.example");
        Assert.True(emptyTree.ExitCode == 3, emptyTree.ToString());
        Assert.Contains("no mailbox for nowhere.example", emptyTree.Error, StringComparison.Ordinal);
    }

    /// <summary>The fan-out directory of an address, with <paramref name="sub"/> (e.g. Maildir) below it.</summary>
    private string Mailbox(string domain, string local, string sub) =>
        Path.Combine(_tree, domain[..1], domain[1..2], domain, local[..1], local, sub);

    private static void Message(string maildir, string dir, string name, string text)
    {
        foreach (var d in new[] { "cur", "new", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(maildir, d));
        }

        File.WriteAllText(Path.Combine(maildir, dir, name), text);
    }
}
