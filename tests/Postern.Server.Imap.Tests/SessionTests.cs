using System.Text;

namespace Postern.Server.Imap.Tests;

public sealed class SessionTests : IAsyncLifetime
{
    private const string Message = "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: Hello there\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n\r\nBody line one\r\nBody line two\r\n";

    private ImapServerHarness _server = null!;

    public async Task InitializeAsync()
    {
        _server = new ImapServerHarness();
        await _server.AddStandardTenantsAsync();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static async Task<ImapReply> AppendAsync(ImapTestClient client, string mailbox, string message, string flags = "")
    {
        var bytes = Encoding.UTF8.GetByteCount(message);
        var tag = client.NextTag();
        await client.SendAsync($"{tag} APPEND {mailbox} {(flags.Length > 0 ? "(" + flags + ") " : "")}{{{bytes}+}}\r\n{message}\r\n");
        return await client.ReadReplyAsync(tag);
    }

    [Fact]
    public async Task Greeting_and_capabilities_change_with_login()
    {
        await using var client = await _server.ConnectAsync();
        var before = await client.CommandAsync("CAPABILITY");
        Assert.Contains("AUTH=PLAIN", before.Line("^\\* CAPABILITY"), StringComparison.Ordinal);
        Assert.DoesNotContain("UIDPLUS", before.Line("^\\* CAPABILITY"), StringComparison.Ordinal);
        var login = await client.CommandAsync("LOGIN alice@example.com alice-pw");
        Assert.True(login.Ok, login.Text);
        Assert.Contains("[CAPABILITY IMAP4rev1 IMAP4rev2", login.Status, StringComparison.Ordinal);
        Assert.Contains("UIDPLUS", login.Status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_password_gets_AUTHENTICATIONFAILED_and_the_third_closes_the_connection()
    {
        await using var client = await _server.ConnectAsync();
        var first = await client.CommandAsync("LOGIN alice@example.com wrong");
        Assert.Equal("NO", first.Kind);
        Assert.Contains("[AUTHENTICATIONFAILED]", first.Status, StringComparison.Ordinal);
        await client.CommandAsync("LOGIN alice@example.com wrong");
        var third = await client.CommandAsync("LOGIN alice@example.com wrong");
        Assert.Equal("NO", third.Kind);
        Assert.StartsWith("* BYE", await client.ReadLineAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_login_is_refused_without_TLS_unless_allowed_and_works_after_STARTTLS()
    {
        await using var strict = new ImapServerHarness(new ImapPolicy { Hostname = "imap.example.com" });
        await strict.AddStandardTenantsAsync();
        await using var client = await strict.ConnectAsync();
        var caps = await client.CommandAsync("CAPABILITY");
        Assert.Contains("LOGINDISABLED", caps.Line("^\\* CAPABILITY"), StringComparison.Ordinal);
        Assert.Contains("STARTTLS", caps.Line("^\\* CAPABILITY"), StringComparison.Ordinal);
        var refused = await client.CommandAsync("LOGIN alice@example.com alice-pw");
        Assert.Contains("[PRIVACYREQUIRED]", refused.Status, StringComparison.Ordinal);
        Assert.True((await client.CommandAsync("STARTTLS")).Ok);
        await client.StartTlsAsync();
        var after = await client.CommandAsync("CAPABILITY");
        Assert.DoesNotContain("LOGINDISABLED", after.Line("^\\* CAPABILITY"), StringComparison.Ordinal);
        Assert.DoesNotContain("STARTTLS", after.Line("^\\* CAPABILITY"), StringComparison.Ordinal);
        Assert.True((await client.CommandAsync("LOGIN alice@example.com alice-pw")).Ok);
    }

    [Fact]
    public async Task AUTHENTICATE_PLAIN_with_an_initial_response_and_with_a_continuation()
    {
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice@example.com\0alice-pw"));
        await using (var client = await _server.ConnectAsync())
        {
            Assert.True((await client.CommandAsync("AUTHENTICATE PLAIN " + token)).Ok);
        }

        await using (var client = await _server.ConnectAsync())
        {
            await client.SendAsync("x AUTHENTICATE PLAIN\r\n");
            Assert.StartsWith("+", await client.ReadLineAsync(), StringComparison.Ordinal);
            await client.SendAsync(token + "\r\n");
            Assert.True((await client.ReadReplyAsync("x")).Ok);
        }

        await using (var client = await _server.ConnectAsync())
        {
            await client.SendAsync("y AUTHENTICATE PLAIN\r\n");
            await client.ReadLineAsync();
            await client.SendAsync("*\r\n");
            Assert.Equal("BAD", (await client.ReadReplyAsync("y")).Kind);
        }
    }

    [Fact]
    public async Task LIST_shows_the_default_folders_with_their_special_uses()
    {
        await using var client = await _server.LoginAsync();
        var list = await client.CommandAsync("LIST \"\" \"*\"");
        Assert.True(list.Ok);
        Assert.True(list.Has("^\\* LIST \\(.*\\) \"/\" INBOX$"), list.Text);
        Assert.True(list.Has("^\\* LIST \\(.*\\\\Sent.*\\) \"/\" Sent$"), list.Text);
        Assert.True(list.Has("^\\* LIST \\(.*\\\\Trash.*\\) \"/\" Trash$"), list.Text);
        Assert.True(list.Has("^\\* LIST \\(.*\\\\Junk.*\\) \"/\" Junk$"), list.Text);
        var root = await client.CommandAsync("LIST \"\" \"\"");
        Assert.Equal("* LIST (\\Noselect) \"/\" \"\"", root.Untagged.Single());
    }

    [Fact]
    public async Task CREATE_RENAME_DELETE_and_subscriptions()
    {
        await using var client = await _server.LoginAsync();
        Assert.True((await client.CommandAsync("CREATE Projects/2026/Q4")).Ok);
        var list = await client.CommandAsync("LIST \"\" \"Projects*\"");
        Assert.Equal(3, list.Untagged.Count);
        Assert.True(list.Has("\\\\HasChildren.*Projects$"), list.Text);
        Assert.Contains("[ALREADYEXISTS]", (await client.CommandAsync("CREATE Projects")).Status, StringComparison.Ordinal);
        var percent = await client.CommandAsync("LIST \"\" \"Projects/%\"");
        Assert.Equal("* LIST (\\HasChildren) \"/\" Projects/2026", percent.Untagged.Single());

        Assert.True((await client.CommandAsync("RENAME Projects Work")).Ok);
        var renamed = await client.CommandAsync("LIST \"\" \"*\"");
        Assert.True(renamed.Has("Work/2026/Q4$"));
        Assert.False(renamed.Has("Projects"));

        Assert.True((await client.CommandAsync("SUBSCRIBE Work/2026")).Ok);
        var lsub = await client.CommandAsync("LSUB \"\" \"Work/*\"");
        Assert.Equal("* LSUB () \"/\" Work/2026", lsub.Untagged.Single());
        var subscribed = await client.CommandAsync("LIST (SUBSCRIBED) \"\" \"Work*\"");
        Assert.True(subscribed.Has("\\\\Subscribed.*Work/2026$"), subscribed.Text);

        Assert.True((await client.CommandAsync("DELETE Work/2026/Q4")).Ok);
        Assert.Contains("[NONEXISTENT]", (await client.CommandAsync("DELETE Work/2026/Q4")).Status, StringComparison.Ordinal);
        Assert.Equal("NO", (await client.CommandAsync("DELETE INBOX")).Kind);
    }

    [Fact]
    public async Task International_mailbox_names_travel_as_modified_UTF7_or_UTF8_when_enabled()
    {
        await using var client = await _server.LoginAsync();
        Assert.True((await client.CommandAsync("CREATE \"R&AOk-sum&AOk-\"")).Ok);
        Assert.True((await client.CommandAsync("LIST \"\" \"R*\"")).Has("\"/\" R&AOk-sum&AOk-$"));
        Assert.True((await client.CommandAsync("ENABLE UTF8=ACCEPT")).Has("^\\* ENABLED UTF8=ACCEPT"));
        Assert.True((await client.CommandAsync("LIST \"\" \"R*\"")).Has("\"/\" \"Résumé\"$"));
    }

    [Fact]
    public async Task APPEND_then_SELECT_and_FETCH_what_was_stored()
    {
        await using var client = await _server.LoginAsync();
        var appended = await AppendAsync(client, "INBOX", Message, "\\Flagged custom1");
        Assert.True(appended.Ok, appended.Text);
        Assert.Matches(@"\[APPENDUID \d+ 1\]", appended.Status);

        var select = await client.CommandAsync("SELECT INBOX");
        Assert.True(select.Ok);
        Assert.Contains("[READ-WRITE]", select.Status, StringComparison.Ordinal);
        Assert.True(select.Has("^\\* 1 EXISTS$"));
        Assert.True(select.Has("^\\* FLAGS \\(.*custom1.*\\)$"), select.Text);
        Assert.True(select.Has("\\[UIDNEXT 2\\]"));

        var fetch = await client.CommandAsync("FETCH 1 (UID FLAGS RFC822.SIZE ENVELOPE)");
        var line = fetch.Line("^\\* 1 FETCH");
        Assert.Contains("UID 1", line, StringComparison.Ordinal);
        Assert.Contains("\\Flagged", line, StringComparison.Ordinal);
        Assert.Contains("custom1", line, StringComparison.Ordinal);
        Assert.Contains($"RFC822.SIZE {Encoding.UTF8.GetByteCount(Message)}", line, StringComparison.Ordinal);
        Assert.Contains("ENVELOPE (\"Mon, 7 Dec 2026 10:00:00 +0000\" \"Hello there\" ((\"Alice\" NIL \"alice\" \"example.com\"))", line, StringComparison.Ordinal);

        var structure = await client.CommandAsync("FETCH 1 BODYSTRUCTURE");
        Assert.Contains("BODYSTRUCTURE (\"text\" \"plain\"", structure.Line("FETCH"), StringComparison.OrdinalIgnoreCase);

        var peek = await client.CommandAsync("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
        Assert.Contains("Subject: Hello there", peek.Line("FETCH"), StringComparison.Ordinal);
        Assert.DoesNotContain("\\Seen", (await client.CommandAsync("FETCH 1 FLAGS")).Line("FETCH"), StringComparison.Ordinal);

        var body = await client.CommandAsync("FETCH 1 BODY[TEXT]");
        var bodyLine = body.Line("FETCH");
        Assert.Contains("Body line one", bodyLine, StringComparison.Ordinal);
        Assert.Contains("\\Seen", bodyLine, StringComparison.Ordinal);

        var partial = await client.CommandAsync("FETCH 1 BODY.PEEK[]<0.4>");
        Assert.Contains("BODY[]<0> {4}\r\nFrom", partial.Line("FETCH"), StringComparison.Ordinal);

        Assert.Equal("BAD", (await client.CommandAsync("FETCH 5 FLAGS")).Kind);
    }

    [Fact]
    public async Task APPEND_stores_the_summary_and_indexes_the_text_so_FETCH_does_not_parse_again()
    {
        await using var client = await _server.LoginAsync();
        var html = "From: a@example.com\r\nSubject: Html\r\nContent-Type: text/html\r\n\r\n<p>Meet the <b>walrus</b> today</p>\r\n";
        Assert.True((await AppendAsync(client, "INBOX", html)).Ok);
        var account = (await _server.Resolver.ResolveAsync(Postern.Primitives.EmailAddress.Parse("alice@example.com"))).AccountId!.Value;
        var inbox = await _server.Storage.Mailboxes.GetFolderAsync(account, "INBOX", default);
        var stored = await _server.Storage.Mailboxes.GetMessageAsync(account, inbox!.FolderId, 1, default);
        var summary = Postern.Mime.Views.MessageSummary.FromJson(stored!.Summary);
        Assert.Equal("Html", summary!.Subject);
        Assert.Equal([1L], await _server.Storage.Mailboxes.SearchTextAsync(account, inbox.FolderId, "walrus", default));
    }

    [Fact]
    public async Task Synchronizing_APPEND_to_a_missing_mailbox_gets_TRYCREATE_before_the_message_is_sent()
    {
        await using var client = await _server.LoginAsync();
        await client.SendAsync("t APPEND Nowhere {10}\r\n");
        var reply = await client.ReadLineAsync();
        Assert.StartsWith("t NO [TRYCREATE]", reply, StringComparison.Ordinal);
        Assert.True((await client.CommandAsync("NOOP")).Ok);
    }

    [Fact]
    public async Task MULTIAPPEND_stores_all_messages_in_one_go()
    {
        await using var client = await _server.LoginAsync();
        var m = Encoding.UTF8.GetByteCount(Message);
        await client.SendAsync($"t APPEND INBOX {{{m}+}}\r\n{Message} (\\Seen) {{{m}+}}\r\n{Message} {{{m}+}}\r\n{Message}\r\n");
        var reply = await client.ReadReplyAsync("t");
        Assert.True(reply.Ok, reply.Text);
        Assert.Matches(@"\[APPENDUID \d+ 1:3\]", reply.Status);
        var status = await client.CommandAsync("STATUS INBOX (MESSAGES UNSEEN UIDNEXT SIZE)");
        var line = status.Line("STATUS");
        foreach (var item in new[] { "MESSAGES 3", "UNSEEN 2", "UIDNEXT 4", $"SIZE {3 * m}" })
        {
            Assert.Contains(item, line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task STORE_flags_and_CONDSTORE_UNCHANGEDSINCE_reports_MODIFIED()
    {
        await using var client = await _server.LoginAsync();
        await AppendAsync(client, "INBOX", Message);
        await AppendAsync(client, "INBOX", Message);
        await client.CommandAsync("SELECT INBOX (CONDSTORE)");
        var store = await client.CommandAsync("STORE 1:2 +FLAGS (\\Seen $Important)");
        Assert.Equal(2, store.Untagged.Count(l => l.Contains("FETCH", StringComparison.Ordinal)));
        Assert.True(store.Has("^\\* 1 FETCH \\(FLAGS \\(\\\\Seen( \\\\Recent)? \\$Important\\) MODSEQ \\(\\d+\\)\\)$"), store.Text);
        Assert.True(store.Has("^\\* FLAGS .*\\$Important"), "a new keyword is announced: " + store.Text);
        var silent = await client.CommandAsync("STORE 1 -FLAGS.SILENT (\\Seen)");
        Assert.DoesNotContain(silent.Untagged, l => l.Contains("FETCH", StringComparison.Ordinal));

        var modseq = (await client.CommandAsync("FETCH 1:2 MODSEQ")).Untagged
            .Select(l => long.Parse(System.Text.RegularExpressions.Regex.Match(l, @"MODSEQ \((\d+)\)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).Max();
        await client.CommandAsync("STORE 2 +FLAGS (\\Flagged)");
        var conditional = await client.CommandAsync($"STORE 1:2 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Answered)");
        Assert.Contains("[MODIFIED 2]", conditional.Status, StringComparison.Ordinal);
        Assert.Contains("\\Answered", (await client.CommandAsync("FETCH 1 FLAGS")).Line("FETCH"), StringComparison.Ordinal);
        Assert.DoesNotContain("\\Answered", (await client.CommandAsync("FETCH 2 FLAGS")).Line("FETCH"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task COPY_and_MOVE_answer_COPYUID_and_MOVE_expunges_from_the_source()
    {
        await using var client = await _server.LoginAsync();
        for (var i = 0; i < 3; i++)
        {
            await AppendAsync(client, "INBOX", Message);
        }

        await client.CommandAsync("SELECT INBOX");
        var copy = await client.CommandAsync("COPY 1:2 Archive");
        Assert.Matches(@"\[COPYUID \d+ 1:2 1:2\]", copy.Status);
        Assert.Contains("[TRYCREATE]", (await client.CommandAsync("COPY 1 Missing")).Status, StringComparison.Ordinal);

        var move = await client.CommandAsync("UID MOVE 2:3 Archive");
        Assert.True(move.Ok, move.Text);
        Assert.True(move.Has(@"^\* OK \[COPYUID \d+ 2:3 3:4\]"), move.Text);
        Assert.Equal(2, move.Untagged.Count(l => l.EndsWith("EXPUNGE", StringComparison.Ordinal)));
        Assert.True((await client.CommandAsync("NOOP")).Ok);
        var status = await client.CommandAsync("STATUS Archive (MESSAGES)");
        Assert.Contains("MESSAGES 4", status.Line("STATUS"), StringComparison.Ordinal);
        var inbox = await client.CommandAsync("STATUS INBOX (MESSAGES)");
        Assert.Contains("MESSAGES 1", inbox.Line("STATUS"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EXPUNGE_removes_deleted_messages_and_UID_EXPUNGE_only_the_named_ones()
    {
        await using var client = await _server.LoginAsync();
        for (var i = 0; i < 4; i++)
        {
            await AppendAsync(client, "INBOX", Message, "\\Deleted");
        }

        await client.CommandAsync("SELECT INBOX");
        var uidExpunge = await client.CommandAsync("UID EXPUNGE 2");
        Assert.Equal("* 2 EXPUNGE", uidExpunge.Untagged.Single());
        var expunge = await client.CommandAsync("EXPUNGE");
        Assert.Equal(3, expunge.Untagged.Count(l => l.EndsWith(" EXPUNGE", StringComparison.Ordinal)));
        Assert.True((await client.CommandAsync("SELECT INBOX")).Has("^\\* 0 EXISTS$"));
    }

    [Fact]
    public async Task A_second_session_sees_new_mail_and_flag_changes_but_no_EXPUNGE_during_FETCH()
    {
        await using var one = await _server.LoginAsync();
        await using var two = await _server.LoginAsync();
        await AppendAsync(one, "INBOX", Message);
        await AppendAsync(one, "INBOX", Message);
        await one.CommandAsync("SELECT INBOX");
        await two.CommandAsync("SELECT INBOX");

        await AppendAsync(one, "INBOX", Message);
        var noop = await two.CommandAsync("NOOP");
        Assert.True(noop.Has("^\\* 3 EXISTS$"), noop.Text);

        await one.CommandAsync("STORE 1 +FLAGS (\\Deleted)");
        await one.CommandAsync("EXPUNGE");
        await one.CommandAsync("STORE 1 +FLAGS (\\Flagged)");
        var fetch = await two.CommandAsync("FETCH 2 FLAGS");
        Assert.DoesNotContain(fetch.Untagged, l => l.Contains("EXPUNGE", StringComparison.Ordinal));
        var check = await two.CommandAsync("CHECK");
        Assert.True(check.Has("^\\* 1 EXPUNGE$"), check.Text);
        Assert.True((await two.CommandAsync("FETCH 1 FLAGS")).Line("FETCH").Contains("\\Flagged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task IDLE_reports_a_delivered_message_at_once()
    {
        await using var client = await _server.LoginAsync();
        await client.CommandAsync("SELECT INBOX");
        await client.SendAsync("i IDLE\r\n");
        Assert.StartsWith("+ ", await client.ReadLineAsync(), StringComparison.Ordinal);
        var started = System.Diagnostics.Stopwatch.StartNew();
        await _server.DeliverAsync("alice@example.com", Message);
        Assert.Equal("* 1 EXISTS", await client.ReadLineAsync());
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10));
        await client.SendAsync("DONE\r\n");
        Assert.True((await client.ReadReplyAsync("i")).Ok);
    }

    [Fact]
    public async Task QRESYNC_select_reports_VANISHED_EARLIER_and_changed_flags()
    {
        await using var client = await _server.LoginAsync();
        for (var i = 0; i < 3; i++)
        {
            await AppendAsync(client, "INBOX", Message);
        }

        Assert.True((await client.CommandAsync("ENABLE QRESYNC")).Has("ENABLED QRESYNC"));
        var select = await client.CommandAsync("SELECT INBOX");
        var validity = System.Text.RegularExpressions.Regex.Match(select.Text, @"UIDVALIDITY (\d+)").Groups[1].Value;
        var modseq = System.Text.RegularExpressions.Regex.Match(select.Text, @"HIGHESTMODSEQ (\d+)").Groups[1].Value;
        await client.CommandAsync("STORE 1 +FLAGS (\\Deleted)");
        var expunge = await client.CommandAsync("EXPUNGE");
        Assert.Equal("* VANISHED 1", expunge.Untagged.Single());
        await client.CommandAsync("STORE 1 +FLAGS (\\Seen)");
        await client.CommandAsync("UNSELECT");

        var resync = await client.CommandAsync($"SELECT INBOX (QRESYNC ({validity} {modseq}))");
        Assert.True(resync.Has(@"^\* VANISHED \(EARLIER\) 1$"), resync.Text);
        Assert.True(resync.Has(@"^\* 1 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$"), resync.Text);
    }

    [Fact]
    public async Task Bad_syntax_gets_a_tagged_BAD_and_the_session_goes_on()
    {
        await using var client = await _server.LoginAsync();
        Assert.Equal("BAD", (await client.CommandAsync("FETCH")).Kind);
        Assert.Equal("BAD", (await client.CommandAsync("FROBNICATE now")).Kind);
        Assert.Equal("BAD", (await client.CommandAsync("FETCH 1 FLAGS")).Kind); // nothing selected
        Assert.True((await client.CommandAsync("NOOP")).Ok);
    }

    [Fact]
    public async Task COMPRESS_DEFLATE_carries_the_rest_of_the_session()
    {
        await using var client = await _server.LoginAsync();
        Assert.True((await client.CommandAsync("COMPRESS DEFLATE")).Ok);
        client.StartDeflate();
        var list = await client.CommandAsync("LIST \"\" \"*\"");
        Assert.True(list.Ok, list.Text);
        Assert.True(list.Has("INBOX"));
        Assert.Contains("[COMPRESSIONACTIVE]", (await client.CommandAsync("COMPRESS DEFLATE")).Status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Quota_is_reported_and_enforced_on_APPEND()
    {
        await _server.Admin.AddAccountAsync("small@example.com", "small-pw", "Small", 1);
        await using var client = await _server.LoginAsync("small@example.com", "small-pw");
        var root = await client.CommandAsync("GETQUOTAROOT INBOX");
        Assert.True(root.Has("^\\* QUOTAROOT INBOX \"User quota\"$"), root.Text);
        Assert.True(root.Has("^\\* QUOTA \"User quota\" \\(STORAGE 0 1024\\)$"), root.Text);
        var big = string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 1100));
        var reply = await AppendAsync(client, "INBOX", Message + big + "\r\n");
        Assert.Contains("[OVERQUOTA]", reply.Status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Examine_shows_recent_messages_without_taking_them_and_status_counts_them()
    {
        await using var client = await _server.LoginAsync();
        Assert.True((await client.CommandAsync("CREATE Fresh")).Ok);
        Assert.True((await AppendAsync(client, "Fresh", Message)).Ok);
        Assert.True((await AppendAsync(client, "Fresh", Message)).Ok);

        // Nobody has opened Fresh: both messages are recent, and EXAMINE (read-only) must leave them so (RFC 3501 §6.3.2).
        Assert.True((await client.CommandAsync("STATUS Fresh (RECENT)")).Has("^\\* STATUS Fresh \\(RECENT 2\\)$"));
        var examine = await client.CommandAsync("EXAMINE Fresh");
        Assert.True(examine.Has("^\\* 2 RECENT$"), examine.Text);
        Assert.True((await client.CommandAsync("CLOSE")).Ok);
        Assert.True((await client.CommandAsync("STATUS Fresh (RECENT)")).Has("^\\* STATUS Fresh \\(RECENT 2\\)$"));

        // SELECT takes them; this session still holds them, another session sees none.
        var select = await client.CommandAsync("SELECT Fresh");
        Assert.True(select.Has("^\\* 2 RECENT$"), select.Text);
        Assert.True((await client.CommandAsync("STATUS Fresh (RECENT)")).Has("^\\* STATUS Fresh \\(RECENT 2\\)$"));
        await using var other = await _server.LoginAsync();
        Assert.True((await other.CommandAsync("STATUS Fresh (RECENT)")).Has("^\\* STATUS Fresh \\(RECENT 0\\)$"));

        // A third message, not yet seen by a read-write session, is the only recent one for others.
        Assert.True((await AppendAsync(other, "Fresh", Message)).Ok);
        Assert.True((await other.CommandAsync("STATUS Fresh (MESSAGES RECENT)")).Has("^\\* STATUS Fresh \\(MESSAGES 3 RECENT 1\\)$"));
    }

    [Fact]
    public async Task Body_fetch_never_puts_NUL_in_a_plain_literal()
    {
        await using var client = await _server.LoginAsync();
        var message = "From: a@example.com\r\nSubject: binary\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nA\0B\r\n";
        var tag = client.NextTag();
        await client.SendAsync($"{tag} APPEND INBOX ~{{{message.Length}}}\r\n");
        Assert.StartsWith("+", await client.ReadLineAsync(), StringComparison.Ordinal);
        await client.SendAsync(message + "\r\n");
        Assert.True((await client.ReadReplyAsync(tag)).Ok);
        Assert.True((await client.CommandAsync("SELECT INBOX")).Ok);

        var body = await client.CommandAsync("FETCH 1 (BODY.PEEK[1] BODY.PEEK[])");
        var text = body.Line("FETCH");
        Assert.DoesNotContain('\0', text);
        Assert.Contains("A\uFFFDB", text, StringComparison.Ordinal); // 0x80 (not UTF-8 on its own) where the NUL was
        var binary = await client.CommandAsync("FETCH 1 (BINARY.PEEK[1])");
        Assert.Contains("A\0B", binary.Line("FETCH"), StringComparison.Ordinal);
    }
}
