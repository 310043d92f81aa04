using System.Buffers;
using System.Text;
using Postern.Mime.Headers;

namespace Postern.Mime.Tests;

public class ParserTests
{
    private static byte[] B(string s, bool crlf = true) => Encoding.UTF8.GetBytes(crlf ? s.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal) : s.Replace("\r\n", "\n", StringComparison.Ordinal));

    private static string S(ReadOnlyMemory<byte> m) => Encoding.UTF8.GetString(m.Span);

    private const string Multipart = """
        From: a@example.com
        Subject: test
        Content-Type: multipart/mixed; boundary="outer"

        preamble text
        --outer
        Content-Type: text/plain

        first part
        --outer
        Content-Type: multipart/alternative; boundary="outer-inner"

        --outer-inner
        Content-Type: text/plain

        plain
        --outer-inner
        Content-Type: text/html

        <p>html</p>
        --outer-inner--
        --outer
        Content-Type: message/rfc822

        Subject: inner message
        From: b@example.com

        inner body
        --outer--
        epilogue text

        """;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Multipart_tree_has_parts_preamble_epilogue_and_exact_offsets(bool crlf)
    {
        var data = B(Multipart, crlf);
        var m = MimeParser.Parse(data);
        var root = m.Root;
        Assert.Equal(MimeBodyKind.Multipart, root.Kind);
        Assert.Equal("preamble text", S(root.Preamble));
        Assert.Equal("epilogue text" + (crlf ? "\r\n" : "\n"), S(root.Epilogue));
        Assert.Equal(3, root.Children.Count);
        Assert.Equal("first part", S(root.Children[0].RawBody));
        var alt = root.Children[1];
        Assert.Equal("multipart/alternative", alt.ContentType.MimeType);
        Assert.Equal(["plain", "<p>html</p>"], alt.Children.Select(c => S(c.RawBody)));
        var fwd = root.Children[2];
        Assert.Equal(MimeBodyKind.Message, fwd.Kind);
        Assert.Equal("inner message", fwd.Message!.Headers["Subject"]);
        Assert.Equal("inner body", S(fwd.Message.RawBody));
        Assert.Equal(4, root.Delimiters.Count);
        Assert.True(root.Delimiters[^1].IsClose);
        Assert.Equal(data.Length, root.End);
        Assert.Empty(m.AllDefects);

        // Every header field's raw span is the exact text, and offsets index the input.
        var subject = root.Headers.GetField("Subject")!.Value;
        Assert.Equal("Subject: test" + (crlf ? "\r\n" : "\n"), S(subject.Raw));
        Assert.Equal("Subject", Encoding.ASCII.GetString(data, (int)subject.Offset, 7));
        Assert.Equal(2, root.LineAt(subject.Offset));
        Assert.Equal("first part", Encoding.UTF8.GetString(data, root.Children[0].BodyStart, root.Children[0].End - root.Children[0].BodyStart));
    }

    [Fact]
    public void Bare_LF_and_CRLF_give_the_same_tree_and_text()
    {
        var a = MimeParser.Parse(B(Multipart, true));
        var b = MimeParser.Parse(B(Multipart, false));
        Assert.Equal(a.Entities.Select(e => e.ContentType.MimeType), b.Entities.Select(e => e.ContentType.MimeType));
        Assert.Equal(a.Entities.Select(e => e.GetText()?.ReplaceLineEndings("\n")), b.Entities.Select(e => e.GetText()?.ReplaceLineEndings("\n")));
    }

    [Fact]
    public void A_boundary_that_is_a_prefix_of_another_does_not_cut_the_inner_part()
    {
        var data = B("""
            Content-Type: multipart/mixed; boundary=abc

            --abc
            Content-Type: multipart/mixed; boundary=abcd

            --abcd
            Content-Type: text/plain

            inner
            --abcd--
            --abc
            Content-Type: text/plain

            second
            --abc--
            """);
        var m = MimeParser.Parse(data);
        Assert.Equal(2, m.Root.Children.Count);
        Assert.Equal("inner", S(m.Root.Children[0].Children[0].RawBody));
        Assert.Equal("second", S(m.Root.Children[1].RawBody));
        Assert.Empty(m.AllDefects);
    }

    [Fact]
    public void Missing_close_delimiter_keeps_the_parts_and_records_a_defect()
    {
        var data = B("""
            Content-Type: multipart/mixed; boundary=b

            --b
            Content-Type: text/plain

            one
            --b
            Content-Type: text/plain

            two, truncated
            """);
        var m = MimeParser.Parse(data);
        Assert.Equal(2, m.Root.Children.Count);
        Assert.StartsWith("two, truncated", S(m.Root.Children[1].RawBody), StringComparison.Ordinal);
        Assert.Contains(m.Root.Defects, d => d.Defect == MimeDefect.MissingCloseDelimiter);
        Assert.Equal(data, m.ToArray());
    }

    [Fact]
    public void An_outer_delimiter_ends_an_unclosed_inner_multipart()
    {
        var data = B("""
            Content-Type: multipart/mixed; boundary=outer

            --outer
            Content-Type: multipart/alternative; boundary=inner

            --inner
            Content-Type: text/plain

            a
            --outer
            Content-Type: text/plain

            b
            --outer--
            """);
        var m = MimeParser.Parse(data);
        Assert.Equal(2, m.Root.Children.Count);
        Assert.Equal("a", S(m.Root.Children[0].Children[0].RawBody));
        Assert.Equal("b", S(m.Root.Children[1].RawBody));
        Assert.Contains(m.Root.Children[0].Defects, d => d.Defect == MimeDefect.MissingCloseDelimiter);
    }

    [Fact]
    public void A_base64_encoded_multipart_is_kept_whole_and_its_inner_boundary_is_not_followed()
    {
        var inner = Convert.ToBase64String(Encoding.ASCII.GetBytes("--x\r\nContent-Type: text/plain\r\n\r\nhidden\r\n--x--\r\n"));
        var data = B($"""
            Content-Type: multipart/mixed; boundary=o

            --o
            Content-Type: multipart/mixed; boundary=x
            Content-Transfer-Encoding: base64

            {inner}
            --o--
            """);
        var m = MimeParser.Parse(data);
        var part = m.Root.Children.Single();
        Assert.Equal(MimeBodyKind.Leaf, part.Kind);
        Assert.Contains(part.Defects, d => d.Defect == MimeDefect.EncodedCompositeBody);
        Assert.Contains("hidden", Encoding.ASCII.GetString(part.GetContent()), StringComparison.Ordinal);
    }

    [Fact]
    public void Multipart_digest_children_default_to_message_rfc822()
    {
        var data = B("""
            Content-Type: multipart/digest; boundary=d

            --d

            Subject: one

            body one
            --d--
            """);
        var m = MimeParser.Parse(data);
        var c = m.Root.Children.Single();
        Assert.Equal("message/rfc822", c.ContentType.MimeType);
        Assert.Equal("one", c.Message!.Headers["Subject"]);
    }

    [Fact]
    public void Nesting_past_the_depth_limit_is_a_defect_not_an_exception()
    {
        var sb = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n");
        }

        sb.Append("Content-Type: text/plain\r\n\r\ndeep\r\n");
        var data = Encoding.ASCII.GetBytes(sb.ToString());
        var m = MimeParser.Parse(data, new MimeParserOptions { Limits = new MimeLimits { MaxDepth = 10 } });
        Assert.Equal(10, m.Entities.Max(e => e.Depth));
        Assert.Contains(m.AllDefects, d => d.Defect == MimeDefect.NestingTooDeep);
        Assert.Equal(data, m.ToArray());
    }

    [Fact]
    public void Part_count_limit_stops_creating_parts_and_keeps_the_bytes()
    {
        var sb = new StringBuilder("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
        for (var i = 0; i < 50; i++)
        {
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"--b\r\n\r\npart {i}\r\n");
        }

        sb.Append("--b--\r\n");
        var data = Encoding.ASCII.GetBytes(sb.ToString());
        var m = MimeParser.Parse(data, new MimeParserOptions { Limits = new MimeLimits { MaxParts = 5 } });
        Assert.Equal(5, m.Entities.Count());
        Assert.Contains(m.Root.Defects, d => d.Defect == MimeDefect.TooManyParts);
        Assert.Equal(data, m.ToArray());
    }

    [Fact]
    public void Header_count_and_line_length_limits_record_defects_and_keep_the_bytes()
    {
        var sb = new StringBuilder();
        for (var i = 0; i < 20; i++)
        {
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"X-H{i}: v\r\n");
        }

        sb.Append("X-Long: ").Append('a', 2000).Append("\r\n\r\nbody");
        var data = Encoding.ASCII.GetBytes(sb.ToString());
        var m = MimeParser.Parse(data, new MimeParserOptions { Limits = new MimeLimits { MaxHeaderCount = 5 } });
        Assert.Equal(6, m.Headers.Count);
        Assert.Equal(5, m.Headers.Count(h => h.IsField));
        Assert.Contains(m.Root.Defects, d => d.Defect == MimeDefect.TooManyHeaders);
        Assert.Equal("body", S(m.Root.RawBody));
        Assert.Equal(data, m.ToArray());

        var n = MimeParser.Parse(data);
        Assert.Contains(n.Root.Defects, d => d.Defect == MimeDefect.LineTooLong);
    }

    [Fact]
    public void Junk_lines_and_an_mbox_From_line_are_defects_and_survive_the_round_trip()
    {
        var data = B("From someone@example.com Sat Jan  1 00:00:00 2000\nSubject: s\nthis is not a header\nTo: x@example.com\n\nbody", crlf: false);
        var m = MimeParser.Parse(data);
        Assert.Equal("s", m.Subject);
        Assert.Equal("x@example.com", m.To.Mailboxes.Single().Address);
        Assert.Contains(m.Root.Defects, d => d.Defect == MimeDefect.MboxFromLine);
        Assert.Contains(m.Root.Defects, d => d.Defect == MimeDefect.InvalidHeaderLine);
        Assert.Equal("body", S(m.Root.RawBody));
        Assert.Equal(data, m.ToArray());
    }

    [Fact]
    public void Stream_file_and_multi_segment_sequence_give_the_same_tree()
    {
        var data = B(Multipart);
        var fromMemory = MimeParser.Parse(data);
        var fromStream = MimeParser.Parse(new MemoryStream(data));
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, data);
            var fromFile = MimeParser.ParseFile(path);
            var seq = Segmented(data, 7);
            Assert.False(seq.IsSingleSegment);
            var fromSeq = MimeParser.Parse(seq);
            foreach (var other in new[] { fromStream, fromFile, fromSeq })
            {
                Assert.Equal(fromMemory.Entities.Select(e => (e.Start, e.BodyStart, e.End)), other.Entities.Select(e => (e.Start, e.BodyStart, e.End)));
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Stream_larger_than_the_limit_is_cut_with_a_defect()
    {
        var data = B("Subject: x\n\n" + new string('a', 5000));
        var m = MimeParser.Parse(new MemoryStream(data), new MimeParserOptions { Limits = new MimeLimits { MaxMessageBytes = 1000 } });
        Assert.Equal(1000, m.Root.End);
        Assert.Contains(m.Root.Defects, d => d.Defect == MimeDefect.MessageTruncated);
    }

    [Fact]
    public void Streaming_reader_reports_events_in_order_with_offsets_and_lines()
    {
        var data = B(Multipart, crlf: false);
        var rec = new Recorder();
        MimeReader.Read(data, ref rec);
        Assert.Equal("start@0 line1 depth0", rec.Events[0]);
        Assert.Contains("boundary line6", rec.Events);
        Assert.Contains(rec.Events, e => e.StartsWith("start@", StringComparison.Ordinal) && e.EndsWith("depth2", StringComparison.Ordinal));
        Assert.Equal(rec.Events.Count(e => e.StartsWith("start@", StringComparison.Ordinal)), rec.Events.Count(e => e.StartsWith("end@", StringComparison.Ordinal)));
        Assert.Equal($"end@{data.Length}", rec.Events[^1]);
    }

    private sealed class Recorder : IMimeReaderHandler
    {
        public List<string> Events { get; } = [];

        public void OnEntityStart(int offset, int line, int depth) => Events.Add($"start@{offset} line{line} depth{depth}");

        public void OnHeader(in MimeHeaderLocation header) => Events.Add($"header line{header.Line}");

        public void OnHeadersEnd(int headerEnd, int bodyStart, int line, MimeBodyKind kind) => Events.Add($"body@{bodyStart} {kind}");

        public void OnBoundary(int start, int end, int line, bool isClose) => Events.Add(isClose ? $"close line{line}" : $"boundary line{line}");

        public void OnEpilogue(int start, int line) => Events.Add($"epilogue@{start}");

        public void OnEntityEnd(int end, int line) => Events.Add($"end@{end}");

        public void OnDefect(MimeDefect defect, int offset) => Events.Add($"defect {defect}");
    }

    private static ReadOnlySequence<byte> Segmented(byte[] data, int size)
    {
        Segment? first = null, last = null;
        for (var i = 0; i < data.Length; i += size)
        {
            var s = new Segment(data.AsMemory(i, Math.Min(size, data.Length - i)), last);
            first ??= s;
            last = s;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
        {
            Memory = memory;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }

    [Fact]
    public void Text_parts_are_transfer_decoded_and_charset_converted()
    {
        var data = B("""
            Content-Type: multipart/mixed; boundary=b

            --b
            Content-Type: text/plain; charset=iso-8859-1
            Content-Transfer-Encoding: quoted-printable

            caf=E9 soft=
            break =ZZ bad
            --b
            Content-Type: text/plain; charset=koi8-r
            Content-Transfer-Encoding: base64

            8NLJ
            18XU
            --b
            Content-Type: text/plain; charset=shift_jis
            Content-Transfer-Encoding: base64

            gqCCoIKg
            --b
            Content-Type: text/plain

            undeclared café
            --b--
            """);
        var m = MimeParser.Parse(data);
        var texts = m.Root.Children.Select(c => c.GetText()).ToList();
        Assert.Equal("café softbreak =ZZ bad", texts[0]);
        Assert.Equal("Привет", texts[1]);
        Assert.Equal("あああ", texts[2]);
        Assert.Equal("undeclared café", texts[3]);
    }

    [Fact]
    public void Unknown_charsets_fall_back_and_say_so()
    {
        var m = MimeParser.Parse(Encoding.UTF8.GetBytes("Content-Type: text/plain; charset=x-no-such-charset\r\n\r\ncafé"));
        Assert.Equal("café", m.Root.GetText(out var defect));
        Assert.Equal(MimeDefect.UnknownCharset, defect);
        var ok = MimeParser.Parse(Encoding.Latin1.GetBytes("Content-Type: text/plain; charset=latin1\r\n\r\ncaf\u00e9"));
        Assert.Equal("café", ok.Root.GetText(out var none));
        Assert.Equal(MimeDefect.None, none);
        var b64 = MimeParser.Parse("Content-Transfer-Encoding: base64\r\n\r\naGVsbG8*"u8.ToArray());
        Assert.Equal("hello", Encoding.ASCII.GetString(b64.Root.GetContent(out var bad)));
        Assert.Equal(MimeDefect.InvalidBase64, bad);
    }

    [Fact]
    public void Base64_tolerates_whitespace_junk_and_missing_padding()
    {
        Assert.Equal("hello world", Encoding.ASCII.GetString(Codecs.Base64Decoder.Decode("aGVs bG8g\r\nd29y*bGQ"u8)));
        Assert.Equal("ab", Encoding.ASCII.GetString(Codecs.Base64Decoder.Decode("YWI"u8)));
        Assert.Equal("ab", Encoding.ASCII.GetString(Codecs.Base64Decoder.Decode("YWI=\r\n"u8)));
    }

    [Fact]
    public void Undeclared_8bit_headers_are_UTF8_else_Windows1252()
    {
        var utf8 = MimeParser.Parse(Encoding.UTF8.GetBytes("Subject: Grüße €\r\n\r\n"));
        Assert.Equal("Grüße €", utf8.Subject);
        var cp1252 = MimeParser.Parse(Encoding.Latin1.GetBytes("Subject: Gr\u00fc\u00dfe \u0080\r\n\r\n".Replace("\u0080", "\u0080", StringComparison.Ordinal)));
        Assert.Equal("Grüße €", cp1252.Subject);
    }

    [Theory]
    [InlineData("=?utf-8?B?w6k=?==?utf-8?B?w6k=?=", "éé")]
    [InlineData("=?utf-8?B?4oI=?= =?utf-8?B?rA==?=", "€")] // one multi-byte character split across two words
    [InlineData("=?iso-8859-1?q?caf=E9", "café")] // missing ?=
    [InlineData("=?windows-1251?b?z/Do4uXy?=", "Привет")]
    [InlineData("=?gb2312?b?xOO6ww==?=", "你好")]
    [InlineData("plain =?bogus-charset?q?x=C3=A9?= end", "plain xé end")]
    public void Encoded_words_decode_with_the_usual_breakage(string raw, string expected)
    {
        Assert.Equal(expected, HeaderText.DecodeUnstructured(Encoding.ASCII.GetBytes(raw)));
    }

    [Fact]
    public void Rfc2231_parameters_join_continuations_and_decode_charsets()
    {
        var ct = ContentType.Parse("application/octet-stream; name*0*=utf-8''%E2%82%AC%20; name*1=\"rate.pdf\"; Charset=\"X\"");
        Assert.Equal("€ rate.pdf", ct["name"]);
        Assert.Equal("X", ct.Charset);
        Assert.Equal("application/octet-stream", ct.MimeType);
    }

    [Theory]
    [InlineData("Tue, 1 Jul 2003 10:52:37 +0200", "2003-07-01T10:52:37+02:00")]
    [InlineData("1 Jul 03 10:52 EDT", "2003-07-01T10:52:00-04:00")]
    [InlineData("Tue Jul  1 10:52:37 2003", "2003-07-01T10:52:37+00:00")]
    [InlineData("Tuesday, 01-Jul-2003 10:52:37 GMT", null)]
    [InlineData("Tue, 1 Jul 2003 10:52:37 +02:00 (CEST)", "2003-07-01T10:52:37+02:00")]
    [InlineData("2003-07-01T10:52:37Z", "2003-07-01T10:52:37+00:00")]
    [InlineData("31 Feb 2003 10:00:00 +0000", null)]
    [InlineData("yesterday", null)]
    [InlineData("", null)]
    public void Dates_are_read_or_reported_unreadable(string raw, string? expected)
    {
        var d = DateParser.Parse(raw);
        if (expected is null)
        {
            Assert.False(d.IsValid);
        }
        else
        {
            Assert.True(d.IsValid);
            Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), d.Value);
            Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture).Offset, d.Value.Offset);
        }
    }

    [Fact]
    public void Message_fields_are_decoded_on_demand()
    {
        var m = MimeParser.Parse(B("""
            From: "Doe, Jane" <jane@example.com>
            To: Team: a@example.com, "B" <b@example.com>;, c@example.com
            Message-ID: <id1@example.com>
            References: <r1@x> <r2@x>
            In-Reply-To: <r2@x>
            Date: Mon, 2 Jan 2006 15:04:05 -0700
            Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=

            hi
            """));
        Assert.Equal("Doe, Jane", m.From.Mailboxes.Single().Name);
        Assert.Equal(["a@example.com", "b@example.com", "c@example.com"], m.To.Mailboxes.Select(x => x.Address));
        Assert.Equal("Team", ((GroupAddress)m.To[0]).Name);
        Assert.Equal("id1@example.com", m.MessageId);
        Assert.Equal(["r1@x", "r2@x"], m.References);
        Assert.Equal(["r2@x"], m.InReplyTo);
        Assert.Equal(new DateTimeOffset(2006, 1, 2, 15, 4, 5, TimeSpan.FromHours(-7)), m.Date.Value);
        Assert.Equal("Grüße", m.Subject);
        Assert.Equal("hi", m.TextBody);
    }
}
