using System.Text;
using Postern.Mime.Views;

namespace Postern.Mime.Tests;

public class ImapViewTests
{
    private static readonly byte[] Message = Encoding.ASCII.GetBytes(string.Join("\r\n",
        "From: \"Joe\" <joe@example.com>",
        "To: a@example.com, Team: b@example.com;",
        "Subject: Hi",
        "Date: Mon, 7 Feb 1994 21:52:25 -0800",
        "Message-ID: <id@x>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=b",
        string.Empty,
        "--b",
        "Content-Type: text/plain; charset=us-ascii",
        string.Empty,
        "hello",
        "world",
        "--b",
        "Content-Type: message/rfc822",
        string.Empty,
        "Subject: inner",
        "From: i@example.com",
        string.Empty,
        "inner body",
        "--b--",
        string.Empty));

    private static string S(byte[]? b) => b is null ? "(null)" : Encoding.ASCII.GetString(b);

    [Fact]
    public void Envelope_lists_fields_with_groups_and_sender_defaults()
    {
        var m = MimeParser.Parse(Message);
        Assert.Equal(
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"Hi\" ((\"Joe\" NIL \"joe\" \"example.com\")) ((\"Joe\" NIL \"joe\" \"example.com\")) " +
            "((\"Joe\" NIL \"joe\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")(NIL NIL \"Team\" NIL)(NIL NIL \"b\" \"example.com\")(NIL NIL NIL NIL)) " +
            "NIL NIL NIL \"<id@x>\")",
            ImapView.Envelope(m.Root));
    }

    [Fact]
    public void Bodystructure_describes_parts_sizes_lines_and_nested_messages()
    {
        var m = MimeParser.Parse(Message);
        const string inner = "(\"text\" \"plain\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)";
        const string from = "((NIL NIL \"i\" \"example.com\"))";
        var expected =
            "((\"text\" \"plain\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 12 2 NIL NIL NIL NIL)" +
            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 49 (NIL \"inner\" " + from + " " + from + " " + from + " NIL NIL NIL NIL NIL) " + inner + " 4 NIL NIL NIL NIL)" +
            " \"mixed\" (\"BOUNDARY\" \"b\") NIL NIL NIL)";
        Assert.Equal(expected, ImapView.BodyStructure(m.Root));
        Assert.Equal(
            "((\"text\" \"plain\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 12 2)" +
            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 49 (NIL \"inner\" " + from + " " + from + " " + from + " NIL NIL NIL NIL NIL) " +
            "(\"text\" \"plain\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 10 1) 4) \"mixed\")",
            ImapView.BodyStructure(m.Root, extended: false));
    }

    [Theory]
    [InlineData("1", "hello\r\nworld")]
    [InlineData("1.MIME", "Content-Type: text/plain; charset=us-ascii\r\n\r\n")]
    [InlineData("2", "Subject: inner\r\nFrom: i@example.com\r\n\r\ninner body")]
    [InlineData("2.HEADER", "Subject: inner\r\nFrom: i@example.com\r\n\r\n")]
    [InlineData("2.TEXT", "inner body")]
    [InlineData("2.1", "inner body")]
    [InlineData("HEADER.FIELDS (subject TO)", "To: a@example.com, Team: b@example.com;\r\nSubject: Hi\r\n\r\n")]
    [InlineData("2.HEADER.FIELDS.NOT (Subject)", "From: i@example.com\r\n\r\n")]
    [InlineData("3", "(null)")]
    [InlineData("1.HEADER", "(null)")]
    [InlineData("MIME", "(null)")]
    public void Sections_are_served_byte_exact(string section, string expected)
    {
        Assert.Equal(expected, S(ImapView.Section(MimeParser.Parse(Message), section)));
    }

    [Fact]
    public void Whole_message_header_text_and_partial_ranges()
    {
        var m = MimeParser.Parse(Message);
        Assert.Equal(Message, ImapView.Section(m, string.Empty));
        var header = S(ImapView.Section(m, "HEADER"));
        Assert.StartsWith("From: \"Joe\"", header, StringComparison.Ordinal);
        Assert.EndsWith("boundary=b\r\n\r\n", header, StringComparison.Ordinal);
        Assert.StartsWith("--b\r\n", S(ImapView.Section(m, "TEXT")), StringComparison.Ordinal);
        Assert.Equal("llo", S(ImapView.Partial(ImapView.Section(m, "1")!, 2, 3)));
        Assert.Empty(ImapView.Partial(ImapView.Section(m, "1")!, 100, 3));
    }

    [Fact]
    public void Single_part_message_part_one_is_its_body()
    {
        var m = MimeParser.Parse("Subject: s\r\n\r\nonly body"u8.ToArray());
        Assert.Equal("only body", S(ImapView.Section(m, "1")));
        Assert.Equal("(\"text\" \"plain\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL)", ImapView.BodyStructure(m.Root));
    }

    [Fact]
    public void Views_run_on_the_corpus_without_exceptions()
    {
        foreach (var path in Corpus.StalwartMessages())
        {
            var m = MimeParser.ParseFile(path);
            Assert.StartsWith("(", ImapView.BodyStructure(m.Root), StringComparison.Ordinal);
            Assert.StartsWith("(", ImapView.Envelope(m.Root), StringComparison.Ordinal);
            Assert.NotNull(ImapView.Section(m, "1"));
        }
    }
}
