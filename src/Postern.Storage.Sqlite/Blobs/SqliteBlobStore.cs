using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Microsoft.Win32.SafeHandles;
using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Storage.Sqlite.Mailboxes;

namespace Postern.Storage.Sqlite.Blobs;

/// <summary>The durability steps of a blob write, reported in this order.</summary>
public enum BlobWriteStep
{
    /// <summary>The spooled temporary file was flushed to disk (fsync).</summary>
    FileFlushed = 1,

    /// <summary>The file was renamed to its final name (or an identical blob was already there).</summary>
    Renamed = 2,

    /// <summary>The directory holding the final name was flushed (fsync), so the name is durable.</summary>
    DirectoryFlushed = 3,

    /// <summary>
    /// The blob's reference row was committed in mailbox.db. For a small blob kept inside mailbox.db this is the
    /// only step: its bytes are committed with the row.
    /// </summary>
    MetadataCommitted = 4,
}

/// <summary>
/// Blobs with their reference counts in the <c>blobs</c> table of mailbox.db (see <see cref="MailboxSchema"/>).
/// A small blob (at most <see cref="EmbeddedStoreOptions.InlineBlobMaxBytes"/>) is kept inside mailbox.db
/// (<c>blob_content</c>), written with its reference row in one group-committed transaction: no file, no
/// fsync of its own. A larger one is a file under <c>&lt;data&gt;/blobs/ab/cd/&lt;sha256 hex&gt;</c>: the write
/// spools to <c>blobs/.tmp/</c> while hashing, fsyncs the file, then, holding mailbox.db's write lock,
/// renames it into place, fsyncs the directory and touches the reference row (count unchanged,
/// "unreferenced since now"). The collector deletes files and rows under the same lock, so a write and a
/// collection never cross. Reads look in mailbox.db first, then for the file.
/// </summary>
public sealed class SqliteBlobStore : IBlobStore
{
    private const int BufferSize = 64 * 1024;
    private readonly string _root;
    private readonly string _spool;
    private readonly TimeProvider _time;
    private readonly DiskSpaceGuard? _guard;
    private readonly Action<BlobWriteStep, string>? _observer;
    private readonly List<Func<BlobId, bool>> _otherHolders = [];
    private readonly int _inlineMax;

    public SqliteBlobStore(string dataFolder, SqliteDatabase mailboxDatabase, EmbeddedStoreOptions? options = null)
    {
        options ??= new EmbeddedStoreOptions();
        Database = mailboxDatabase;
        _root = Path.Combine(Path.GetFullPath(dataFolder), "blobs");
        _spool = Path.Combine(_root, ".tmp");
        _time = options.Time;
        _observer = options.BlobWriteObserver;
        _inlineMax = Math.Max(0, options.InlineBlobMaxBytes);
        _guard = options.DiskFloorBytes > 0 ? new DiskSpaceGuard(options.DiskSpaceProbe, _root, options.DiskFloorBytes) : null;
        System.IO.Directory.CreateDirectory(_spool);
    }

    /// <summary>mailbox.db, where the reference counts are.</summary>
    public SqliteDatabase Database { get; }

    /// <summary>The folder holding the blob files.</summary>
    public string RootPath => _root;

    /// <summary>
    /// Adds a holder outside mailbox.db (the queue) that the collector asks before deleting an unreferenced blob.
    /// Call while wiring up, before collecting.
    /// </summary>
    public void AddExternalHolder(Func<BlobId, bool> referencesBlob) => _otherHolders.Add(referencesBlob);

    /// <summary>Blobs of at most this many bytes are kept inside mailbox.db.</summary>
    public int InlineMaxBytes => _inlineMax;

