using System.Text;
using Postern.Delivery.Dsn;

namespace Postern.Delivery.Tests.Dsn;

/// <summary>Reading delivery-status content the way other MTAs write it.</summary>
public sealed class DeliveryStatusParserTests
{
    private static DeliveryStatus Fields(string text) => DeliveryStatusParser.ParseFields(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Per_message_and_per_recipient_groups_with_folding_and_lf_line_ends()
    {
        var s = Fields(
            "Reporting-MTA: dns; mail.example.com\n" +
            "X-Postfix-Queue-ID: 4F2A1\n" +
            "Original-Envelope-Id: QQ314159\n" +
            "Arrival-Date: Mon, 2 Mar 2026 10:00:00 +0100\n" +
            "\n" +
            "Final-Recipient: rfc822; bob@example.org\n" +
            "Original-Recipient: rfc822;bob@example.org\n" +
            "Action: failed\n" +
            "Status: 5.1.1\n" +
            "Remote-MTA: dns; mx.example.org\n" +
            "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.org>:\n" +
            "    Recipient address rejected: User unknown\n" +
            "\n" +
            "Final-Recipient: rfc822; carol@example.org\n" +
            "Action: delayed\n" +
            "Status: 4.4.1\n" +
            "Will-Retry-Until: Sat, 7 Mar 2026 10:00:00 +0100\n");

        Assert.Equal("mail.example.com", s.PerMessage.ReportingMta);
        Assert.Equal("QQ314159", s.PerMessage.OriginalEnvelopeId);
        Assert.Equal("4F2A1", s.PerMessage["x-postfix-queue-id"]);
        Assert.Equal(new DateTimeOffset(2026, 3, 2, 10, 0, 0, TimeSpan.FromHours(1)), s.PerMessage.ArrivalDate);
        Assert.Equal(2, s.Recipients.Count);

        var bob = s.Recipients[0];
        Assert.Equal("rfc822", bob.FinalRecipientType);
        Assert.Equal("bob@example.org", bob.FinalRecipient);
        Assert.Equal("bob@example.org", bob.OriginalRecipient);
        Assert.Equal(DsnAction.Failed, bob.Action);
        Assert.Equal("5.1.1", bob.Status.ToString());
        Assert.Equal("mx.example.org", bob.RemoteMta);
        Assert.Equal("smtp", bob.DiagnosticType);
        Assert.Equal("550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown", bob.Diagnostic);

        var carol = s.Recipients[1];
        Assert.Equal(DsnAction.Delayed, carol.Action);
        Assert.Equal(new DateTimeOffset(2026, 3, 7, 10, 0, 0, TimeSpan.FromHours(1)), carol.WillRetryUntil);
        Assert.Null(carol.Diagnostic);
    }

    [Fact]
    public void Sloppy_reports_are_read_as_far_as_they_make_sense()
    {
        // No per-message group, CRLF and LF mixed, extra blank lines, comments after values, odd case, brackets,
        // a junk line, an unknown action.
        var s = Fields(
            "\r\n\r\n" +
            "final-recipient: RFC822; <Dave@Example.ORG>\r\n" +
            "ACTION: Failed (permanent)\n" +
            "status: 5.0.0 (unknown failure)\r\n" +
            "this line is not a field\n" +
            "\n\n\n" +
            "Final-Recipient: rfc822;erin@example.org\n" +
            "Action: bounced\n" +
            "Status: 9.9.9\n");

        Assert.Null(s.PerMessage.ReportingMta);
        Assert.Empty(s.PerMessage.Fields);
        Assert.Equal(2, s.Recipients.Count);
        Assert.Equal("rfc822", s.Recipients[0].FinalRecipientType);
        Assert.Equal("Dave@Example.ORG", s.Recipients[0].FinalRecipient);
        Assert.Equal(DsnAction.Failed, s.Recipients[0].Action);
        Assert.Equal("5.0.0", s.Recipients[0].Status.ToString());
        Assert.Equal("bounced", s.Recipients[1].ActionText);
        Assert.Null(s.Recipients[1].Action);
        Assert.Null(s.Recipients[1].Status);
    }

    [Fact]
    public void Utf8_addresses_are_decoded_from_both_rfc6533_forms()
    {
        var s = Fields(
            "Reporting-MTA: dns; mx.example\n\n" +
            "Original-Recipient: utf-8; \\x{7528}\\x{6237}\\x{2B}tag@example.test\n" +
            "Final-Recipient: utf-8; 用户\\x{2B}tag@example.test\n" +
            "Action: failed\nStatus: 5.1.1\n\n" +
            "Final-Recipient: utf-8; broken\\x{D800}\\x{110000}\\x{}x\\x{41\n" +
            "Action: failed\nStatus: 5.1.1\n");
        Assert.Equal("用户+tag@example.test", s.Recipients[0].OriginalRecipient);
        Assert.Equal("用户+tag@example.test", s.Recipients[0].FinalRecipient);
        Assert.Equal("broken\\x{D800}\\x{110000}\\x{}x\\x{41", s.Recipients[1].FinalRecipient);
    }

    [Fact]
    public void A_line_that_is_not_utf8_does_not_spoil_the_others()
    {
        var content = Encoding.UTF8.GetBytes("Reporting-MTA: dns; mx.example\nX-Sender: rfc822; \"j\\").Concat(new byte[] { 0xC3, (byte)'\\', 0xBC })
            .Concat(Encoding.UTF8.GetBytes("rgen\"@x.test\n\nFinal-Recipient: utf-8; 用户@example.test\nAction: failed\nStatus: 5.6.7\n")).ToArray();
        var s = DeliveryStatusParser.ParseFields(content);
        Assert.Equal("用户@example.test", Assert.Single(s.Recipients).FinalRecipient);
        Assert.Equal("rfc822; \"j\\\u00c3\\\u00bcrgen\"@x.test", s.PerMessage["X-Sender"]);
    }

    [Fact]
    public void The_encoders_and_the_decoder_agree()
    {
        foreach (var address in new[] { "用户@例子.test", "a+b=c\\d@x.test", "ü ö@x.test", "😀@emoji.test", "plain@ascii.test" })
        {
            var xtext = DsnAddress.EncodeUtf8Xtext(address);
            Assert.True(System.Text.Ascii.IsValid(xtext), xtext);
            Assert.DoesNotContain(' ', xtext);
            Assert.Equal(address, DsnAddress.DecodeUtf8(xtext));
            var unitext = DsnAddress.EncodeUtf8Unitext(address);
            Assert.Equal(address, DsnAddress.DecodeUtf8(unitext));
            Assert.DoesNotContain('+', unitext);
        }

        Assert.Equal("\\x{7528}\\x{6237}@x.test", DsnAddress.EncodeUtf8Xtext("用户@x.test"));
        Assert.Equal("a\\x{2B}b@x.test", DsnAddress.EncodeUtf8Unitext("a+b@x.test"));
        Assert.Equal("\\x{1F600}@x.test", DsnAddress.EncodeUtf8Xtext("😀@x.test"));
    }

    private static string Report(string statusPart, string reportType = "delivery-status", string transferEncoding = "7bit") =>
        "From: MAILER-DAEMON@mx.example\r\nTo: alice@example.org\r\nSubject: failure\r\nMIME-Version: 1.0\r\n" +
        $"Content-Type: multipart/report; report-type={reportType}; boundary=\"b1\"\r\n\r\n" +
        "--b1\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n" +
        $"--b1\r\nContent-Type: message/{(reportType == "disposition-notification" ? "disposition-notification" : "delivery-status")}\r\nContent-Transfer-Encoding: {transferEncoding}\r\n\r\n{statusPart}\r\n" +
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: alice@example.org\r\nMessage-ID: <m1@example.org>\r\nSubject: hi\r\n" +
        "--b1--\r\n";

    private const string Status = "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n";

    [Fact]
    public void A_report_is_found_with_its_text_and_returned_headers()
    {
        Assert.True(DeliveryStatusParser.TryParseMessage(Encoding.ASCII.GetBytes(Report(Status)), out var r));
        Assert.Equal("It failed.", r!.HumanReadableText);
        Assert.Equal("text/rfc822-headers", r.ReturnedContentType);
        Assert.Equal("m1@example.org", r.ReturnedMessageId);
        Assert.False(r.IsGlobal);
        Assert.Equal("bob@example.org", Assert.Single(r.Status.Recipients).FinalRecipient);
    }

    [Fact]
    public void A_base64_delivery_status_part_is_decoded()
    {
        var b64 = Convert.ToBase64String(Encoding.ASCII.GetBytes(Status), Base64FormattingOptions.InsertLineBreaks);
        Assert.True(DeliveryStatusParser.TryParseMessage(Encoding.ASCII.GetBytes(Report(b64, transferEncoding: "base64")), out var r));
        Assert.Equal("5.1.1", Assert.Single(r!.Status.Recipients).Status.ToString());
    }

    [Fact]
    public void A_read_receipt_is_not_a_delivery_report()
    {
        var mdn = Report("Reporting-UA: mua.example\r\nFinal-Recipient: rfc822; bob@example.org\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n", "disposition-notification");
        Assert.False(DeliveryStatusParser.TryParseMessage(Encoding.ASCII.GetBytes(mdn), out var r));
        Assert.Null(r);
    }

    [Fact]
    public void A_bounce_forwarded_inside_another_message_is_found()
    {
        var forwarded = "From: alice@example.org\r\nTo: help@example.org\r\nSubject: Fwd: failure\r\nMIME-Version: 1.0\r\n" +
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nWhat does this mean?\r\n" +
            "--outer\r\nContent-Type: message/rfc822\r\n\r\n" + Report(Status) + "\r\n--outer--\r\n";
        Assert.True(DeliveryStatusParser.TryParseMessage(Encoding.ASCII.GetBytes(forwarded), out var r));
        Assert.Equal("It failed.", r!.HumanReadableText);
        Assert.Equal("bob@example.org", Assert.Single(r.Status.Recipients).FinalRecipient);
    }

    [Fact]
    public void Recipient_groups_are_capped()
    {
        var sb = new StringBuilder("Reporting-MTA: dns; mx.example\n\n");
        for (var i = 0; i < 5000; i++)
        {
            sb.Append("Final-Recipient: rfc822; u").Append(i).Append("@example.org\nAction: failed\nStatus: 5.1.1\n\n");
        }

        var s = Fields(sb.ToString());
        Assert.Equal(DeliveryStatusParser.MaxGroups, s.Recipients.Count);
        Assert.Equal("u0@example.org", s.Recipients[0].FinalRecipient);
    }

    [Fact]
    public void Field_values_are_capped()
    {
        var s = Fields("Final-Recipient: rfc822; a@b\nAction: failed\nDiagnostic-Code: smtp; " + new string('x', 100_000) + "\n" +
            string.Concat(Enumerable.Repeat(" more\n", 50_000)));
        var d = Assert.Single(s.Recipients)["Diagnostic-Code"]!;
        Assert.True(d.Length <= DeliveryStatusParser.MaxValueChars, d.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
