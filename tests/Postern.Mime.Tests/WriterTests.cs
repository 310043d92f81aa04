using System.Text;
using Postern.Mime.Headers;
using Postern.Mime.Writing;

namespace Postern.Mime.Tests;

public class WriterTests
{
    private static readonly byte[] Sample = Encoding.ASCII.GetBytes(
        "Received: from a by b; Mon, 2 Jan 2006 15:04:05 -0700\r\n" +
        "Subject: old\r\n  subject\r\n" +
        "From: a@example.com\r\n" +
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
        "pre\r\n--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n--b--\r\npost\r\n");

    [Fact]
    public void Unchanged_message_is_written_from_the_tree_byte_identical()
    {
        var m = MimeParser.Parse(Sample);
        Assert.Equal(Sample, m.ToArray());
        using var ms = new MemoryStream();
        m.WriteTo(ms);
        Assert.Equal(Sample, ms.ToArray());
    }

    [Fact]
    public void The_writer_uses_the_tree_not_the_input_buffer()
    {
        // Each part is written from its own fields and ranges: a changed part header shows up in place.
        var m = MimeParser.Parse(Sample);
        m.Root.Children[0].Headers.Set("Content-Type", "text/plain; charset=utf-8");
        var written = Encoding.ASCII.GetString(m.ToArray());
        Assert.Contains("--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n--b--", written, StringComparison.Ordinal);
    }

    [Fact]
    public void Changing_one_header_changes_only_that_headers_bytes()
    {
        var m = MimeParser.Parse(Sample);
        m.Headers.Set("Subject", "new subject");
        var expected = Encoding.ASCII.GetString(Sample).Replace("Subject: old\r\n  subject\r\n", "Subject: new subject\r\n", StringComparison.Ordinal);
        Assert.Equal(expected, Encoding.ASCII.GetString(m.ToArray()));
        Assert.True(m.Headers.IsModified);
        Assert.Equal("new subject", m.Subject);
    }

    [Fact]
    public void Adding_and_removing_fields_leaves_other_bytes_alone()
    {
        var m = MimeParser.Parse(Sample);
        m.Headers.Insert(0, "Received", "from c by d; Tue, 3 Jan 2006 10:00:00 +0000");
        Assert.Equal(1, m.Headers.Remove("From"));
        var text = Encoding.ASCII.GetString(m.ToArray());
        var expected = "Received: from c by d; Tue, 3 Jan 2006 10:00:00 +0000\r\n" +
            Encoding.ASCII.GetString(Sample).Replace("From: a@example.com\r\n", string.Empty, StringComparison.Ordinal);
        Assert.Equal(expected, text);
    }

    [Fact]
    public void LF_messages_get_LF_in_changed_headers()
    {
        var m = MimeParser.Parse("Subject: x\nTo: y@example.com\n\nbody\n"u8.ToArray());
        m.Headers.Set("Subject", "changed");
        Assert.Equal("Subject: changed\nTo: y@example.com\n\nbody\n", Encoding.ASCII.GetString(m.ToArray()));
    }

    [Fact]
    public void Long_and_non_ASCII_header_values_are_folded_and_encoded_only_where_needed()
    {
        var value = string.Join(' ', Enumerable.Repeat("word", 60)) + " Grüße aus Köln " + new string('x', 1500);
        var raw = Encoding.ASCII.GetString(HeaderEncoder.EncodeField("Subject", value));
        var lines = raw.Split("\r\n")[..^1];
        Assert.All(lines, l => Assert.True(l.Length <= 78, $"line of {l.Length}: {l}"));
        Assert.StartsWith("Subject: word word", raw, StringComparison.Ordinal);
        Assert.Contains("=?utf-8?", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("=?utf-8?Q?word", raw, StringComparison.Ordinal);
        var parsed = MimeParser.Parse(Encoding.ASCII.GetBytes(raw + "\r\n"));
        Assert.Equal(value, parsed.Subject);

        var ascii = Encoding.ASCII.GetString(HeaderEncoder.EncodeField("Subject", "plain ascii words only"));
        Assert.Equal("Subject: plain ascii words only\r\n", ascii);
    }

    [Fact]
    public void Builder_composes_alternatives_inline_images_attachments_and_forwards()
    {
        var forwarded = "Subject: the original\r\nFrom: o@example.com\r\n\r\noriginal body\r\n"u8.ToArray();
        var png = new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3 };
        var builder = new MessageBuilder
        {
            Subject = "Bericht für Jürgen",
            TextBody = "Hallo Jürgen,\nsiehe Anhang.\n",
            HtmlBody = "<p>Hallo J&uuml;rgen, <img src=\"cid:logo@x\"></p>",
            Date = new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.FromHours(1)),
            Random = new Random(42),
        };
        builder.From.Add(new MailboxAddress("Zoë Example", "zoe@bücher.example"));
        builder.To.Add(new MailboxAddress("Doe, John", "john@example.com"));
        builder.InlineImages.Add(new MimeAttachment("logo.png", "image/png", png, "logo@x"));
        builder.Attachments.Add(new MimeAttachment("Überweisung März 2026 – sehr langer Dateiname für den Test.pdf", "application/pdf", new byte[3000]));
        builder.ForwardedMessages.Add(forwarded);

