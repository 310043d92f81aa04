using Postern.Core.Storage.MessageLog;

namespace Postern.Server.Imap.Tests;

public sealed class JunkTrainingTests
{
    [Fact]
    public async Task Moving_into_Junk_records_spam_and_out_of_it_records_ham()
    {
        await using var server = new ImapServerHarness(configure: (h, s) => s with { Training = new MessageLogTrainingSink(h.MessageLog, TimeProvider.System) });
        await server.AddStandardTenantsAsync();
        await server.DeliverAsync("alice@example.com", "From: spammer@example.net\r\nSubject: Win\r\nMessage-ID: <spam1@example.net>\r\n\r\nWin now\r\n");
        await using var client = await server.LoginAsync();
        await client.CommandAsync("SELECT INBOX");
        Assert.True((await client.CommandAsync("MOVE 1 Junk")).Ok);
        await client.CommandAsync("SELECT Junk");
        Assert.True((await client.CommandAsync("COPY 1 Archive")).Ok);
        Assert.True((await client.CommandAsync("MOVE 1 Trash")).Ok); // deleting from Junk is not a ham signal
        await server.MessageLog.FlushAsync(default);

        var page = await server.Storage.MessageLog.SearchAsync(new MessageLogQuery(Recipient: "alice@example.com"), default);
        var trained = page.Entries.Select(e => e.Record).Where(r => r.Action == MessageLogTrainingSink.Action).OrderBy(r => r.Time).ToList();
        Assert.Equal(["spam", "ham"], trained.Select(r => r.Verdict));
        Assert.All(trained, r => Assert.Equal("alice@example.com", r.Recipient));
    }
}
