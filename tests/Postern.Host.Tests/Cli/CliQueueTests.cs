using System.Diagnostics;
using System.Text;
using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;
using Postern.Delivery.Dsn;
using Postern.Host.Embedded;

namespace Postern.Host.Tests.Cli;

/// <summary>
/// <c>postern queue ...</c> and the delivery settings of <c>postern domain set</c>, run against a data folder whose
/// queue the test fills through the store, open beside the command line as a running server's would be.
/// </summary>
public sealed class CliQueueTests : IDisposable
{
    private readonly CliHarness _cli = new();
    private readonly EmbeddedBackend _server;
    private readonly EmbeddedBackend _earlier;

    public CliQueueTests()
    {
        _server = EmbeddedBackend.Open(DataFolder.Prepare(_cli.DataFolder));
        _earlier = EmbeddedBackend.Open(DataFolder.Prepare(_cli.DataFolder), new ShiftedClock(TimeSpan.FromHours(-3)));
    }

    private IQueueStore Queue => _server.Mail.Queue;

    public void Dispose()
    {
        _earlier.Dispose();
        _server.Dispose();
        _cli.Dispose();
    }

    [Fact]
    public async Task List_filters_by_domain_state_and_age_and_shows_one_line_per_message()
    {
        var deferred = await EnqueueAsync(string.Empty, ["frank@three.example"]);
        await DeferAsync(deferred, "451 4.4.1 connection timed out", TimeSpan.FromMinutes(30));
        var fresh = await EnqueueAsync("alice@sender.example", ["bob@one.example"]);
        var old = await EnqueueAsync("carol@sender.example", ["dan@two.example", "erin@one.example"], earlier: true);

        var all = await _cli.OkAsync("queue", "list");
        Assert.Contains("3 messages, 4 recipients", all.Out, StringComparison.Ordinal);
        var deferredLine = Line(all.Out, deferred);
        Assert.Contains("<>", deferredLine, StringComparison.Ordinal);
        Assert.Contains("1 deferred", deferredLine, StringComparison.Ordinal);
        Assert.Contains("next in 29m", deferredLine, StringComparison.Ordinal);
        Assert.Contains("451 4.4.1 connection timed out", deferredLine, StringComparison.Ordinal);
        var oldLine = Line(all.Out, old);
        Assert.Contains("  3h  ", oldLine, StringComparison.Ordinal);
        Assert.Contains("<carol@sender.example>", oldLine, StringComparison.Ordinal);
        Assert.Contains("2 pending", oldLine, StringComparison.Ordinal);
        Assert.Contains("next now", oldLine, StringComparison.Ordinal);

        Assert.Equal(new[] { fresh, old }.Order(StringComparer.Ordinal), Ids(await _cli.OkAsync("queue", "list", "--domain", "one.example", "--json")));
        Assert.Equal([deferred], Ids(await _cli.OkAsync("queue", "list", "--state", "deferred", "--json")));
        Assert.Equal([old], Ids(await _cli.OkAsync("queue", "list", "--older-than", "2h", "--json")));
        Assert.Empty(Ids(await _cli.OkAsync("queue", "list", "--older-than", "1d", "--json")));

        var limited = await _cli.OkAsync("queue", "list", "--limit", "2", "--json");
        Assert.Equal(2, Ids(limited).Count);
        Assert.True(limited.Json().GetProperty("more").GetBoolean());

        var badAge = await _cli.RunAsync("queue", "list", "--older-than", "soon");
        Assert.True(badAge.ExitCode == 2, badAge.ToString());
        Assert.Contains("older-than", badAge.Error, StringComparison.Ordinal);
        Assert.Equal(2, (await _cli.RunAsync("queue", "list", "--state", "stuck")).ExitCode);
    }

