using System.Text;

namespace Postern.Protocols.Imap.Tests;

public sealed class ReaderTests
{
    [Fact]
    public void Pipelined_commands_come_out_one_by_one()
    {
        var d = Driver.Run("a1 NOOP\r\na2 CAPABILITY\r\n\r\na3 LOGOUT\n");
        Assert.Equal(["a1", "a2", "a3"], d.Commands.Select(c => c.Tag));
        Assert.Empty(d.Errors);
    }

    [Fact]
    public void A_synchronizing_literal_asks_for_the_go_ahead()
    {
        var reader = new ImapCommandReader();
        var r = reader.Read(new(Encoding.ASCII.GetBytes("A001 LOGIN {11}\r\n")), out _);
        Assert.Equal(ImapReadStatus.ContinuationRequest, r.Status);
        Assert.Equal((11L, true, "A001", "LOGIN"), (r.Literal!.Length, r.Literal.Synchronizing, r.Literal.Tag, r.Literal.CommandName));
        Assert.Throws<InvalidOperationException>(() => reader.Read(new(Encoding.ASCII.GetBytes("x")), out _));
        reader.AcceptLiteral();
        r = reader.Read(new(Encoding.ASCII.GetBytes("FRED FOOBAR {7}\r\n")), out _);
        Assert.Equal(ImapReadStatus.ContinuationRequest, r.Status);
        reader.AcceptLiteral();
        r = reader.Read(new(Encoding.ASCII.GetBytes("fat man\r\n")), out _);
        var login = Assert.IsType<LoginCommand>(r.Command);
        Assert.Equal(("FRED FOOBAR", "fat man"), (login.UserName, login.Password));
    }

    [Fact]
    public void A_rejected_synchronizing_literal_forgets_the_command()
    {
        var reader = new ImapCommandReader();
        Assert.Equal(ImapReadStatus.ContinuationRequest, reader.Read(new(Encoding.ASCII.GetBytes("a LOGIN {5}\r\n")), out _).Status);
        Assert.True(reader.RejectLiteral());
        Assert.True(reader.IsIdle);
        Assert.IsType<SimpleCommand>(reader.Read(new(Encoding.ASCII.GetBytes("b NOOP\r\n")), out _).Command);
    }

    [Fact]
    public void Non_synchronizing_literals_need_no_go_ahead()
    {
        var d = Driver.Run("a LOGIN {4+}\r\nuser {6+}\r\npa\r\nss\r\n");
        Assert.Empty(d.Continuations);
        var login = Assert.IsType<LoginCommand>(Assert.Single(d.Commands));
        Assert.Equal("pa\r\nss", login.Password);
    }

    [Fact]
    public void Literal_minus_limits_non_synchronizing_literals_to_4096()
    {
        var big = new string('x', 5000);
        var d = Driver.Run($"a LOGIN user {{5000+}}\r\n{big}\r\nb NOOP\r\n", limits: new ImapLimits { LiteralPlus = false });
        var e = Assert.Single(d.Errors);
        Assert.Equal(("a", ImapStatus.Bad, "TOOBIG", false), (e.Tag, e.Status, e.Code, e.CloseConnection));
        Assert.Equal("b", Assert.Single(d.Commands).Tag);
        Assert.Single(Driver.Run($"a LOGIN user {{4096+}}\r\n{new string('x', 4096)}\r\n", limits: new ImapLimits { LiteralPlus = false }).Commands);
    }

    [Fact]
    public void The_dash_form_is_not_a_literal()
    {
        var d = Driver.Run("a LOGIN user {5-}\r\n");
        Assert.Equal("a", Assert.Single(d.Errors).Tag);
    }

    [Fact]
    public void A_literal_inside_a_quoted_string_is_text()
    {
        var d = Driver.Run("a LOGIN user \"pw {5}\"\r\n");
        Assert.Equal("pw {5}", Assert.IsType<LoginCommand>(Assert.Single(d.Commands)).Password);
    }