    public async Task<BlobInfo> WriteAsync(Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        _guard?.EnsureRoomFor();
        var temp = Path.Combine(_spool, Guid.NewGuid().ToString("N"));
        var spoolFile = true;
        try
        {
            var (id, length, inline) = await SpoolAsync(content, temp, cancellationToken).ConfigureAwait(false);
            spoolFile = inline is null;
            _guard?.EnsureRoomFor();
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            if (inline is not null)
            {
                await Database.WriteAsync((c, tx) => StoreInline(c, tx, id, inline, now), cancellationToken).ConfigureAwait(false);
                _observer?.Invoke(BlobWriteStep.MetadataCommitted, Database.Path);
                return new BlobInfo(id, length);
            }

            var final = PathOf(id);
            await Database.WriteAsync((c, tx) =>
            {
                PlaceFile(temp, final);
                c.Execute(
                    """
                    INSERT INTO blobs (hash, length, refcount, zero_since) VALUES ($hash, $length, 0, $now)
                    ON CONFLICT (hash) DO UPDATE SET zero_since = CASE WHEN refcount = 0 THEN $now ELSE zero_since END
                    """,
                    tx,
                    ("$hash", id.Hex),
                    ("$length", length),
                    ("$now", now));
                return 0;
            }, cancellationToken).ConfigureAwait(false);
            _observer?.Invoke(BlobWriteStep.MetadataCommitted, final);
            return new BlobInfo(id, length);
        }
        finally
        {
            if (spoolFile && File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Small blobs of the batch go into mailbox.db in one unit (one commit, one WAL sync); larger ones as <see cref="WriteAsync"/>.</summary>
    public async Task<IReadOnlyList<BlobInfo>> WriteManyAsync(IReadOnlyList<Stream> contents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(contents);
        var written = new BlobInfo?[contents.Count];
        var inline = new List<(int Index, BlobId Id, byte[] Bytes)>();
        for (var i = 0; i < contents.Count; i++)
        {
            var content = contents[i];
            if (content.CanSeek && content.Length - content.Position <= _inlineMax)
            {
                _guard?.EnsureRoomFor();
                var start = content.Position;
                var temp = Path.Combine(_spool, Guid.NewGuid().ToString("N"));
                var (id, length, bytes) = await SpoolAsync(content, temp, cancellationToken).ConfigureAwait(false);
                if (bytes is not null)
                {
                    inline.Add((i, id, bytes));
                    written[i] = new BlobInfo(id, length);
                    continue;
                }

                // Not kept inline after all: write it as a file, from the start.
                File.Delete(temp);
                content.Position = start;
            }

            written[i] = await WriteAsync(contents[i], cancellationToken).ConfigureAwait(false);
        }

        if (inline.Count > 0)
        {
            _guard?.EnsureRoomFor();
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            await Database.WriteAsync(
                (c, tx) =>
                {
                    foreach (var (_, id, bytes) in inline)
                    {
                        StoreInline(c, tx, id, bytes, now);
                    }

                    return 0;
                },
                cancellationToken).ConfigureAwait(false);
            _observer?.Invoke(BlobWriteStep.MetadataCommitted, Database.Path);
        }

        return [.. written.Select(w => w!)];
    }

    public Task<Stream?> OpenReadAsync(BlobId id, CancellationToken cancellationToken) =>
        OpenReadAsync(id, 0, null, cancellationToken);

    public Task<Stream?> OpenReadAsync(BlobId id, long offset, long? length, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "A length cannot be negative.");
        }

        if (ReadInline(id) is { } bytes)
        {
            var from = (int)Math.Min(offset, bytes.Length);
            var count = (int)Math.Min(bytes.Length - from, length ?? long.MaxValue);
            return Task.FromResult<Stream?>(new MemoryStream(bytes, from, count, writable: false));
        }

        FileStream stream;
        try
        {
            stream = new FileStream(PathOf(id), new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read | FileShare.Delete,
                Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
                BufferSize = BufferSize,
            });
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }

        if (offset == 0 && length is null)
        {
            return Task.FromResult<Stream?>(stream);
        }

        var start = Math.Min(offset, stream.Length);
        var available = stream.Length - start;
        stream.Position = start;
        return Task.FromResult<Stream?>(new RangeReadStream(stream, Math.Min(available, length ?? available)));
    }

    public Task<long?> GetLengthAsync(BlobId id, CancellationToken cancellationToken)
    {
        if (InlineLength(id) is { } inline)
        {
            return Task.FromResult<long?>(inline);
        }

        var info = new FileInfo(PathOf(id));
        return Task.FromResult<long?>(info.Exists ? info.Length : null);
    }

    public Task<bool> ExistsAsync(BlobId id, CancellationToken cancellationToken) =>
        Task.FromResult(InlineLength(id) is not null || Exists(id));

