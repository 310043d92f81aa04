using System.Text;

namespace Postern.Mime.Views;

/// <summary>
/// The base subject of RFC 5256 §2.1, used by SORT SUBJECT and THREAD: the decoded subject with runs of white
/// space made one space, and the reply/forward decorations ("Re:", "Fwd:", "[list]" blobs, "(fwd)" trailers,
/// "[fwd: ...]" wrappers) taken off, repeatedly. Compared case-insensitively by the caller.
/// </summary>
public static class BaseSubject
{
    /// <summary>The base subject of <paramref name="subject"/> (already RFC 2047-decoded); "" for none.</summary>
    public static string Of(string? subject) => Of(subject, out _);

    /// <summary>The base subject, and whether a reply or forward decoration was removed (THREAD REFERENCES step 5).</summary>
    public static string Of(string? subject, out bool replyOrForward)
    {
        replyOrForward = false;
        if (string.IsNullOrEmpty(subject))
        {
            return string.Empty;
        }

        var s = CollapseSpace(subject);
        while (true)
        {
            // (2) subj-trailer: "(fwd)" and white space at the end.
            while (true)
            {
                s = s.TrimEnd(' ');
                if (s.EndsWith("(fwd)", StringComparison.OrdinalIgnoreCase))
                {
                    s = s[..^5];
                    replyOrForward = true;
                    continue;
                }

                break;
            }

            // (3)-(5): leaders and leading blobs, until nothing changes.
            bool changed;
            do
            {
                changed = false;
                while (true)
                {
                    if (s.StartsWith(' '))
                    {
                        s = s.TrimStart(' ');
                        changed = true;
                        continue;
                    }

                    if (TryLeader(s, out var rest))
                    {
                        s = rest;
                        replyOrForward = true;
                        changed = true;
                        continue;
                    }

                    break;
                }

                if (TryBlob(s, 0, out var afterBlob) && afterBlob < s.Length)
                {
                    s = s[afterBlob..];
                    changed = true;
                }
            }
            while (changed);

            // (6) "[fwd:" ... "]" wraps the whole subject.
            if (s.Length >= 6 && s.StartsWith("[fwd:", StringComparison.OrdinalIgnoreCase) && s.EndsWith(']'))
            {
                s = s[5..^1];
                replyOrForward = true;
                continue;
            }

            return s;
        }
    }

    /// <summary>subj-leader without its white space: *subj-blob ("re" / "fw" / "fwd") *WSP [subj-blob] ":".</summary>
    private static bool TryLeader(string s, out string rest)
    {
        rest = s;
        var i = 0;
        while (TryBlob(s, i, out var next))
        {
            i = next;
        }

        if (Matches(s, i, "re"))
        {
            i += 2;
        }
        else if (Matches(s, i, "fwd"))
        {
            i += 3;
        }
        else if (Matches(s, i, "fw"))
        {
            i += 2;
        }
        else
        {
            return false;
        }

        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }

        if (TryBlob(s, i, out var afterBlob))
        {
            i = afterBlob;
        }

        if (i >= s.Length || s[i] != ':')
        {
            return false;
        }

        rest = s[(i + 1)..];
        return true;
    }

    /// <summary>subj-blob at <paramref name="start"/>: "[" *BLOBCHAR "]" *WSP; <paramref name="end"/> is just past it.</summary>
    private static bool TryBlob(string s, int start, out int end)
    {
        end = start;
        if (start >= s.Length || s[start] != '[')
        {
            return false;
        }

        var i = start + 1;
        while (i < s.Length && s[i] is not ('[' or ']'))
        {
            i++;
        }

        if (i >= s.Length || s[i] != ']')
        {
            return false;
        }

        i++;
        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }

        end = i;
        return true;
    }

    private static bool Matches(string s, int at, string word) =>
        at + word.Length <= s.Length && string.Compare(s, at, word, 0, word.Length, StringComparison.OrdinalIgnoreCase) == 0;

    private static string CollapseSpace(string s)
    {
        var sb = new StringBuilder(s.Length);
        var space = false;
        foreach (var c in s)
        {
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                space = true;
                continue;
            }

            if (space)
            {
                sb.Append(' ');
                space = false;
            }

            sb.Append(c);
        }

        if (space)
        {
            sb.Append(' ');
        }

        return sb.ToString();
    }
}
