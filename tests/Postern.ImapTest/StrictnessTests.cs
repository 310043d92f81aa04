namespace Postern.ImapTest;

/// <summary>The runner must notice a wrong reply: a group that passes fails once one expectation in it is changed.</summary>
public sealed class StrictnessTests
{
    private static async Task<GroupResult> RunAsync(PosternServer server, string group, Func<string, string>? change = null)
    {
        var folder = Corpus.FindTestsFolder();
        Assert.True(folder is not null, "imaptest corpus not found (set POSTERN_IMAPTEST_DIR)");
        var path = Path.Combine(folder, group);
        var text = ImapScript.Latin1.GetString(await File.ReadAllBytesAsync(path));
        var changed = change is null ? text : change(text);
        Assert.True(change is null || changed != text, "the change did not apply to " + group);
        var mbox = File.Exists(path + ".mbox") ? path + ".mbox" : Path.Combine(folder, "default.mbox");
        return await new ScriptRunner(server.Target).RunAsync(ImapScript.Parse(group, changed, mbox));
    }

    private static string Replace(string text, string from, string to)
    {
        Assert.Contains(from, text, StringComparison.Ordinal);
        return text.Replace(from, to, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_flag_in_an_expected_FETCH_fails_the_group()
    {
        await using var server = await PosternServer.StartAsync();
        Assert.Equal(GroupOutcome.Passed, (await RunAsync(server, "store")).Outcome);

        // FETCH FLAGS lists are compared without extras: the reply's $world is then one too many.
        var result = await RunAsync(server, "store", t => Replace(t, "* 4 fetch (flags ($$hello $$world))", "* 4 fetch (flags ($$hello))"));
        Assert.Equal(GroupOutcome.Failed, result.Outcome);
        Assert.Contains(result.Failures, f => f.Contains("missing 1 untagged", StringComparison.Ordinal) && f.Contains("$world", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task A_wrong_number_in_an_expected_reply_fails_the_group()
    {
        await using var server = await PosternServer.StartAsync();
        var result = await RunAsync(server, "select", t => Replace(t, "* 2 exists\n* 2 recent\n* ok [unseen 1]", "* 3 exists\n* 2 recent\n* ok [unseen 1]"));
        Assert.Equal(GroupOutcome.Failed, result.Outcome);
        Assert.Contains(result.Failures, f => f.Contains("3 exists", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task A_wrong_tagged_status_fails_the_group()
    {
        await using var server = await PosternServer.StartAsync();
        var result = await RunAsync(server, "store", t => Replace(t, "1 ok store 3 flags (\\draft)", "1 no store 3 flags (\\draft)"));
        Assert.Equal(GroupOutcome.Failed, result.Outcome);
        Assert.Contains(result.Failures, f => f.Contains("expected tagged reply 'no'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reply_that_must_not_come_fails_the_group()
    {
        await using var server = await PosternServer.StartAsync();
        // "! 1 fetch (uid $uid1)" after UID FETCH of an expunged UID: demanding the opposite must fail.
        var result = await RunAsync(server, "fetch", t => Replace(t, "! 1 fetch (uid $uid1)\n! 2 fetch (uid $uid3)", "* 1 fetch (uid $uid1)"));
        Assert.Equal(GroupOutcome.Failed, result.Outcome);
    }
}
