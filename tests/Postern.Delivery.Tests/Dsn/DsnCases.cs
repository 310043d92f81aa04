using System.Text;
using Postern.Delivery.Dsn;
using Postern.Protocols.Smtp;
using DsnReturn = Postern.Core.Storage.Queue.DsnReturn;

namespace Postern.Delivery.Tests.Dsn;

/// <summary>The DSNs every test looks at: one per situation the queue engine reports, each with what a reader
/// of it must find.</summary>
internal static class DsnCases
{
    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    public static readonly DateTimeOffset Arrived = Now.AddHours(-5);

    public const string Host = "mx.postern.test";
    public const string Sender = "alice@sender.test";
    public const string OriginalId = "orig-1234@sender.test";

    public static DsnOptions Options(long maxReturned = DsnOptions.DefaultMaxReturnedMessageBytes) =>
        new() { Time = new ManualClock(Now), Random = new Random(7), MaxReturnedMessageBytes = maxReturned };

    /// <summary>An ordinary original: a few headers (one of them folded) and a two-line body.</summary>
    public static byte[] Original(string? extraHeaders = null, string body = "Hello Bob,\r\nsee you tomorrow.\r\n", string messageId = OriginalId) =>
        Encoding.UTF8.GetBytes(
            "Received: from client.sender.test (client.sender.test [192.0.2.10])\r\n\tby mx.postern.test with ESMTPS id 4F2A; Sun, 1 Mar 2026 07:00:00 +0000\r\n" +
            "From: Alice <alice@sender.test>\r\n" +
            "To: Bob <bob@remote.test>\r\n" +
            "Subject: Lunch on Monday\r\n" +
            "Date: Sun, 1 Mar 2026 06:59:58 +0000\r\n" +
            $"Message-ID: <{messageId}>\r\n" +
            "References: <earlier-1@sender.test>\r\n" +
            "MIME-Version: 1.0\r\n" +
            (extraHeaders ?? "Content-Type: text/plain; charset=us-ascii\r\n") +
            "\r\n" + body);

    public static SmtpReply UserUnknown { get; } = new(550, new EnhancedStatusCode(5, 1, 1), ["<bob@remote.test>: Recipient address rejected: User unknown in virtual mailbox table"]);

    public static DsnReport Report(IReadOnlyList<DsnRecipient> recipients, byte[]? original = null, DsnReturn ret = DsnReturn.Unspecified, string? envid = null, bool smtpUtf8 = false, string sender = Sender) => new()
    {
        ReportingMta = Host,
        EnvelopeSender = sender,
        EnvelopeId = envid,
        ArrivalDate = Arrived,
        SmtpUtf8 = smtpUtf8,
        Return = ret,
        OriginalMessage = original ?? Original(),
        Recipients = recipients,
        QueueId = "Q4F2A",
    };

    public static DsnRecipient Failed(string rcpt = "bob@remote.test") => new()
    {
        FinalRecipient = rcpt,
        Action = DsnAction.Failed,
        RemoteReply = UserUnknown,
        RemoteMta = "mx1.remote.test",
        LastAttemptDate = Now.AddMinutes(-1),
    };

    /// <summary>One case: the report, the options and what must be found in the result.</summary>
    internal sealed record Case(string Name, DsnReport Report, DsnOptions Options, Expect Expect)
    {
        public byte[] Build() => DeliveryStatusNotification.Build(Report, Options) ?? throw new InvalidOperationException(Name + ": no DSN");

        public override string ToString() => Name;
    }

    /// <summary>What a reader must find in a case's DSN.</summary>
    /// <param name="Subject">The Subject.</param>
    /// <param name="Recipients">Per recipient in order: final recipient, action, status.</param>
    /// <param name="ReturnedType">The media type of the third part.</param>
    /// <param name="Global">RFC 6533 types.</param>
    /// <param name="EnvelopeId">The Original-Envelope-Id field, or null when there must be none.</param>
    /// <param name="OriginalRecipients">The Original-Recipient addresses (decoded) in order, null entries for none.</param>
    /// <param name="HumanMentions">Text the human-readable part must contain.</param>
    internal sealed record Expect(
        string Subject,
        (string Recipient, string Action, string Status)[] Recipients,
        string ReturnedType,
        bool Global = false,
        string? EnvelopeId = null,
        string?[]? OriginalRecipients = null,
        string[]? HumanMentions = null);

    public static IEnumerable<Case> All()
    {
        yield return new Case("failed", Report([Failed()]), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "text/rfc822-headers",
            HumanMentions: ["bob@remote.test", "User unknown in virtual mailbox table", "mx1.remote.test", "the mailbox does not exist"]));

        yield return new Case("delayed", Report([new DsnRecipient
        {
            FinalRecipient = "carol@slow.test",
            Action = DsnAction.Delayed,
            Diagnostic = "connect to mx.slow.test[198.51.100.7]:25: Connection timed out",
            LastAttemptDate = Now.AddMinutes(-10),
            WillRetryUntil = Arrived.AddDays(5),
        }
        ]), Options(), new Expect(
            "Delayed Mail (still being retried)", [("carol@slow.test", "delayed", "4.0.0")], "text/rfc822-headers",
            HumanMentions: ["Connection timed out", "still being tried until Fri, 6 Mar 2026 07:00:00 +0000"]));

