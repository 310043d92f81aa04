namespace Postern.Mailboxes.Maildir;

/// <summary>One folder found in a Maildir: our name, its directory, and whether it holds messages (has cur/ or new/).</summary>
public sealed record MaildirFolderSource(string Name, string Path, bool IsMailbox);

/// <summary>Where a Dovecot Maildir keeps its folders.</summary>
public static class MaildirLayout
{
    private static readonly string[] MessageDirs = ["cur", "new", "tmp"];

    /// <summary>True when the directory holds messages itself (cur/ or new/).</summary>
    public static bool IsMaildir(string path) => Directory.Exists(Path.Combine(path, "cur")) || Directory.Exists(Path.Combine(path, "new"));

    /// <summary>
    /// INBOX (the root's cur/ and new/), Maildir++ folders (<c>.Name.Sub</c> directories: <c>.</c> separates levels) and
    /// <c>LAYOUT=fs</c> folders (<c>Name/Sub</c> directories), INBOX first, then by name so superiors come before inferiors.
    /// <paramref name="legacySeparator"/> is the separator an old-style subscriptions file spells names with.
    /// Directory names that cannot be folder names are left out.
    /// </summary>
    public static IReadOnlyList<MaildirFolderSource> FindFolders(string root, out char legacySeparator)
    {
        var found = new List<MaildirFolderSource>();
        legacySeparator = '.';
        if (!Directory.Exists(root))
        {
            return found;
        }

        if (IsMaildir(root))
        {
            found.Add(new MaildirFolderSource("INBOX", root, true));
        }

        var dotted = false;
        var nested = false;
        foreach (var dir in SafeDirectories(root))
        {
            var name = System.IO.Path.GetFileName(dir);
            if (name.StartsWith('.'))
            {
                if (name.Length > 1 && IsMaildir(dir) && MaildirFolderName.FromLevels(name[1..].Split('.')) is { } folder)
                {
                    found.Add(new MaildirFolderSource(folder, dir, true));
                    dotted = true;
                }
            }
            else if (!MessageDirs.Contains(name, StringComparer.Ordinal))
            {
                nested |= AddNested(found, dir, [name]);
            }
        }

        if (nested && !dotted)
        {
            legacySeparator = '/';
        }

        return found
            .GroupBy(f => f.Name, StringComparer.Ordinal).Select(g => g.First())
            .OrderBy(f => f.Name == "INBOX" ? 0 : 1).ThenBy(f => f.Name, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>LAYOUT=fs: every level is a directory; a level without cur/ or new/ is only a superior.</summary>
    private static bool AddNested(List<MaildirFolderSource> found, string dir, List<string> levels)
    {
        var isMailbox = IsMaildir(dir);
        var any = isMailbox;
        var children = SafeDirectories(dir).Where(d => !MessageDirs.Contains(System.IO.Path.GetFileName(d), StringComparer.Ordinal)).ToList();
        foreach (var child in children)
        {
            any |= AddNested(found, child, [.. levels, System.IO.Path.GetFileName(child)]);
        }

        if (any && MaildirFolderName.FromLevels(levels) is { } name)
        {
            found.Add(new MaildirFolderSource(name, dir, isMailbox));
        }

        return any;
    }

    private static IEnumerable<string> SafeDirectories(string path)
    {
        try
        {
            return Directory.GetDirectories(path).Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
