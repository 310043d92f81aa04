using System.Diagnostics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Delivery.Dsn;
using Postern.Protocols.Smtp;
using DsnReturn = Postern.Core.Storage.Queue.DsnReturn;

namespace Postern.Delivery.Tests.Dsn;

/// <summary>Random reports survive the round trip through the builder and the parser; random and mutated input never
/// makes the parser throw or take long.</summary>
public sealed class DsnPropertyTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(300);

    private static readonly Gen<string> Local = Gen.Elements("bob", "Bob.Smith", "o'brien", "a+tag", "x=y", "josé", "用户", "😀", "d.e.f", "üser");

    private static readonly Gen<string> Domain = Gen.Elements("remote.test", "Mail.Example.COM", "例子.test", "xn--bcher-kva.example", "sub.a.b.test");

    private static readonly Gen<string> Address = from l in Local from d in Domain select l + "@" + d;

    private static readonly Gen<string> ReplyText = Gen.Elements(
        "User unknown", "Mailbox full", "Temporary failure, try again later", "<bob@remote.test>: Recipient address rejected: User unknown in local recipient table",
        "Message rejected due to content restrictions (see https://remote.test/policy?id=123&x=y)", "Grüße", new string('z', 1200), "a\tb", string.Empty);

    private static readonly Gen<SmtpReply?> Reply =
        Gen.OneOf(
            Gen.Constant<SmtpReply?>(null),
            from code in Gen.Elements(250, 251, 421, 450, 451, 452, 550, 551, 552, 553, 554)
            from withStatus in Gen.Elements(true, false)
            from detail in Gen.Choose(0, 12)
            from lines in Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(ReplyText, n))
            select (SmtpReply?)new SmtpReply(code, withStatus ? new EnhancedStatusCode(code / 100, 1, detail) : null, lines));

    private static readonly Gen<DsnRecipient> Recipient =
        from final in Address
        from orcpt in Gen.OneOf(Gen.Constant<string?>(null), Address.Select(a => (string?)a))
        from action in Gen.Elements(Enum.GetValues<DsnAction>())
        from reply in Reply
        from mta in Gen.Elements<string?>(null, "mx1.remote.test", "[192.0.2.1]", "例子.test")
        from diag in Gen.Elements<string?>(null, "connect to mx.remote.test[192.0.2.1]:25: Connection refused", "TLS is required, but was not offered")
        from minutes in Gen.Choose(0, 100_000)
        select new DsnRecipient
        {
            FinalRecipient = final,
            OriginalRecipient = orcpt,
            Action = action,
            RemoteReply = reply,
            RemoteMta = mta,
            Diagnostic = diag,
            LastAttemptDate = DsnCases.Now.AddMinutes(-minutes),
            WillRetryUntil = DsnCases.Now.AddMinutes(minutes),
        };

    private static readonly Gen<DsnReport> Report =
        from recipients in Gen.Choose(1, 6).SelectMany(n => Gen.ArrayOf(Recipient, n))
        from eai in Gen.Elements(true, false)
        from ret in Gen.Elements(DsnReturn.Unspecified, DsnReturn.Headers, DsnReturn.Full)
        from envid in Gen.Elements<string?>(null, "QQ314159", "id with spaces", "x+2By")
        from sender in Gen.Elements("alice@sender.test", "jürgen@absender.test", "SRS0=HHHH=TT=orig.test=al@fwd.test")
        select DsnCases.Report(recipients, ret: ret, envid: envid, smtpUtf8: eai, sender: sender);

    private static bool Ascii(string s) => System.Text.Ascii.IsValid(s);

    [Fact]
    public void Every_random_report_reads_back_the_same()
    {
        Check.One(Runs, Prop.ForAll(Arb.From(Report), report =>
        {
            var dsn = DeliveryStatusNotification.Build(report, DsnCases.Options())!;
            var global = report.SmtpUtf8 || !Ascii(report.EnvelopeSender) || report.Recipients.Any(r => !Ascii(r.FinalRecipient));
            DsnBuilderTests.AssertWireClean(dsn, global, "random");
            Assert.True(DeliveryStatusParser.TryParseMessage(dsn, out var parsed));
            Assert.Equal(global, parsed!.IsGlobal);
            Assert.Equal(report.EnvelopeId, parsed.Status.PerMessage.OriginalEnvelopeId);
            Assert.Equal(report.Recipients.Count, parsed.Status.Recipients.Count);
            for (var i = 0; i < report.Recipients.Count; i++)
            {
                var want = report.Recipients[i];
                var got = parsed.Status.Recipients[i];
                Assert.Equal(want.FinalRecipient, got.FinalRecipient);
                Assert.Equal(Ascii(want.FinalRecipient) ? "rfc822" : "utf-8", got.FinalRecipientType);
                Assert.Equal(want.OriginalRecipient, got.OriginalRecipient);
                Assert.Equal(want.Action, got.Action);
                Assert.Equal(DeliveryStatusNotification.StatusFor(want), got.Status);
                Assert.Equal(want.LastAttemptDate, got.LastAttemptDate);
                if (want.RemoteReply is { } reply)
                {
                    Assert.Equal("smtp", got.DiagnosticType);
                    Assert.StartsWith(reply.Code.ToString(System.Globalization.CultureInfo.InvariantCulture), got.Diagnostic, StringComparison.Ordinal);
                }
            }
        }));
    }

    private static readonly string[] Tokens =
    [
        "\r\n", "\n", "\r", " ", "\t", ":", ";", "(", ")", "<", ">", "\\x{", "}", "\\x{4E2D}", "Final-Recipient: rfc822; a@b\r\n",
        "Action: failed\n", "Action: ", "Status: 5.1.1\r\n", "Status: 9.99999999999.1", "Reporting-MTA: dns; mx\n", "Diagnostic-Code: smtp; 550 x\r\n",
        "Arrival-Date: Sun, 1 Mar 2026 12:00:00 +0000\n", "Will-Retry-Until: 32 Foo 99999\n", "Original-Recipient: utf-8;\\x{110000}\n", "\u00e9", "\u00ff\u00fe", "\0",
        "utf-8;", "rfc822;", " continued\n",
    ];

    [Fact]
    public void Random_field_soup_never_throws_and_stays_bounded()
    {
        var gen = Gen.Elements(Tokens).ArrayOf().Select(parts => Encoding.UTF8.GetBytes(string.Concat(parts)));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000), Prop.ForAll(Arb.From(gen), input =>
        {
            var s = DeliveryStatusParser.ParseFields(input);
            Assert.True(s.Recipients.Count <= DeliveryStatusParser.MaxGroups);
            foreach (var r in s.Recipients)
            {
                _ = (r.FinalRecipient, r.OriginalRecipient, r.Action, r.Status, r.RemoteMta, r.Diagnostic, r.LastAttemptDate, r.WillRetryUntil);
                Assert.True(r.Fields.Count <= DeliveryStatusParser.MaxFieldsPerGroup);
            }

            _ = (s.PerMessage.ReportingMta, s.PerMessage.ArrivalDate, s.PerMessage.OriginalEnvelopeId);
        }));
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll<byte[]>(input =>
        {
            _ = DeliveryStatusParser.ParseFields(input);
            _ = DeliveryStatusParser.TryParseMessage(input, out _);
        }));
    }

    /// <summary>Byte flips, insertions, deletions, truncation and duplicated ranges of real DSNs (ours, for every case).</summary>
    [Fact]
    public void Mutated_dsns_never_throw_and_parse_quickly()
    {
        var seeds = DsnCases.All().Select(c => c.Build()).ToArray();
        var random = new Random(12345);
        var clock = Stopwatch.StartNew();
        var parsedAsReports = 0;
        for (var round = 0; round < 3000; round++)
        {
            var input = Mutate(seeds[round % seeds.Length], random);
            var started = clock.Elapsed;
            if (DeliveryStatusParser.TryParseMessage(input, out var r))
            {
                parsedAsReports++;
                _ = r!.Status.Recipients.Select(x => (x.FinalRecipient, x.Action, x.Status, x.Diagnostic)).ToList();
            }

            Assert.True(clock.Elapsed - started < TimeSpan.FromSeconds(2), "one mutated DSN took " + (clock.Elapsed - started));
        }

        // Many mutations (not those that cut the report off) leave a report one can still read.
        Assert.True(parsedAsReports > 1000, parsedAsReports.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    internal static byte[] Mutate(byte[] seed, Random random)
    {
        var data = new List<byte>(seed);
        var edits = random.Next(1, 8);
        for (var e = 0; e < edits && data.Count > 0; e++)
        {
            var at = random.Next(data.Count);
            switch (random.Next(6))
            {
                case 0:
                    data[at] = (byte)random.Next(256);
                    break;
                case 1:
                    const string inserts = "\r\n:; -\\{}x\0\u00e9";
                    data.Insert(at, (byte)inserts[random.Next(inserts.Length)]);
                    break;
                case 2:
                    data.RemoveRange(at, Math.Min(random.Next(1, 200), data.Count - at));
                    break;
                case 3:
                    data.RemoveRange(at, data.Count - at);
                    break;
                case 4:
                    var length = Math.Min(random.Next(1, 400), data.Count - at);
                    data.InsertRange(random.Next(data.Count), data.GetRange(at, length));
                    break;
                default:
                    data[at] = data[at] == '\n' ? (byte)' ' : (byte)'\n';
                    break;
            }
        }

        return [.. data];
    }

    [Fact]
    public void Legacy_bounces_in_the_corpus_are_not_mistaken_for_dsns()
    {
        // An Exim 2 plain-text bounce and an MS Exchange multipart/mixed one: no RFC 3464 report in either.
        foreach (var file in new[]
        {
            "spamassassin-sample/ham/easy-ham-2/01304.af5f3a2d3a0a19785aeaeeb3d7e36040.txt",
            "spamassassin-sample/spam/spam-2/00169.86268e75abd1bd4bda4d6c129681df34.txt",
        })
        {
            var bytes = File.ReadAllBytes(SharedCorpus.File(file));
            Assert.False(DeliveryStatusParser.TryParseMessage(bytes, out var r), file);
            Assert.Null(r);
        }
    }

    [Fact]
    public void No_message_of_the_corpus_makes_the_parser_throw()
    {
        var files = SharedCorpus.SpamAssassinMessages().Where((_, i) => i % 4 == 0).Concat(SharedCorpus.StalwartMessages()).ToList();
        Assert.True(files.Count > 1000, files.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var file in files)
        {
            var bytes = File.ReadAllBytes(file);
            Assert.False(DeliveryStatusParser.TryParseMessage(bytes, out _), file);
            _ = DeliveryStatusParser.ParseFields(bytes);
        }
    }
}
