using Postern.Delivery.Dsn;

namespace Postern.Delivery.Tests.Dsn;

/// <summary>Our parser reads the DSNs a real Postfix writes (failure, delay warning, success, EAI), the way the queue
/// engine will read incoming bounces; mutations of them never make it throw.</summary>
[Trait("Category", "EndToEnd")]
public sealed class PostfixDsnTests(PostfixDsnSource postfix) : IClassFixture<PostfixDsnSource>
{
    private DeliveryReport Read(string messageId)
    {
        Assert.True(postfix.Dsns.TryGetValue(messageId, out var dsn), "no DSN for " + messageId);
        Assert.True(DeliveryStatusParser.TryParseMessage(dsn, out var report), "not read as a DSN: " + messageId);
        Assert.Equal(PostfixDsnSource.Hostname, report!.Status.PerMessage.ReportingMta);
        Assert.NotNull(report.Status.PerMessage.ArrivalDate);
        Assert.Equal(messageId, report.ReturnedMessageId);
        Assert.False(string.IsNullOrWhiteSpace(report.HumanReadableText));
        return report;
    }

    [Fact]
    public void A_postfix_failure_report_with_envid_and_orcpt()
    {
        var r = Read("fail-1@sender.test");
        Assert.False(r.IsGlobal);
        Assert.Equal("QQ314159", r.Status.PerMessage.OriginalEnvelopeId);
        Assert.Equal("text/rfc822-headers", r.ReturnedContentType);
        var bob = Assert.Single(r.Status.Recipients);
        Assert.Equal("rfc822", bob.FinalRecipientType);
        Assert.Equal("bob@reject.test", bob.FinalRecipient);
        Assert.Equal("Bob.Orig@alias.test", bob.OriginalRecipient);
        Assert.Equal(DsnAction.Failed, bob.Action);
        Assert.Equal("5.1.1", bob.Status.ToString());
        Assert.Equal("127.0.0.1", bob.RemoteMta);
        Assert.Equal("smtp", bob.DiagnosticType);
        Assert.Equal("550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table", bob.Diagnostic);
        Assert.Contains("bob@reject.test", r.HumanReadableText, StringComparison.Ordinal);
    }

    [Fact]
    public void A_postfix_delay_warning()
    {
        var r = Read("delay-1@sender.test");
        var carol = Assert.Single(r.Status.Recipients);
        Assert.Equal("carol@soft.test", carol.FinalRecipient);
        Assert.Equal(DsnAction.Delayed, carol.Action);
        Assert.Equal(4, carol.Status!.Value.Class);
        Assert.NotNull(carol.WillRetryUntil);
        Assert.True(carol.WillRetryUntil > r.Status.PerMessage.ArrivalDate!.Value.AddDays(4), carol.WillRetryUntil?.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Assert.StartsWith("4", carol.Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public void A_postfix_success_report_with_relayed_and_delivered()
    {
        var r = Read("ok-1@sender.test");
        Assert.Equal(2, r.Status.Recipients.Count);
        var dave = r.Status.Recipients.Single(x => x.FinalRecipient == "dave@ok.test");
        var erin = r.Status.Recipients.Single(x => x.FinalRecipient == "erin@gone.test");
        Assert.Equal(DsnAction.Relayed, dave.Action);
        Assert.Equal(DsnAction.Delivered, erin.Action);
        Assert.All(r.Status.Recipients, x => Assert.Equal(2, x.Status!.Value.Class));
        Assert.Equal("x-postfix", erin.DiagnosticType);
    }

    [Fact]
    public void A_postfix_eai_failure_report()
    {
        var r = Read("eai-1@sender.test");
        var only = Assert.Single(r.Status.Recipients);
        Assert.Equal("用户@reject.test", only.FinalRecipient);
        Assert.Equal(DsnAction.Failed, only.Action);
        Assert.Equal("5.6.7", only.Status.ToString());
        Assert.Contains("SMTPUTF8", only.Diagnostic, StringComparison.Ordinal);
    }

    [Fact]
    public void Mutated_postfix_reports_never_throw()
    {
        var seeds = postfix.Dsns.Values.ToArray();
        var random = new Random(2026);
        var read = 0;
        for (var i = 0; i < 2000; i++)
        {
            if (DeliveryStatusParser.TryParseMessage(DsnPropertyTests.Mutate(seeds[i % seeds.Length], random), out var r))
            {
                read++;
                _ = r!.Status.Recipients.Select(x => (x.FinalRecipient, x.Action, x.Status, x.WillRetryUntil)).ToList();
            }
        }

        Assert.True(read > 500, read.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
