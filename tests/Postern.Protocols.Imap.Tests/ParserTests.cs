namespace Postern.Protocols.Imap.Tests;

public sealed class ParserTests
{
    private static T P<T>(string line)
        where T : ImapCommand
    {
        var command = ImapCommandParser.Parse(System.Text.Encoding.UTF8.GetBytes(line), null, out var error);
        Assert.True(command is not null, error?.Text);
        return Assert.IsType<T>(command);
    }

    private static ImapCommandError Bad(string line)
    {
        var command = ImapCommandParser.Parse(System.Text.Encoding.UTF8.GetBytes(line), null, out var error);
        Assert.Null(command);
        return error!;
    }

    [Theory]
    [InlineData("a1 CAPABILITY", ImapCommandName.Capability)]
    [InlineData("a2 noop", ImapCommandName.Noop)]
    [InlineData("A023 LOGOUT", ImapCommandName.Logout)]
    [InlineData("a001 STARTTLS", ImapCommandName.StartTls)]
    [InlineData("A001 NAMESPACE", ImapCommandName.Namespace)]
    [InlineData("a idle", ImapCommandName.Idle)]
    [InlineData("FXXZ CHECK", ImapCommandName.Check)]
    [InlineData("A341 CLOSE", ImapCommandName.Close)]
    [InlineData("A342 UNSELECT", ImapCommandName.Unselect)]
    [InlineData("A202 EXPUNGE", ImapCommandName.Expunge)]
    [InlineData("a.b-c_d CAPABILITY", ImapCommandName.Capability)]
    [InlineData("x]y NOOP", ImapCommandName.Noop)]
    public void Commands_without_arguments(string line, ImapCommandName name)
    {
        var c = P<SimpleCommand>(line);
        Assert.Equal(name, c.Name);
        Assert.Equal(line[..line.IndexOf(' ', StringComparison.Ordinal)], c.Tag);
    }

    [Fact]
    public void Unknown_commands_are_typed()
    {
        var c = P<UnknownCommand>("x1 XFROBNICATE now please");
        Assert.Equal("XFROBNICATE", c.Verb);
    }

    [Theory]
    [InlineData("+ NOOP")]
    [InlineData("a*b NOOP")]
    [InlineData("a%b NOOP")]
    [InlineData("(x NOOP")]
    [InlineData("")]
    public void Bad_tags_give_an_untagged_error(string line) => Assert.Null(Bad(line).Tag);

    [Theory]
    [InlineData("a NOOP extra")]
    [InlineData("a LOGIN onlyuser")]
    [InlineData("a UID NOOP")]
    [InlineData("a SELECT")]
    [InlineData("a SELECT INBOX (FOO)")]
    [InlineData("a FETCH 1 (FLAGS")]
    [InlineData("a FETCH 0 FLAGS")]
    [InlineData("a FETCH 1:* (BODY[HEADER.FIELDS])")]
    [InlineData("a FETCH 1 BODY[1.MIME.TEXT]")]
    [InlineData("a FETCH 1 BODY[MIME]")]
    [InlineData("a FETCH 1 BODY[]<5>")]
    [InlineData("a FETCH 1 BODY.PEEK")]
    [InlineData("a FETCH 1 FLAGS (VANISHED)")]
    [InlineData("a STORE 1 FLAGS.LOUD (\\Seen)")]
    [InlineData("a SEARCH")]
    [InlineData("a SEARCH FROM")]
    [InlineData("a SEARCH SINCE 31-Feb-2020")]
    [InlineData("a SEARCH OR SEEN")]
    [InlineData("a SEARCH (SEEN")]
    [InlineData("a SEARCH FOO")]
    [InlineData("a SEARCH \"unterminated")]
    [InlineData("a SEARCH 1,,2")]
    [InlineData("a LOGIN \"bad\\escape\" x")]
    [InlineData("a STATUS INBOX (MESSAGES BOGUS)")]
    [InlineData("a LIST (NOSUCH) \"\" *")]
    [InlineData("a LIST (RECURSIVEMATCH) \"\" *")]
    [InlineData("a LIST \"\" * RETURN (BOGUS)")]
    [InlineData("a SORT (FOO) UTF-8 ALL")]
    [InlineData("a COPY 1:2")]
    [InlineData("a ENABLE")]
    [InlineData("a AUTHENTICATE PLAIN !!!")]
    [InlineData("a ID (\"a\")")]
    [InlineData("a APPEND INBOX")]
    public void Bad_commands_keep_their_tag(string line)
    {
        var e = Bad(line);
        Assert.Equal("a", e.Tag);
        Assert.Equal(ImapStatus.Bad, e.Status);
    }

