using Postern.Core.Storage.Mailboxes;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

/// <summary>
/// A session's view of its selected folder: the UIDs in sequence-number order as this session last told
/// the client (RFC 9051 §2.3.1.2: numbers change only when the session reports EXPUNGE), the modseq it is
/// synchronised to, and the \Recent messages it owns.
/// </summary>
internal sealed class SelectedFolder(Folder folder, bool readOnly)
{
    private readonly List<long> _uids = [];

    public Folder Folder { get; set; } = folder;

    public long FolderId => Folder.FolderId;

    public bool ReadOnly { get; } = readOnly;

    /// <summary>The folder modseq up to which this session has reported changes.</summary>
    public long ModSeq { get; set; }

    /// <summary>Messages this session has announced (EXISTS).</summary>
    public int Count => _uids.Count;

    public IReadOnlyList<long> Uids => _uids;

    public long MaxUid => _uids.Count == 0 ? 0 : _uids[^1];

    public HashSet<long> Recent { get; } = [];

    /// <summary>Flag changes this session has already sent (own STOREs, changes seen between full syncs): uid → modseq.</summary>
    public Dictionary<long, long> Reported { get; } = [];

    /// <summary>UIDs expunged by this session's own EXPUNGE/MOVE (already reported).</summary>
    public HashSet<long> OwnExpunged { get; } = [];

    /// <summary>The SEARCHRES saved result ($), as UIDs (RFC 5182 §2.1: it follows the messages, not the numbers).</summary>
    public IReadOnlyList<long> SavedResult { get; set; } = [];

    /// <summary>The keywords defined in the folder, for FLAGS/PERMANENTFLAGS.</summary>
    public SortedSet<string> Keywords { get; } = new(StringComparer.OrdinalIgnoreCase);

    public void Add(long uid) => _uids.Add(uid);

    /// <summary>Adds UIDs above the current ones, ascending.</summary>
    public void AddRange(long[] uids) => _uids.AddRange(uids);

    /// <summary>The 1-based sequence number of a UID, or 0.</summary>
    public int SequenceOf(long uid)
    {
        var i = _uids.BinarySearch(uid);
        return i < 0 ? 0 : i + 1;
    }

    public long UidAt(int sequence) => _uids[sequence - 1];

    /// <summary>Removes a UID; returns the sequence number it had (0 when unknown).</summary>
    public int Remove(long uid)
    {
        var i = _uids.BinarySearch(uid);
        if (i < 0)
        {
            return 0;
        }

        _uids.RemoveAt(i);
        Recent.Remove(uid);
        return i + 1;
    }

    /// <summary>The (sequence, uid) pairs a sequence set or UID set names, in ascending order.</summary>
    public List<(int Seq, long Uid)> Resolve(SequenceSet set, bool uid)
    {
        var result = new List<(int, long)>();
        if (_uids.Count == 0)
        {
            return result;
        }

        if (uid)
        {
            var max = (uint)Math.Min(MaxUid, uint.MaxValue);
            foreach (var (start, end) in set.Resolve(max))
            {
                var i = LowerBound(start);
                for (; i < _uids.Count && _uids[i] <= end; i++)
                {
                    result.Add((i + 1, _uids[i]));
                }
            }

            // Overlapping ranges may repeat numbers; the response names each message once.
            return Dedupe(result);
        }

        foreach (var (start, end) in set.Resolve((uint)_uids.Count))
        {
            for (var s = start; s <= end && s <= _uids.Count; s++)
            {
                result.Add(((int)s, _uids[(int)s - 1]));
            }
        }

        return Dedupe(result);
    }

    /// <summary>Whether a message-number set refers to numbers that do not exist (RFC 9051 §6.4.8: BAD).</summary>
    public bool IsOutOfRange(SequenceSet set) =>
        !set.IsSavedResult && set.Ranges.Any(r => (r.Start != SequenceRange.Star && r.Start > _uids.Count) || (r.End != SequenceRange.Star && r.End > _uids.Count));

    private int LowerBound(long value)
    {
        int lo = 0, hi = _uids.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_uids[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static List<(int Seq, long Uid)> Dedupe(List<(int Seq, long Uid)> list)
    {
        if (list.Count < 2)
        {
            return list;
        }

        list.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        var w = 1;
        for (var r = 1; r < list.Count; r++)
        {
            if (list[r].Seq != list[w - 1].Seq)
            {
                list[w++] = list[r];
            }
        }

        list.RemoveRange(w, list.Count - w);
        return list;
    }
}
