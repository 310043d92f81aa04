using System.Text;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage.Mailboxes;
using Postern.Mailboxes.Maildir;
using Postern.Storage.Sqlite;

namespace Postern.Mailboxes.Tests;

public sealed class MaildirImportTests : IDisposable
{
    private const long Account = 7;
    private const long Domain = 3;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-maildir-" + Guid.NewGuid().ToString("N"));
    private readonly EmbeddedStorage _storage;

    public MaildirImportTests()
    {
        Directory.CreateDirectory(_folder);
        _storage = EmbeddedStorage.Open(Path.Combine(_folder, "data"));
    }

    private string Maildir => Path.Combine(_folder, "Maildir");

    private IMailboxStore Mail => _storage.Mailboxes;

    public void Dispose()
    {
        _storage.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public void The_uidlist_gives_uidvalidity_next_uid_and_uids_by_base_name()
    {
        var list = DovecotUidList.Parse(
            "3 V1796662810 N9 Gf1b9523518e6166be52c000083ecc375\n1 :111.M1P1.host,S=30,W=34\n4 W120 G0123 :444.M4P4.host,S=100,W=120\nbogus line\n",
            out var problem,
            out var bad);

        Assert.Null(problem);
        Assert.NotNull(list);
        Assert.Equal(1796662810, list.UidValidity);
        Assert.Equal(9, list.NextUid);
        Assert.Equal(new Dictionary<string, long> { ["111.M1P1.host,S=30,W=34"] = 1, ["444.M4P4.host,S=100,W=120"] = 4 }, list.Uids);
        Assert.Equal(1, bad);

        var v1 = DovecotUidList.Parse("1 1234 3\n2 222.host:2,S\n", out _, out _);
        Assert.Equal((1234L, 3L, 2L), (v1!.UidValidity, v1.NextUid, v1.Uids["222.host"]));

        Assert.Null(DovecotUidList.Parse("9 V1 N2\n", out problem, out _));
        Assert.Contains("version", problem, StringComparison.Ordinal);
        Assert.Null(DovecotUidList.Parse("3 N2\n", out _, out _));
    }

    [Fact]
    public void File_name_letters_become_flags_and_keywords()
    {
        var keywords = DovecotKeywords.Parse("0 $Work\n1 Important\n3 $Junk\n");

        var (flags, words) = MaildirFileName.ParseInfo("123.M1.host,S=5,W=6:2,DFPRSTabcd", keywords, out var unknown);

        Assert.Equal(MessageFlags.Draft | MessageFlags.Flagged | MessageFlags.Answered | MessageFlags.Seen | MessageFlags.Deleted, flags);
        Assert.Equal(["$Forwarded", "$Work", "Important", "$Junk"], words);
        Assert.Equal("c", unknown);
        Assert.Equal(MessageFlags.None, MaildirFileName.ParseInfo("123.M1.host", keywords, out _).Flags);
        Assert.Equal("123.M1.host,S=5", MaildirFileName.BaseOf("123.M1.host,S=5:2,S"));
    }

    [Fact]
    public void Subscriptions_of_both_versions_and_modified_utf7_names_are_read()
    {
        Assert.Equal(["Projekte", "Projekte/Büro"], DovecotSubscriptions.Parse("V\t2\n\nProjekte\nProjekte\tB&APw-ro\n", '.'));
        Assert.Equal(["Sent", "Projekte/Büro", "INBOX/sub"], DovecotSubscriptions.Parse("Sent\nProjekte.B&APw-ro\ninbox.sub\n", '.'));
        Assert.Equal(["a.b/c"], DovecotSubscriptions.Parse("a.b/c\n", '/'));
        Assert.Null(MaildirFolderName.FromLevels(["a", ""]));
    }

    [Fact]
    public async Task A_maildir_imports_with_dovecots_uids_flags_keywords_dates_and_subscriptions()
    {
        var early = new DateTimeOffset(2021, 3, 4, 5, 6, 7, TimeSpan.Zero);
        WriteMessage("cur", "1000.M1P1.host,S=47,W=51:2,S", "Subject: first\nFrom: a@example.org\n\nfirst body\n", early);
        WriteMessage("cur", "1001.M2P1.host,S=40,W=43:2,FRPab", "Subject: third\nFrom: a@example.org\n\nthird body\n", early.AddDays(2));
        WriteMessage("new", "1002.M3P1.host", "Subject: unlisted\n\nnot in the uidlist\n", early.AddDays(3));
        File.WriteAllText(Path.Combine(Maildir, "dovecot-uidlist"), "3 V1600000000 N6 Gabc\n1 :1000.M1P1.host,S=47,W=51\n2 :1000.M9P1.host,S=1,W=1\n3 :1001.M2P1.host,S=40,W=43\n");
        File.WriteAllText(Path.Combine(Maildir, "dovecot-keywords"), "0 $Work\n1 Important\n");
        var sub = Path.Combine(Maildir, ".Projekte.B&APw-ro");
        WriteMessage(sub, "cur", "2000.M1P1.host:2,T", "Subject: deleted one\n\nbye\n", early);
        File.WriteAllText(Path.Combine(sub, "dovecot-uidlist"), "3 V1600000123 N8 Gdef\n7 :2000.M1P1.host\n");
        File.WriteAllText(Path.Combine(Maildir, "subscriptions"), "V\t2\n\nProjekte\tB&APw-ro\nGone\n");

        var report = await ImportAsync();

        Assert.True(report.Problems.Count == 0, string.Join("\n", report.Problems));
        Assert.Equal(["INBOX", "Projekte/Büro"], report.Folders.Select(f => f.Folder));
        var inbox = (await Mail.GetFolderAsync(Account, "INBOX", default))!;
        Assert.Equal(1600000000, inbox.UidValidity);
        Assert.Equal(7, inbox.UidNext); // Dovecot's N6, then the unlisted message got 6
        var messages = await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, default);
        Assert.Equal([1L, 3L, 6L], messages.Select(m => m.Uid));
        Assert.Equal(MessageFlags.Seen, messages[0].Flags);
        Assert.Equal(MessageFlags.Flagged | MessageFlags.Answered, messages[1].Flags);
        Assert.Equal(["$Forwarded", "$Work", "Important"], messages[1].Keywords);
        Assert.Equal(MessageFlags.None, messages[2].Flags);
        Assert.Equal(early, messages[0].InternalDate);
        Assert.Equal(early.AddDays(2), messages[1].InternalDate);
        Assert.Equal("Subject: first\r\nFrom: a@example.org\r\n\r\nfirst body\r\n", await ReadAsync(messages[0]));
        Assert.Equal(51, messages[0].Size); // W=51: the CRLF size Dovecot reports as RFC822.SIZE

        // Indexed as a delivered message would be.
        var expected = MessageIndexer.Build(Encoding.ASCII.GetBytes("Subject: third\r\nFrom: a@example.org\r\n\r\nthird body\r\n"));
        Assert.Equal(expected.Summary, messages[1].Summary);
        Assert.Equal([3L], await Mail.SearchTextAsync(Account, inbox.FolderId, "third body", default));

        var projekte = (await Mail.GetFolderAsync(Account, "Projekte/Büro", default))!;
        Assert.Equal(1600000123, projekte.UidValidity);
        Assert.Equal(8, projekte.UidNext);
        var deleted = Assert.Single(await Mail.ListMessagesAsync(Account, projekte.FolderId, 1, long.MaxValue, null, default));
        Assert.Equal((7L, MessageFlags.Deleted), (deleted.Uid, deleted.Flags));
        Assert.NotNull(await Mail.GetFolderAsync(Account, "Projekte", default));

        var subscriptions = await Mail.ListSubscriptionsAsync(Account, default);
        Assert.Contains("Projekte/Büro", subscriptions);
        Assert.Contains("Gone", subscriptions);
        Assert.Contains("INBOX", subscriptions);

        var usage = await Mail.GetAccountUsageAsync(Account, default);
        Assert.Equal(4, usage.Messages);
        Assert.Equal(messages.Sum(m => m.Size) + deleted.Size, usage.StorageBytes);
    }

