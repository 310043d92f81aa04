using System.Collections.Concurrent;
using Postern.Core.Storage.Mailboxes;

namespace Postern.Server.Imap;

/// <summary>A folder's messages (UID, flags, keywords, modseq) as of <see cref="Folder"/>'s highest modseq; never changed once built.</summary>
internal sealed class FolderIndex(Folder folder, FlagState[] states)
{
    /// <summary>The folder row read before the messages: everything up to its HighestModSeq is in here (later changes may be too).</summary>
    public Folder Folder { get; } = folder;

    /// <summary>Ascending by UID.</summary>
    public IReadOnlyList<FlagState> States => states;

    public int Count => states.Length;

    /// <summary>Every keyword some message has (the FLAGS response).</summary>
    public IReadOnlySet<string> Keywords { get; } = KeywordsOf(states);

    /// <summary>The 0-based position of the first message without \Seen, or -1.</summary>
    public int FirstUnseen { get; } = System.Array.FindIndex(states, m => !m.Flags.HasFlag(MessageFlags.Seen));

    /// <summary>The UIDs, ascending.</summary>
    public long[] Uids() => System.Array.ConvertAll(states, m => m.Uid);

    private static HashSet<string> KeywordsOf(FlagState[] states)
    {
        var keywords = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var m in states)
        {
            foreach (var k in m.Keywords)
            {
                keywords.Add(k);
            }
        }

        return keywords;
    }

    internal FlagState[] Array => states;

    public FlagState? Find(long uid)
    {
        var i = IndexOf(uid);
        return i < 0 ? null : states[i];
    }

    /// <summary>The messages with <paramref name="first"/> ≤ UID ≤ <paramref name="last"/>.</summary>
    public IEnumerable<FlagState> Range(long first, long last)
    {
        var i = IndexOf(first);
        for (i = i < 0 ? ~i : i; i < states.Length && states[i].Uid <= last; i++)
        {
            yield return states[i];
        }
    }

    private int IndexOf(long uid)
    {
        int lo = 0, hi = states.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var u = states[mid].Uid;
            if (u == uid)
            {
                return mid;
            }

            if (u < uid)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return ~lo;
    }
}

/// <summary>
/// What Dovecot keeps in its index files, kept in memory and shared by every session: per folder, the UIDs and
/// flags. A folder is read whole once; after that each use asks the store only for what changed since the modseq
/// it was built at (CONDSTORE's own change and expunge lists), so SELECT, FETCH FLAGS and flag searches on a large
/// unchanged folder cost one folder row, not one row per message. At most <see cref="MaxMessages"/> messages are
/// held; the folders used longest ago make room.
/// </summary>
internal sealed class FolderIndexCache(IMailboxStore store, int maxMessages = FolderIndexCache.DefaultMaxMessages)
{
    public const int DefaultMaxMessages = 2_000_000;

    private readonly ConcurrentDictionary<long, Entry> _folders = new();
    private long _held;

    public int MaxMessages => maxMessages;

    /// <summary>The folder's index, brought up to date; null when the account has no such folder.</summary>
    public async Task<FolderIndex?> GetAsync(long accountId, long folderId, CancellationToken cancellationToken)
    {
        var folder = await store.GetFolderAsync(accountId, folderId, cancellationToken).ConfigureAwait(false);
        if (folder is null)
        {
            return null;
        }

        _folders.TryGetValue(folderId, out var entry);
        var cached = entry?.Index;
        FolderIndex index;
        if (cached is not null && cached.Folder.AccountId == accountId && cached.Folder.UidValidity == folder.UidValidity && cached.Folder.HighestModSeq <= folder.HighestModSeq)
        {
            if (cached.Folder.HighestModSeq == folder.HighestModSeq)
            {
                entry!.Touch();
                return cached;
            }

            var since = cached.Folder.HighestModSeq;
            var changed = await store.ListFlagsAsync(accountId, folderId, since, cancellationToken).ConfigureAwait(false);
            var expunged = await store.ListExpungedAsync(accountId, folderId, since, cancellationToken).ConfigureAwait(false);
            index = new FolderIndex(folder, Merge(cached.Array, changed, expunged));
        }
        else
        {
            var all = await store.ListFlagsAsync(accountId, folderId, null, cancellationToken).ConfigureAwait(false);
            index = new FolderIndex(folder, [.. all]);
        }

        Publish(folderId, index);
        return index;
    }

    /// <summary>The old states with the changed ones put in (states are absolute, so applying one twice is harmless) and the expunged taken out.</summary>
    private static FlagState[] Merge(FlagState[] old, IReadOnlyList<FlagState> changed, IReadOnlyList<long> expunged)
    {
        var gone = expunged.Count == 0 ? null : new HashSet<long>(expunged);
        var result = new List<FlagState>(old.Length + changed.Count);
        int i = 0, j = 0;
        while (i < old.Length || j < changed.Count)
        {
            FlagState next;
            if (j >= changed.Count || (i < old.Length && old[i].Uid < changed[j].Uid))
            {
                next = old[i++];
            }
            else
            {
                if (i < old.Length && old[i].Uid == changed[j].Uid)
                {
                    i++;
                }

                next = changed[j++];
            }

            if (gone is null || !gone.Contains(next.Uid))
            {
                result.Add(next);
            }
        }

        return [.. result];
    }

    private void Publish(long folderId, FolderIndex index)
    {
        var entry = new Entry(index);
        var added = index.Count;
        _folders.AddOrUpdate(
            folderId,
            entry,
            (_, existing) =>
            {
                // A slower refresh that read an older folder state must not replace a newer one.
                if (existing.Index.Folder.UidValidity == index.Folder.UidValidity && existing.Index.Folder.HighestModSeq > index.Folder.HighestModSeq)
                {
                    added = 0;
                    return existing;
                }

                added -= existing.Index.Count;
                return entry;
            });
        if (Interlocked.Add(ref _held, added) > maxMessages)
        {
            Evict(folderId);
        }
    }

    private void Evict(long keep)
    {
        foreach (var (id, entry) in _folders.OrderBy(e => e.Value.LastUsed).ToList())
        {
            if (Interlocked.Read(ref _held) <= maxMessages)
            {
                return;
            }

            if (id != keep && _folders.TryRemove(new KeyValuePair<long, Entry>(id, entry)))
            {
                Interlocked.Add(ref _held, -entry.Index.Count);
            }
        }
    }

    private sealed class Entry(FolderIndex index)
    {
        private long _lastUsed = Environment.TickCount64;

        public FolderIndex Index { get; } = index;

        public long LastUsed => Interlocked.Read(ref _lastUsed);

        public void Touch() => Interlocked.Exchange(ref _lastUsed, Environment.TickCount64);
    }
}
