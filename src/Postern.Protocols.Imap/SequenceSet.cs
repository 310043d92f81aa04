using System.Globalization;
using System.Text;

namespace Postern.Protocols.Imap;

/// <summary>One element of a sequence set: a number or a range; 0 stands for <c>*</c> (the largest number in use).</summary>
public readonly record struct SequenceRange(uint Start, uint End)
{
    public const uint Star = 0;

    public override string ToString() =>
        Start == End ? Text(Start) : Text(Start) + ":" + Text(End);

    private static string Text(uint n) => n == Star ? "*" : n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// An IMAP sequence set (<c>1:*</c>, <c>3,5:7</c>) or the saved search result <c>$</c> (RFC 5182), kept as
/// written. Whether the numbers are message numbers or UIDs is the caller's business: membership and
/// enumeration take the largest number in use (the message count or the highest UID), which <c>*</c>
/// stands for. An empty mailbox has no largest number: then <c>*</c> matches nothing.
/// </summary>
public sealed class SequenceSet : IEquatable<SequenceSet>
{
    private readonly SequenceRange[] _ranges;

    private SequenceSet(SequenceRange[] ranges, bool saved)
    {
        _ranges = ranges;
        IsSavedResult = saved;
    }

    /// <summary>The saved search result, <c>$</c>: the session substitutes the set it saved.</summary>
    public static SequenceSet SavedResult { get; } = new([], true);

    public bool IsSavedResult { get; }

    public IReadOnlyList<SequenceRange> Ranges => _ranges;

    public static SequenceSet Of(params SequenceRange[] ranges)
    {
        if (ranges.Length == 0)
        {
            throw new ArgumentException("A sequence set has at least one element.", nameof(ranges));
        }

        return new SequenceSet([.. ranges], false);
    }

    public static SequenceSet Single(uint n) => Of(new SequenceRange(n, n));

    public static SequenceSet Range(uint start, uint end) => Of(new SequenceRange(start, end));

    /// <summary>The most compact set for these numbers (e.g. for COPYUID, APPENDUID, ESEARCH ALL); null when there are none.</summary>
    public static SequenceSet? FromNumbers(IEnumerable<uint> numbers)
    {
        var sorted = numbers.Where(n => n != 0).Distinct().Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }

        var ranges = new List<SequenceRange>();
        var start = sorted[0];
        var end = start;
        for (var i = 1; i < sorted.Length; i++)
        {
            if (sorted[i] == end + 1)
            {
                end = sorted[i];
                continue;
            }

            ranges.Add(new SequenceRange(start, end));
            start = end = sorted[i];
        }

        ranges.Add(new SequenceRange(start, end));
        return new SequenceSet([.. ranges], false);
    }

    /// <summary>Parses <c>sequence-set</c> or <c>$</c>; strict: no spaces, no zero, no empty elements.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out SequenceSet set)
    {
        set = SavedResult;
        if (text.Length == 1 && text[0] == '$')
        {
            return true;
        }

        if (text.IsEmpty)
        {
            return false;
        }

        var ranges = new List<SequenceRange>();
        foreach (var element in text.Split(','))
        {
            var part = text[element];
            var colon = part.IndexOf(':');
            if (colon < 0)
            {
                if (!TryNumber(part, out var n))
                {
                    return false;
                }

                ranges.Add(new SequenceRange(n, n));
            }
            else if (!TryNumber(part[..colon], out var a) || !TryNumber(part[(colon + 1)..], out var b))
            {
                return false;
            }
            else
            {
                ranges.Add(new SequenceRange(a, b));
            }
        }

        set = new SequenceSet([.. ranges], false);
        return true;
    }

    public static SequenceSet Parse(string text) =>
        TryParse(text, out var set) ? set : throw new FormatException($"Not a sequence set: {text}");

    private static bool TryNumber(ReadOnlySpan<char> text, out uint n)
    {
        n = 0;
        if (text.Length == 1 && text[0] == '*')
        {
            return true;
        }

        if (text.IsEmpty || text.Length > 10 || text[0] == '0')
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out n) && n != 0;
    }

    /// <summary>The set as sorted, merged, closed intervals with <c>*</c> replaced by <paramref name="max"/> (empty if max is 0).</summary>
    public IReadOnlyList<(uint Start, uint End)> Resolve(uint max)
    {
        if (IsSavedResult)
        {
            throw new InvalidOperationException("The saved result ($) has to be replaced by the saved set first.");
        }

        var list = new List<(uint Start, uint End)>(_ranges.Length);
        foreach (var r in _ranges)
        {
            if (max == 0 && (r.Start == SequenceRange.Star || r.End == SequenceRange.Star))
            {
                continue; // an empty mailbox: "*" is nothing, and so is "1:*"
            }

            var a = r.Start == SequenceRange.Star ? max : r.Start;
            var b = r.End == SequenceRange.Star ? max : r.End;
            if (a > b)
            {
                (a, b) = (b, a);
            }

            list.Add((a, b));
        }

        list.Sort((x, y) => x.Start.CompareTo(y.Start));
        var merged = new List<(uint Start, uint End)>(list.Count);
        foreach (var r in list)
        {
            if (merged.Count > 0 && (ulong)r.Start <= (ulong)merged[^1].End + 1)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, r.End));
            }
            else
            {
                merged.Add(r);
            }
        }

        return merged;
    }

    /// <summary>Whether <paramref name="n"/> is in the set when <c>*</c> is <paramref name="max"/>.</summary>
    public bool Contains(uint n, uint max)
    {
        if (n == 0 || IsSavedResult)
        {
            return false;
        }

        foreach (var r in _ranges)
        {
            if (max == 0 && (r.Start == SequenceRange.Star || r.End == SequenceRange.Star))
            {
                continue;
            }

            var a = r.Start == SequenceRange.Star ? max : r.Start;
            var b = r.End == SequenceRange.Star ? max : r.End;
            if (a > b)
            {
                (a, b) = (b, a);
            }

            if (n >= a && n <= b)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The members in ascending order, each once, where <c>*</c> is <paramref name="max"/>. For message
    /// numbers, members above max are invalid (RFC 9051 §6.4.8: BAD); for UIDs they are simply absent: the
    /// caller checks <see cref="IsWithin"/> or intersects with the UIDs it has.
    /// </summary>
    public IEnumerable<uint> Enumerate(uint max)
    {
        foreach (var (start, end) in Resolve(max))
        {
            for (var n = start; ; n++)
            {
                yield return n;
                if (n == end)
                {
                    break;
                }
            }
        }
    }

    /// <summary>How many members the set has when <c>*</c> is <paramref name="max"/>.</summary>
    public ulong Count(uint max) => Resolve(max).Aggregate(0UL, (sum, r) => sum + r.End - r.Start + 1);

    /// <summary>No explicit number is above <paramref name="max"/> (message-number sets must satisfy this).</summary>
    public bool IsWithin(uint max) => !IsSavedResult && _ranges.All(r => r.Start <= max && r.End <= max);

    public override string ToString()
    {
        if (IsSavedResult)
        {
            return "$";
        }

        var sb = new StringBuilder();
        foreach (var r in _ranges)
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(r.ToString());
        }

        return sb.ToString();
    }

    public bool Equals(SequenceSet? other) =>
        other is not null && IsSavedResult == other.IsSavedResult && _ranges.AsSpan().SequenceEqual(other._ranges);

    public override bool Equals(object? obj) => Equals(obj as SequenceSet);

    public override int GetHashCode() => HashCode.Combine(IsSavedResult, _ranges.Length, _ranges.Length > 0 ? _ranges[0] : default);
}
