using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Protocols.Imap.Tests;

public sealed class CodecTests
{
    [Fact]
    public void Utf8_accept_passes_names_through()
    {
        Assert.True(MailboxNameCodec.TryDecode("Entwürfe & Co", utf8Enabled: true, out var name));
        Assert.Equal("Entwürfe & Co", name);
        Assert.False(MailboxNameCodec.TryDecode("Entwürfe", utf8Enabled: false, out _));
        Assert.False(MailboxNameCodec.TryDecode("a\u0001b", utf8Enabled: true, out _));
        Assert.Equal("Entwürfe", MailboxNameCodec.Encode("Entwürfe", utf8Enabled: true));
        Assert.Equal("Entw&APw-rfe", MailboxNameCodec.Encode("Entwürfe", utf8Enabled: false));
    }

    [Fact]
    public void Date_time_parse_and_format()
    {
        Assert.True(ImapDateTime.TryParseDateTime("17-Jul-1996 02:44:25 -0700", out var d));
        Assert.Equal(new DateTimeOffset(1996, 7, 17, 2, 44, 25, TimeSpan.FromHours(-7)), d);
        Assert.True(ImapDateTime.TryParseDateTime(" 7-jul-1996 02:44:25 +0530", out d));
        Assert.Equal(new DateTimeOffset(1996, 7, 7, 2, 44, 25, new TimeSpan(5, 30, 0)), d);
        Assert.True(ImapDateTime.TryParseDateTime("7-Jul-1996 02:44:25 +0000", out _));
        Assert.Equal("07-Jul-1996 02:44:25 +0530", ImapDateTime.FormatDateTime(d));
        foreach (var bad in new[] { "17-Jul-1996 02:44:25", "32-Jul-1996 02:44:25 -0700", "17-Jux-1996 02:44:25 -0700", "17-Jul-1996 24:00:00 -0700", "17-Jul-96 02:44:25 -0700", "29-Feb-2023 00:00:00 +0000", "" })
        {
            Assert.False(ImapDateTime.TryParseDateTime(bad, out _), bad);
        }

        Assert.True(ImapDateTime.TryParseDate("1-Feb-1994", out var date));
        Assert.Equal(new DateOnly(1994, 2, 1), date);
        Assert.Equal("1-Feb-1994", ImapDateTime.FormatDate(date));
        Assert.False(ImapDateTime.TryParseDate("1-Feb-94", out _));
        Assert.False(ImapDateTime.TryParseDate("001-Feb-1994", out _));
    }