        yield return new Case("success", Report([new DsnRecipient
        {
            FinalRecipient = "dave@remote.test",
            Action = DsnAction.Delivered,
            RemoteReply = new SmtpReply(250, new EnhancedStatusCode(2, 0, 0), ["Ok: queued as 9C3B1"]),
            RemoteMta = "mx1.remote.test",
            LastAttemptDate = Now,
        }
        ]), Options(), new Expect(
            "Successful Mail Delivery Report", [("dave@remote.test", "delivered", "2.0.0")], "text/rfc822-headers",
            HumanMentions: ["Delivered:", "dave@remote.test", "queued as 9C3B1"]));

        yield return new Case("mixed", Report(
        [
            Failed(),
            new DsnRecipient { FinalRecipient = "erin@slow.test", Action = DsnAction.Delayed, RemoteReply = new SmtpReply(451, null, ["Temporary lookup failure", "please try again"]), RemoteMta = "mx.slow.test", WillRetryUntil = Arrived.AddDays(5) },
            new DsnRecipient { FinalRecipient = "frank@remote.test", Action = DsnAction.Relayed, RemoteReply = new SmtpReply(250, null, ["2.0.0 Ok"]), RemoteMta = "old.remote.test" },
            new DsnRecipient { FinalRecipient = "list@remote.test", Action = DsnAction.Expanded },
            new DsnRecipient { FinalRecipient = "gina@quota.test", Action = DsnAction.Failed, RemoteReply = new SmtpReply(552, new EnhancedStatusCode(5, 2, 2), ["Mailbox full"]) },
        ]), Options(), new Expect(
            "Undelivered Mail Returned to Sender",
            [("bob@remote.test", "failed", "5.1.1"), ("erin@slow.test", "delayed", "4.0.0"), ("frank@remote.test", "relayed", "2.0.0"), ("list@remote.test", "expanded", "2.0.0"), ("gina@quota.test", "failed", "5.2.2")],
            "text/rfc822-headers",
            HumanMentions: ["Not delivered", "Delayed", "Passed on", "mailing list", "451 Temporary lookup failure", "451 please try again", "the mailbox is full"]));

        yield return new Case("full-within-limit", Report([Failed()], ret: DsnReturn.Full), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "message/rfc822",
            HumanMentions: ["Your message is attached."]));

        var big = Original(body: string.Concat(Enumerable.Repeat("A line of filler text to make the message large enough.\r\n", 400)));
        yield return new Case("full-over-limit", Report([Failed()], big, DsnReturn.Full), Options(maxReturned: 8 * 1024), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "text/rfc822-headers",
            HumanMentions: ["larger than the 8 KiB limit", "only its headers are attached"]));

        yield return new Case("envid", Report([Failed()], envid: "QQ314159 run=7"), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "text/rfc822-headers", EnvelopeId: "QQ314159 run=7"));

        yield return new Case("orcpt", Report(
        [
            Failed() with { OriginalRecipient = "Bob.Smith@alias.sender.test" },
            Failed("heidi@remote.test") with { OriginalRecipient = "\\x{4E2D}\\x{6587}@alias.test", OriginalRecipientType = "utf-8" },
        ]), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1"), ("heidi@remote.test", "failed", "5.1.1")], "text/rfc822-headers",
            OriginalRecipients: ["Bob.Smith@alias.sender.test", "中文@alias.test"]));

        var eaiOriginal = Encoding.UTF8.GetBytes(
            "From: Jürgen <jürgen@absender.test>\r\nTo: 用户@例子.test\r\nSubject: Grüße aus Köln\r\nMessage-ID: <eai-1@absender.test>\r\n" +
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße!\r\n");
        yield return new Case("eai", Report(
            [Failed("用户@例子.test") with { RemoteReply = new SmtpReply(550, new EnhancedStatusCode(5, 1, 1), ["用户: no such user"]) }],
            eaiOriginal, smtpUtf8: true, sender: "jürgen@absender.test"), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("用户@例子.test", "failed", "5.1.1")], "message/global-headers", Global: true,
            HumanMentions: ["用户@例子.test", "用户: no such user", "Grüße aus Köln"]));

        yield return new Case("eai-full", Report([Failed("用户@例子.test")], eaiOriginal, DsnReturn.Full, smtpUtf8: true, sender: "jürgen@absender.test"), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("用户@例子.test", "failed", "5.1.1")], "message/global", Global: true));

        var eightBitHeaders = Original(extraHeaders: "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\nX-Note: caf\u00e9 cr\u00e8me\r\n", body: "Caf\u00e9 au lait.\r\n");
        var latin1 = Encoding.Latin1.GetBytes(Encoding.UTF8.GetString(eightBitHeaders));
        yield return new Case("8bit-headers", Report([Failed()], latin1), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "text/rfc822-headers"));

        yield return new Case("8bit-headers-full", Report([Failed()], latin1, DsnReturn.Full), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "text/rfc822-headers",
            HumanMentions: ["could not be returned whole (its header has 8-bit characters)"]));

        var eightBitBody = Original(extraHeaders: "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n", body: "Grüße, bis Montag!\r\n");
        yield return new Case("8bit-body-full", Report([Failed()], eightBitBody, DsnReturn.Full), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "message/rfc822"));

        var bareLf = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(Original()).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("Subject: Lunch on Monday\n", "Subject: Lunch on Monday\r", StringComparison.Ordinal));
        yield return new Case("bare-lf", Report([Failed()], bareLf), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "text/rfc822-headers"));

        yield return new Case("bare-lf-full", Report([Failed()], bareLf, DsnReturn.Full), Options(), new Expect(
            "Undelivered Mail Returned to Sender", [("bob@remote.test", "failed", "5.1.1")], "message/rfc822"));
    }

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in All())
        {
            data.Add(c.Name);
        }

        return data;
    }

    public static Case Get(string name) => All().Single(c => c.Name == name);
}
