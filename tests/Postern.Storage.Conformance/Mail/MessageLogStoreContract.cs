using Postern.Core.Storage.MessageLog;

namespace Postern.Storage.Conformance.Mail;

/// <summary>What every <see cref="IMessageLogStore"/> must do, fed through <see cref="MessageLogWriter"/>.</summary>
public abstract class MessageLogStoreContract : StorageContract
{
    private IMessageLogStore Log => Storage.MessageLog;

    [Fact]
    public async Task The_writer_gathers_records_into_batches_of_at_most_the_maximum()
    {
        var gated = new GatedStore(Log);
        await using var writer = new MessageLogWriter(gated, capacity: 100, maxBatch: 10);

        for (var i = 0; i < 25; i++)
        {
            Assert.True(writer.Enqueue(Record(i, $"r{i}@example.com")));
        }

        await gated.FirstBatchStarted.Task; // the first write is held: the rest gather behind it
        gated.Release();
        await writer.FlushAsync(Ct);

        Assert.Equal(25, writer.Written);
        Assert.All(gated.BatchSizes, size => Assert.InRange(size, 1, 10));
        Assert.InRange(gated.BatchSizes.Count, 3, 4); // the held one, then 15..24 records in batches of 10
        Assert.Equal(25, (await Log.SearchAsync(new MessageLogQuery(Limit: 1000), Ct)).Entries.Count);
    }

    [Fact]
    public async Task Records_arriving_within_the_gather_delay_share_one_batch_and_a_flush_does_not_wait_for_it()
    {
        var gated = new GatedStore(Log);
        gated.Release();
        await using var writer = new MessageLogWriter(gated, capacity: 100, maxBatch: 50, gatherDelay: TimeSpan.FromSeconds(2));

        for (var i = 0; i < 5; i++)
        {
            Assert.True(writer.Enqueue(Record(i, $"r{i}@example.com")));
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await writer.FlushAsync(Ct); // in line behind the five: waits the delay once, writes them together
        Assert.Equal([5], gated.BatchSizes);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30));