    [Fact]
    public async Task Running_again_imports_only_what_dovecot_received_since()
    {
        WriteMessage("cur", "1.M1.host:2,S", "Subject: a\n\na\n", DateTimeOffset.UtcNow);
        File.WriteAllText(Path.Combine(Maildir, "dovecot-uidlist"), "3 V1500000000 N2\n1 :1.M1.host\n");
        var first = await ImportAsync();
        Assert.Equal(1, first.Imported);

        var again = await ImportAsync();
        Assert.Equal(0, again.Imported);
        Assert.Equal(1, again.Folders.Single(f => f.Folder == "INBOX").AlreadyImported);

        WriteMessage("cur", "2.M2.host:2,", "Subject: b\n\nb\n", DateTimeOffset.UtcNow);
        File.WriteAllText(Path.Combine(Maildir, "dovecot-uidlist"), "3 V1500000000 N4\n1 :1.M1.host\n3 :2.M2.host\n");
        var delta = await ImportAsync();

        Assert.Equal(1, delta.Imported);
        var inbox = (await Mail.GetFolderAsync(Account, "INBOX", default))!;
        Assert.Equal([1L, 3L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, default)).Select(m => m.Uid));
        Assert.Equal(4, inbox.UidNext);
    }

    [Fact]
    public async Task A_folder_larger_than_one_batch_keeps_every_uid()
    {
        var uidlist = new StringBuilder("3 V1500000000 N20\n");
        foreach (var uid in new[] { 2, 3, 5, 8, 13 })
        {
            WriteMessage("cur", $"{uid}.M{uid}.host:2,S", $"Subject: {uid}\n\n{uid}\n", DateTimeOffset.UtcNow);
            uidlist.Append(uid).Append(" :").Append(uid).Append(".M").Append(uid).Append(".host\n");
        }

        File.WriteAllText(Path.Combine(Maildir, "dovecot-uidlist"), uidlist.ToString());

        var report = await ImportAsync(new MaildirImportOptions { BatchSize = 2 });

        Assert.True(report.Complete, string.Join("\n", report.Problems));
        var inbox = (await Mail.GetFolderAsync(Account, "INBOX", default))!;
        Assert.Equal([2L, 3L, 5L, 8L, 13L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, default)).Select(m => m.Uid));
        Assert.Equal(20, inbox.UidNext);
    }

    [Fact]
    public async Task A_folder_already_in_use_is_skipped_unless_renumbering_is_asked_for()
    {
        var inbox = (await Mail.EnsureDefaultFoldersAsync(Account, Domain, default)).Single(f => f.Name == "INBOX");
        var blob = await _storage.Blobs.WriteAsync(new MemoryStream("Subject: delivered\r\n\r\nx\r\n"u8.ToArray()), default);
        await Mail.AppendAsync(Account, inbox.FolderId, [new NewMessage(blob.Id, blob.Length, DateTimeOffset.UtcNow)], null, default);
        WriteMessage("cur", "1.M1.host:2,S", "Subject: old\n\nold\n", DateTimeOffset.UtcNow);
        File.WriteAllText(Path.Combine(Maildir, "dovecot-uidlist"), "3 V1500000000 N2\n1 :1.M1.host\n");

        var skipped = await ImportAsync();
        var renumbered = await ImportAsync(new MaildirImportOptions { Renumber = true });

        Assert.Contains("1500000000", skipped.Folders.Single().Skipped, StringComparison.Ordinal);
        Assert.False(skipped.Complete);
        Assert.Equal(1, renumbered.Imported);
        Assert.False(renumbered.Folders.Single().UidsKept);
        var after = (await Mail.GetFolderAsync(Account, inbox.FolderId, default))!;
        Assert.Equal(inbox.UidValidity, after.UidValidity);
        Assert.Equal([1L, 2L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, default)).Select(m => m.Uid));
    }

    [Fact]
    public async Task Bad_messages_are_reported_and_the_rest_is_imported()
    {
        WriteMessage("cur", "1.M1.host:2,S", "Subject: good\n\ngood\n", DateTimeOffset.UtcNow);
        WriteMessage("cur", "2.M2.host:2,Sz", "Subject: unknown keyword letter\n\nz\n", DateTimeOffset.UtcNow);
        WriteMessage("cur", "3.M3.host:2,", string.Empty, DateTimeOffset.UtcNow);
        File.WriteAllText(Path.Combine(Maildir, "dovecot-uidlist"), "3 V1500000000 N4\n1 :1.M1.host\n2 :2.M2.host\n3 :3.M3.host\n");

        var report = await ImportAsync();

        Assert.Equal(2, report.Imported);
        Assert.Equal(1, report.Folders.Single().Failed);
        Assert.Contains(report.Problems, p => p.File == "3.M3.host:2," && p.Message.Contains("empty", StringComparison.Ordinal));
        Assert.Contains(report.Problems, p => p.File == "2.M2.host:2,Sz" && p.Message.Contains("'z'", StringComparison.Ordinal));
        var inbox = (await Mail.GetFolderAsync(Account, "INBOX", default))!;
        Assert.Equal([1L, 2L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, default)).Select(m => m.Uid));
        Assert.Equal(4, inbox.UidNext);
    }

    [Fact]
    public async Task Layout_fs_nests_folders_as_directories()
    {
        WriteMessage("cur", "1.M1.host:2,S", "Subject: inbox\n\ni\n", DateTimeOffset.UtcNow);
        WriteMessage(Path.Combine(Maildir, "Archive", "2020"), "cur", "5.M5.host:2,S", "Subject: archived\n\na\n", DateTimeOffset.UtcNow);
        WriteMessage(Path.Combine(Maildir, "Work.Items"), "new", "6.M6.host", "Subject: dotted name\n\nd\n", DateTimeOffset.UtcNow);
        File.WriteAllText(Path.Combine(Maildir, "subscriptions"), "Archive/2020\n");

        var report = await ImportAsync();

        Assert.Equal(["INBOX", "Archive", "Archive/2020", "Work.Items"], report.Folders.Select(f => f.Folder));
        Assert.Equal(3, report.Imported);
        Assert.Contains("Archive/2020", await Mail.ListSubscriptionsAsync(Account, default));
        Assert.DoesNotContain("Archive", await Mail.ListSubscriptionsAsync(Account, default));
    }

    [Fact]
    public void The_fan_out_tree_names_each_mailbox_by_its_directories()
    {
        var root = Path.Combine(_folder, "tree");
        Directory.CreateDirectory(Path.Combine(root, "e", "x", "example.com", "a", "alice", "Maildir", "cur"));
        Directory.CreateDirectory(Path.Combine(root, "e", "x", "example.com", "b", "bob", "new"));
        Directory.CreateDirectory(Path.Combine(root, "e", "x", "example.com", "c", "carol", "junk"));
        Directory.CreateDirectory(Path.Combine(root, "o", "t", "other.org", "d", "dave", "cur"));
        var before = Directory.GetFileSystemEntries(root, "*", SearchOption.AllDirectories).Length;

        var all = MaildirTree.Find(root, null, out var problems);
        var one = MaildirTree.Find(root, "Other.org", out _);

        Assert.Equal(["alice@example.com", "bob@example.com", "dave@other.org"], all.Select(e => e.Address));
        Assert.Equal(Path.Combine(root, "e", "x", "example.com", "a", "alice", "Maildir"), all[0].Maildir);
        Assert.Equal(Path.Combine(root, "e", "x", "example.com", "b", "bob"), all[1].Maildir);
        Assert.Contains(problems, p => p.Contains("carol", StringComparison.Ordinal));
        Assert.Equal(["dave@other.org"], one.Select(e => e.Address));
        Assert.Equal(before, Directory.GetFileSystemEntries(root, "*", SearchOption.AllDirectories).Length);
    }

    private Task<MaildirImportReport> ImportAsync(MaildirImportOptions? options = null) =>
        new MaildirImporter(Mail, _storage.Blobs, options).ImportAsync(Account, Domain, Maildir, default);

    private void WriteMessage(string sub, string name, string text, DateTimeOffset modified) => WriteMessage(Maildir, sub, name, text, modified);

    private static void WriteMessage(string maildir, string sub, string name, string text, DateTimeOffset modified)
    {
        foreach (var dir in new[] { "cur", "new", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(maildir, dir));
        }

        var path = Path.Combine(maildir, sub, name);
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, modified.UtcDateTime);
    }

    private async Task<string> ReadAsync(StoredMessage message)
    {
        await using var stream = (await _storage.Blobs.OpenReadAsync(message.Blob, default))!;
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return Encoding.ASCII.GetString(message.HeaderPrefix.Span) + await reader.ReadToEndAsync();
    }
}
