using System.Collections.Concurrent;

namespace Postern.Server.Imap;

/// <summary>
/// IMAP4rev1's \Recent: a message is recent in exactly one session, the first to see it (RFC 3501 §2.3.2).
/// Per folder, the highest UID already handed out; kept in memory, so after a restart nothing is recent
/// (RFC 9051 dropped the flag, and clients that still use it only take it as a hint).
/// </summary>
public sealed class RecentTracker
{
    private readonly ConcurrentDictionary<long, long> _claimed = new();

    /// <summary>Claims the UIDs above the folder's claimed mark up to <paramref name="highestUid"/>; returns the first UID this caller got (or none).</summary>
    public long? Claim(long folderId, long highestUid, long baseline)
    {
        while (true)
        {
            var current = _claimed.GetOrAdd(folderId, baseline);
            if (highestUid <= current)
            {
                return null;
            }

            if (_claimed.TryUpdate(folderId, highestUid, current))
            {
                return current + 1;
            }
        }
    }

    /// <summary>The highest UID of the folder some session has claimed (0: none yet, so every message is recent).</summary>
    public long Claimed(long folderId) => _claimed.TryGetValue(folderId, out var uid) ? uid : 0;
}

/// <summary>Counts authenticated sessions per account.</summary>
public sealed class SessionCounter
{
    private readonly ConcurrentDictionary<long, int> _counts = new();

    public bool TryEnter(long accountId, int limit)
    {
        while (true)
        {
            var current = _counts.GetOrAdd(accountId, 0);
            if (current >= limit)
            {
                return false;
            }

            if (_counts.TryUpdate(accountId, current + 1, current))
            {
                return true;
            }
        }
    }

    public void Leave(long accountId) => _counts.AddOrUpdate(accountId, 0, (_, n) => Math.Max(0, n - 1));

    public int Count(long accountId) => _counts.TryGetValue(accountId, out var n) ? n : 0;
}