    [Fact]
    public void Date_time_round_trips()
    {
        var gen = from ticks in Gen.Choose(0, int.MaxValue)
                  from minutes in Gen.Choose(-12 * 60, 14 * 60)
                  select new DateTimeOffset(new DateTime(2000, 1, 1).AddSeconds(ticks), TimeSpan.FromMinutes(minutes));
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), value =>
            ImapDateTime.TryParseDateTime(ImapDateTime.FormatDateTime(value), out var back) && back == value && back.Offset == value.Offset));
    }

    [Fact]
    public void Sequence_sets()
    {
        var s = SequenceSet.Parse("3,5:7,*");
        Assert.Equal([3u, 5, 6, 7, 10], s.Enumerate(10));
        Assert.True(s.Contains(10, 10));
        Assert.False(s.Contains(4, 10));
        Assert.Equal([1u, 2, 3], SequenceSet.Parse("3:1").Enumerate(100));
        Assert.Equal([8u, 9, 10], SequenceSet.Parse("8:*").Enumerate(10));
        Assert.Equal([10u, 11, 12], SequenceSet.Parse("12:*").Enumerate(10)); // "*" is 10: 12:10 is 10:12
        Assert.Empty(SequenceSet.Parse("1:*").Enumerate(0));
        Assert.False(SequenceSet.Parse("*").Contains(1, 0));
        Assert.Equal(4UL, SequenceSet.Parse("1:3,2:4").Count(10));
        Assert.True(SequenceSet.Parse("$").IsSavedResult);
        Assert.False(SequenceSet.Parse("4:5").IsWithin(4));
        Assert.True(SequenceSet.Parse("4:*").IsWithin(4));
        Assert.Equal([4294967294u, 4294967295u], SequenceSet.Parse("4294967294:4294967295").Enumerate(uint.MaxValue));
        Assert.Equal("1:3,5,7:8", SequenceSet.FromNumbers([8, 1, 2, 3, 5, 7, 2])!.ToString());
        Assert.Null(SequenceSet.FromNumbers([]));
        foreach (var bad in new[] { "", "0", "1:0", "1,", ",1", "1::2", "a", "1 2", "4294967296", "01", "$,1", "**" })
        {
            Assert.False(SequenceSet.TryParse(bad, out _), bad);
        }
    }

    private static Gen<SequenceSet> SequenceSets() =>
        from ranges in Gen.NonEmptyListOf(
            from a in Gen.Frequency((1, Gen.Constant(0u)), (6, Gen.Choose(1, 60).Select(i => (uint)i)))
            from b in Gen.Frequency((1, Gen.Constant(0u)), (6, Gen.Choose(1, 60).Select(i => (uint)i)))
            select new SequenceRange(a, b))
        select SequenceSet.Of([.. ranges]);

    [Fact]
    public void Sequence_sets_round_trip_and_agree_with_membership()
    {
        var gen = from set in SequenceSets()
                  from max in Gen.Choose(0, 70)
                  select (set, (uint)max);
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), sample =>
        {
            var (set, max) = sample;
            var parsed = SequenceSet.Parse(set.ToString());
            var members = set.Enumerate(max).ToList();
            var expected = Enumerable.Range(1, 80).Select(i => (uint)i).Where(n => set.Contains(n, max)).ToList();
            var compact = SequenceSet.FromNumbers(members);
            return parsed.Equals(set)
                && members.SequenceEqual(expected)
                && (ulong)members.Count == set.Count(max)
                && (compact is null ? members.Count == 0 : compact.Enumerate(max).SequenceEqual(members));
        }));
    }

    [Fact]
    public void Writer_status_responses_and_codes()
    {
        Assert.Equal("a1 OK [APPENDUID 38505 3955] APPEND completed\r\n", Write(w => w.Tagged("a1", ImapStatus.Ok, "APPEND completed", ImapResponseCode.AppendUid(38505, SequenceSet.Single(3955)))));
        Assert.Equal("a2 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n", Write(w => w.Tagged("a2", ImapStatus.Ok, "Done", ImapResponseCode.CopyUid(38505, SequenceSet.Parse("304,319:320"), SequenceSet.Range(3956, 3958)))));
        Assert.Equal("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n", Write(w => w.Untagged(ImapStatus.Ok, "UIDs valid", ImapResponseCode.UidValidity(3857529045))));
        Assert.Equal("a NO [TRYCREATE] No such mailbox\r\n", Write(w => w.Tagged("a", ImapStatus.No, "No such mailbox", ImapResponseCode.TryCreate)));
        Assert.Equal("* OK [CAPABILITY IMAP4rev1 IDLE] Ready\r\n", Write(w => w.Untagged(ImapStatus.Ok, "Ready", ImapResponseCode.Capability(["IMAP4rev1", "IDLE"]))));
        Assert.Equal("* OK [HIGHESTMODSEQ 715194045007] Highest\r\n", Write(w => w.Untagged(ImapStatus.Ok, "Highest", ImapResponseCode.HighestModSeq(715194045007))));
        Assert.Equal("a NO [OVERQUOTA] Quota exceeded\r\n", Write(w => w.Tagged("a", ImapStatus.No, "Quota exceeded", ImapResponseCode.OverQuota)));
        Assert.Equal("* BYE [ALERT] Shutting down\r\n", Write(w => w.Untagged(ImapStatus.Bye, "Shutting down", ImapResponseCode.Alert)));
        Assert.Equal("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n", Write(w => w.Untagged(ImapStatus.Ok, "Limited", ImapResponseCode.PermanentFlags(["\\Deleted", "\\Seen", "\\*"]))));
        Assert.Equal("+ Ready\r\n", Write(w => w.Continuation()));
        Assert.Equal("+ AAEC\r\n", Write(w => w.ContinuationBase64([0, 1, 2])));
        Assert.Equal("a BAD no  newlines\r\n", Write(w => w.Tagged("a", ImapStatus.Bad, "no\r\nnewlines")));
        Assert.Equal("a NO [TOOBIG] Message too large\r\n", Write(w => w.Error(new ImapCommandError("a", ImapStatus.No, "TOOBIG", "Message too large"))));
        Assert.Equal("* BAD Invalid tag\r\n* BYE Too much invalid input\r\n", Write(w => w.Error(new ImapCommandError(null, ImapStatus.Bad, null, "Invalid tag", CloseConnection: true))));
    }

    [Fact]
    public void Writer_data_responses_choose_the_safe_string_form()
    {
        Assert.Equal("* 12 FETCH (FLAGS (\\Seen) UID 4827313 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n", Write(w =>
            w.Star().Number(12).Atom("FETCH").OpenList().Atom("FLAGS").Flags(["\\Seen"]).Atom("UID").Number(4827313)
                .Atom("INTERNALDATE").DateTime(new DateTimeOffset(1996, 7, 17, 2, 44, 25, TimeSpan.FromHours(-7))).CloseList().EndLine()));
        Assert.Equal("* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe\r\n", Write(w => w.Star().Atom("LIST").Flags(["\\HasNoChildren"]).String("/").Mailbox("Entwürfe").EndLine()));
        Assert.Equal("* LIST () \"/\" \"Entwürfe\"\r\n", Write(w => w.Star().Atom("LIST").Flags([]).String("/").Mailbox("Entwürfe").EndLine(), utf8: true));
        Assert.Equal("* X \"two words\" {5}\r\na\r\nbc NIL \"NIL\" \"\" {2}\r\nü \"q\\\"\\\\\"\r\n", Write(w =>
            w.Star().Atom("X").AString("two words").String("a\r\nbc").String(null).AString("NIL").AString("").String("ü").String("q\"\\").EndLine()));
        Assert.Equal("* 1 FETCH (BODY[] {3}\r\nabc BINARY[1] ~{2}\r\n\0\u0001)\r\n", Write(w =>
            w.Star().Number(1).Atom("FETCH").OpenList().Atom("BODY[]").Literal("abc"u8).Atom("BINARY[1]").Literal8([0, 1]).CloseList().EndLine()));
        Assert.Equal("* 1 FETCH (BODY[] {5}\r\nhello)\r\n", Write(w =>
            w.Star().Number(1).Atom("FETCH").OpenList().Atom("BODY[]").LiteralHeader(5).RawBytes("hello"u8).CloseList().EndLine()));
    }

    private static string Write(Action<ImapResponseWriter> write, bool utf8 = false)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(new ImapResponseWriter(buffer) { Utf8Enabled = utf8 });
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static Gen<string> Strings() =>
        Gen.ArrayOf(Gen.Frequency(
                (6, Gen.Choose(0x20, 0x7E)),
                (1, Gen.Elements(0x0D, 0x0A, 0x09, 0x22, 0x5C, 0x7B, 0x7D, 0x28, 0x29, 0x2A, 0x25, 0x5D)),
                (1, Gen.Choose(0xA0, 0x3000)),
                (1, Gen.Choose(0x1F600, 0x1F64F))))
            .Select(cps => string.Concat(cps.Select(char.ConvertFromUtf32)));

    [Fact]
    public void Strings_written_by_the_writer_parse_back()
    {
        var gen = from user in Strings()
                  from password in Strings()
                  from utf8 in Gen.Elements(true, false)
                  from chunk in Gen.Choose(1, 40)
                  select (user, password, utf8, chunk);
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), sample =>
        {
            var wire = Write(w => w.Star().Atom("LOGIN").AString(sample.user).AString(sample.password).EndLine(), sample.utf8);
            var d = Driver.Run("a" + wire[1..], sample.chunk);
            var login = (LoginCommand)Assert.Single(d.Commands);
            return login.UserName == sample.user && login.Password == sample.password;
        }));
    }

    [Fact]
    public void Mailbox_names_written_by_the_writer_parse_back()
    {
        var gen = from name in Strings()
                  from utf8 in Gen.Elements(true, false)
                  where !name.Equals("INBOX", StringComparison.OrdinalIgnoreCase) && !name.Any(char.IsControl)
                  select (name, utf8);
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), sample =>
        {
            var wire = Write(w => w.Star().Atom("SELECT").Mailbox(sample.name).EndLine(), sample.utf8);
            var select = (SelectCommand)Assert.Single(Driver.Run("a" + wire[1..]).Commands);
            return MailboxNameCodec.TryDecode(select.Mailbox, sample.utf8, out var back) && back == sample.name;
        }));
    }
}
