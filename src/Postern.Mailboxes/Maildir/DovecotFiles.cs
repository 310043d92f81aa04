using System.Globalization;
using Postern.Core.Storage.Mailboxes;
using Postern.Primitives;

namespace Postern.Mailboxes.Maildir;

/// <summary>
/// A folder's <c>dovecot-uidlist</c>: its UIDVALIDITY, the next UID Dovecot would give, and the UID of each message
/// by the base of its file name (the part before <c>:</c>). Version 3 (Dovecot 1.0 and later):
/// <c>3 V&lt;uidvalidity&gt; N&lt;nextuid&gt; G&lt;guid&gt;</c>, then <c>&lt;uid&gt; [&lt;ext&gt; ...] :&lt;file&gt;</c>;
/// version 1: <c>1 &lt;uidvalidity&gt; &lt;nextuid&gt;</c>, then <c>&lt;uid&gt; &lt;file&gt;</c>.
/// </summary>
public sealed record DovecotUidList(long UidValidity, long NextUid, IReadOnlyDictionary<string, long> Uids)
{
    /// <summary>Parses the file's text; null (with the reason) when the header is not one of the known versions. Bad lines are skipped and counted.</summary>
    public static DovecotUidList? Parse(string text, out string? problem, out int badLines)
    {
        problem = null;
        badLines = 0;
        var lines = text.Split('\n');
        var header = lines[0].TrimEnd('\r').Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (header.Length == 0)
        {
            problem = "empty dovecot-uidlist";
            return null;
        }

        long validity = 0, next = 0;
        var version = header[0];
        if (version == "1" && header.Length >= 3)
        {
            _ = TryNumber(header[1], out validity);
            _ = TryNumber(header[2], out next);
        }
        else if (version is "2" or "3")
        {
            foreach (var field in header.Skip(1))
            {
                if (field.Length > 1 && field[0] == 'V')
                {
                    _ = TryNumber(field[1..], out validity);
                }
                else if (field.Length > 1 && field[0] == 'N')
                {
                    _ = TryNumber(field[1..], out next);
                }
            }
        }
        else
        {
            problem = $"dovecot-uidlist version '{version}' is not known";
            return null;
        }

        if (validity is < 1 or > uint.MaxValue)
        {
            problem = "dovecot-uidlist has no valid UIDVALIDITY";
            return null;
        }

        var uids = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var raw in lines.Skip(1))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0 || !TryNumber(line[..space], out var uid) || uid is < 1 or > uint.MaxValue)
            {
                badLines++;
                continue;
            }

            string file;
            if (version == "1")
            {
                file = line[(space + 1)..].Trim();
            }
            else
            {
                // Extension fields (W<size>, G<guid>, ...) come first; the file name follows " :".
                var colon = line.IndexOf(" :", space, StringComparison.Ordinal);
                file = colon < 0 ? string.Empty : line[(colon + 2)..];
            }

            var key = MaildirFileName.BaseOf(file);
            if (key.Length == 0 || !uids.TryAdd(key, uid))
            {
                badLines++;
            }
        }

        var highest = uids.Count == 0 ? 0 : uids.Values.Max();
        return new DovecotUidList(validity, Math.Clamp(Math.Max(next, highest + 1), 1, (long)uint.MaxValue + 1), uids);
    }

    private static bool TryNumber(string text, out long value) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
}

/// <summary>A folder's <c>dovecot-keywords</c>: <c>&lt;index&gt; &lt;name&gt;</c> per line; index 0 is the letter <c>a</c> in file names.</summary>
public static class DovecotKeywords
{
    public static IReadOnlyDictionary<int, string> Parse(string text)
    {
        var keywords = new Dictionary<int, string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0
                && int.TryParse(line.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                && index is >= 0 and < 26
                && line[(space + 1)..].Trim() is { Length: > 0 } name)
            {
                keywords[index] = name;
            }
        }

        return keywords;
    }
}

