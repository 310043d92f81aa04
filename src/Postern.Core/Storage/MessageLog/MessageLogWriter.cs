using System.Threading.Channels;

namespace Postern.Core.Storage.MessageLog;

/// <summary>
/// Feeds the message log after SMTP has answered: <see cref="Enqueue"/> never blocks (when the bounded
/// buffer is full the record is dropped and counted in <see cref="Dropped"/>), and a background loop
/// writes whatever has gathered as one batch per transaction, up to <c>maxBatch</c> records. After the
/// first record of a batch arrives the loop waits <c>gatherDelay</c> (default 25 ms) for more, unless the
/// batch is full already or a flush is waiting: the log is written after the reply anyway, and under load
/// this turns one commit (one fsync) per few messages into one per many.
/// </summary>
public sealed class MessageLogWriter : IAsyncDisposable
{
    private readonly IMessageLogStore _store;
    private readonly Channel<Item> _channel;
    private readonly int _maxBatch;
    private readonly Action<Exception>? _onError;
    private readonly TimeSpan _gatherDelay;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private long _dropped;
    private long _written;
    private long _failed;
    private long _batches;
    private int _disposed;

    public MessageLogWriter(IMessageLogStore store, int capacity = 10_000, int maxBatch = 500, Action<Exception>? onError = null, TimeSpan? gatherDelay = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _gatherDelay = gatherDelay ?? DefaultGatherDelay;
        ArgumentOutOfRangeException.ThrowIfLessThan(_gatherDelay, TimeSpan.Zero, nameof(gatherDelay));
        _store = store;
        _maxBatch = maxBatch;
        _onError = onError;
        _channel = Channel.CreateBounded<Item>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>How long the loop waits for more records after the first of a batch, unless told otherwise.</summary>
    public static TimeSpan DefaultGatherDelay { get; } = TimeSpan.FromMilliseconds(25);

    /// <summary>Records dropped because the buffer was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Records written to the store.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Records lost because the store failed to write their batch.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Batches written (each one transaction).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Queues a record for writing; returns false (and counts it dropped) when the buffer is full or the writer is closed.</summary>
    public bool Enqueue(MessageLogRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (_channel.Writer.TryWrite(new Item(record, null)))
        {
            return true;
        }

        Interlocked.Increment(ref _dropped);
        return false;
    }

    /// <summary>Completes when every record enqueued before the call has been written (or failed: then this throws).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _channel.Writer.WriteAsync(new Item(null, done), cancellationToken).ConfigureAwait(false);
        await done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops taking records, writes those buffered, and ends the loop.</summary>
    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
            await _loop.ConfigureAwait(false);
            _stopping.Dispose();
        }

        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var batch = new List<MessageLogRecord>(_maxBatch);
        var flushes = new List<TaskCompletionSource>();
        var reader = _channel.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            await GatherAsync(reader).ConfigureAwait(false);
            while (batch.Count < _maxBatch && reader.TryRead(out var item))
            {
                if (item.Record is not null)
                {
                    batch.Add(item.Record);
                }
                else if (item.Flush is not null)
                {
                    flushes.Add(item.Flush);
                    break; // write what came before the flush request now
                }
            }

            Exception? failure = null;
            if (batch.Count > 0)
            {
                try
                {
                    await _store.AppendBatchAsync(batch, CancellationToken.None).ConfigureAwait(false);
                    Interlocked.Add(ref _written, batch.Count);
                    Interlocked.Increment(ref _batches);
                }
                catch (Exception ex)
                {
                    failure = ex;
                    Interlocked.Add(ref _failed, batch.Count);
                    _onError?.Invoke(ex);
                }

                batch.Clear();
            }

            foreach (var flush in flushes)
            {
                if (failure is null)
                {
                    flush.TrySetResult();
                }
                else
                {
                    flush.TrySetException(failure);
                }
            }

            flushes.Clear();
        }
    }

    /// <summary>Waits the gather delay, unless the batch is full, a flush is first in line, or the writer is closing.</summary>
    private async Task GatherAsync(ChannelReader<Item> reader)
    {
        if (_gatherDelay == TimeSpan.Zero || Volatile.Read(ref _disposed) != 0 || reader.Count >= _maxBatch
            || (reader.TryPeek(out var head) && head.Flush is not null))
        {
            return;
        }

        try
        {
            await Task.Delay(_gatherDelay, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // closing: write what is there now
        }
    }

    private readonly record struct Item(MessageLogRecord? Record, TaskCompletionSource? Flush);
}
