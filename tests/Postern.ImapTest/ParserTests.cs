namespace Postern.ImapTest;

/// <summary>The script and mbox formats as imaptest reads them.</summary>
public sealed class ParserTests
{
    [Fact]
    public void Mbox_messages_keep_the_blank_line_before_the_next_From_line_and_get_CRLF()
    {
        var messages = Mbox.Parse("From a@b  Fri Feb 22 17:06:23 2008\nSubject: one\n\nbody1\n\nFrom a@b  Sat Feb 23 01:02:03 2008\nSubject: two\n\nbody2\n");
        Assert.Equal(2, messages.Count);
        // imaptest's fetch-body expects BODY[TEXT] of message 1 to be "body1\r\n\r\n": the blank line is the message's.
        Assert.Equal("Subject: one\r\n\r\nbody1\r\n\r\n", messages[0].Content);
        Assert.Equal("22-Feb-2008 17:06:23 +0000", messages[0].InternalDate);
        Assert.Equal("23-Feb-2008 01:02:03 +0000", messages[1].InternalDate);
    }

    [Fact]
    public void Literal_blocks_become_literals_and_binary_blocks_keep_the_file_s_CR()
    {
        var script = ImapScript.Parse("t", "state: auth\n\nok append x {{{\nline1\nline2\n}}}\nok fetch 1 body[]\n* 1 fetch (body[] ~{{{\n3\r\n\n}}})\n", "unused.mbox");
        Assert.Equal("append x {12}\r\nline1\r\nline2", script.Groups[0].Commands[0].Text);
        var fetch = script.Groups[1].Untagged[0].Args;
        var items = fetch[2].Items;
        Assert.Equal("$!unordered=2", items[0].Text);
        Assert.Equal("3\r\n", items[2].Text);
        Assert.Equal(ImapArgKind.Literal, items[2].Kind);
    }

    [Fact]
    public void Fetch_flags_match_in_any_order_but_not_with_extras_other_than_recent()
    {
        var script = ImapScript.Parse("t", "\nok fetch 1 flags\n* 1 fetch (flags (\\seen $$a))\n", "unused.mbox");
        var expected = script.Groups[0].Untagged[0].Args;
        static IReadOnlyList<ImapArg> Reply(string s) => ImapArgParser.TryParse(s, out _)!;
        Assert.Equal(Matcher.Full, new Matcher().MatchArgs(expected, 0, Reply("1 FETCH (FLAGS ($a \\Recent \\Seen))"), 0, Matcher.Full, false));
        Assert.NotEqual(Matcher.Full, new Matcher().MatchArgs(expected, 0, Reply("1 FETCH (FLAGS ($a \\Seen \\Flagged))"), 0, Matcher.Full, false));
        Assert.NotEqual(Matcher.Full, new Matcher().MatchArgs(expected, 0, Reply("1 FETCH (FLAGS (\\Seen))"), 0, Matcher.Full, false));
    }

    [Fact]
    public void Variables_are_captured_once_and_then_compared()
    {
        var m = new Matcher();
        static IReadOnlyList<ImapArg> Args(string s) => ImapArgParser.TryParse(s, out _)!;
        Assert.Equal(Matcher.Full, m.MatchArgs(Args("1 fetch (uid $uid1)"), 0, Args("1 FETCH (UID 17)"), 0, Matcher.Full, false));
        Assert.Equal("17", m.Variables["uid1"]);
        Assert.NotEqual(Matcher.Full, m.MatchArgs(Args("2 fetch (uid $uid1)"), 0, Args("2 FETCH (UID 18)"), 0, Matcher.Full, false));
        Assert.Equal("uid store 17 flags", m.ExpandCommand("uid store $uid1 flags"));
        // Tagged replies match by prefix: "ok [read-write]" accepts the server's text after the code.
        Assert.Equal(Matcher.Full, m.MatchArgs(Args("ok [read-write]"), 0, Args("OK [READ-WRITE] Select completed"), 0, Matcher.Full, true));
        Assert.NotEqual(Matcher.Full, m.MatchArgs(Args("ok [read-write]"), 0, Args("OK [READ-ONLY] Examine completed"), 0, Matcher.Full, true));
    }
}