/// <summary>
/// The <c>subscriptions</c> file: Dovecot 2's <c>V\t2</c> header, an empty line, then one name per line with the
/// hierarchy levels separated by tabs; or the older form, one name per line spelled with the layout's separator.
/// Levels are modified UTF-7 (or UTF-8 where Dovecot was told so).
/// </summary>
public static class DovecotSubscriptions
{
    /// <summary>The subscribed names with <c>/</c> between levels.</summary>
    public static IReadOnlyList<string> Parse(string text, char legacySeparator)
    {
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var tabbed = lines.Count > 0 && lines[0].StartsWith("V\t", StringComparison.Ordinal);
        var names = new List<string>();
        foreach (var line in tabbed ? lines.Skip(1) : lines)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var levels = tabbed ? line.Split('\t') : line.Split(legacySeparator);
            if (MaildirFolderName.FromLevels(levels) is { } name && !names.Contains(name, StringComparer.Ordinal))
            {
                names.Add(name);
            }
        }

        return names;
    }
}

/// <summary>Folder names as Dovecot keeps them on disk, turned into ours (<c>/</c> between levels, INBOX spelled so).</summary>
public static class MaildirFolderName
{
    /// <summary>Our name for the on-disk levels; null when a level is empty or holds <c>/</c> (no such folder can exist here).</summary>
    public static string? FromLevels(IReadOnlyList<string> levels)
    {
        if (levels.Count == 0)
        {
            return null;
        }

        var decoded = new List<string>(levels.Count);
        foreach (var level in levels)
        {
            // Dovecot spells names in modified UTF-7 unless mail_location has the UTF-8 option: take such names as they are.
            var name = ModifiedUtf7.TryDecode(level, out var d) ? d : level;
            if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name.Any(char.IsControl))
            {
                return null;
            }

            decoded.Add(name);
        }

        if (decoded[0].Equals("INBOX", StringComparison.OrdinalIgnoreCase))
        {
            decoded[0] = "INBOX";
        }

        return string.Join('/', decoded);
    }
}

/// <summary>What a Maildir file name says: the base Dovecot's uidlist knows it by, and the flags after <c>:2,</c>.</summary>
public static class MaildirFileName
{
    /// <summary>The keyword Dovecot gives the <c>P</c> (passed) flag, which IMAP has no system flag for.</summary>
    public const string PassedKeyword = "$Forwarded";

    /// <summary>The name without its info part (<c>:2,...</c>).</summary>
    public static string BaseOf(string fileName)
    {
        var colon = fileName.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? fileName : fileName[..colon];
    }

    /// <summary>
    /// The flags and keywords of a file in <c>cur/</c>: D F R S T are \Draft \Flagged \Answered \Seen \Deleted, P is
    /// <see cref="PassedKeyword"/>, a to z are keywords by their index in <c>dovecot-keywords</c>. Letters with no
    /// keyword defined are returned in <paramref name="unknown"/>.
    /// </summary>
    public static (MessageFlags Flags, List<string> Keywords) ParseInfo(string fileName, IReadOnlyDictionary<int, string> keywords, out string unknown)
    {
        unknown = string.Empty;
        var flags = MessageFlags.None;
        var list = new List<string>();
        var info = fileName.IndexOf(":2,", StringComparison.Ordinal);
        if (info < 0)
        {
            return (flags, list);
        }

        foreach (var c in fileName[(info + 3)..])
        {
            switch (c)
            {
                case 'D': flags |= MessageFlags.Draft; break;
                case 'F': flags |= MessageFlags.Flagged; break;
                case 'R': flags |= MessageFlags.Answered; break;
                case 'S': flags |= MessageFlags.Seen; break;
                case 'T': flags |= MessageFlags.Deleted; break;
                case 'P': AddOnce(list, PassedKeyword); break;
                case >= 'a' and <= 'z':
                    if (keywords.TryGetValue(c - 'a', out var keyword))
                    {
                        AddOnce(list, keyword);
                    }
                    else
                    {
                        unknown += c;
                    }

                    break;
            }
        }

        return (flags, list);
    }

    /// <summary>True for a valid IMAP flag keyword (RFC 9051 atom without the resp-specials), so the store can keep it.</summary>
    public static bool IsKeyword(string keyword) =>
        keyword.Length is > 0 and <= 255 && keyword.All(c => c is > ' ' and < '\x7f' and not ('(' or ')' or '{' or '%' or '*' or '"' or '\\' or ']'));

    private static void AddOnce(List<string> list, string keyword)
    {
        if (!list.Contains(keyword, StringComparer.OrdinalIgnoreCase))
        {
            list.Add(keyword);
        }
    }
}
