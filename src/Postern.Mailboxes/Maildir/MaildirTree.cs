namespace Postern.Mailboxes.Maildir;

/// <summary>One mailbox found in a fan-out tree: the address its directories name and its Maildir.</summary>
public sealed record MaildirTreeEntry(string Domain, string LocalPart, string Maildir)
{
    public string Address => LocalPart + "@" + Domain;
}

/// <summary>
/// The fan-out layout existing installations keep mail in: <c>&lt;root&gt;/&lt;d1&gt;/&lt;d2&gt;/&lt;domain&gt;/&lt;l1&gt;/&lt;localpart&gt;/</c>,
/// where d1 and d2 are the domain's first letters and l1 the local part's. The Maildir is that directory when it has
/// cur/ or new/, else its <c>Maildir/</c>. The walk only reads.
/// </summary>
public static class MaildirTree
{
    /// <summary>
    /// The mailboxes under <paramref name="root"/> (of <paramref name="domain"/> only, when given), by domain and local
    /// part; <paramref name="problems"/> gets the directories at the mailbox level that hold no Maildir.
    /// </summary>
    public static IReadOnlyList<MaildirTreeEntry> Find(string root, string? domain, out IReadOnlyList<string> problems)
    {
        var found = new List<MaildirTreeEntry>();
        var bad = new List<string>();
        problems = bad;
        foreach (var d1 in Directories(root))
        {
            foreach (var d2 in Directories(d1))
            {
                foreach (var domainDir in Directories(d2))
                {
                    var domainName = Path.GetFileName(domainDir);
                    if (domain is not null && !domainName.Equals(domain, StringComparison.OrdinalIgnoreCase))
                    {
                        continue;
                    }

                    foreach (var l1 in Directories(domainDir))
                    {
                        foreach (var user in Directories(l1))
                        {
                            var maildir = MaildirLayout.IsMaildir(user) ? user
                                : MaildirLayout.IsMaildir(Path.Combine(user, "Maildir")) ? Path.Combine(user, "Maildir")
                                : null;
                            if (maildir is null)
                            {
                                bad.Add($"{user}: no Maildir (no cur/ or new/, here or in Maildir/)");
                                continue;
                            }

                            found.Add(new MaildirTreeEntry(domainName.ToLowerInvariant(), Path.GetFileName(user), maildir));
                        }
                    }
                }
            }
        }

        return found.OrderBy(e => e.Domain, StringComparer.Ordinal).ThenBy(e => e.LocalPart, StringComparer.Ordinal).ToList();
    }

    private static IEnumerable<string> Directories(string path)
    {
        try
        {
            return Directory.GetDirectories(path).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