    [Fact]
    public void Append_streams_the_message()
    {
        var message = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\n\r\nHello Joe\r\n";
        var wire = $"A003 APPEND saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {{{message.Length}}}\r\n{message}\r\n";
        var d = Driver.Run(wire, chunk: 7);
        var append = Assert.IsType<AppendCommand>(Assert.Single(d.Commands));
        Assert.Equal("saved-messages", append.Mailbox);
        var m = Assert.Single(append.Messages);
        Assert.Equal(["\\Seen"], m.Flags);
        Assert.Equal(new DateTimeOffset(1996, 7, 17, 2, 44, 25, TimeSpan.FromHours(-7)), m.InternalDate);
        Assert.Equal(message, d.Literal(0));
        Assert.Equal(["+ " + message.Length, "start 0", "end 0", "command Append"], d.Events);
        Assert.Equal("saved-messages", d.Continuations[0].Mailbox);
    }

    [Fact]
    public void Multiappend_with_a_literal_mailbox_and_literal8()
    {
        var wire = "a APPEND {5}\r\nINBOX {3+}\r\nabc ~{4+}\r\nd\0ef (\\Draft) {0}\r\n\r\n";
        var d = Driver.Run(wire);
        var append = Assert.IsType<AppendCommand>(Assert.Single(d.Commands));
        Assert.Equal("INBOX", append.Mailbox);
        Assert.Equal(3, append.Messages.Count);
        Assert.Equal(("abc", "d\0ef", ""), (d.Literal(0), d.Literal(1), d.Literal(2)));
        Assert.True(append.Messages[1].Binary);
        Assert.Equal(["\\Draft"], append.Messages[2].Flags);
        Assert.Equal(2, d.Continuations.Count); // the mailbox literal, and {0} for the last message
    }

    [Fact]
    public void Append_errors_come_before_the_go_ahead()
    {
        var d = Driver.Run("a APPEND INBOX (\\Seen \"bad date\" {10}\r\nb NOOP\r\n");
        Assert.Equal("a", Assert.Single(d.Errors).Tag);
        Assert.Empty(d.Continuations);
        Assert.Equal("b", Assert.Single(d.Commands).Tag);
        d = Driver.Run("a APPEND INBOX\r\n");
        Assert.Equal("a", Assert.Single(d.Errors).Tag);
        d = Driver.Run("a APPEND INBOX {1+}\r\nx junk\r\nb NOOP\r\n");
        Assert.Equal("a", Assert.Single(d.Errors).Tag);
        Assert.Equal("b", Assert.Single(d.Commands).Tag);
    }

    [Fact]
    public void Appendlimit_gives_no_toobig()
    {
        var limits = new ImapLimits { MaxLiteralSize = 100, MaxDiscardSize = 1000 };
        var d = Driver.Run("a APPEND INBOX {101}\r\nb NOOP\r\n", limits: limits);
        var e = Assert.Single(d.Errors);
        Assert.Equal((ImapStatus.No, "TOOBIG", false), (e.Status, e.Code, e.CloseConnection));
        Assert.Equal("b", Assert.Single(d.Commands).Tag);

        // Non-synchronizing: the bytes come anyway and are skipped...
        d = Driver.Run($"a APPEND INBOX {{200+}}\r\n{new string('x', 200)}\r\nb NOOP\r\n", limits: limits);
        Assert.Equal((ImapStatus.No, "TOOBIG", false), (d.Errors[0].Status, d.Errors[0].Code, d.Errors[0].CloseConnection));
        Assert.Equal("b", Assert.Single(d.Commands).Tag);

        // ...unless there are too many of them to skip.
        d = Driver.Run($"a APPEND INBOX {{2000+}}\r\n{new string('x', 2000)}\r\nb NOOP\r\n", limits: limits);
        Assert.True(d.Errors[0].CloseConnection);
    }

    [Fact]
    public void A_too_long_line_is_refused_and_skipped()
    {
        var limits = new ImapLimits { MaxLineLength = 100 };
        var d = Driver.Run($"a NOOP {new string('x', 300)}\r\nb NOOP\r\n", chunk: 16, limits: limits);
        var e = Assert.Single(d.Errors);
        Assert.Equal(("a", "TOOBIG"), (e.Tag, e.Code));
        Assert.Equal("b", Assert.Single(d.Commands).Tag);

        // A non-synchronizing literal at the end of the skipped line is skipped too.
        d = Driver.Run($"a LOGIN {new string('x', 300)} {{5+}}\r\nabcde\r\nb NOOP\r\n", limits: limits);
        Assert.Equal("b", Assert.Single(d.Commands).Tag);
    }

