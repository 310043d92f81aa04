using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Queue;

namespace Postern.Storage.Conformance.Mail;

/// <summary>What every <see cref="IQueueStore"/> must do: durable envelopes, leases, per-recipient results.</summary>
public abstract class QueueStoreContract : StorageContract
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private IQueueStore Queue => Storage.Queue;

    [Fact]
    public async Task An_enqueued_message_reads_back_with_its_whole_envelope()
    {
        var blob = await WriteBlobAsync("Subject: out\r\n\r\nbody\r\n");
        var message = new NewQueuedMessage(
            "sender@example.org",
            [
                new NewQueueRecipient("a@example.net", "example.net", DsnNotify.Success | DsnNotify.Failure, "rfc822;a@example.net"),
                new NewQueueRecipient("b@example.com", "example.com"),
            ],
            blob.Id,
            blob.Length,
            "ENV-42",
            DsnReturn.Headers,
            RequireTls: true,
            SmtpUtf8: true);

        var queueId = await Queue.EnqueueAsync(message, Ct);
        var read = await Queue.GetAsync(queueId, Ct);

        Assert.InRange(queueId.Length, 6, 16);
        Assert.All(queueId, ch => Assert.True(char.IsAsciiLetterOrDigit(ch)));
        Assert.NotNull(read);
        Assert.Equal(("sender@example.org", blob.Id, blob.Length, "ENV-42", DsnReturn.Headers, true, true), (read.ReversePath, read.Blob, read.Size, read.EnvelopeId, read.Return, read.RequireTls, read.SmtpUtf8));
        Assert.Equal(Time.GetUtcNow(), read.CreatedAt);
        Assert.Equal(["a@example.net", "b@example.com"], read.Recipients.Select(r => r.Address));
        var first = read.Recipients[0];
        Assert.Equal((DsnNotify.Success | DsnNotify.Failure, "rfc822;a@example.net", "example.net", RecipientState.Pending, 0), (first.Notify, first.OriginalRecipient, first.DestinationKey, first.State, first.Attempts));
        Assert.Null(read.Recipients[1].OriginalRecipient);
    }

    [Fact]
    public async Task A_preferred_queue_id_is_used_when_free_and_a_taken_one_gets_a_new_id()
    {
        var blob = await WriteBlobAsync("preferred");
        var first = await Queue.EnqueueAsync(new NewQueuedMessage("s@example.org", [new NewQueueRecipient("a@example.net", "example.net")], blob.Id, blob.Length) { PreferredQueueId = "SMTP0ID00001" }, Ct);
        var second = await Queue.EnqueueAsync(new NewQueuedMessage("s@example.org", [new NewQueueRecipient("b@example.net", "example.net")], blob.Id, blob.Length) { PreferredQueueId = "SMTP0ID00001" }, Ct);

        Assert.Equal("SMTP0ID00001", first);
        Assert.NotEqual(first, second);
        Assert.Equal("a@example.net", (await Queue.GetAsync(first, Ct))!.Recipients.Single().Address);
        Assert.Equal("b@example.net", (await Queue.GetAsync(second, Ct))!.Recipients.Single().Address);
    }

    [Fact]
    public async Task Queue_ids_are_unique()
    {
        var blob = await WriteBlobAsync("many");
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 50; i++)
        {
            ids.Add(await EnqueueAsync(blob, "x@example.net"));
        }

        Assert.Equal(50, ids.Count);
    }

    [Fact]
    public async Task Claims_group_due_recipients_per_message_and_destination_and_are_exclusive()
    {
        var blob = await WriteBlobAsync("grouped");
        var queueId = await EnqueueAsync(blob, "a@one.example", "b@one.example", "c@two.example");

        var claims = await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 100, Ct);
        var again = await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 100, Ct);

        Assert.Equal(2, claims.Count);
        var one = claims.Single(c => c.DestinationKey == "one.example");
        Assert.Equal(["a@one.example", "b@one.example"], one.Recipients.Select(r => r.Address));
        Assert.Equal(queueId, one.Message.QueueId);
        Assert.Equal(Time.GetUtcNow() + Lease, one.LeaseExpiresAt);
        Assert.NotEqual(one.LeaseToken, claims.Single(c => c.DestinationKey == "two.example").LeaseToken);
        Assert.Empty(again);
    }

    [Fact]
    public async Task A_claim_takes_no_more_than_asked()
    {
        var blob = await WriteBlobAsync("limited");
        await EnqueueAsync(blob, "a@one.example", "b@one.example", "c@one.example");

        var first = await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 2, Ct);
        var second = await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 2, Ct);

        Assert.Equal(2, first.Sum(c => c.Recipients.Count));
        Assert.Equal(1, second.Sum(c => c.Recipients.Count));
    }

    [Fact]
    public async Task A_crashed_workers_lease_expires_and_its_late_result_is_refused()
    {
        var blob = await WriteBlobAsync("lease");
        await EnqueueAsync(blob, "a@one.example");
        var crashed = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();

        Time.Advance(Lease - TimeSpan.FromSeconds(1));
        Assert.Empty(await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct));
        Time.Advance(TimeSpan.FromSeconds(1));
        var retaken = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();

        var recipient = retaken.Recipients.Single().RecipientId;
        Assert.False(await Queue.CompleteAsync(recipient, crashed.LeaseToken, Ct));
        Assert.True(await Queue.CompleteAsync(recipient, retaken.LeaseToken, Ct));
        Assert.Equal(RecipientState.Delivered, (await Queue.GetAsync(retaken.Message.QueueId, Ct))!.Recipients.Single().State);
    }

    [Fact]
    public async Task Each_recipient_gets_its_own_result()
    {
        var blob = await WriteBlobAsync("results");
        var queueId = await EnqueueAsync(blob, "ok@d.example", "later@d.example", "bad@d.example");
        var claim = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();
        var ids = claim.Recipients.ToDictionary(r => r.Address, r => r.RecipientId);
        var retryAt = Time.GetUtcNow() + TimeSpan.FromMinutes(15);

        Assert.True(await Queue.CompleteAsync(ids["ok@d.example"], claim.LeaseToken, Ct));
        Assert.True(await Queue.DeferAsync(ids["later@d.example"], claim.LeaseToken, "451 4.7.1 greylisted", retryAt, Ct));
        Assert.True(await Queue.FailAsync(ids["bad@d.example"], claim.LeaseToken, "550 5.1.1 no such user", Ct));
        Assert.False(await Queue.CompleteAsync(ids["ok@d.example"], claim.LeaseToken, Ct)); // final already

        var read = (await Queue.GetAsync(queueId, Ct))!.Recipients.ToDictionary(r => r.Address);
        Assert.Equal((RecipientState.Delivered, 1, (string?)null), (read["ok@d.example"].State, read["ok@d.example"].Attempts, read["ok@d.example"].LastError));
        Assert.Equal(Time.GetUtcNow(), read["ok@d.example"].CompletedAt);
        Assert.Equal((RecipientState.Deferred, 1, "451 4.7.1 greylisted", retryAt), (read["later@d.example"].State, read["later@d.example"].Attempts, read["later@d.example"].LastError, read["later@d.example"].NextAttemptAt));
        Assert.Null(read["later@d.example"].CompletedAt);
        Assert.Equal((RecipientState.Failed, "550 5.1.1 no such user"), (read["bad@d.example"].State, read["bad@d.example"].LastError));
    }

    [Fact]
    public async Task Every_attempt_that_counts_is_kept_in_the_history_until_the_message_goes()
    {
        var blob = await WriteBlobAsync("history");
        var queueId = await EnqueueAsync(blob, "later@d.example", "bad@d.example");
        var first = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();
        var ids = first.Recipients.ToDictionary(r => r.Address, r => r.RecipientId);
        Assert.True(await Queue.DeferAsync(ids["later@d.example"], first.LeaseToken, "mx.d.example: 451 4.7.1 greylisted", Time.GetUtcNow(), Ct));
        Assert.True(await Queue.FailAsync(ids["bad@d.example"], first.LeaseToken, "mx.d.example: 550 5.1.1 no such user", Ct));
        Assert.False(await Queue.CompleteAsync(ids["bad@d.example"], first.LeaseToken, "too late", Ct)); // refused: not recorded
        Time.Advance(TimeSpan.FromMinutes(5));
        var second = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();
        Assert.True(await Queue.CompleteAsync(ids["later@d.example"], second.LeaseToken, "mx.d.example: 250 2.0.0 ok", Ct));

        var history = await Queue.GetHistoryAsync(queueId, Ct);

        Assert.Equal(
            [
                ("later@d.example", RecipientState.Deferred, "mx.d.example: 451 4.7.1 greylisted"),
                ("bad@d.example", RecipientState.Failed, "mx.d.example: 550 5.1.1 no such user"),
                ("later@d.example", RecipientState.Delivered, "mx.d.example: 250 2.0.0 ok"),
            ],
            history.Select(h => (h.Recipient, h.Outcome, h.Detail!)));
        Assert.Equal(Time.GetUtcNow(), history[^1].Time);
        Assert.Null((await Queue.GetAsync(queueId, Ct))!.Recipients.Single(r => r.Address == "later@d.example").LastError);
        Assert.True(await Queue.DeleteAsync(queueId, Ct));
        Assert.Empty(await Queue.GetHistoryAsync(queueId, Ct));
    }

    [Fact]
    public async Task A_deferred_recipient_is_due_again_at_its_next_attempt_time()
    {
        var blob = await WriteBlobAsync("deferred");
        await EnqueueAsync(blob, "later@d.example");
        var claim = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();
        await Queue.DeferAsync(claim.Recipients[0].RecipientId, claim.LeaseToken, "421 try later", Time.GetUtcNow() + TimeSpan.FromMinutes(30), Ct);

        Time.Advance(TimeSpan.FromMinutes(29));
        Assert.Empty(await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct));
        Time.Advance(TimeSpan.FromMinutes(1));
        var retry = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();

        Assert.Equal(RecipientState.Deferred, retry.Recipients[0].State);
        Assert.Equal(1, retry.Recipients[0].Attempts);
    }

    [Fact]
    public async Task A_first_attempt_time_in_the_future_holds_the_message_back()
    {
        var blob = await WriteBlobAsync("held");
        await Queue.EnqueueAsync(new NewQueuedMessage("", [new NewQueueRecipient("a@d.example", "d.example")], blob.Id, blob.Length, FirstAttemptAt: Time.GetUtcNow() + TimeSpan.FromHours(1)), Ct);

        Assert.Empty(await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct));
        Time.Advance(TimeSpan.FromHours(1));
        var claim = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();
        Assert.Equal(string.Empty, claim.Message.ReversePath); // the null sender
    }

    [Fact]
    public async Task The_admin_lists_by_state_and_destination_pages_and_deletes()
    {
        var blob = await WriteBlobAsync("admin");
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await EnqueueAsync(blob, $"u{i}@{(i % 2 == 0 ? "even" : "odd")}.example"));
        }

        var claim = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 1, Ct)).Single();
        await Queue.FailAsync(claim.Recipients[0].RecipientId, claim.LeaseToken, "550 no", Ct);

        var page1 = await Queue.ListAsync(new QueueQuery(Limit: 3), Ct);
        var page2 = await Queue.ListAsync(new QueueQuery(AfterQueueId: page1.NextAfterQueueId, Limit: 3), Ct);
        Assert.Equal(3, page1.Messages.Count);
        Assert.Equal(2, page2.Messages.Count);
        Assert.Null(page2.NextAfterQueueId);
        Assert.Equal(ids.Order(StringComparer.Ordinal), page1.Messages.Concat(page2.Messages).Select(m => m.QueueId));
        Assert.Equal([claim.Message.QueueId], (await Queue.ListAsync(new QueueQuery(State: RecipientState.Failed), Ct)).Messages.Select(m => m.QueueId));
        Assert.Equal(2, (await Queue.ListAsync(new QueueQuery(DestinationKey: "odd.example"), Ct)).Messages.Count);
        Assert.Equal(new Dictionary<RecipientState, long> { [RecipientState.Pending] = 4, [RecipientState.Failed] = 1 }, await Queue.CountByStateAsync(Ct));

        Assert.True(await Queue.DeleteAsync(ids[0], Ct));
        Assert.False(await Queue.DeleteAsync(ids[0], Ct));
        Assert.Null(await Queue.GetAsync(ids[0], Ct));
        Assert.Equal(4, (await Queue.ListAsync(new QueueQuery(), Ct)).Messages.Count);
    }

    [Fact]
    public async Task A_renewed_lease_outlives_the_first_one()
    {
        var blob = await WriteBlobAsync("slow delivery");
        await EnqueueAsync(blob, "a@one.example", "b@one.example");
        var claim = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();

        Time.Advance(Lease - TimeSpan.FromSeconds(10));
        Assert.Equal(2, await Queue.RenewLeaseAsync(claim.LeaseToken, Time.GetUtcNow(), Lease, Ct));
        Time.Advance(TimeSpan.FromMinutes(1));

        Assert.Empty(await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct));
        Assert.True(await Queue.CompleteAsync(claim.Recipients[0].RecipientId, claim.LeaseToken, Ct));
        Assert.Equal(0, await Queue.RenewLeaseAsync("not-a-token", Time.GetUtcNow(), Lease, Ct));
    }

    [Fact]
    public async Task Retry_now_makes_deferred_recipients_due_at_once()
    {
        var blob = await WriteBlobAsync("retry now");
        var queueId = await EnqueueAsync(blob, "a@one.example");
        var claim = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();
        await Queue.DeferAsync(claim.Recipients[0].RecipientId, claim.LeaseToken, "421 busy", Time.GetUtcNow() + TimeSpan.FromHours(4), Ct);

        Assert.Equal(1, await Queue.RetryNowAsync(queueId, Time.GetUtcNow(), Ct));

        Assert.Single(await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct));
    }

    [Fact]
    public async Task The_queue_tells_which_blobs_it_holds()
    {
        var held = await WriteBlobAsync("held by queue");
        var free = await WriteBlobAsync("not queued");
        var queueId = await EnqueueAsync(held, "a@d.example");

        Assert.True(await Queue.ReferencesBlobAsync(held.Id, Ct));
        Assert.False(await Queue.ReferencesBlobAsync(free.Id, Ct));
        await Queue.DeleteAsync(queueId, Ct);
        Assert.False(await Queue.ReferencesBlobAsync(held.Id, Ct));
    }

    [Fact]
    public async Task Trace_fields_travel_with_the_message()
    {
        var blob = await WriteBlobAsync("traced");
        var trace = "Received: from a.example (a.example [192.0.2.1])\r\n\tby mx.example with ESMTPS id X; Sun, 6 Dec 2026 22:00:00 +0000\r\n"u8.ToArray();
        var queueId = await Queue.EnqueueAsync(new NewQueuedMessage("s@example.org", [new NewQueueRecipient("a@one.example", "one.example")], blob.Id, blob.Length) { Trace = trace }, Ct);
        Assert.Equal(trace, (await Queue.GetAsync(queueId, Ct))!.Trace.ToArray());
        var plain = await EnqueueAsync(blob, "b@one.example");
        Assert.True((await Queue.GetAsync(plain, Ct))!.Trace.IsEmpty);
        Assert.Equal(trace, (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single(c => c.Message.QueueId == queueId).Message.Trace.ToArray());
    }

    [Fact]
    public async Task A_held_message_is_never_claimed_until_released()
    {
        var blob = await WriteBlobAsync("held");
        var queueId = await EnqueueAsync(blob, "a@one.example", "b@two.example");
        Assert.Equal(2, await Queue.HoldAsync(queueId, Time.GetUtcNow(), Ct));
        Assert.All((await Queue.GetAsync(queueId, Ct))!.Recipients, r => Assert.Equal(RecipientState.Held, r.State));
        Time.Advance(TimeSpan.FromDays(1));
        Assert.Empty(await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct));
        Assert.Equal(2, (await Queue.CountByStateAsync(Ct))[RecipientState.Held]);

        Assert.Equal(2, await Queue.ReleaseAsync(queueId, Time.GetUtcNow(), Ct));
        Assert.Equal(2, (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Count);
        Assert.Equal(0, await Queue.ReleaseAsync(queueId, Time.GetUtcNow(), Ct));
    }

    [Fact]
    public async Task A_recipient_under_a_live_lease_is_not_held_so_its_result_still_counts()
    {
        var blob = await WriteBlobAsync("in flight");
        var queueId = await EnqueueAsync(blob, "a@one.example");
        var claim = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 10, Ct)).Single();
        Assert.Equal(0, await Queue.HoldAsync(queueId, Time.GetUtcNow(), Ct));
        Assert.True(await Queue.CompleteAsync(claim.Recipients[0].RecipientId, claim.LeaseToken, Ct));
    }

    [Fact]
    public async Task A_destination_is_postponed_and_brought_back_in_one_operation()
    {
        var blob = await WriteBlobAsync("dead host");
        for (var i = 0; i < 20; i++)
        {
            await EnqueueAsync(blob, $"u{i}@down.example");
        }

        await EnqueueAsync(blob, "x@up.example");
        var inFlight = (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 1, Ct)).Single();
        Assert.Equal("down.example", inFlight.DestinationKey);

        var later = Time.GetUtcNow() + TimeSpan.FromMinutes(10);
        Assert.Equal(19, await Queue.PostponeDestinationAsync("down.example", later, Time.GetUtcNow(), Ct));
        var due = await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 100, Ct);
        Assert.Equal("up.example", Assert.Single(due).DestinationKey);

        Assert.Equal(19, await Queue.RetryDestinationNowAsync("down.example", Time.GetUtcNow(), Ct));
        Assert.Equal(19, (await Queue.ClaimDueAsync(Time.GetUtcNow(), Lease, 100, Ct)).Count);
    }

    [Fact]
    public async Task Delay_warnings_are_remembered_per_recipient()
    {
        var blob = await WriteBlobAsync("slow");
        var queueId = await EnqueueAsync(blob, "a@one.example", "b@one.example");
        var recipients = (await Queue.GetAsync(queueId, Ct))!.Recipients;
        Assert.All(recipients, r => Assert.False(r.DelayWarned));
        Assert.Equal(1, await Queue.MarkDelayWarnedAsync([recipients[0].RecipientId], Ct));
        Assert.Equal(0, await Queue.MarkDelayWarnedAsync([recipients[0].RecipientId], Ct));
        var after = (await Queue.GetAsync(queueId, Ct))!.Recipients;
        Assert.Equal([true, false], after.Select(r => r.DelayWarned));
    }

    [Fact]
    public async Task The_admin_lists_by_domain_and_by_age()
    {
        var blob = await WriteBlobAsync("filters");
        var old = await EnqueueAsync(blob, "a@one.example", "b@two.example");
        Time.Advance(TimeSpan.FromHours(2));
        var recent = await EnqueueAsync(blob, "c@One.Example");
        await EnqueueAsync(blob, "d@one_example.test");

        var byDomain = await Queue.ListAsync(new QueueQuery { Domain = "one.example" }, Ct);
        Assert.Equal(new[] { old, recent }.Order(StringComparer.Ordinal), byDomain.Messages.Select(m => m.QueueId));
        Assert.Empty((await Queue.ListAsync(new QueueQuery { Domain = "ne.example" }, Ct)).Messages);
        var aged = await Queue.ListAsync(new QueueQuery { CreatedBefore = Time.GetUtcNow() - TimeSpan.FromHours(1) }, Ct);
        Assert.Equal([old], aged.Messages.Select(m => m.QueueId));
    }

    private Task<string> EnqueueAsync(BlobInfo blob, params string[] recipients) =>
        Queue.EnqueueAsync(
            new NewQueuedMessage("sender@example.org", recipients.Select(r => new NewQueueRecipient(r, r[(r.IndexOf('@', StringComparison.Ordinal) + 1)..])).ToList(), blob.Id, blob.Length),
            Ct);
}