    [Fact]
    public void Login_with_atoms_quoted_and_literal()
    {
        var c = P<LoginCommand>("a001 LOGIN SMITH SESAME");
        Assert.Equal(("SMITH", "SESAME"), (c.UserName, c.Password));
        c = P<LoginCommand>("a LOGIN \"fred foobar\" \"p\\\"w\\\\d\"");
        Assert.Equal(("fred foobar", "p\"w\\d"), (c.UserName, c.Password));
        c = P<LoginCommand>("a LOGIN {4}\r\nfred {7}\r\nfoo bar");
        Assert.Equal(("fred", "foo bar"), (c.UserName, c.Password));
        Assert.DoesNotContain("SESAME", P<LoginCommand>("a LOGIN x SESAME").ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Authenticate_with_and_without_initial_response()
    {
        Assert.Null(P<AuthenticateCommand>("a AUTHENTICATE plain").InitialResponse);
        Assert.Equal("PLAIN", P<AuthenticateCommand>("a AUTHENTICATE plain").Mechanism);
        Assert.Equal("", P<AuthenticateCommand>("a AUTHENTICATE PLAIN =").InitialResponse);
        Assert.Equal("AGZyZWQAc2VjcmV0", P<AuthenticateCommand>("a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0").InitialResponse);
    }

    [Fact]
    public void Enable_lists_capabilities() =>
        Assert.Equal(["CONDSTORE", "QRESYNC", "UTF8=ACCEPT"], P<EnableCommand>("a ENABLE condstore QRESYNC UTF8=ACCEPT").Capabilities);

    [Fact]
    public void Select_and_examine_with_condstore_and_qresync()
    {
        var s = P<SelectCommand>("A142 SELECT inbox");
        Assert.Equal(("INBOX", false, ImapCommandName.Select), (s.Mailbox, s.ReadOnly, s.Name));
        Assert.True(P<SelectCommand>("a EXAMINE \"Sent Items\" (CONDSTORE)").CondStore);
        var q = P<SelectCommand>("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))").QResync!;
        Assert.Equal((67890007u, 20050715194045000UL, "41,43:211,214:541"), (q.UidValidity, q.ModSeq, q.KnownUids!.ToString()));
        q = P<SelectCommand>("B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))").QResync!;
        Assert.Equal("5000,7500,9000,9990:9999", q.KnownSequenceNumbers!.ToString());
        q = P<SelectCommand>("a SELECT INBOX (QRESYNC (1 2))").QResync!;
        Assert.Null(q.KnownUids);
    }

    [Fact]
    public void Create_rename_delete_subscribe()
    {
        Assert.Equal(["\\Drafts"], P<CreateCommand>("t1 CREATE \"Drafts\" (USE (\\Drafts))").SpecialUse);
        Assert.Equal("owatagusiam/", P<CreateCommand>("A003 CREATE owatagusiam/").Mailbox);
        var r = P<RenameCommand>("A683 RENAME blurdybloop sarasoop");
        Assert.Equal(("blurdybloop", "sarasoop"), (r.Mailbox, r.NewName));
        Assert.Equal(ImapCommandName.Delete, P<MailboxCommand>("A683 DELETE blurdybloop").Name);
        Assert.Equal("#news.comp.mail.mime", P<MailboxCommand>("A002 SUBSCRIBE #news.comp.mail.mime").Mailbox);
        Assert.Equal(ImapCommandName.Unsubscribe, P<MailboxCommand>("A002 UNSUBSCRIBE #news.comp.mail.mime").Name);
        Assert.Equal("&U,BTFw-", P<MailboxCommand>("a DELETE &U,BTFw-").Mailbox);
    }

    [Fact]
    public void List_basic_and_extended()
    {
        var l = P<ListCommand>("A101 LIST \"\" \"\"");
        Assert.Equal(("", ""), (l.Reference, l.Patterns[0]));
        Assert.False(l.Extended);
        l = P<ListCommand>("A102 LIST #news.comp.mail.misc *");
        Assert.Equal("*", l.Patterns[0]);
        l = P<ListCommand>("A202 LIST ~/Mail/ %");
        Assert.Equal(("~/Mail/", "%"), (l.Reference, l.Patterns[0]));
        l = P<ListCommand>("A01 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"INBOX\" \"Drafts\" %) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN SIZE))");
        Assert.Equal(ListSelectOptions.Subscribed | ListSelectOptions.RecursiveMatch, l.Selection);
        Assert.Equal(["INBOX", "Drafts", "%"], l.Patterns);
        Assert.Equal(ListReturnOptions.Children | ListReturnOptions.SpecialUse | ListReturnOptions.Status, l.Return);
        Assert.Equal(StatusItems.Messages | StatusItems.Unseen | StatusItems.Size, l.StatusItems);
        Assert.True(l.Extended);
        l = P<ListCommand>("t1 LIST (SPECIAL-USE) \"\" *");
        Assert.Equal(ListSelectOptions.SpecialUse, l.Selection);
        l = P<ListCommand>("t1 LIST \"\" * RETURN ()");
        Assert.True(l.Extended);
        Assert.Equal(ImapCommandName.Lsub, P<ListCommand>("A002 LSUB \"#news.\" \"comp.mail.*\"").Name);
    }

    [Fact]
    public void Status_items()
    {
        var s = P<StatusCommand>("A042 STATUS blurdybloop (UIDNEXT MESSAGES SIZE HIGHESTMODSEQ APPENDLIMIT DELETED)");
        Assert.Equal(StatusItems.UidNext | StatusItems.Messages | StatusItems.Size | StatusItems.HighestModSeq | StatusItems.AppendLimit | StatusItems.Deleted, s.Items);
    }

    [Fact]
    public void Search_keys()
    {
        var s = P<SearchCommand>("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"");
        var and = Assert.IsType<AndSearchKey>(s.Criteria);
        Assert.Equal(new FlagSearchKey(SearchKeyKind.Flagged), and.Keys[0]);
        Assert.Equal(new DateSearchKey(SearchKeyKind.Since, new DateOnly(1994, 2, 1)), and.Keys[1]);
        Assert.Equal(new NotSearchKey(new TextSearchKey(SearchKeyKind.From, "Smith")), and.Keys[2]);
        Assert.Null(s.Return);

        s = P<SearchCommand>("A284 SEARCH CHARSET UTF-8 TEXT {12}\r\nXXXXXXXXXXXX");
        Assert.Equal("UTF-8", s.Charset);
        Assert.Equal(new TextSearchKey(SearchKeyKind.Text, "XXXXXXXXXXXX"), s.Criteria);

        s = P<SearchCommand>("a UID SEARCH OR (SEEN UNDELETED) HEADER Message-ID <x@y> UID 1:*");
        Assert.True(s.Uid);
        var or = Assert.IsType<OrSearchKey>(((AndSearchKey)s.Criteria).Keys[0]);
        Assert.IsType<AndSearchKey>(or.Left);
        Assert.Equal(new HeaderSearchKey("Message-ID", "<x@y>"), or.Right);

        s = P<SearchCommand>("a SEARCH RETURN (MIN MAX COUNT SAVE) 1:5,7 LARGER 1024 SMALLER 5000 MODSEQ \"/flags/\\\\draft\" all 620162338");
        Assert.Equal(SearchReturnOptions.Min | SearchReturnOptions.Max | SearchReturnOptions.Count | SearchReturnOptions.Save, s.Return);
        var keys = ((AndSearchKey)s.Criteria).Keys;
        Assert.Equal(new SetSearchKey(SearchKeyKind.SequenceSet, SequenceSet.Parse("1:5,7")), keys[0]);
        Assert.Equal(new ModSeqSearchKey(620162338, "/flags/\\draft", "ALL"), keys[3]);

        Assert.Equal(SearchReturnOptions.None, P<SearchCommand>("a SEARCH RETURN () ALL").Return);
        Assert.Equal(new SetSearchKey(SearchKeyKind.SequenceSet, SequenceSet.SavedResult), P<SearchCommand>("a SEARCH $").Criteria);
        Assert.Equal(new NumberSearchKey(SearchKeyKind.Younger, 3600), P<SearchCommand>("a SEARCH YOUNGER 3600").Criteria);
        Assert.Equal(new DateSearchKey(SearchKeyKind.SentBefore, new DateOnly(2020, 7, 4)), P<SearchCommand>("a SEARCH SENTBEFORE \"4-jul-2020\"").Criteria);
        Assert.Equal(new PartialRange(-1, -100), P<SearchCommand>("a SEARCH RETURN (PARTIAL -1:-100) ALL").Partial);
        Assert.Equal(new TextSearchKey(SearchKeyKind.Keyword, "$Junk"), P<SearchCommand>("a SEARCH KEYWORD $Junk").Criteria);
    }

    [Fact]
    public void Search_nesting_is_limited()
    {
        var deep = "a SEARCH " + string.Concat(Enumerable.Repeat("NOT ", 100)) + "SEEN";
        Assert.Equal("LIMIT", Bad(deep).Code);
        var parens = "a SEARCH " + new string('(', 100) + "SEEN" + new string(')', 100);
        Assert.Equal("LIMIT", Bad(parens).Code);
        Assert.IsType<SearchCommand>(P<SearchCommand>("a SEARCH " + string.Concat(Enumerable.Repeat("NOT ", 20)) + "SEEN"));
    }

    [Fact]
    public void Fetch_items_and_macros()
    {
        var f = P<FetchCommand>("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])");
        Assert.Equal("2:4", f.Set.ToString());
        Assert.Equal(FetchItemKind.Flags, f.Items[0].Kind);
        Assert.Equal(new FetchSection([], SectionText.HeaderFields, ["DATE", "FROM"]), f.Items[1].Section);
        Assert.Equal("HEADER.FIELDS (DATE FROM)", f.Items[1].Section!.ToString());

        f = P<FetchCommand>("a fetch 1:* all");
        Assert.Equal(FetchMacro.All, f.Macro);
        Assert.Equal(4, f.Items.Count);
        Assert.Equal(5, P<FetchCommand>("a FETCH 1 FULL").Items.Count);
        Assert.Equal(3, P<FetchCommand>("a FETCH 1 FAST").Items.Count);

        f = P<FetchCommand>("a UID FETCH 1:* (UID RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE BODY BODY.PEEK[1.2.MIME]<0.1024> BINARY.PEEK[1]<5.10> BINARY.SIZE[2] MODSEQ RFC822 RFC822.HEADER RFC822.TEXT BODY[] BODY[TEXT] BODY[2.HEADER.FIELDS.NOT (X-Spam)] BODY[3])");
        Assert.True(f.Uid);
        var items = f.Items;
        Assert.Equal(FetchItemKind.Body, items[5].Kind);
        Assert.True(items[6].Peek);
        Assert.Equal(new FetchSection([1, 2], SectionText.Mime, []), items[6].Section);
        Assert.Equal(new FetchPartial(0, 1024), items[6].Partial);
        Assert.Equal(FetchItemKind.Binary, items[7].Kind);
        Assert.Equal([1u], items[7].BinaryPart!);
        Assert.Equal([2u], items[8].BinaryPart!);
        Assert.Equal(FetchSection.Whole, items[13].Section);
        Assert.Equal(SectionText.HeaderFieldsNot, items[15].Section!.Text);
        Assert.Equal("3", items[16].Section!.ToString());

        f = P<FetchCommand>("s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
        Assert.Equal((12345UL, true), (f.ChangedSince, f.Vanished));
        Assert.Equal(FetchItemKind.BodySection, P<FetchCommand>("a FETCH 1 body.peek[header]").Items[0].Kind);
    }

    [Fact]
    public void Store_forms()
    {
        var s = P<StoreCommand>("A003 STORE 2:4 +FLAGS (\\Deleted)");
        Assert.Equal((StoreMode.Add, false), (s.Mode, s.Silent));
        Assert.Equal(["\\Deleted"], s.Flags);
        s = P<StoreCommand>("a UID STORE 1:* -FLAGS.SILENT \\Seen $Junk");
        Assert.Equal((StoreMode.Remove, true, true), (s.Mode, s.Silent, s.Uid));
        Assert.Equal(["\\Seen", "$Junk"], s.Flags);
        s = P<StoreCommand>("d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)");
        Assert.Equal(320162338UL, s.UnchangedSince);
        Assert.Empty(P<StoreCommand>("a STORE 1 FLAGS ()").Flags);
    }

    [Fact]
    public void Copy_move_and_uid_expunge()
    {
        var c = P<CopyCommand>("A003 COPY 2:4 MEETING");
        Assert.Equal((ImapCommandName.Copy, "MEETING"), (c.Name, c.Mailbox));
        c = P<CopyCommand>("a UID MOVE 42:69 foo");
        Assert.Equal((ImapCommandName.Move, true), (c.Name, c.Uid));
        var e = P<ExpungeCommand>("A003 UID EXPUNGE 3000:3002");
        Assert.Equal("3000:3002", e.UidSet.ToString());
        Assert.True(e.Uid);
    }

    [Fact]
    public void Sort_and_thread()
    {
        var s = P<SortCommand>("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL");
        Assert.Equal([new SortCriterion(SortKey.Subject, false), new SortCriterion(SortKey.Date, true)], s.Order);
        s = P<SortCommand>("A284 UID SORT RETURN (MIN COUNT) (DISPLAYFROM) US-ASCII UNDELETED SINCE 1-Feb-1994");
        Assert.Equal(SearchReturnOptions.Min | SearchReturnOptions.Count, s.Return);
        Assert.True(s.Uid);
        var t = P<ThreadCommand>("A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000");
        Assert.Equal(("ORDEREDSUBJECT", "UTF-8"), (t.Algorithm, t.Charset));
        Assert.True(P<ThreadCommand>("a UID THREAD REFERENCES US-ASCII TEXT \"gewp\"").Uid);
    }

    [Fact]
    public void Quota_acl_id_compress()
    {
        Assert.Equal("", P<MailboxCommand>("G0001 GETQUOTA \"\"").Mailbox);
        Assert.Equal(ImapCommandName.GetQuotaRoot, P<MailboxCommand>("A003 GETQUOTAROOT INBOX").Name);
        var q = P<SetQuotaCommand>("S0000 SETQUOTA \"#user/alice\" (STORAGE 510 MESSAGE 100)");
        Assert.Equal([new QuotaLimit("STORAGE", 510), new QuotaLimit("MESSAGE", 100)], q.Limits);
        var acl = P<AclCommand>("A035 SETACL INBOX/Drafts John lrQswicda");
        Assert.Equal(("INBOX/Drafts", "John", "lrQswicda"), (acl.Mailbox, acl.Identifier, acl.Rights));
        Assert.Null(P<AclCommand>("A036 DELETEACL INBOX/Drafts Fred").Rights);
        Assert.Equal(ImapCommandName.ListRights, P<AclCommand>("a LISTRIGHTS ~/Mail/saved smith").Name);
        Assert.Equal(ImapCommandName.GetAcl, P<MailboxCommand>("A002 GETACL INBOX").Name);
        Assert.Equal(ImapCommandName.MyRights, P<MailboxCommand>("A003 MYRIGHTS INBOX").Name);
        var id = P<IdCommand>("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" NIL)");
        Assert.Equal(3, id.Parameters!.Count);
        Assert.Null(id.Parameters[2].Value);
        Assert.Null(P<IdCommand>("a ID NIL").Parameters);
        Assert.Equal("DEFLATE", P<CompressCommand>("a COMPRESS deflate").Mechanism);
    }

    [Fact]
    public void Too_many_arguments_is_a_limit()
    {
        var line = "a STORE 1 +FLAGS (" + string.Join(' ', Enumerable.Range(0, 50).Select(i => "k" + i)) + ")";
        Assert.Equal("LIMIT", ImapCommandParserError(line, new ImapLimits { MaxArguments = 20 }).Code);
    }

    private static ImapCommandError ImapCommandParserError(string line, ImapLimits limits)
    {
        Assert.Null(ImapCommandParser.Parse(System.Text.Encoding.UTF8.GetBytes(line), limits, out var error));
        return error!;
    }
}
