using System.Text;

namespace Postern.Server.Imap.Tests;

/// <summary>SEARCH, ESEARCH, SEARCHRES, SORT, ESORT and THREAD conversations over real stored messages.</summary>
public sealed class SearchTests : IAsyncLifetime
{
    private ImapServerHarness _server = null!;

    public async Task InitializeAsync()
    {
        _server = new ImapServerHarness();
        await _server.AddStandardTenantsAsync();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static string Mail(string from, string to, string subject, string date, string body, string extra = "") =>
        $"From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n{extra}\r\n{body}\r\n";

    private static async Task AppendAsync(ImapTestClient client, string message, string flags = "", string internalDate = "")
    {
        var bytes = Encoding.UTF8.GetByteCount(message);
        var tag = client.NextTag();
        var date = internalDate.Length > 0 ? $" \"{internalDate}\"" : "";
        await client.SendAsync($"{tag} APPEND INBOX ({flags}){date} {{{bytes}+}}\r\n{message}\r\n");
        var reply = await client.ReadReplyAsync(tag);
        Assert.True(reply.Ok, reply.Text);
    }

    /// <summary>Five messages: different senders, subjects, dates, sizes, flags and bodies.</summary>
    private async Task<ImapTestClient> MailboxAsync()
    {
        var client = await _server.LoginAsync();
        await AppendAsync(client, Mail("Alice Smith <alice@example.com>", "bob@example.com", "Quarterly report", "Mon, 2 Nov 2026 09:00:00 +0100", "The numbers are attached."), "\\Seen", "02-Nov-2026 09:00:00 +0100");
        await AppendAsync(client, Mail("carol@example.org", "bob@example.com", "Re: Quarterly report", "Tue, 3 Nov 2026 23:30:00 -0500", "Looks good, the WALRUS approves."), "\\Flagged $Important", "04-Nov-2026 04:30:00 +0000");
        await AppendAsync(client, Mail("Dave <dave@example.net>", "alice@example.com", "Lunch?", "Wed, 4 Nov 2026 12:00:00 +0000", "Pizza or sushi? " + new string('x', 2000), "X-Priority: 1\r\n"), "\\Answered", "04-Nov-2026 12:00:00 +0000");
        await AppendAsync(client, Mail("alice@example.com", "carol@example.org", "[team] Fwd: walrus sighting", "Thu, 5 Nov 2026 08:00:00 +0000", "Seen near the pier."), "\\Deleted", "05-Nov-2026 08:00:00 +0000");
        await AppendAsync(client, Mail("Bob <bob@example.com>", "alice@example.com", "quarterly report (fwd)", "Fri, 6 Nov 2026 08:00:00 +0000", "Forwarding as asked."), "", "06-Nov-2026 08:00:00 +0000");
        Assert.True((await client.CommandAsync("SELECT INBOX")).Ok);
        return client;
    }

    private static string SearchLine(ImapReply reply, string kind = "SEARCH")
    {
        Assert.True(reply.Ok, reply.Text);
        return reply.Line($"^\\* {kind}\\b");
    }

    [Theory]
    [InlineData("SEARCH SEEN", "* SEARCH 1")]
    [InlineData("SEARCH UNSEEN", "* SEARCH 2 3 4 5")]
    [InlineData("SEARCH FLAGGED KEYWORD $Important", "* SEARCH 2")]
    [InlineData("SEARCH UNKEYWORD $important", "* SEARCH 1 3 4 5")]
    [InlineData("SEARCH OR ANSWERED DELETED", "* SEARCH 3 4")]
    [InlineData("SEARCH NOT (OR SEEN FLAGGED)", "* SEARCH 3 4 5")]
    [InlineData("SEARCH 2:4 UNDELETED", "* SEARCH 2 3")]
    [InlineData("SEARCH 4:*", "* SEARCH 4 5")]
    [InlineData("UID SEARCH UID 2,5", "* SEARCH 2 5")]
    [InlineData("SEARCH FROM alice", "* SEARCH 1 4")]
    [InlineData("SEARCH FROM \"alice smith\"", "* SEARCH 1")]
    [InlineData("SEARCH TO ALICE@EXAMPLE.COM", "* SEARCH 3 5")]
    [InlineData("SEARCH SUBJECT \"quarterly REPORT\"", "* SEARCH 1 2 5")]
    [InlineData("SEARCH HEADER X-Priority \"\"", "* SEARCH 3")]
    [InlineData("SEARCH NOT HEADER X-Priority \"\"", "* SEARCH 1 2 4 5")]
    [InlineData("SEARCH HEADER subject lunch", "* SEARCH 3")]
    [InlineData("SEARCH BODY walrus", "* SEARCH 2")]
    [InlineData("SEARCH BODY \"alrus approv\"", "* SEARCH 2")]
    [InlineData("SEARCH TEXT walrus", "* SEARCH 2 4")]
    [InlineData("SEARCH NOT BODY walrus", "* SEARCH 1 3 4 5")]
    [InlineData("SEARCH BODY xy", "* SEARCH")]
    [InlineData("SEARCH LARGER 1500", "* SEARCH 3")]
    [InlineData("SEARCH SMALLER 1500 NOT DELETED", "* SEARCH 1 2 5")]
    [InlineData("SEARCH SENTON 3-Nov-2026", "* SEARCH 2")]
    [InlineData("SEARCH SENTBEFORE 4-Nov-2026", "* SEARCH 1 2")]
    [InlineData("SEARCH SENTSINCE 5-Nov-2026", "* SEARCH 4 5")]
    [InlineData("SEARCH ON 4-Nov-2026", "* SEARCH 2 3")]
    [InlineData("SEARCH SINCE 5-Nov-2026", "* SEARCH 4 5")]
    [InlineData("SEARCH CHARSET UTF-8 SUBJECT lunch", "* SEARCH 3")]
    public async Task SEARCH_answers_with_the_matching_messages(string command, string expected)
    {
        await using var client = await MailboxAsync();
        Assert.Equal(expected, SearchLine(await client.CommandAsync(command)));
    }

    [Fact]
    public async Task Numbers_follow_the_sessions_view_after_an_expunge()
    {
        await using var client = await MailboxAsync();
        Assert.True((await client.CommandAsync("EXPUNGE")).Ok);
        Assert.Equal("* SEARCH 3 4", SearchLine(await client.CommandAsync("SEARCH TO alice")));
        Assert.Equal("* SEARCH 3 5", SearchLine(await client.CommandAsync("UID SEARCH TO alice")));
        Assert.Equal("* SEARCH 1 4", SearchLine(await client.CommandAsync("SEARCH SUBJECT quarterly NOT FLAGGED")));
    }

    [Fact]
    public async Task An_unknown_charset_gets_BADCHARSET_listing_the_supported_ones()
    {
        await using var client = await MailboxAsync();
        var reply = await client.CommandAsync("SEARCH CHARSET KOI8-R SUBJECT x");
        Assert.Equal("NO", reply.Kind);
        Assert.Contains("[BADCHARSET (US-ASCII UTF-8)]", reply.Status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ESEARCH_returns_min_max_count_and_all()
    {
        await using var client = await MailboxAsync();
        var all = await client.CommandAsync("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN");
        Assert.Matches("^\\* ESEARCH \\(TAG \"a\\d+\"\\) MIN 2 MAX 5 COUNT 4 ALL 2:5$", SearchLine(all, "ESEARCH"));
        var uid = await client.CommandAsync("UID SEARCH RETURN () FROM alice");
        Assert.Matches("^\\* ESEARCH \\(TAG \"a\\d+\"\\) UID ALL 1,4$", SearchLine(uid, "ESEARCH"));
        var none = await client.CommandAsync("SEARCH RETURN (MIN COUNT) SUBJECT nothing-like-this");
        Assert.Matches("^\\* ESEARCH \\(TAG \"a\\d+\"\\) COUNT 0$", SearchLine(none, "ESEARCH"));
    }

    [Fact]
    public async Task PARTIAL_pages_through_the_results_from_either_end()
    {
        await using var client = await MailboxAsync();
        var first = await client.CommandAsync("SEARCH RETURN (PARTIAL 1:2) ALL");
        Assert.Matches("PARTIAL \\(1:2 1:2\\)$", SearchLine(first, "ESEARCH"));
        var last = await client.CommandAsync("SEARCH RETURN (PARTIAL -1:-2) ALL");
        Assert.Matches("PARTIAL \\(-1:-2 4:5\\)$", SearchLine(last, "ESEARCH"));
        var beyond = await client.CommandAsync("SEARCH RETURN (PARTIAL 10:20) ALL");
        Assert.Matches("PARTIAL \\(10:20 NIL\\)$", SearchLine(beyond, "ESEARCH"));
    }

    [Fact]
    public async Task SAVE_keeps_the_result_for_dollar_and_it_follows_the_messages()
    {
        await using var client = await MailboxAsync();
        var save = await client.CommandAsync("SEARCH RETURN (SAVE) SUBJECT quarterly");
        Assert.True(save.Ok, save.Text);
        Assert.False(save.Has("^\\* ESEARCH"), "SAVE alone sends no ESEARCH");
        Assert.Equal("* SEARCH 2 5", SearchLine(await client.CommandAsync("SEARCH $ NOT SEEN")));
        var fetch = await client.CommandAsync("FETCH $ (UID)");
        Assert.Equal(3, fetch.Untagged.Count(l => l.Contains("FETCH", StringComparison.Ordinal)));

        // expunging message 1 renumbers the others; $ still names the same messages
        Assert.True((await client.CommandAsync("STORE 1 +FLAGS.SILENT (\\Deleted)")).Ok);
        Assert.True((await client.CommandAsync("UID EXPUNGE 1")).Ok);
        Assert.Equal("* SEARCH 1 4", SearchLine(await client.CommandAsync("SEARCH $")));

        var minOnly = await client.CommandAsync("SEARCH RETURN (SAVE MIN) SUBJECT quarterly");
        Assert.Matches("MIN 1$", SearchLine(minOnly, "ESEARCH"));
        Assert.Equal("* SEARCH 2", SearchLine(await client.CommandAsync("UID SEARCH $")));
    }

    [Fact]
    public async Task MODSEQ_search_reports_the_highest_modseq_of_the_matches()
    {
        await using var client = await MailboxAsync();
        var store = await client.CommandAsync("STORE 3 +FLAGS (\\Seen)");
        Assert.True(store.Ok, store.Text);
        var reply = await client.CommandAsync("FETCH 3 (MODSEQ)");
        var modseq = System.Text.RegularExpressions.Regex.Match(reply.Line("FETCH"), "MODSEQ \\((\\d+)\\)").Groups[1].Value;
        Assert.Equal($"* SEARCH 3 (MODSEQ {modseq})", SearchLine(await client.CommandAsync($"SEARCH MODSEQ {modseq}")));
        Assert.Matches($"COUNT 1 MODSEQ {modseq}$", SearchLine(await client.CommandAsync($"SEARCH RETURN (COUNT) MODSEQ {modseq}"), "ESEARCH"));
    }

    [Fact]
    public async Task YOUNGER_and_OLDER_use_the_internal_date()
    {
        await using var client = await _server.LoginAsync();
        await AppendAsync(client, Mail("a@example.com", "b@example.com", "old", "Mon, 2 Nov 2020 09:00:00 +0000", "x"), "", "02-Nov-2020 09:00:00 +0000");
        await AppendAsync(client, Mail("a@example.com", "b@example.com", "new", "Mon, 2 Nov 2026 09:00:00 +0000", "x"));
        Assert.True((await client.CommandAsync("SELECT INBOX")).Ok);
        Assert.Equal("* SEARCH 2", SearchLine(await client.CommandAsync("SEARCH YOUNGER 3600")));
        Assert.Equal("* SEARCH 1", SearchLine(await client.CommandAsync("SEARCH OLDER 3600")));
    }

    [Fact]
    public async Task Delivered_mail_is_found_by_BODY_through_the_index_and_by_TEXT_in_its_trace_fields()
    {
        await _server.DeliverAsync("alice@example.com", "From: x@example.org\r\nSubject: delivered\r\n\r\nA rare word: quixotic.\r\n");
        await using var client = await _server.LoginAsync();
        Assert.True((await client.CommandAsync("SELECT INBOX")).Ok);
        Assert.Equal("* SEARCH 1", SearchLine(await client.CommandAsync("SEARCH BODY QUIXOT")));
        Assert.Equal("* SEARCH", SearchLine(await client.CommandAsync("SEARCH BODY delivered")));
        Assert.Equal("* SEARCH 1", SearchLine(await client.CommandAsync("SEARCH TEXT delivered")));
        Assert.Equal("* SEARCH 1", SearchLine(await client.CommandAsync("SEARCH TEXT client.example.org")));
    }

    [Theory]
    [InlineData("SORT (SUBJECT) UTF-8 ALL", "* SORT 3 1 2 5 4")]
    [InlineData("SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 4 1 2 5 3")]
    [InlineData("SORT (DATE) UTF-8 ALL", "* SORT 1 2 3 4 5")]
    [InlineData("SORT (REVERSE DATE) UTF-8 ALL", "* SORT 5 4 3 2 1")]
    [InlineData("SORT (ARRIVAL) UTF-8 ALL", "* SORT 1 2 3 4 5")]
    [InlineData("SORT (SIZE) UTF-8 NOT LARGER 1000", "* SORT 4 5 2 1")]
    [InlineData("SORT (FROM) UTF-8 ALL", "* SORT 1 4 5 2 3")]
    [InlineData("SORT (TO) UTF-8 ALL", "* SORT 3 5 1 2 4")]
    [InlineData("SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 1 4 5 2 3")]
    [InlineData("UID SORT (SUBJECT DATE) US-ASCII SUBJECT quarterly", "* SORT 1 2 5")]
    public async Task SORT_orders_by_the_keys_and_breaks_ties_by_mailbox_order(string command, string expected)
    {
        await using var client = await MailboxAsync();
        Assert.Equal(expected, SearchLine(await client.CommandAsync(command), "SORT"));
    }

    [Fact]
    public async Task ESORT_returns_results_in_sort_order()
    {
        await using var client = await MailboxAsync();
        var reply = await client.CommandAsync("SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL");
        Assert.Matches("^\\* ESEARCH \\(TAG \"a\\d+\"\\) MIN 5 MAX 1 COUNT 5 ALL 5,4,3,2,1$", SearchLine(reply, "ESEARCH"));
    }

    [Fact]
    public async Task THREAD_ORDEREDSUBJECT_groups_by_base_subject_and_REFERENCES_follows_replies()
    {
        await using var client = await _server.LoginAsync();
        await AppendAsync(client, Mail("a@example.com", "b@example.com", "Plans", "Mon, 2 Nov 2026 09:00:00 +0000", "1", "Message-ID: <p1@x>\r\n"));
        await AppendAsync(client, Mail("b@example.com", "a@example.com", "Re: Plans", "Mon, 2 Nov 2026 10:00:00 +0000", "2", "Message-ID: <p2@x>\r\nIn-Reply-To: <p1@x>\r\nReferences: <p1@x>\r\n"));
        await AppendAsync(client, Mail("c@example.com", "a@example.com", "Other", "Mon, 2 Nov 2026 11:00:00 +0000", "3", "Message-ID: <o1@x>\r\n"));
        await AppendAsync(client, Mail("a@example.com", "b@example.com", "Re: Plans", "Mon, 2 Nov 2026 12:00:00 +0000", "4", "Message-ID: <p3@x>\r\nReferences: <p1@x> <p2@x>\r\n"));
        await AppendAsync(client, Mail("d@example.com", "a@example.com", "RE: plans", "Mon, 2 Nov 2026 13:00:00 +0000", "5", "Message-ID: <p4@x>\r\nReferences: <p1@x>\r\n"));
        Assert.True((await client.CommandAsync("SELECT INBOX")).Ok);

        Assert.Equal("* THREAD (1 (2)(4)(5))(3)", SearchLine(await client.CommandAsync("THREAD ORDEREDSUBJECT UTF-8 ALL"), "THREAD"));
        Assert.Equal("* THREAD (1 (2 4)(5))(3)", SearchLine(await client.CommandAsync("THREAD REFERENCES UTF-8 ALL"), "THREAD"));
        Assert.Equal("* THREAD (3)", SearchLine(await client.CommandAsync("UID THREAD REFERENCES UTF-8 SUBJECT other"), "THREAD"));
        Assert.Equal("BAD", (await client.CommandAsync("THREAD BOGUS UTF-8 ALL")).Kind);
    }
}