        await writer.FlushAsync(Ct); // a flush first in line does not wait
        Assert.Equal(5, writer.Written);
        Assert.Equal(1, writer.Batches);
    }

    [Fact]
    public async Task Enqueue_never_waits_and_counts_what_it_drops_when_full()
    {
        var gated = new GatedStore(Log);
        await using var writer = new MessageLogWriter(gated, capacity: 5, maxBatch: 1);
        Assert.True(writer.Enqueue(Record(0, "first@example.com")));
        await gated.FirstBatchStarted.Task;

        var accepted = 1 + Enumerable.Range(1, 20).Count(i => writer.Enqueue(Record(i, $"r{i}@example.com")));

        Assert.Equal(6, accepted); // one in the held batch, five in the buffer
        Assert.Equal(15, writer.Dropped);
        gated.Release();
        await writer.FlushAsync(Ct);
        Assert.Equal(6, writer.Written);
    }

    [Fact]
    public async Task Search_filters_by_sender_recipient_queue_id_message_id_and_time()
    {
        var start = Time.GetUtcNow();
        await Log.AppendBatchAsync(
        [
            Record(0, "alice@example.com", sender: "news@shop.example", queueId: "Q1", messageId: "<1@shop>"),
            Record(1, "bob@example.com", sender: "news@shop.example", queueId: "Q1", messageId: "<1@shop>"),
            Record(2, "alice@example.com", sender: "friend@mail.example", queueId: "Q2", messageId: "<2@mail>"),
            Record(3, "carol@example.com", sender: "friend@mail.example", queueId: "Q3", messageId: "<3@mail>"),
        ], Ct);

        Assert.Equal(2, (await Log.SearchAsync(new MessageLogQuery(Sender: "NEWS@shop.example"), Ct)).Entries.Count);
        Assert.Equal(["Q2", "Q1"], (await Log.SearchAsync(new MessageLogQuery(Recipient: "Alice@Example.com"), Ct)).Entries.Select(e => e.Record.QueueId));
        Assert.Equal(2, (await Log.SearchAsync(new MessageLogQuery(QueueId: "Q1"), Ct)).Entries.Count);
        Assert.Equal("carol@example.com", (await Log.SearchAsync(new MessageLogQuery(MessageId: "<3@mail>"), Ct)).Entries.Single().Record.Recipient);
        var window = await Log.SearchAsync(new MessageLogQuery(From: start + TimeSpan.FromMinutes(1), To: start + TimeSpan.FromMinutes(3)), Ct);
        Assert.Equal(["Q2", "Q1"], window.Entries.Select(e => e.Record.QueueId));
        Assert.Single((await Log.SearchAsync(new MessageLogQuery(Sender: "friend@mail.example", Recipient: "alice@example.com"), Ct)).Entries);
    }

    [Fact]
    public async Task Records_come_back_whole_newest_first_in_pages()
    {
        var records = Enumerable.Range(0, 7).Select(i => Record(i, $"r{i}@example.com")).ToList();
        await Log.AppendBatchAsync(records, Ct);

        var seen = new List<MessageLogRecord>();
        long? before = null;
        var pages = 0;
        do
        {
            var page = await Log.SearchAsync(new MessageLogQuery(BeforeEntryId: before, Limit: 3), Ct);
            seen.AddRange(page.Entries.Select(e => e.Record));
            before = page.NextBeforeEntryId;
            pages++;
        }
        while (before is not null);

        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Reverse(records), seen);
    }

    [Fact]
    public async Task The_delivery_outcome_is_filled_in_later()
    {
        await Log.AppendBatchAsync([Record(0, "a@example.com", queueId: "Q9"), Record(1, "b@example.com", queueId: "Q9")], Ct);

        Assert.Equal(1, await Log.SetDeliveryOutcomeAsync("Q9", "b@example.com", "delivered to mx.example.com", Ct));
        Assert.Equal(2, await Log.SetDeliveryOutcomeAsync("Q9", null, "bounced", Ct));

        var entries = (await Log.SearchAsync(new MessageLogQuery(QueueId: "Q9"), Ct)).Entries;
        Assert.All(entries, e => Assert.Equal("bounced", e.Record.DeliveryOutcome));
    }

    [Fact]
    public async Task Retention_removes_only_older_records()
    {
        await Log.AppendBatchAsync(Enumerable.Range(0, 6).Select(i => Record(i, $"r{i}@example.com")).ToList(), Ct);

        var removed = await Log.DeleteOlderThanAsync(Time.GetUtcNow() + TimeSpan.FromMinutes(4), Ct);

        Assert.Equal(4, removed);
        var left = (await Log.SearchAsync(new MessageLogQuery(), Ct)).Entries;
        Assert.Equal(["r5@example.com", "r4@example.com"], left.Select(e => e.Record.Recipient));
    }

    /// <summary>Record <paramref name="minute"/> minutes after the test's start.</summary>
    private MessageLogRecord Record(int minute, string recipient, string sender = "s@example.org", string? queueId = null, string? messageId = null) =>
        new(
            Time.GetUtcNow() + TimeSpan.FromMinutes(minute),
            queueId ?? $"Q{minute}",
            messageId ?? $"<{minute}@example.org>",
            "192.0.2.25",
            "mail.example.org",
            sender,
            recipient,
            1000 + minute,
            "Clean",
            "delivered",
            -1.5 + minute,
            "{\"rules\":[\"SPF_PASS\"]}");

    /// <summary>Passes batches to the real store, holding the first one until released.</summary>
    private sealed class GatedStore(IMessageLogStore inner) : IMessageLogStore
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource FirstBatchStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<int> BatchSizes { get; } = [];

        public void Release() => _gate.TrySetResult();

        public async Task AppendBatchAsync(IReadOnlyList<MessageLogRecord> records, CancellationToken cancellationToken)
        {
            lock (BatchSizes)
            {
                BatchSizes.Add(records.Count);
            }

            FirstBatchStarted.TrySetResult();
            await _gate.Task;
            await inner.AppendBatchAsync(records, cancellationToken);
        }

        public Task<MessageLogPage> SearchAsync(MessageLogQuery query, CancellationToken cancellationToken) => inner.SearchAsync(query, cancellationToken);

        public Task<int> SetDeliveryOutcomeAsync(string queueId, string? recipient, string outcome, CancellationToken cancellationToken) =>
            inner.SetDeliveryOutcomeAsync(queueId, recipient, outcome, cancellationToken);

        public Task<long> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken) => inner.DeleteOlderThanAsync(cutoff, cancellationToken);
    }
}