    [Fact]
    public async Task List_pages_through_more_messages_than_one_page()
    {
        var ids = await Task.WhenAll(Enumerable.Range(0, 1005).Select(i => EnqueueAsync("bulk@sender.example", [$"r{i}@many.example"])));

        var listed = await _cli.OkAsync("queue", "list", "--json");
        Assert.Equal(1005, listed.Json().GetProperty("total").GetInt32());
        Assert.Equal(ids.Order(StringComparer.Ordinal), Ids(listed));
        Assert.False(listed.Json().GetProperty("more").GetBoolean());

        var summary = (await _cli.OkAsync("queue", "summary", "--json")).Json();
        Assert.Equal(1005, summary.GetProperty("messages").GetInt32());
        Assert.Equal(1005, summary.GetProperty("recipients").GetProperty("pending").GetInt64());
    }

    [Fact]
    public async Task Show_prints_the_envelope_each_recipient_and_the_delivery_history()
    {
        var id = await Queue.EnqueueAsync(
            new NewQueuedMessage(
                "alice@sender.example",
                [new NewQueueRecipient("bob@dest.example", "dest.example", DsnNotify.Failure | DsnNotify.Delay, "rfc822;Bob@Dest.example"), new NewQueueRecipient("carol@dest.example", "dest.example")],
                (await WriteBodyAsync()).Id,
                123,
                EnvelopeId: "env-42",
                Return: DsnReturn.Headers,
                RequireTls: true),
            default);
        var claim = Assert.Single(await Queue.ClaimDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5), 10, default));
        var bob = claim.Recipients.Single(r => r.Address == "bob@dest.example");
        var carol = claim.Recipients.Single(r => r.Address == "carol@dest.example");
        Assert.True(await Queue.DeferAsync(bob.RecipientId, claim.LeaseToken, "451 4.7.0 greylisted, try again later", DateTimeOffset.UtcNow.AddMinutes(15), default));
        Assert.True(await Queue.CompleteAsync(carol.RecipientId, claim.LeaseToken, "mx.dest.example said 250 2.0.0 ok", default));

        var show = (await _cli.OkAsync("queue", "show", id)).Out;
        Assert.Contains($"queue id:   {id}", show, StringComparison.Ordinal);
        Assert.Contains("sender:     <alice@sender.example>", show, StringComparison.Ordinal);
        Assert.Contains("envid:      env-42", show, StringComparison.Ordinal);
        Assert.Contains("ret:        headers", show, StringComparison.Ordinal);
        Assert.Contains("requiretls: yes", show, StringComparison.Ordinal);
        Assert.Contains("smtputf8:   no", show, StringComparison.Ordinal);
        Assert.Contains("size:       123 B (123 bytes)", show, StringComparison.Ordinal);
        Assert.Contains("  bob@dest.example  deferred, 1 attempt, next attempt in 14m", show, StringComparison.Ordinal);
        Assert.Contains("notify failure,delay, orcpt rfc822;Bob@Dest.example", show, StringComparison.Ordinal);
        Assert.Contains("    last error: 451 4.7.0 greylisted, try again later", show, StringComparison.Ordinal);
        Assert.Contains("  carol@dest.example  delivered", show, StringComparison.Ordinal);
        Assert.Contains("bob@dest.example  deferred  451 4.7.0 greylisted, try again later", show, StringComparison.Ordinal);
        Assert.Contains("carol@dest.example  delivered  mx.dest.example said 250 2.0.0 ok", show, StringComparison.Ordinal);

        var json = (await _cli.OkAsync("queue", "show", id, "--json")).Json();
        Assert.Equal("env-42", json.GetProperty("envelopeId").GetString());
        Assert.Equal(["deferred", "delivered"], json.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("outcome").GetString()));
        var bobJson = json.GetProperty("recipients").EnumerateArray().Single(r => r.GetProperty("address").GetString() == "bob@dest.example");
        Assert.Equal(1, bobJson.GetProperty("attempts").GetInt32());
        Assert.Equal(["failure", "delay"], bobJson.GetProperty("notify").EnumerateArray().Select(n => n.GetString()));

        var missing = await _cli.RunAsync("queue", "show", "NOSUCHID0000");
        Assert.True(missing.ExitCode == 3, missing.ToString());
        Assert.Contains("there is no message 'NOSUCHID0000' in the queue", missing.Error, StringComparison.Ordinal);
        Assert.Equal(3, (await _cli.RunAsync("queue", "hold", "NOSUCHID0000")).ExitCode);
        Assert.Equal(3, (await _cli.RunAsync("queue", "delete", "NOSUCHID0000")).ExitCode);
    }

    [Fact]
    public async Task Retry_hold_and_release_change_what_the_server_does_next()
    {
        var one = await EnqueueAsync("alice@sender.example", ["bob@down.example"]);
        await DeferAsync(one, "421 4.3.2 shutting down", TimeSpan.FromHours(2));
        Assert.Empty(await Queue.ClaimDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1), 10, default));

        Assert.Contains($"{one}: 1 recipient made due now", (await _cli.OkAsync("queue", "retry", one)).Out, StringComparison.Ordinal);
        Assert.True((await RecipientAsync(one)).NextAttemptAt <= DateTimeOffset.UtcNow);

        await _cli.OkAsync("queue", "hold", one);
        Assert.Equal(RecipientState.Held, (await RecipientAsync(one)).State);
        Assert.Empty(await Queue.ClaimDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1), 10, default));
        Assert.Single(Ids(await _cli.OkAsync("queue", "list", "--state", "held", "--json")));
        Assert.Contains("1 recipient on hold: 'postern queue release", (await _cli.OkAsync("queue", "retry", one)).Out, StringComparison.Ordinal);
        Assert.Equal(RecipientState.Held, (await RecipientAsync(one)).State);

        Assert.Contains("1 recipient released, due now", (await _cli.OkAsync("queue", "release", one)).Out, StringComparison.Ordinal);
        Assert.Equal(RecipientState.Pending, (await RecipientAsync(one)).State);
        Assert.Contains("0 recipients released (none was on hold)", (await _cli.OkAsync("queue", "release", one)).Out, StringComparison.Ordinal);

        // A relay domain's destination is relay:DOMAIN; retry --domain covers both forms.
        var relayed = await Queue.EnqueueAsync(new NewQueuedMessage("alice@sender.example", [new NewQueueRecipient("x@gw.example", "relay:gw.example")], (await WriteBodyAsync()).Id, 10), default);
        var direct = await EnqueueAsync("alice@sender.example", ["y@gw.example"]);
        var other = await EnqueueAsync("alice@sender.example", ["z@elsewhere.example"]);
        await DeferAsync(null, "451 try later", TimeSpan.FromHours(1));
        var retried = (await _cli.OkAsync("queue", "retry", "--domain", "gw.example", "--json")).Json();
        Assert.Equal(2, retried.GetProperty("recipients").GetInt32());
        Assert.True((await RecipientAsync(relayed)).NextAttemptAt <= DateTimeOffset.UtcNow);
        Assert.True((await RecipientAsync(direct)).NextAttemptAt <= DateTimeOffset.UtcNow);
        Assert.True((await RecipientAsync(other)).NextAttemptAt > DateTimeOffset.UtcNow.AddMinutes(30));

        await DeferAsync(null, "451 try later", TimeSpan.FromHours(1));
        Assert.Contains("the queue: 4 recipients made due now", (await _cli.OkAsync("queue", "retry", "--all")).Out, StringComparison.Ordinal);
        Assert.Equal(4, (await Queue.ClaimDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1), 10, default)).Sum(c => c.Recipients.Count));

        Assert.Equal(2, (await _cli.RunAsync("queue", "retry")).ExitCode);
        Assert.Equal(2, (await _cli.RunAsync("queue", "retry", one, "--all")).ExitCode);
    }

    [Fact]
    public async Task Delete_with_bounce_sends_the_sender_a_dsn_that_python_reads_as_a_multipart_report()
    {
        var id = await Queue.EnqueueAsync(
            new NewQueuedMessage(
                "alice@sender.example",
                [
                    new NewQueueRecipient("bob@dest.example", "dest.example", OriginalRecipient: "rfc822;bob@dest.example"),
                    new NewQueueRecipient("carol@dest.example", "dest.example", DsnNotify.Never),
                    new NewQueueRecipient("dan@dest.example", "dest.example"),
                ],
                (await WriteBodyAsync()).Id,
                Body.Length,
                EnvelopeId: "env-7"),
            default);
        var claim = Assert.Single(await Queue.ClaimDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5), 10, default));
        Assert.True(await Queue.CompleteAsync(claim.Recipients.Single(r => r.Address == "dan@dest.example").RecipientId, claim.LeaseToken, default));
        foreach (var r in claim.Recipients.Where(r => r.Address != "dan@dest.example"))
        {
            Assert.True(await Queue.DeferAsync(r.RecipientId, claim.LeaseToken, "451 4.4.1 no answer", DateTimeOffset.UtcNow.AddHours(1), default));
        }

        var deleted = await _cli.OkAsync("queue", "delete", id, "--bounce");
        Assert.Contains($"deleted {id} (2 recipients not delivered); bounce ", deleted.Out, StringComparison.Ordinal);
        Assert.Contains("queued to <alice@sender.example> for 1 recipient", deleted.Out, StringComparison.Ordinal);
        Assert.Null(await Queue.GetAsync(id, default));

        // The only message left is the DSN, from the null sender to the original sender.
        var dsn = Assert.Single((await Queue.ListAsync(new QueueQuery(), default)).Messages);
        Assert.Equal(string.Empty, dsn.ReversePath);
        Assert.Equal("alice@sender.example", Assert.Single(dsn.Recipients).Address);
        var bytes = await ReadBlobAsync(dsn);
        Assert.True(DeliveryStatusParser.TryParseMessage(bytes, out var report), Encoding.UTF8.GetString(bytes));
        var failed = Assert.Single(report!.Status.Recipients);
        Assert.Equal("bob@dest.example", failed.FinalRecipient);
        Assert.Equal("bob@dest.example", failed.OriginalRecipient);
        Assert.Equal(DsnAction.Failed, failed.Action);
        Assert.Equal("5.3.0", failed.Status?.ToString());
        Assert.Contains("deleted from the queue by an administrator", failed.Diagnostic, StringComparison.Ordinal);
        Assert.Equal("env-7", report.Status.PerMessage.OriginalEnvelopeId);
        Assert.Equal(CliHarness.Hostname, report.Status.PerMessage.ReportingMta);

        var python = RunPython(
            """
            import email, sys
            from email import policy
            m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=policy.default)
            print(m.get_content_type(), m.get_param('report-type'))
            status = [p for p in m.walk() if p.get_content_type() == 'message/delivery-status'][0]
            groups = status.get_payload()
            print(len(groups) - 1)
            r = groups[1]
            print(r['Final-Recipient'], '|', r['Action'], '|', r['Status'])
            """,
            bytes);
        var lines = python.Split('\n');
        Assert.Equal("multipart/report delivery-status", lines[0].Trim());
        Assert.Equal("1", lines[1].Trim());
        Assert.Equal("rfc822; bob@dest.example | failed | 5.3.0", lines[2].Trim());
    }

    [Fact]
    public async Task Delete_without_bounce_queues_nothing_and_a_domain_delete_needs_yes_and_spares_mixed_messages()
    {
        var one = await EnqueueAsync("alice@sender.example", ["bob@dest.example"]);
        var deleted = await _cli.OkAsync("queue", "delete", one);
        Assert.Equal($"deleted {one} (1 recipient not delivered)", deleted.Out.Trim());
        Assert.Empty((await Queue.ListAsync(new QueueQuery(), default)).Messages);

        var a = await EnqueueAsync("alice@sender.example", ["x@spam-target.example", "y@spam-target.example"]);
        var b = await EnqueueAsync(string.Empty, ["z@spam-target.example"]);
        var mixed = await EnqueueAsync("alice@sender.example", ["w@spam-target.example", "v@friend.example"]);
        var unrelated = await EnqueueAsync("alice@sender.example", ["u@friend.example"]);

        var refused = await _cli.RunAsync("queue", "delete", "--domain", "spam-target.example", "--bounce");
        Assert.True(refused.ExitCode == 2, refused.ToString());
        Assert.Contains("this would delete 2 messages with 3 recipients waiting for spam-target.example, bouncing them to their senders (1 message also waiting for other domains would be left)", refused.Error, StringComparison.Ordinal);
        Assert.Equal(4, (await Queue.ListAsync(new QueueQuery(), default)).Messages.Count);

        var done = await _cli.OkAsync("queue", "delete", "--domain", "spam-target.example", "--yes", "--bounce");
        Assert.Contains($"deleted {b} (1 recipient not delivered); no bounce: the sender is the null sender", done.Out, StringComparison.Ordinal);
        Assert.Contains("2 messages deleted for spam-target.example", done.Out, StringComparison.Ordinal);
        Assert.Contains($"left in the queue (1 message also waiting for other domains; delete them by id): {mixed}", done.Out, StringComparison.Ordinal);
        Assert.Null(await Queue.GetAsync(a, default));
        Assert.Null(await Queue.GetAsync(b, default));
        Assert.NotNull(await Queue.GetAsync(mixed, default));
        Assert.NotNull(await Queue.GetAsync(unrelated, default));
        var bounce = Assert.Single((await Queue.ListAsync(new QueueQuery { Domain = "sender.example" }, default)).Messages);
        Assert.Equal(string.Empty, bounce.ReversePath);

        Assert.Equal(2, (await _cli.RunAsync("queue", "delete")).ExitCode);
    }

    [Fact]
    public async Task Summary_counts_states_and_ranks_destinations_marking_held_domains()
    {
        await _cli.OkAsync("customer", "add", "Acme");
        await _cli.OkAsync("domain", "add", "gw.acme.example", "--customer", "Acme", "--relay-host", "mail.acme.example");
        await _cli.OkAsync("domain", "set", "gw.acme.example", "--hold");
        for (var i = 0; i < 3; i++)
        {
            await Queue.EnqueueAsync(new NewQueuedMessage("s@sender.example", [new NewQueueRecipient($"u{i}@gw.acme.example", "relay:gw.acme.example")], (await WriteBodyAsync()).Id, 10), default);
        }

        var held = await EnqueueAsync("s@sender.example", ["a@other.example"]);
        await _cli.OkAsync("queue", "hold", held);

        var summary = await _cli.OkAsync("queue", "summary");
        Assert.Contains("pending:   3", summary.Out, StringComparison.Ordinal);
        Assert.Contains("held:      1", summary.Out, StringComparison.Ordinal);
        Assert.Contains("4 messages in the queue", summary.Out, StringComparison.Ordinal);
        var lines = summary.Out.Split('\n');
        var first = Array.FindIndex(lines, l => l.Contains("relay:gw.acme.example", StringComparison.Ordinal));
        var second = Array.FindIndex(lines, l => l.Contains("other.example", StringComparison.Ordinal));
        Assert.True(first >= 0 && second > first, summary.Out);
        Assert.Contains("(3 pending)", lines[first], StringComparison.Ordinal);
        Assert.Contains("domain on hold", lines[first], StringComparison.Ordinal);
        Assert.Contains("(1 held)", lines[second], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Domain_set_stores_delivery_settings_that_domain_show_and_the_reader_see()
    {
        await _cli.OkAsync("customer", "add", "Acme");
        await _cli.OkAsync("domain", "add", "acme.example", "--customer", "Acme");
        await _cli.OkAsync("domain", "add", "gw.acme.example", "--customer", "Acme", "--relay-host", "mail.acme.example");
        await _cli.OkAsync("domain", "set", "gw.acme.example", "--max-message-size", "20");

        var set = await _cli.OkAsync("domain", "set", "gw.acme.example", "--tls-policy", "verify", "--tls-match-name", "Mail.Acme.example", "--tls-match-name", "*.acme.example",
            "--hold", "--queue-lifetime-days", "2.5", "--recipient-verification", "probe");
        Assert.Contains("TLS policy verify", set.Out, StringComparison.Ordinal);
        var settings = await SettingsAsync("gw.acme.example");
        Assert.Equal("verify", settings.TlsPolicy);
        Assert.Equal(["mail.acme.example", "*.acme.example"], settings.TlsMatchNames);
        Assert.True(settings.Hold);
        Assert.Equal(TimeSpan.FromDays(2.5), settings.QueueLifetime);
        Assert.Equal(RecipientVerificationMode.Probe, settings.RecipientVerification);
        Assert.Contains("\"maxMessageSize\":20971520", (await _server.Directory.FindDomainAsync("gw.acme.example", default))!.SettingsJson, StringComparison.Ordinal);

        var show = (await _cli.OkAsync("domain", "show", "gw.acme.example")).Out;
        Assert.Contains("tls policy:  verify (certificate names: mail.acme.example, *.acme.example)", show, StringComparison.Ordinal);
        Assert.Contains("delivery:    on hold", show, StringComparison.Ordinal);
        Assert.Contains("queue lifetime: 2.5 days", show, StringComparison.Ordinal);
        Assert.Contains("recipients:  probe", show, StringComparison.Ordinal);
        var json = (await _cli.OkAsync("domain", "show", "gw.acme.example", "--json")).Json().GetProperty("delivery");
        Assert.True(json.GetProperty("hold").GetBoolean());
        Assert.Equal(2.5, json.GetProperty("queueLifetimeDays").GetDouble());

        // Clearing: "" empties the match names, 0 goes back to the server-wide lifetime; --release ends the hold and
        // makes the domain's queued mail (direct and relay destinations) due now.
        var queued = await Queue.EnqueueAsync(new NewQueuedMessage("s@sender.example", [new NewQueueRecipient("u@gw.acme.example", "relay:gw.acme.example")], (await WriteBodyAsync()).Id, 10), default);
        await DeferAsync(queued, "held", TimeSpan.FromDays(1));
        var released = await _cli.OkAsync("domain", "set", "gw.acme.example", "--tls-match-name", "", "--queue-lifetime-days", "0", "--release");
        Assert.Contains("1 queued recipient made due now", released.Out, StringComparison.Ordinal);
        settings = await SettingsAsync("gw.acme.example");
        Assert.Empty(settings.TlsMatchNames);
        Assert.False(settings.Hold);
        Assert.Null(settings.QueueLifetime);
        Assert.Equal("verify", settings.TlsPolicy);
        Assert.True((await RecipientAsync(queued)).NextAttemptAt <= DateTimeOffset.UtcNow);
        var plain = (await _cli.OkAsync("domain", "show", "acme.example")).Out;
        Assert.Contains("tls policy:  may (default)", plain, StringComparison.Ordinal);
        Assert.Contains("delivery:    normal", plain, StringComparison.Ordinal);
        Assert.Contains("queue lifetime: server default", plain, StringComparison.Ordinal);
        Assert.DoesNotContain("recipients:", plain, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Domain_set_refuses_bad_delivery_settings_and_changes_nothing()
    {
        await _cli.OkAsync("customer", "add", "Acme");
        await _cli.OkAsync("domain", "add", "acme.example", "--customer", "Acme");
        var before = (await _server.Directory.FindDomainAsync("acme.example", default))!.SettingsJson;

        var hosted = await _cli.RunAsync("domain", "set", "acme.example", "--hold", "--recipient-verification", "listed");
        Assert.True(hosted.ExitCode == 4, hosted.ToString());
        Assert.Contains("acme.example is a hosted domain; recipient verification is for relay domains", hosted.Error, StringComparison.Ordinal);
        Assert.Equal(2, (await _cli.RunAsync("domain", "set", "acme.example", "--tls-policy", "strict")).ExitCode);
        Assert.Equal(2, (await _cli.RunAsync("domain", "set", "acme.example", "--hold", "--release")).ExitCode);
        Assert.Equal(4, (await _cli.RunAsync("domain", "set", "acme.example", "--queue-lifetime-days", "400")).ExitCode);
        Assert.Equal(4, (await _cli.RunAsync("domain", "set", "acme.example", "--tls-match-name", "not a name")).ExitCode);
        var nothing = await _cli.RunAsync("domain", "set", "acme.example", "--json");
        Assert.Equal(2, nothing.ExitCode);
        Assert.Contains("nothing to change", nothing.ErrorJson().GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, (await _server.Directory.FindDomainAsync("acme.example", default))!.SettingsJson);
    }

    private static readonly byte[] Body = Encoding.ASCII.GetBytes(
        "From: Alice <alice@sender.example>\r\nTo: bob@dest.example\r\nSubject: quarterly report\r\nMessage-ID: <q1@sender.example>\r\n\r\nThe numbers.\r\n");

    private async Task<Core.Storage.Blobs.BlobInfo> WriteBodyAsync()
    {
        using var stream = new MemoryStream(Body);
        return await _server.Mail.Blobs.WriteAsync(stream, default);
    }

    private async Task<string> EnqueueAsync(string sender, IReadOnlyList<string> recipients, bool earlier = false)
    {
        var backend = earlier ? _earlier : _server;
        using var stream = new MemoryStream(Body);
        var blob = await backend.Mail.Blobs.WriteAsync(stream, default);
        var rcpts = recipients.Select(r => new NewQueueRecipient(r, r[(r.IndexOf('@', StringComparison.Ordinal) + 1)..])).ToList();
        return await backend.Mail.Queue.EnqueueAsync(new NewQueuedMessage(sender, rcpts, blob.Id, blob.Length), default);
    }

    /// <summary>Claims what is due (of one message, or all) and defers it, as a delivery attempt that failed would.</summary>
    private async Task DeferAsync(string? queueId, string error, TimeSpan until)
    {
        foreach (var claim in await Queue.ClaimDueAsync(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5), 1000, default))
        {
            foreach (var r in claim.Recipients)
            {
                if (queueId is null || r.QueueId == queueId)
                {
                    Assert.True(await Queue.DeferAsync(r.RecipientId, claim.LeaseToken, error, DateTimeOffset.UtcNow + until, default));
                }
                else
                {
                    Assert.True(await Queue.DeferAsync(r.RecipientId, claim.LeaseToken, "not this one", DateTimeOffset.UtcNow, default));
                }
            }
        }
    }

    private async Task<QueuedRecipient> RecipientAsync(string queueId) => Assert.Single((await Queue.GetAsync(queueId, default))!.Recipients);

    private async Task<DomainDeliverySettings> SettingsAsync(string domain) =>
        DeliverySettings.Read((await _server.Directory.FindDomainAsync(domain, default))!.SettingsJson);

    private async Task<byte[]> ReadBlobAsync(QueuedMessage message)
    {
        await using var stream = await _server.Mail.Blobs.OpenReadAsync(message.Blob, 0, message.Size, default);
        using var copy = new MemoryStream();
        await stream!.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static string Line(string output, string queueId) => output.Split('\n').Single(l => l.StartsWith(queueId, StringComparison.Ordinal));

    private static List<string> Ids(CliResult result) =>
        result.Json().GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("queueId").GetString()!).ToList();

    private static string RunPython(string script, byte[] message)
    {
        const string python = "/usr/bin/python3";
        Assert.True(File.Exists(python), "/usr/bin/python3 is needed for the peer check");
        var folder = Path.Combine(Path.GetTempPath(), "postern-queue-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            File.WriteAllText(Path.Combine(folder, "check.py"), script);
            File.WriteAllBytes(Path.Combine(folder, "dsn.eml"), message);
            var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(folder, "check.py"));
            psi.ArgumentList.Add(Path.Combine(folder, "dsn.eml"));
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), "python did not finish");
            Assert.True(p.ExitCode == 0, "python failed: " + err.Result);
            return output;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The system clock moved by a fixed offset: messages queued through it look that much older.</summary>
    private sealed class ShiftedClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }
}