    public Task<bool> DeleteAsync(BlobId id, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) =>
        {
            var inline = c.Execute("DELETE FROM blob_content WHERE blob_id = (SELECT blob_id FROM blobs WHERE hash = $hash)", tx, ("$hash", id.Hex)) == 1;
            c.Execute("DELETE FROM blobs WHERE hash = $hash AND refcount = 0", tx, ("$hash", id.Hex));
            var path = PathOf(id);
            if (!File.Exists(path))
            {
                return inline;
            }

            File.Delete(path);
            return true;
        }, cancellationToken);

    public async Task<BlobCollectionResult> CollectGarbageAsync(DateTimeOffset now, TimeSpan gracePeriod, CancellationToken cancellationToken)
    {
        var cutoff = (now - gracePeriod).ToUnixTimeMilliseconds();
        var deleted = 0;
        long freed = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (count, bytes, more) = await Database.WriteAsync((c, tx) =>
            {
                var candidates = c.Query(
                    "SELECT blob_id, hash, length FROM blobs WHERE refcount = 0 AND zero_since <= $cutoff ORDER BY zero_since LIMIT 500",
                    r => (Row: r.GetInt64(0), Id: BlobId.Parse(r.GetString(1)), Length: r.GetInt64(2)),
                    tx,
                    ("$cutoff", cutoff));
                int n = 0;
                long b = 0;
                foreach (var candidate in candidates)
                {
                    if (_otherHolders.Exists(holder => holder(candidate.Id)))
                    {
                        // Held by the queue: look again one grace period from now.
                        c.Execute("UPDATE blobs SET zero_since = $now WHERE blob_id = $id", tx, ("$now", now.ToUnixTimeMilliseconds()), ("$id", candidate.Row));
                        continue;
                    }

                    var gone = c.Execute("DELETE FROM blob_content WHERE blob_id = $id", tx, ("$id", candidate.Row)) == 1;
                    var path = PathOf(candidate.Id);
                    if (File.Exists(path))
                    {
                        File.Delete(path);
                        gone = true;
                    }

                    if (gone)
                    {
                        n++;
                        b += candidate.Length;
                    }

                    c.Execute("DELETE FROM blobs WHERE blob_id = $id", tx, ("$id", candidate.Row));
                }

                return (n, b, candidates.Count == 500);
            }, cancellationToken).ConfigureAwait(false);
            deleted += count;
            freed += bytes;
            if (!more)
            {
                break;
            }
        }

        SweepSpool(now - gracePeriod);
        return new BlobCollectionResult(deleted, freed);
    }

    /// <summary>
    /// Deletes blob files that have no row in mailbox.db and were last written before <paramref name="now"/> minus
    /// <paramref name="gracePeriod"/>: what a crash between the rename and the commit of a write leaves behind.
    /// Walks every file, so run it rarely (at start-up, or daily); <see cref="CollectGarbageAsync"/> is the usual path.
    /// </summary>
    /// <returns>How many files were deleted.</returns>
    public async Task<int> SweepOrphanFilesAsync(DateTimeOffset now, TimeSpan gracePeriod, CancellationToken cancellationToken)
    {
        var cutoff = (now - gracePeriod).UtcDateTime;
        var deleted = 0;
        foreach (var first in System.IO.Directory.EnumerateDirectories(_root))
        {
            if (string.Equals(first, _spool, StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var file in System.IO.Directory.EnumerateFiles(first, "*", SearchOption.AllDirectories))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!BlobId.TryParse(Path.GetFileName(file), out var id) || File.GetLastWriteTimeUtc(file) >= cutoff)
                {
                    continue;
                }

                var removed = await Database.WriteAsync((c, tx) =>
                {
                    if (c.Scalar<long?>("SELECT 1 FROM blobs WHERE hash = $hash", tx, ("$hash", id.Hex)) is not null || !File.Exists(file))
                    {
                        return false;
                    }

                    File.Delete(file);
                    return true;
                }, cancellationToken).ConfigureAwait(false);
                deleted += removed ? 1 : 0;
            }
        }

        return deleted;
    }

    /// <summary>
    /// Inserts a small blob's row and bytes (or, when the row exists, restarts its grace period), inside the
    /// caller's transaction. The bytes are kept only when neither mailbox.db nor a file has them already.
    /// </summary>
    private long StoreInline(SqliteConnection c, SqliteTransaction tx, BlobId id, byte[] bytes, long now)
    {
        var row = c.Scalar<long?>("SELECT blob_id FROM blobs WHERE hash = $hash", tx, ("$hash", id.Hex));
        if (row is not { } existing)
        {
            var inserted = c.Scalar<long>(
                "INSERT INTO blobs (hash, length, refcount, zero_since) VALUES ($hash, $length, 0, $now) RETURNING blob_id",
                tx,
                ("$hash", id.Hex),
                ("$length", bytes.LongLength),
                ("$now", now));
            c.Execute("INSERT INTO blob_content (blob_id, data) VALUES ($b, $data)", tx, ("$b", inserted), ("$data", bytes));
            return inserted;
        }

        c.Execute("UPDATE blobs SET zero_since = $now WHERE blob_id = $b AND refcount = 0", tx, ("$now", now), ("$b", existing));
        if (c.Scalar<long?>("SELECT 1 FROM blob_content WHERE blob_id = $b", tx, ("$b", existing)) is null && !Exists(id))
        {
            c.Execute("INSERT INTO blob_content (blob_id, data) VALUES ($b, $data)", tx, ("$b", existing), ("$data", bytes));
        }

        return existing;
    }

    /// <summary>A small blob's bytes from mailbox.db, or null when it is not kept there.</summary>
    private byte[]? ReadInline(BlobId id) => Database.Read(c =>
    {
        using var cmd = c.Command("SELECT data FROM blob_content WHERE blob_id = (SELECT blob_id FROM blobs WHERE hash = $hash)", null, ("$hash", id.Hex));
        using var reader = cmd.ExecuteReader();
        return reader.Read() ? (byte[])reader.GetValue(0) : null;
    });

    /// <summary>A small blob's length from mailbox.db, or null when it is not kept there.</summary>
    private long? InlineLength(BlobId id) => Database.Read(c => c.Scalar<long?>(
        "SELECT b.length FROM blobs b JOIN blob_content k ON k.blob_id = b.blob_id WHERE b.hash = $hash",
        null,
        ("$hash", id.Hex)));

    /// <summary>True when the blob's file is present (used inside mailbox.db transactions).</summary>
    internal bool Exists(BlobId id) => File.Exists(PathOf(id));

    /// <summary>Registers a blob row for a file already present (a message refers to a blob with no row), inside the caller's transaction.</summary>
    internal long EnsureRow(SqliteConnection connection, SqliteTransaction tx, BlobId id, long length)
    {
        var row = connection.Scalar<long?>("SELECT blob_id FROM blobs WHERE hash = $hash", tx, ("$hash", id.Hex));
        if (row is { } existing)
        {
            return existing;
        }

        if (!Exists(id))
        {
            throw new BlobMissingException(id.Hex);
        }

        return connection.Scalar<long>(
            "INSERT INTO blobs (hash, length, refcount, zero_since) VALUES ($hash, $length, 0, $now) RETURNING blob_id",
            tx,
            ("$hash", id.Hex),
            ("$length", new FileInfo(PathOf(id)).Length),
            ("$now", _time.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    private string PathOf(BlobId id) => Path.Combine(_root, id.Hex[..2], id.Hex[2..4], id.Hex);

    /// <summary>
    /// Reads the content to its end while hashing. Up to the inline limit the bytes stay in memory (returned as
    /// <c>Inline</c>); past it, or when nothing is kept inline, they go to <paramref name="temp"/>, which is fsynced.
    /// </summary>
    private async Task<(BlobId Id, long Length, byte[]? Inline)> SpoolAsync(Stream content, string temp, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        SafeFileHandle? handle = null;
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var memory = _inlineMax > 0 ? new MemoryStream() : null;
            if (memory is null)
            {
                handle = OpenSpool(temp);
            }

            long length = 0;
            int read;
            while ((read = await content.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                if (memory is not null && memory.Length + read <= _inlineMax)
                {
                    memory.Write(buffer, 0, read);
                    length += read;
                    continue;
                }

                if (memory is not null)
                {
                    // Past the inline limit: what was kept in memory starts the file.
                    handle = OpenSpool(temp);
                    await RandomAccess.WriteAsync(handle, memory.GetBuffer().AsMemory(0, (int)memory.Length), 0, cancellationToken).ConfigureAwait(false);
                    memory = null;
                }

                await RandomAccess.WriteAsync(handle!, buffer.AsMemory(0, read), length, cancellationToken).ConfigureAwait(false);
                length += read;
            }

            var id = BlobId.FromHash(hash.GetHashAndReset());
            if (memory is not null)
            {
                return (id, length, memory.ToArray());
            }

            RandomAccess.FlushToDisk(handle!);
            _observer?.Invoke(BlobWriteStep.FileFlushed, temp);
            return (id, length, null);
        }
        finally
        {
            handle?.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static SafeFileHandle OpenSpool(string temp) =>
        File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.Asynchronous);

    /// <summary>Moves the spooled file to its final name and makes the name durable (runs under mailbox.db's write lock).</summary>
    private void PlaceFile(string temp, string final)
    {
        var directory = Path.GetDirectoryName(final)!;
        EnsureDirectory(directory);
        if (File.Exists(final))
        {
            _observer?.Invoke(BlobWriteStep.Renamed, final); // identical content is already durable
        }
        else
        {
            File.Move(temp, final, overwrite: false);
            _observer?.Invoke(BlobWriteStep.Renamed, final);
        }

        DirectorySync.Flush(directory);
        _observer?.Invoke(BlobWriteStep.DirectoryFlushed, directory);
    }

    /// <summary>Creates the fan-out folders, flushing each parent whose entries changed.</summary>
    private void EnsureDirectory(string directory)
    {
        if (System.IO.Directory.Exists(directory))
        {
            return;
        }

        var parent = Path.GetDirectoryName(directory)!;
        if (!string.Equals(parent, _root, StringComparison.Ordinal))
        {
            EnsureDirectory(parent);
        }

        System.IO.Directory.CreateDirectory(directory);
        DirectorySync.Flush(parent);
    }

    private void SweepSpool(DateTimeOffset olderThan)
    {
        foreach (var file in new DirectoryInfo(_spool).EnumerateFiles())
        {
            if (file.LastWriteTimeUtc < olderThan.UtcDateTime)
            {
                file.Delete();
            }
        }
    }
}
