using System.Text;

namespace Postern.Protocols.Imap.Tests;

/// <summary>What real clients send, as whole conversations' worth of client bytes.</summary>
public sealed class ClientPipelineTests
{
    [Fact]
    public void A_thunderbird_style_session()
    {
        var wire = string.Join("\r\n",
            "1 capability",
            "2 authenticate PLAIN AHVzZXIAcGFzcw==",
            "3 ID (\"name\" \"Thunderbird\" \"version\" \"128.3.1\")",
            "4 enable CONDSTORE",
            "5 namespace",
            "6 list (subscribed) \"\" \"*\" return (special-use)",
            "7 select \"INBOX\" (CONDSTORE)",
            "8 UID fetch 1:* (FLAGS) (CHANGEDSINCE 12345)",
            "9 UID fetch 1:4 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
            "10 UID fetch 3 (UID RFC822.SIZE BODY.PEEK[])",
            "11 uid store 3 +Flags (\\Seen)",
            "12 uid copy 3 \"Archives/2024\"",
            "13 IDLE",
            "");
        var d = Driver.Run(wire, chunk: 13);
        Assert.Empty(d.Errors);
        Assert.Equal(13, d.Commands.Count);
        Assert.Equal(ImapCommandName.Idle, d.Commands[^1].Name);
        Assert.Equal(14, Assert.IsType<FetchCommand>(d.Commands[8]).Items[3].Section!.Fields.Count);

        // While idling the session reads lines itself, then goes back to the reader.
        var rest = new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("DONE\r\n14 uid move 4 \"Trash\"\r\n15 logout\r\n"));
        Assert.True(ImapCommandReader.TryReadLine(rest, 100, out var line, out var consumed, out _));
        Assert.True(ImapCommandReader.IsDone(line));
        d.Feed(System.Buffers.BuffersExtensions.ToArray(rest.Slice(consumed)));
        Assert.Equal([ImapCommandName.Move, ImapCommandName.Logout], d.Commands[13..].Select(c => c.Name));
        Assert.True(d.Commands[13].Uid);
    }

    [Fact]
    public void An_mbsync_style_session_with_literal_plus()
    {
        var message = "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
        var wire = "1 CAPABILITY\r\n"
            + "2 LOGIN \"user@example.com\" {8+}\r\np@ss wrd\r\n"
            + "3 LIST \"\" \"*\"\r\n"
            + "4 SELECT \"INBOX\"\r\n"
            + "5 UID FETCH 1:* (UID FLAGS)\r\n"
            + "6 UID STORE 5 +FLAGS.SILENT (\\Seen \\Flagged)\r\n"
            + $"7 APPEND \"INBOX\" (\\Seen) {{{message.Length}+}}\r\n{message}\r\n"
            + "8 UID FETCH 7:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TUID)])\r\n"
            + "9 UID EXPUNGE 5\r\n"
            + "10 CLOSE\r\n"
            + "11 LOGOUT\r\n";
        var d = Driver.Run(wire, perByteSegments: true);
        Assert.Empty(d.Errors);
        Assert.Equal(11, d.Commands.Count);
        Assert.Equal("p@ss wrd", Assert.IsType<LoginCommand>(d.Commands[1]).Password);
        Assert.Equal(message, d.Literal(0));
        Assert.Empty(d.Continuations);
    }

    [Fact]
    public void Parsing_a_fetch_allocates_little()
    {
        var line = Encoding.ASCII.GetBytes("A7 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])\r\n");
        var reader = new ImapCommandReader();
        var buffer = new System.Buffers.ReadOnlySequence<byte>(line);
        reader.Read(buffer, out _); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(ImapReadStatus.Command, reader.Read(buffer, out _).Status);
        }

        var perCommand = (GC.GetAllocatedBytesForCurrentThread() - before) / 100;
        Assert.True(perCommand < 3000, $"{perCommand} bytes per command");
    }
}