    [Fact]
    public void Inline_literal_limits()
    {
        var limits = new ImapLimits { MaxInlineLiteralSize = 10 };
        var d = Driver.Run("a LOGIN {11}\r\nb NOOP\r\n", limits: limits);
        Assert.Equal(("a", ImapStatus.Bad, "TOOBIG"), (d.Errors[0].Tag, d.Errors[0].Status, d.Errors[0].Code));
        Assert.Equal("b", Assert.Single(d.Commands).Tag);
        d = Driver.Run("a SEARCH TEXT {999999999999+}\r\n", limits: limits);
        Assert.True(d.Errors[0].CloseConnection);
    }

    [Fact]
    public void Literal_count_is_limited()
    {
        var wire = "a SEARCH" + string.Concat(Enumerable.Repeat(" TEXT {1+}\r\nx", 20)) + "\r\nb NOOP\r\n";
        var d = Driver.Run(wire, limits: new ImapLimits { MaxLiteralsPerCommand = 5 });
        Assert.Equal("LIMIT", d.Errors[0].Code);
    }

    [Fact]
    public void Idle_done_and_continuation_lines()
    {
        var buffer = new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("done\r\nrest"));
        Assert.True(ImapCommandReader.TryReadLine(buffer, 100, out var line, out var consumed, out _));
        Assert.True(ImapCommandReader.IsDone(line));
        Assert.Equal(6, buffer.Slice(0, consumed).Length);
        Assert.False(ImapCommandReader.TryReadLine(buffer.Slice(consumed), 100, out _, out _, out var tooLong));
        Assert.False(tooLong);
        Assert.False(ImapCommandReader.TryReadLine(new(new byte[200]), 100, out _, out _, out tooLong));
        Assert.True(tooLong);
    }

    public static TheoryData<string> SplitSamples() =>
    [
        "a1 LOGIN {4}\r\nfred {6+}\r\nsecret\r\na2 SELECT \"INBOX\"\r\n",
        "a APPEND {5}\r\nINBOX (\\Seen) \" 7-Jul-2020 10:00:00 +0200\" {12}\r\nHello\r\nWorld ~{2+}\r\n\0\0\r\nb UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])\r\n",
        "x SEARCH CHARSET UTF-8 OR SUBJECT \"a {3}\" TEXT {3}\r\nabc\r\ny NOOP\r\n",
    ];

    [Theory]
    [MemberData(nameof(SplitSamples))]
    public void Every_split_gives_the_same_result(string wire)
    {
        var whole = Driver.Run(wire);
        Assert.Empty(whole.Errors);
        var expected = string.Join("|", whole.Events) + Literals(whole);
        Assert.Equal(expected, Describe(Driver.Run(wire, perByteSegments: true)));
        Assert.Equal(expected, Describe(Driver.Run(wire, chunk: 1)));
        var bytes = Encoding.UTF8.GetBytes(wire);
        for (var i = 1; i < bytes.Length; i++)
        {
            var d = new Driver();
            d.Feed(bytes[..i]);
            d.Feed(bytes[i..]);
            Assert.Equal(expected, Describe(d));
        }

        Assert.Equal(
            whole.Commands.Select(c => c.ToString()),
            Driver.Run(wire, chunk: 3).Commands.Select(c => c.ToString()));

        static string Describe(Driver d) => string.Join("|", d.Events) + Literals(d);

        static string Literals(Driver d) => string.Join(",", d.Literals.OrderBy(p => p.Key).Select(p => Convert.ToHexString(p.Value.ToArray())));
    }

    [Fact]
    public void A_large_multiappend_is_bounded_by_its_own_limit()
    {
        var wire = new StringBuilder("a APPEND INBOX");
        for (var i = 0; i < 3000; i++)
        {
            wire.Append(" (\\Seen) {1+}\r\nx");
        }

        wire.Append("\r\n");
        var append = Assert.IsType<AppendCommand>(Assert.Single(Driver.Run(wire.ToString()).Commands));
        Assert.Equal(3000, append.Messages.Count);
        var d = Driver.Run(wire.ToString() + "b NOOP\r\n", limits: new ImapLimits { MaxAppendMessages = 10 });
        Assert.Equal((ImapStatus.No, "LIMIT"), (d.Errors[0].Status, d.Errors[0].Code));
        Assert.Equal("b", Assert.Single(d.Commands).Tag);
    }

    [Fact]
    public void Commands_after_an_append_are_read_normally()
    {
        var d = Driver.Run("a APPEND INBOX {3+}\r\nabc\r\nb UID FETCH 1 UID\r\n");
        Assert.Equal(["command Append", "command Fetch"], d.Events.Where(e => e.StartsWith("command", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_non_synchronizing_append_can_be_refused_while_it_arrives()
    {
        var reader = new ImapCommandReader(new ImapLimits { MaxDiscardSize = 100 });
        var wire = new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("a APPEND Nowhere {10+}\r\n0123456789\r\nb NOOP\r\n"));
        var r = reader.Read(wire, out var consumed);
        Assert.Equal(ImapReadStatus.LiteralStart, r.Status);
        Assert.Equal("Nowhere", r.Literal!.Mailbox);
        Assert.True(reader.RejectLiteral());
        r = reader.Read(wire.Slice(consumed), out _);
        Assert.Equal("b", Assert.IsType<SimpleCommand>(r.Command).Tag);

        reader = new ImapCommandReader(new ImapLimits { MaxDiscardSize = 5 });
        Assert.Equal(ImapReadStatus.LiteralStart, reader.Read(wire, out _).Status);
        Assert.False(reader.RejectLiteral()); // too much to skip: answer and close
        Assert.Throws<InvalidOperationException>(() => reader.RejectLiteral());
    }

    [Fact]
    public void An_empty_append_message_can_be_refused()
    {
        var reader = new ImapCommandReader();
        var wire = new System.Buffers.ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("a APPEND x {0+}\r\n\r\nb NOOP\r\n"));
        Assert.Equal(ImapReadStatus.LiteralStart, reader.Read(wire, out var consumed).Status);
        Assert.True(reader.RejectLiteral());
        Assert.Equal("b", reader.Read(wire.Slice(consumed), out _).Command!.Tag);
    }

    [Theory]
    [MemberData(nameof(SplitSamples))]
    public void A_prefix_gives_only_the_commands_it_completes(string wire)
    {
        var bytes = Encoding.UTF8.GetBytes(wire);
        var whole = Driver.Run(wire).Commands.Select(c => c.ToString()).ToList();
        for (var i = 0; i < bytes.Length; i++)
        {
            var d = new Driver();
            d.Feed(bytes[..i]);
            Assert.Empty(d.Errors);
            Assert.Equal(whole.Take(d.Commands.Count), d.Commands.Select(c => c.ToString()));
            Assert.True(d.Commands.Count < whole.Count, "the last command came out before its line end");
        }
    }

    [Fact]
    public void A_big_message_is_streamed_not_buffered()
    {
        var size = 5 * 1024 * 1024;
        var reader = new ImapCommandReader();
        var head = Encoding.ASCII.GetBytes($"a APPEND INBOX (\\Seen) {{{size}+}}\r\n");
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'x');
        long streamed = 0;
        void Pump(System.Buffers.ReadOnlySequence<byte> buffer)
        {
            while (true)
            {
                var r = reader.Read(buffer, out var consumed);
                buffer = buffer.Slice(consumed);
                if (r.Status == ImapReadStatus.LiteralData)
                {
                    streamed += r.Data.Length;
                }

                Assert.NotEqual(ImapReadStatus.Error, r.Status);
                if (r.Status == ImapReadStatus.NeedMoreData || r.Status == ImapReadStatus.Command)
                {
                    Assert.True(reader.BufferCapacity <= 4096, "the message was buffered");
                    return;
                }
            }
        }

        Pump(new(head));
        for (var sent = 0; sent < size; sent += chunk.Length)
        {
            Pump(new(chunk));
        }

        Pump(new(Encoding.ASCII.GetBytes("\r\n")));
        Assert.Equal(size, streamed);
        Assert.True(reader.IsIdle);
    }
}
