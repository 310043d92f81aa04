using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Mime.Views;

namespace Postern.Mime.Tests;

public class MessageSummaryTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(300);

    private static MimeMessage Parse(string text) => MimeParser.Parse(Encoding.UTF8.GetBytes(text.ReplaceLineEndings("\r\n")));

    [Fact]
    public void Build_fills_every_field_from_the_headers()
    {
        var m = Parse("""
            From: =?utf-8?q?J=C3=B6rg?= <joerg@example.com>, second@example.com
            To: "Ann Lee" <ann@example.org>
            Cc: Team: c1@example.net, c2@example.net;
            Bcc: hidden@example.com
            Subject: =?utf-8?B?R3LDvMOfZQ==?= again
            Date: Mon, 7 Feb 1994 21:52:25 -0800
            Message-ID: <abc@x.example>
            In-Reply-To: <p1@x.example>
            References: <p0@x.example> <p1@x.example>
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit

            Grüße

            """);
        var s = MessageSummary.Build(m);
        Assert.Equal("Grüße again", s.Subject);
        Assert.Equal(new DateTimeOffset(1994, 2, 7, 21, 52, 25, TimeSpan.FromHours(-8)), s.Date);
        Assert.Equal("Jörg <joerg@example.com>, <second@example.com>", s.From);
        Assert.Equal("Ann Lee <ann@example.org>", s.To);
        Assert.Equal("<c1@example.net>, <c2@example.net>", s.Cc);
        Assert.Equal("<hidden@example.com>", s.Bcc);
        Assert.Equal(new SummaryAddress("joerg", "example.com", "Jörg"), s.FirstFrom);
        Assert.Equal(new SummaryAddress("ann", "example.org", "Ann Lee"), s.FirstTo);
        // the first address as ENVELOPE lists it: a group's start marker, whose mailbox is the group name (as SORT CC uses it)
        Assert.Equal(new SummaryAddress("Team", null, null), s.FirstCc);
        Assert.Equal("abc@x.example", s.MessageId);
        Assert.Equal(["p1@x.example"], s.InReplyTo);
        Assert.Equal(["p0@x.example", "p1@x.example"], s.References);
        Assert.True(s.HasEightBit);
        Assert.Equal(ImapView.Envelope(m.Root), s.Envelope);
        Assert.StartsWith("(\"text\" \"plain\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\"", s.BodyStructure, StringComparison.Ordinal);
        Assert.Equal(ImapView.BodyStructure(m.Root, extended: false), s.Body);
    }

    [Fact]
    public void Missing_or_unreadable_fields_are_null_and_ascii_is_not_eight_bit()
    {
        var s = MessageSummary.Build(Parse("""
            Date: the day after tomorrow
            X-Other: 1

            plain ascii body

            """));
        Assert.Null(s.Date);
        Assert.Null(s.Subject);
        Assert.Null(s.From);
        Assert.Null(s.FirstFrom);
        Assert.Null(s.MessageId);
        Assert.Empty(s.References);
        Assert.False(s.HasEightBit);
        AssertSame(s, MessageSummary.FromJson(s.ToJson())!);
    }

    [Fact]
    public void A_declared_binary_part_counts_as_eight_bit()
    {
        var s = MessageSummary.Build(Parse("""
            Content-Type: multipart/mixed; boundary=b

            --b
            Content-Type: application/octet-stream
            Content-Transfer-Encoding: binary

            abc
            --b--

            """));
        Assert.True(s.HasEightBit);
    }

    public static IEnumerable<object[]> CorpusFiles() =>
        Corpus.StalwartMessages().Select(p => new object[] { Path.GetRelativePath(Corpus.StalwartEml, p) });

    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Corpus_summaries_round_trip_through_json_and_match_the_imap_views(string relativePath)
    {
        var m = MimeParser.Parse(File.ReadAllBytes(Path.Combine(Corpus.StalwartEml, relativePath)));
        var s = MessageSummary.Build(m);
        Assert.Equal(ImapView.Envelope(m.Root), s.Envelope);
        Assert.Equal(ImapView.BodyStructure(m.Root), s.BodyStructure);
        Assert.Equal(ImapView.BodyStructure(m.Root, extended: false), s.Body);
        var back = MessageSummary.FromJson(s.ToJson());
        Assert.NotNull(back);
        AssertSame(s, back);
    }

    internal static Gen<byte[]> Mutated()
    {
        var samples = FuzzTests.Samples.Value;
        return from s in Gen.Choose(0, samples.Length - 1)
               from kind in Gen.Choose(0, 4)
               from a in Gen.Choose(0, int.MaxValue)
               from b in Gen.Choose(0, int.MaxValue)
               select FuzzTests.Mutate(samples[s], kind, a, b);
    }

    [Fact]
    public void Mutated_corpus_messages_never_make_build_throw() =>
        Check.One(Runs, Prop.ForAll(Mutated().ToArbitrary(), input =>
        {
            var s = MessageSummary.Build(MimeParser.Parse(input));
            AssertSame(s, MessageSummary.FromJson(s.ToJson())!);
            return true;
        }));

    [Fact]
    public void Random_mime_like_input_never_makes_build_throw() =>
        Check.One(Runs, Prop.ForAll(FuzzTests.MimeLike().ToArbitrary(), input =>
        {
            var s = MessageSummary.Build(MimeParser.Parse(input));
            return MessageSummary.FromJson(s.ToJson()) is not null;
        }));

    /// <summary>Records compare lists by reference, so compare field by field.</summary>
    private static void AssertSame(MessageSummary expected, MessageSummary actual)
    {
        Assert.Equal(expected.Envelope, actual.Envelope);
        Assert.Equal(expected.BodyStructure, actual.BodyStructure);
        Assert.Equal(expected.Body, actual.Body);
        Assert.Equal(expected.Date, actual.Date);
        Assert.Equal(expected.Subject, actual.Subject);
        Assert.Equal(expected.From, actual.From);
        Assert.Equal(expected.To, actual.To);
        Assert.Equal(expected.Cc, actual.Cc);
        Assert.Equal(expected.Bcc, actual.Bcc);
        Assert.Equal(expected.FirstFrom, actual.FirstFrom);
        Assert.Equal(expected.FirstTo, actual.FirstTo);
        Assert.Equal(expected.FirstCc, actual.FirstCc);
        Assert.Equal(expected.MessageId, actual.MessageId);
        Assert.Equal(expected.InReplyTo, actual.InReplyTo);
        Assert.Equal(expected.References, actual.References);
        Assert.Equal(expected.HasEightBit, actual.HasEightBit);
    }

    [Fact]
    public void MayContain_rules_out_only_what_the_stored_json_cannot_hold()
    {
        var m = MimeMessage.Parse(System.Text.Encoding.UTF8.GetBytes("From: Ann <ann@example.org>\r\nSubject: Tom & Jerry =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nbody\r\n"));
        var json = MessageSummary.Build(m).ToJson();
        Assert.True(MessageSummary.MayContain(json, "TOM"));
        Assert.True(MessageSummary.MayContain(json, "ann@EXAMPLE"));
        Assert.False(MessageSummary.MayContain(json, "walrus"));

        // what the serializer escapes (&, non-ASCII) cannot be looked for in the raw text: never ruled out
        Assert.True(MessageSummary.MayContain(json, "tom & jerry"));
        Assert.True(MessageSummary.MayContain(json, "grüße"));
        Assert.True(MessageSummary.MayContain(json.Replace("\"Version\":2", "\"Version\":1", StringComparison.Ordinal), "walrus"));
        Assert.True(MessageSummary.MayContain(null, "walrus"));
    }
}
