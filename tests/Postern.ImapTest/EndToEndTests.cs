using Xunit.Abstractions;

namespace Postern.ImapTest;

/// <summary>The runner against real servers outside this process (so it can be checked against a reference).</summary>
[Trait("Category", "EndToEnd")]
public sealed class EndToEndTests(ITestOutputHelper output)
{
    /// <summary>
    /// Dovecot passed every group with the real imaptest (corpus SOURCE.md), so the runner must see them all pass
    /// or be skipped for capabilities Dovecot does not advertise in this configuration.
    /// </summary>
    [Fact]
    public async Task Every_group_passes_against_Dovecot()
    {
        Assert.True(DovecotInstance.IsInstalled, "dovecot-imapd is not installed (scripts/test-deps/imaptest.txt)");
        var folder = Corpus.FindTestsFolder();
        Assert.True(folder is not null, "imaptest corpus not found (set POSTERN_IMAPTEST_DIR)");
        await using var dovecot = await DovecotInstance.StartAsync();
        var results = await new ScriptRunner(dovecot.Target).RunFolderAsync(folder);
        foreach (var r in results)
        {
            output.WriteLine(r.ToString());
        }

        output.WriteLine(ScriptRunner.Summary(results));
        Assert.Empty(results.Where(r => r.Outcome == GroupOutcome.Failed).Select(r => r.ToString()));
        Assert.True(results.Count(r => r.Outcome == GroupOutcome.Passed) > 40, ScriptRunner.Summary(results));
    }

    /// <summary>POSTERN_IMAPTEST_SERVER=host:port:user:pass runs the corpus (or POSTERN_IMAPTEST_ONLY=a,b) against any server, prints the report, and fails on failed groups.</summary>
    [Fact]
    public async Task Runs_against_the_server_in_POSTERN_IMAPTEST_SERVER()
    {
        var target = Environment.GetEnvironmentVariable("POSTERN_IMAPTEST_SERVER");
        if (string.IsNullOrEmpty(target))
        {
            output.WriteLine("POSTERN_IMAPTEST_SERVER is not set; nothing to run.");
            return;
        }

        var folder = Corpus.FindTestsFolder();
        Assert.True(folder is not null, "imaptest corpus not found (set POSTERN_IMAPTEST_DIR)");
        var only = Environment.GetEnvironmentVariable("POSTERN_IMAPTEST_ONLY");
        var results = await new ScriptRunner(ImapTestServer.Parse(target)).RunFolderAsync(folder,
            only is null ? null : n => only.Split(',').Contains(n));
        foreach (var r in results)
        {
            output.WriteLine(r.ToString());
        }

        output.WriteLine(ScriptRunner.Summary(results));
        Assert.NotEmpty(results);
        Assert.Empty(results.Where(r => r.Outcome == GroupOutcome.Failed).Select(r => r.ToString()));
    }
}
