using System.Text;
using Postern.Delivery.Downgrade;
using Postern.Delivery.Dsn;
using Postern.Mime;
using Postern.Protocols.Smtp;
using DsnReturn = Postern.Core.Storage.Queue.DsnReturn;

namespace Postern.Delivery.Tests.Dsn;

/// <summary>The DSNs we build, read back with our own MIME parser and <see cref="DeliveryStatusParser"/>.</summary>
public sealed class DsnBuilderTests
{
    public static TheoryData<string> Cases => DsnCases.Names();

    /// <summary>Wire rules every DSN keeps: CRLF only, no line past 998 octets, 7-bit unless EAI.</summary>
    internal static void AssertWireClean(byte[] dsn, bool global, string name)
    {
        for (var i = 0; i < dsn.Length; i++)
        {
            if (dsn[i] == '\n')
            {
                Assert.True(i > 0 && dsn[i - 1] == '\r', $"{name}: bare LF at {i}");
            }
            else if (dsn[i] == '\r')
            {
                Assert.True(i + 1 < dsn.Length && dsn[i + 1] == '\n', $"{name}: bare CR at {i}");
            }

            Assert.True(dsn[i] != 0, $"{name}: NUL at {i}");
        }

        var longest = Encoding.Latin1.GetString(dsn).Split("\r\n").Max(l => l.Length);
        Assert.True(longest <= 998, $"{name}: a line of {longest} octets");
        if (!global)
        {
            Assert.True(System.Text.Ascii.IsValid(dsn), $"{name}: 8-bit bytes in a 7-bit DSN");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_case_is_a_well_formed_multipart_report(string name)
    {
        var c = DsnCases.Get(name);
        var dsn = c.Build();
        AssertWireClean(dsn, c.Expect.Global, name);

        var m = MimeParser.Parse(dsn, new MimeParserOptions { CheckContent = true });
        Assert.DoesNotContain(m.AllDefects, d => d.Defect != MimeDefect.None);
        Assert.True(m.Root.ContentType.Is("multipart", "report"), name);
        Assert.Equal("delivery-status", m.Root.ContentType["report-type"]);
        Assert.Equal(c.Expect.Subject, m.Subject);
        Assert.Equal("MAILER-DAEMON@" + DsnCases.Host, m.From.Mailboxes.Single().Address);
        Assert.Equal("Mail Delivery System", m.From.Mailboxes.Single().Name);
        Assert.Equal(c.Report.EnvelopeSender, m.To.Mailboxes.Single().Address);
        Assert.Equal("auto-replied", m.Headers["Auto-Submitted"]);
        Assert.Equal("1.0", m.Headers["MIME-Version"]);
        Assert.Equal(DsnCases.Now, m.Date.Value);
        Assert.EndsWith("@" + DsnCases.Host, m.MessageId, StringComparison.Ordinal);

        var original = MimeParser.Parse(c.Report.OriginalMessage);
        Assert.Equal([original.MessageId!], m.InReplyTo);
        Assert.Equal(original.MessageId, m.References[^1]);

        var parts = m.Root.Children;
        Assert.Equal(3, parts.Count);
        Assert.Equal("text/plain", parts[0].ContentType.MimeType);
        Assert.Equal(c.Expect.Global ? "message/global-delivery-status" : "message/delivery-status", parts[1].ContentType.MimeType);
        Assert.Equal(c.Expect.ReturnedType, parts[2].ContentType.MimeType);

        var human = parts[0].GetText()!;
        foreach (var mention in c.Expect.HumanMentions ?? [])
        {
            Assert.Contains(mention, human, StringComparison.Ordinal);
        }

        Assert.True(DeliveryStatusParser.TryParseMessage(dsn, out var report), name);
        Assert.Equal(c.Expect.Global, report!.IsGlobal);
        Assert.Equal(DsnCases.Host, report.Status.PerMessage.ReportingMta);
        Assert.Equal(DsnCases.Arrived, report.Status.PerMessage.ArrivalDate);
        Assert.Equal(c.Expect.EnvelopeId, report.Status.PerMessage.OriginalEnvelopeId);
        Assert.Equal(c.Expect.ReturnedType, report.ReturnedContentType);
        Assert.Equal(original.MessageId, report.ReturnedMessageId);
        Assert.Equal(human, report.HumanReadableText);

        Assert.Equal(c.Expect.Recipients.Length, report.Status.Recipients.Count);
        for (var i = 0; i < c.Expect.Recipients.Length; i++)
        {
            var (rcpt, action, status) = c.Expect.Recipients[i];
            var r = report.Status.Recipients[i];
            Assert.Equal(rcpt, r.FinalRecipient);
            Assert.Equal(action, r.ActionText);
            Assert.Equal(status, r.Status.ToString());
            Assert.Equal(c.Report.Recipients[i].RemoteMta, r.RemoteMta);
            Assert.Equal(c.Report.Recipients[i].LastAttemptDate, r.LastAttemptDate);
            Assert.Equal(c.Report.Recipients[i].Action == DsnAction.Delayed ? c.Report.Recipients[i].WillRetryUntil : null, r.WillRetryUntil);
            if (c.Expect.OriginalRecipients is { } originals)
            {
                Assert.Equal(originals[i], r.OriginalRecipient);
            }
            else
            {
                Assert.Null(r.OriginalRecipient);
            }
        }
    }

    [Fact]
    public void The_diagnostic_code_is_the_whole_remote_reply_with_its_codes()
    {
        var dsn = DsnCases.Get("mixed").Build();
        Assert.True(DeliveryStatusParser.TryParseMessage(dsn, out var report));
        var rs = report!.Status.Recipients;
        Assert.Equal("smtp", rs[0].DiagnosticType);
        Assert.Equal("550 5.1.1 <bob@remote.test>: Recipient address rejected: User unknown in virtual mailbox table", rs[0].Diagnostic);
        Assert.Equal("451 Temporary lookup failure please try again", rs[1].Diagnostic);
        Assert.Null(rs[3].DiagnosticType);

        var delayed = DeliveryStatusParser.TryParseMessage(DsnCases.Get("delayed").Build(), out var d) ? d!.Status.Recipients[0] : null;
        Assert.Equal("x-postern", delayed!.DiagnosticType);
        Assert.Equal("connect to mx.slow.test[198.51.100.7]:25: Connection timed out", delayed.Diagnostic);
    }

    [Fact]
    public void Long_fields_are_folded_at_78_columns()
    {
        var dsn = Encoding.ASCII.GetString(DsnCases.Get("failed").Build());
        var status = dsn[dsn.IndexOf("Reporting-MTA:", StringComparison.Ordinal)..];
        status = status[..status.IndexOf("\r\n--", StringComparison.Ordinal)];
        Assert.All(status.Split("\r\n"), l => Assert.True(l.Length <= 78, l));
        Assert.Contains("Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: Recipient address\r\n rejected:", status, StringComparison.Ordinal);
    }

    [Fact]
    public void No_dsn_for_the_null_sender_or_without_recipients()
    {
        Assert.Null(DeliveryStatusNotification.Build(DsnCases.Report([DsnCases.Failed()], sender: string.Empty), DsnCases.Options()));
        Assert.Null(DeliveryStatusNotification.Build(DsnCases.Report([DsnCases.Failed()], sender: "<>"), DsnCases.Options()));
        Assert.Null(DeliveryStatusNotification.Build(DsnCases.Report([DsnCases.Failed()], sender: "  "), DsnCases.Options()));
        Assert.Null(DeliveryStatusNotification.Build(DsnCases.Report([DsnCases.Failed()], sender: "a@b.test\r\nBcc: x@y.test"), DsnCases.Options()));
        Assert.Null(DeliveryStatusNotification.Build(DsnCases.Report([]), DsnCases.Options()));
    }

    [Fact]
    public void The_same_clock_and_randomness_give_the_same_bytes()
    {
        var c = DsnCases.Get("mixed");
        Assert.Equal(c.Build(), DeliveryStatusNotification.Build(c.Report, DsnCases.Options()));
        var other = DeliveryStatusNotification.Build(c.Report, DsnCases.Options() with { Random = new Random(8) });
        Assert.NotEqual(c.Build(), other);
    }

    [Theory]
    [InlineData(554, null, null, DsnAction.Failed, "5.0.0")]
    [InlineData(421, null, null, DsnAction.Delayed, "4.0.0")]
    [InlineData(550, "4.1.1", null, DsnAction.Failed, "5.0.0")]
    [InlineData(550, "5.7.1", null, DsnAction.Failed, "5.7.1")]
    [InlineData(451, "4.7.1", "4.4.7", DsnAction.Failed, "4.4.7")]
    [InlineData(0, null, null, DsnAction.Failed, "5.0.0")]
    [InlineData(0, null, null, DsnAction.Delayed, "4.0.0")]
    [InlineData(0, null, null, DsnAction.Delivered, "2.0.0")]
    [InlineData(0, null, null, DsnAction.Relayed, "2.0.0")]
    public void Status_comes_from_the_recipient_then_the_reply_then_the_action(int code, string? replyStatus, string? given, DsnAction action, string expected)
    {
        EnhancedStatusCode? Parse(string? s) => s is null ? null : EnhancedStatusCode.TryParse(s, out var e) ? e : throw new FormatException(s);
        var r = new DsnRecipient
        {
            FinalRecipient = "bob@remote.test",
            Action = action,
            Status = Parse(given),
            RemoteReply = code == 0 ? null : new SmtpReply(code, Parse(replyStatus), ["text"]),
        };

        Assert.Equal(expected, DeliveryStatusNotification.StatusFor(r).ToString());
        var dsn = DeliveryStatusNotification.Build(DsnCases.Report([r]), DsnCases.Options())!;
        Assert.True(DeliveryStatusParser.TryParseMessage(dsn, out var report));
        Assert.Equal(expected, report!.Status.Recipients[0].Status.ToString());
    }

    [Fact]
    public void A_hostile_remote_reply_cannot_break_the_report()
    {
        var nasty = new SmtpReply(550, new EnhancedStatusCode(5, 7, 1), [
            "refused\r\nFinal-Recipient: rfc822; forged@evil.test\r\n\r\n--boundary",
            "caf\u00e9 \u2603 \u0007bell",
            new string('x', 5000),
        ]);
        var r = DsnCases.Failed() with { RemoteReply = nasty, RemoteMta = "evil.test\r\nX-Injected: yes" };
        var dsn = DeliveryStatusNotification.Build(DsnCases.Report([r]), DsnCases.Options())!;
        AssertWireClean(dsn, global: false, "hostile");
        Assert.True(DeliveryStatusParser.TryParseMessage(dsn, out var report));
        var only = Assert.Single(report!.Status.Recipients);
        Assert.Equal("bob@remote.test", only.FinalRecipient);
        Assert.DoesNotContain(report.Status.Recipients.SelectMany(x => x.Fields), f => f.Name == "X-Injected");
        Assert.StartsWith("550 5.7.1 refused Final-Recipient: rfc822; forged@evil.test --boundary caf? ? bell x", only.Diagnostic, StringComparison.Ordinal);

        // The human part keeps the text, quoted-printable.
        var human = MimeParser.Parse(dsn).Root.Children[0];
        Assert.Equal("quoted-printable", human.TransferEncoding);
        Assert.Contains("caf\u00e9 \u2603", human.GetText(), StringComparison.Ordinal);
    }

    [Fact]
    public void Full_return_carries_the_original_byte_for_byte_when_it_is_7bit()
    {
        var c = DsnCases.Get("full-within-limit");
        var part = MimeParser.Parse(c.Build()).Root.Children[2];
        Assert.Equal(MimeBodyKind.Message, part.Kind);
        Assert.Equal(c.Report.OriginalMessage.ToArray(), part.Message!.RawEntity.ToArray());
    }

    [Fact]
    public void Full_return_of_an_8bit_body_is_converted_to_7bit_with_the_same_text()
    {
        var c = DsnCases.Get("8bit-body-full");
        var part = MimeParser.Parse(c.Build()).Root.Children[2];
        var inner = part.Message!;
        Assert.Equal("quoted-printable", inner.TransferEncoding);
        Assert.Equal("Grüße, bis Montag!\r\n", inner.GetText());
        Assert.Null(part.Headers["Content-Transfer-Encoding"]);
    }

    [Fact]
    public void Over_the_limit_only_the_headers_go_back()
    {
        var c = DsnCases.Get("full-over-limit");
        var dsn = c.Build();
        Assert.True(dsn.Length < 8 * 1024, "the DSN itself stays small: " + dsn.Length);
        Assert.DoesNotContain("A line of filler", Encoding.ASCII.GetString(dsn), StringComparison.Ordinal);
        Assert.Contains("Subject: Lunch on Monday", Encoding.ASCII.GetString(dsn), StringComparison.Ordinal);

        // One byte under the limit it goes back whole.
        var whole = DeliveryStatusNotification.Build(c.Report, DsnCases.Options(maxReturned: c.Report.OriginalMessage.Length))!;
        Assert.Equal("message/rfc822", MimeParser.Parse(whole).Root.Children[2].ContentType.MimeType);
    }

    [Fact]
    public void Returned_headers_without_ret_full_leave_the_body_out()
    {
        foreach (var ret in new[] { DsnReturn.Unspecified, DsnReturn.Headers })
        {
            var dsn = DeliveryStatusNotification.Build(DsnCases.Report([DsnCases.Failed()], ret: ret), DsnCases.Options())!;
            var text = Encoding.ASCII.GetString(dsn);
            Assert.DoesNotContain("see you tomorrow", text, StringComparison.Ordinal);
            Assert.Contains("Message-ID: <orig-1234@sender.test>", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Eight_bit_headers_go_back_quoted_printable_and_decode_to_the_original_bytes()
    {
        var c = DsnCases.Get("8bit-headers");
        var part = MimeParser.Parse(c.Build()).Root.Children[2];
        Assert.Equal("quoted-printable", part.TransferEncoding);
        Assert.Equal("windows-1252", part.ContentType.Charset);
        Assert.Contains("X-Note: café crème", part.GetText(), StringComparison.Ordinal);
        var original = MimeParser.Parse(c.Report.OriginalMessage);
        Assert.Equal(original.Root.RawHeaders.ToArray(), part.GetContent());
    }

    [Fact]
    public void Bare_line_feeds_in_the_original_become_crlf()
    {
        var headers = MimeParser.Parse(DsnCases.Get("bare-lf").Build()).Root.Children[2].GetContent();
        Assert.Contains("Subject: Lunch on Monday\r\nDate:", Encoding.ASCII.GetString(headers), StringComparison.Ordinal);
        var full = MimeParser.Parse(DsnCases.Get("bare-lf-full").Build()).Root.Children[2].Message!;
        Assert.Equal("Hello Bob,\r\nsee you tomorrow.\r\n", full.GetText());
    }

    [Fact]
    public void A_bare_cr_between_header_fields_does_not_glue_them_together()
    {
        var c = DsnCases.Get("bare-lf");
        var human = MimeParser.Parse(c.Build()).Root.Children[0].GetText()!;
        Assert.Contains("    Subject:    Lunch on Monday\r\n    Date:       Sun, 1 Mar 2026 06:59:58 +0000\r\n", human, StringComparison.Ordinal);
    }

    [Fact]
    public void Envelope_id_and_addresses_cannot_inject_fields()
    {
        var report = DsnCases.Report([DsnCases.Failed() with { OriginalRecipient = "x@y.test\r\nAction: delivered" }], envid: "id\r\nReporting-MTA: dns; evil.test");
        var dsn = DeliveryStatusNotification.Build(report, DsnCases.Options())!;
        AssertWireClean(dsn, global: false, "injection");
        Assert.True(DeliveryStatusParser.TryParseMessage(dsn, out var parsed));
        Assert.Equal(DsnCases.Host, parsed!.Status.PerMessage.ReportingMta);
        Assert.Equal("failed", Assert.Single(parsed.Status.Recipients).ActionText);
    }

    [Fact]
    public void A_utf8_recipient_makes_an_eai_report_even_without_the_flag()
    {
        var dsn = DeliveryStatusNotification.Build(DsnCases.Report([DsnCases.Failed("josé@remote.test")]), DsnCases.Options())!;
        Assert.True(DeliveryStatusParser.TryParseMessage(dsn, out var report));
        Assert.True(report!.IsGlobal);
        Assert.Equal("utf-8", report.Status.Recipients[0].FinalRecipientType);
        Assert.Equal("josé@remote.test", report.Status.Recipients[0].FinalRecipient);
    }

    [Fact]
    public void Utf8_original_recipients_use_the_7bit_form_in_a_7bit_report()
    {
        var dsn = DsnCases.Get("orcpt").Build();
        var text = Encoding.ASCII.GetString(dsn);
        Assert.Contains("Original-Recipient: rfc822; Bob.Smith@alias.sender.test", text, StringComparison.Ordinal);
        Assert.Contains("Original-Recipient: utf-8; \\x{4E2D}\\x{6587}@alias.test", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_an_original_there_are_two_parts()
    {
        var report = DsnCases.Report([DsnCases.Failed()]) with { OriginalMessage = ReadOnlyMemory<byte>.Empty };
        var dsn = DeliveryStatusNotification.Build(report, DsnCases.Options())!;
        var m = MimeParser.Parse(dsn);
        Assert.Equal(2, m.Root.Children.Count);
        Assert.Empty(m.InReplyTo);
    }

    [Fact]
    public void A_returned_8bit_full_message_is_7bit_after_the_downgrade()
    {
        var dsn = DsnCases.Get("8bit-body-full").Build();
        Assert.True(EightBitDowngrade.IsSevenBitClean(dsn));
    }
}