        var bytes = builder.ToBytes();
        var text = Encoding.UTF8.GetString(bytes);
        Assert.All(text.Split("\r\n"), l => Assert.True(l.Length <= 998));
        Assert.DoesNotContain("\n", text.Replace("\r\n", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.True(Ascii.IsValid(bytes), "built message should be 7-bit");

        var m = MimeParser.Parse(bytes);
        Assert.Empty(m.AllDefects);
        Assert.Equal("Bericht für Jürgen", m.Subject);
        Assert.Equal("Zoë Example", m.From.Mailboxes.Single().Name);
        Assert.Equal("zoe@xn--bcher-kva.example", m.From.Mailboxes.Single().Address);
        Assert.Equal("Doe, John", m.To.Mailboxes.Single().Name);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.FromHours(1)), m.Date.Value);
        Assert.Equal("multipart/mixed", m.Root.ContentType.MimeType);
        var related = m.Root.Children[0];
        Assert.Equal("multipart/related", related.ContentType.MimeType);
        Assert.Equal(["text/plain", "text/html"], related.Children[0].Children.Select(c => c.ContentType.MimeType));
        Assert.Equal("Hallo Jürgen,\r\nsiehe Anhang.\r\n", m.TextBody);
        Assert.Contains("cid:logo@x", m.HtmlBody, StringComparison.Ordinal);
        Assert.Equal(png, related.Children[1].GetContent());
        Assert.Equal("<logo@x>", related.Children[1].Headers["Content-ID"]);
        var pdf = m.Root.Children[1];
        Assert.Equal("Überweisung März 2026 – sehr langer Dateiname für den Test.pdf", pdf.FileName);
        Assert.Equal(3000, pdf.GetContent().Length);
        var fwd = m.Root.Children[2];
        Assert.Equal("the original", fwd.Message!.Headers["Subject"]);
        Assert.Equal(forwarded, fwd.RawBody.ToArray());

        // Boundaries are unique and never occur inside the content.
        var boundaries = m.Entities.Where(e => e.Kind == MimeBodyKind.Multipart).Select(e => e.ContentType.Boundary!).ToList();
        Assert.Equal(boundaries.Count, boundaries.Distinct().Count());
        foreach (var leaf in m.Entities.Where(e => e.Kind == MimeBodyKind.Leaf))
        {
            Assert.All(boundaries, b => Assert.DoesNotContain(b, Encoding.ASCII.GetString(leaf.RawBody.Span), StringComparison.Ordinal));
        }

        Assert.Equal(bytes, m.ToArray());
    }

    [Fact]
    public void Builder_uses_plain_7bit_for_ASCII_text_and_quoted_printable_otherwise()
    {
        var b = new MessageBuilder { TextBody = "just ascii", Date = DateTimeOffset.UnixEpoch };
        b.From.Add(new MailboxAddress(null, "a@example.com"));
        var m = b.Build();
        Assert.Equal("7bit", m.Root.TransferEncoding);
        Assert.Equal("just ascii", m.TextBody);

        var q = new MessageBuilder { TextBody = "naïve = " + new string('é', 200), Date = DateTimeOffset.UnixEpoch }.Build();
        Assert.Equal("quoted-printable", q.Root.TransferEncoding);
        Assert.Equal("naïve = " + new string('é', 200), q.TextBody);
        Assert.All(Encoding.ASCII.GetString(q.Root.RawBody.Span).Split("\r\n"), l => Assert.True(l.Length <= 76));
    }
}
