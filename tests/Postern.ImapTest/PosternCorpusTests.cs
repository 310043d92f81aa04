using Xunit.Abstractions;

namespace Postern.ImapTest;

/// <summary>
/// Every imaptest group against an in-process Postern. A group that fails must be listed in known-failures.txt
/// with its reason, and a listed group that passes fails the test too (the list stays honest).
/// </summary>
public sealed class PosternCorpusTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Every_group_passes_or_is_a_known_failure()
    {
        var folder = Corpus.FindTestsFolder();
        Assert.True(folder is not null, "imaptest corpus not found: set POSTERN_IMAPTEST_DIR or keep shared/corpus/imaptest-scripts above the repo");
        var known = Corpus.ReadKnownFailures(Path.Combine(AppContext.BaseDirectory, "known-failures.txt"));
        await using var server = await PosternServer.StartAsync();
        var results = await new ScriptRunner(server.Target).RunFolderAsync(folder);
        foreach (var r in results)
        {
            output.WriteLine((known.TryGetValue(r.Name, out var why) ? $"[known: {why}] " : "") + r);
        }

        output.WriteLine(ScriptRunner.Summary(results, known.Keys.ToHashSet(StringComparer.Ordinal)));
        var unexpected = results.Where(r => r.Outcome == GroupOutcome.Failed && !known.ContainsKey(r.Name)).Select(r => r.ToString()).ToList();
        var nowPassing = results.Where(r => r.Outcome == GroupOutcome.Passed && known.ContainsKey(r.Name)).Select(r => r.Name + " passes now: remove it from known-failures.txt").ToList();
        var unknownNames = known.Keys.Where(k => results.All(r => r.Name != k)).Select(k => k + " is listed in known-failures.txt but is no group").ToList();
        Assert.Empty(unexpected);
        Assert.Empty(nowPassing);
        Assert.Empty(unknownNames);
        Assert.Empty(server.Failures);
    }
}
