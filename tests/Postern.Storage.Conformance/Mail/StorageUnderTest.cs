using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.KeyValue;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.MessageLog;
using Postern.Core.Storage.Queue;

namespace Postern.Storage.Conformance.Mail;

/// <summary>A fresh, empty set of stores of one backend, sharing one clock; disposing removes it all.</summary>
public sealed class StorageUnderTest(
    IBlobStore blobs,
    IMailboxStore mailboxes,
    IQueueStore queue,
    IMessageLogStore messageLog,
    IKeyValueStore keyValue,
    Action dispose) : IDisposable
{
    public IBlobStore Blobs { get; } = blobs;

    public IMailboxStore Mailboxes { get; } = mailboxes;

    public IQueueStore Queue { get; } = queue;

    public IMessageLogStore MessageLog { get; } = messageLog;

    public IKeyValueStore KeyValue { get; } = keyValue;

    public void Dispose() => dispose();
}

/// <summary>The base of every contract: a backend supplies <see cref="CreateStorage"/>.</summary>
public abstract class StorageContract : IDisposable
{
    private readonly Lock _gate = new();
    private StorageUnderTest? _storage;

    protected ManualTimeProvider Time { get; } = new();

    protected StorageUnderTest Storage
    {
        get
        {
            lock (_gate)
            {
                return _storage ??= CreateStorage(Time);
            }
        }
    }

    protected static CancellationToken Ct => CancellationToken.None;

    public void Dispose()
    {
        _storage?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Creates fresh, empty stores that read the time from <paramref name="time"/>.</summary>
    protected abstract StorageUnderTest CreateStorage(ManualTimeProvider time);

    protected async Task<BlobInfo> WriteBlobAsync(string text)
    {
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text));
        return await Storage.Blobs.WriteAsync(stream, Ct);
    }

    protected static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}
