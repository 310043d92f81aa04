using System.Globalization;
using System.Text.RegularExpressions;
using Postern.Core.Storage;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Tenants;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    private const char Separator = '/';
    private const int MaxMailboxNameLength = 512;
    private const int MaxHierarchyDepth = 32;

    private MailDomain? _domain;

    private long AccountId => _account!.Id;

    /// <summary>The folder name a wire name means (INBOX case-insensitive, also as a hierarchy prefix); null when invalid.</summary>
    private string? DecodeName(string wire)
    {
        if (!MailboxNameCodec.TryDecode(wire, _utf8, out var name))
        {
            return null;
        }

        if (name.Equals("INBOX", StringComparison.OrdinalIgnoreCase))
        {
            return "INBOX";
        }

        if (name.StartsWith("INBOX/", StringComparison.OrdinalIgnoreCase))
        {
            name = "INBOX" + name[5..];
        }

        return name;
    }

    /// <summary>Checks a name for CREATE/RENAME: no wildcards, no empty levels, bounded; returns the name without a trailing separator.</summary>
    private static string? ValidNewName(string name)
    {
        if (name.EndsWith(Separator))
        {
            name = name.TrimEnd(Separator);
        }

        if (name.Length == 0 || name.Length > MaxMailboxNameLength || name.Contains('*') || name.Contains('%')
            || name.StartsWith(Separator) || name.Contains("//", StringComparison.Ordinal) || name.Count(c => c == Separator) >= MaxHierarchyDepth
            || name.Any(char.IsControl))
        {
            return null;
        }

        return name;
    }

    private async Task<Folder?> FindFolderAsync(string name) =>
        await _services.Mailboxes.GetFolderAsync(AccountId, name, Closed).ConfigureAwait(false);

    private async Task CreateAsync(CreateCommand command)
    {
        var decoded = DecodeName(command.Mailbox);
        var name = decoded is null ? null : ValidNewName(decoded);
        if (name is null)
        {
            No(command.Tag, "Invalid mailbox name", ImapResponseCode.Cannot);
            return;
        }

        if (name.Equals("INBOX", StringComparison.OrdinalIgnoreCase))
        {
            No(command.Tag, "INBOX already exists", ImapResponseCode.AlreadyExists);
            return;
        }

        var use = SpecialUse.None;
        foreach (var attribute in command.SpecialUse)
        {
            var u = ParseSpecialUse(attribute);
            if (u is null)
            {
                No(command.Tag, $"Unsupported special use {Sanitize(attribute)}", ImapResponseCode.UseAttr);
                return;
            }

            use |= u.Value;
        }

        if (await FindFolderAsync(name).ConfigureAwait(false) is not null)
        {
            No(command.Tag, "Mailbox already exists", ImapResponseCode.AlreadyExists);
            return;
        }

        // Superiors are created as needed (RFC 9051 §6.3.4).
        await EnsureSuperiorsAsync(name).ConfigureAwait(false);

        try
        {
            await _services.Mailboxes.CreateFolderAsync(AccountId, name, use, Closed).ConfigureAwait(false);
        }
        catch (StoreConflictException)
        {
            No(command.Tag, "Mailbox already exists", ImapResponseCode.AlreadyExists);
            return;
        }

        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, "CREATE completed");
    }

    /// <summary>Creates the missing superiors of a name (<c>a</c> and <c>a/b</c> for <c>a/b/c</c>); a concurrent creation is fine.</summary>
    private async Task EnsureSuperiorsAsync(string name)
    {
        for (var i = name.IndexOf(Separator); i > 0; i = name.IndexOf(Separator, i + 1))
        {
            var parent = name[..i];
            if (await FindFolderAsync(parent).ConfigureAwait(false) is null)
            {
                try
                {
                    await _services.Mailboxes.CreateFolderAsync(AccountId, parent, SpecialUse.None, Closed).ConfigureAwait(false);
                }
                catch (StoreConflictException)
                {
                }
            }
        }
    }

    private static SpecialUse? ParseSpecialUse(string attribute) => attribute.ToUpperInvariant() switch
    {
        "\\DRAFTS" => SpecialUse.Drafts,
        "\\SENT" => SpecialUse.Sent,
        "\\TRASH" => SpecialUse.Trash,
        "\\JUNK" => SpecialUse.Junk,
        "\\ARCHIVE" => SpecialUse.Archive,
        "\\ALL" => SpecialUse.All,
        "\\FLAGGED" => SpecialUse.Flagged,
        _ => null,
    };

    private async Task DeleteAsync(MailboxCommand command)
    {
        var name = DecodeName(command.Mailbox);
        if (name is null)
        {
            No(command.Tag, "Invalid mailbox name", ImapResponseCode.NonExistent);
            return;
        }

        if (name == "INBOX")
        {
            No(command.Tag, "INBOX cannot be deleted", ImapResponseCode.Cannot);
            return;
        }

        var folder = await FindFolderAsync(name).ConfigureAwait(false);
        if (folder is null)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
            return;
        }

        if (_selected?.FolderId == folder.FolderId)
        {
            // RFC 9051 §6.3.5 leaves it open; the session first leaves the folder it is deleting.
            _selected = null;
            _state = ImapState.Authenticated;
            _w.Untagged(ImapStatus.Ok, "Mailbox closed", ImapResponseCode.Closed);
        }

        await _services.Mailboxes.DeleteFolderAsync(AccountId, name, Closed).ConfigureAwait(false);
        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, "DELETE completed");
    }

    private async Task RenameAsync(RenameCommand command)
    {
        var from = DecodeName(command.Mailbox);
        var decodedTo = DecodeName(command.NewName);
        var to = decodedTo is null ? null : ValidNewName(decodedTo);
        if (from is null || await FindFolderAsync(from).ConfigureAwait(false) is not { } source)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
            return;
        }

        if (to is null || to == "INBOX")
        {
            No(command.Tag, "Invalid new mailbox name", ImapResponseCode.Cannot);
            return;
        }

        if (await FindFolderAsync(to).ConfigureAwait(false) is not null)
        {
            No(command.Tag, "A mailbox with the new name exists", ImapResponseCode.AlreadyExists);
            return;
        }

        if (to.StartsWith(from + Separator, StringComparison.Ordinal))
        {
            No(command.Tag, "Cannot move a mailbox under itself", ImapResponseCode.Cannot);
            return;
        }

        if (from == "INBOX")
        {
            // RENAME INBOX moves its messages to the new folder and leaves INBOX empty (RFC 9051 §6.3.6).
            var target = await _services.Mailboxes.CreateFolderAsync(AccountId, to, SpecialUse.None, Closed).ConfigureAwait(false);
            var all = await _services.Mailboxes.ListFlagsAsync(AccountId, source.FolderId, null, Closed).ConfigureAwait(false);
            if (all.Count > 0)
            {
                await _services.Mailboxes.MoveAsync(AccountId, source.FolderId, all.Select(m => m.Uid).ToList(), target.FolderId, Closed).ConfigureAwait(false);
            }
        }
        else
        {
            try
            {
                if (!await _services.Mailboxes.RenameFolderAsync(AccountId, from, to, Closed).ConfigureAwait(false))
                {
                    No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
                    return;
                }
            }
            catch (StoreConflictException)
            {
                No(command.Tag, "A mailbox with the new name exists", ImapResponseCode.AlreadyExists);
                return;
            }

            // Superiors of the new name exist afterwards, as CREATE would make them.
            await EnsureSuperiorsAsync(to).ConfigureAwait(false);

            if (_selected is not null && (_selected.Folder.Name == from || _selected.Folder.Name.StartsWith(from + Separator, StringComparison.Ordinal)))
            {
                _selected.Folder = _selected.Folder with { Name = to + _selected.Folder.Name[from.Length..] };
            }
        }

        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, "RENAME completed");
    }

    private async Task SubscribeAsync(MailboxCommand command)
    {
        var name = DecodeName(command.Mailbox);
        if (name is null || name.Length == 0)
        {
            No(command.Tag, "Invalid mailbox name", ImapResponseCode.NonExistent);
            return;
        }

        var subscribe = command.Name == ImapCommandName.Subscribe;
        if (subscribe && await FindFolderAsync(name).ConfigureAwait(false) is null)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
            return;
        }

        await _services.Mailboxes.SetSubscribedAsync(AccountId, name, subscribe, Closed).ConfigureAwait(false);
        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, subscribe ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
    }

    private async Task ListAsync(ListCommand command)
    {
        var lsub = command.Name == ImapCommandName.Lsub;
        var verb = lsub ? "LSUB" : "LIST";
        if (command.Patterns.Count == 1 && command.Patterns[0].Length == 0 && !lsub && !command.Extended)
        {
            // LIST "" "": the hierarchy delimiter and root (RFC 9051 §6.3.9).
            _w.Star().Atom("LIST").OpenList().Atom("\\Noselect").CloseList().String("/").String("").EndLine();
            Ok(command.Tag, "LIST completed");
            return;
        }

        if (!MailboxNameCodec.TryDecode(command.Reference, _utf8, out var reference))
        {
            reference = command.Reference;
        }

        var folders = await _services.Mailboxes.ListFoldersAsync(AccountId, Closed).ConfigureAwait(false);
        var subscribed = new HashSet<string>(await _services.Mailboxes.ListSubscriptionsAsync(AccountId, Closed).ConfigureAwait(false), StringComparer.Ordinal);
        var byName = folders.ToDictionary(f => f.Name, StringComparer.Ordinal);

        // Every name that exists or is implied (a superior of an existing or subscribed name).
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var f in folders)
        {
            AddWithSuperiors(names, f.Name);
        }

        var selectSubscribed = lsub || command.Selection.HasFlag(ListSelectOptions.Subscribed);
        if (selectSubscribed)
        {
            foreach (var s in subscribed)
            {
                AddWithSuperiors(names, s);
            }
        }

        var matchers = command.Patterns.Select(p =>
        {
            MailboxNameCodec.TryDecode(p, _utf8, out var pattern);
            return Matcher(reference, pattern ?? p);
        }).ToList();

        var returnSubscribed = command.Return.HasFlag(ListReturnOptions.Subscribed);
        var returnSpecial = command.Return.HasFlag(ListReturnOptions.SpecialUse) || (!command.Extended && !lsub) || command.Selection.HasFlag(ListSelectOptions.SpecialUse);
        foreach (var name in names)
        {
            var matches = matchers.Any(m => m(name));
            var exists = byName.TryGetValue(name, out var folder);
            var isSubscribed = subscribed.Contains(name);
            var hasChildren = names.GetViewBetween(name + Separator, name + (char)(Separator + 1)).Count > 0;
            string? childInfo = null;
            if (!matches)
            {
                continue;
            }

            if (selectSubscribed && !isSubscribed)
            {
                // RECURSIVEMATCH / LSUB: an unsubscribed superior of a subscribed name.
                var subscribedChild = subscribed.Any(s => s.StartsWith(name + Separator, StringComparison.Ordinal));
                if (lsub && subscribedChild)
                {
                    // LSUB with %: the superior is shown \Noselect (RFC 3501 §6.3.9).
                    if (command.Patterns.Any(p => p.Contains('%')))
                    {
                        WriteListLine(verb, ["\\Noselect"], name);
                    }

                    continue;
                }

                if (command.Selection.HasFlag(ListSelectOptions.RecursiveMatch) && subscribedChild)
                {
                    childInfo = "SUBSCRIBED";
                }
                else
                {
                    continue;
                }
            }

            if (command.Selection.HasFlag(ListSelectOptions.SpecialUse) && (folder is null || folder.SpecialUse == SpecialUse.None))
            {
                continue;
            }

            var attributes = new List<string>();
            if (!exists)
            {
                attributes.Add(command.Extended ? "\\NonExistent" : "\\Noselect");
            }

            if (!lsub)
            {
                attributes.Add(hasChildren ? "\\HasChildren" : "\\HasNoChildren");
            }

            if (!lsub && isSubscribed && (returnSubscribed || command.Selection.HasFlag(ListSelectOptions.Subscribed)))
            {
                attributes.Add("\\Subscribed");
            }

            if (folder is not null && returnSpecial && !lsub)
            {
                attributes.AddRange(SpecialUseAttributes(folder.SpecialUse));
            }

            WriteListLine(verb, attributes, name, childInfo);
            if (exists && command.Return.HasFlag(ListReturnOptions.Status) && !(selectSubscribed && !isSubscribed && childInfo is not null))
            {
                await WriteStatusAsync(folder!, command.StatusItems).ConfigureAwait(false);
            }
        }

        Ok(command.Tag, verb + " completed");
    }

    private void WriteListLine(string verb, IEnumerable<string> attributes, string name, string? childInfo = null)
    {
        _w.Star().Atom(verb).OpenList();
        foreach (var a in attributes)
        {
            _w.Atom(a);
        }

        _w.CloseList().String("/").Mailbox(name);
        if (childInfo is not null)
        {
            _w.OpenList().String("CHILDINFO").OpenList().String(childInfo).CloseList().CloseList();
        }

        _w.EndLine();
    }

    private static IEnumerable<string> SpecialUseAttributes(SpecialUse use)
    {
        if (use.HasFlag(SpecialUse.All))
        {
            yield return "\\All";
        }

        if (use.HasFlag(SpecialUse.Archive))
        {
            yield return "\\Archive";
        }

        if (use.HasFlag(SpecialUse.Drafts))
        {
            yield return "\\Drafts";
        }

        if (use.HasFlag(SpecialUse.Flagged))
        {
            yield return "\\Flagged";
        }

        if (use.HasFlag(SpecialUse.Junk))
        {
            yield return "\\Junk";
        }

        if (use.HasFlag(SpecialUse.Sent))
        {
            yield return "\\Sent";
        }

        if (use.HasFlag(SpecialUse.Trash))
        {
            yield return "\\Trash";
        }
    }

    private static void AddWithSuperiors(SortedSet<string> names, string name)
    {
        names.Add(name);
        for (var i = name.IndexOf(Separator); i > 0; i = name.IndexOf(Separator, i + 1))
        {
            names.Add(name[..i]);
        }
    }

    /// <summary>A LIST pattern as a predicate: <c>*</c> matches anything, <c>%</c> anything but the separator.</summary>
    private static Func<string, bool> Matcher(string reference, string pattern)
    {
        var full = reference + pattern;
        var inboxPrefix = full.StartsWith("INBOX", StringComparison.OrdinalIgnoreCase) && (full.Length == 5 || full[5] == Separator);
        if (inboxPrefix)
        {
            full = "INBOX" + full[5..];
        }

        var sb = new System.Text.StringBuilder("^");
        foreach (var c in full)
        {
            sb.Append(c switch
            {
                '*' => ".*",
                '%' => "[^/]*",
                _ => Regex.Escape(c.ToString()),
            });
        }

        var regex = new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromSeconds(1));
        return name => regex.IsMatch(name);
    }

    private async Task StatusAsync(StatusCommand command)
    {
        var name = DecodeName(command.Mailbox);
        var folder = name is null ? null : await FindFolderAsync(name).ConfigureAwait(false);
        if (folder is null)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
            return;
        }

        if (await WriteStatusAsync(folder, command.Items).ConfigureAwait(false))
        {
            await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
            Ok(command.Tag, "STATUS completed");
        }
        else
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
        }
    }

    /// <summary>
    /// STATUS RECENT: the messages no session has claimed as \Recent yet, plus those this session holds as recent
    /// (RFC 3501 §6.3.10). Reading the folder's UIDs is only needed when some, but not all, are claimed.
    /// </summary>
    private async Task<long> CountRecentAsync(Folder folder, FolderStatus status)
    {
        var claimed = _services.Recent.Claimed(folder.FolderId);
        var own = _selected is { ReadOnly: false } s && s.FolderId == folder.FolderId ? s.Recent.Count : 0;
        if (claimed == 0)
        {
            return status.Messages;
        }

        if (claimed >= status.UidNext - 1)
        {
            return own;
        }

        var all = await _services.Mailboxes.ListFlagsAsync(AccountId, folder.FolderId, null, Closed).ConfigureAwait(false);
        return own + all.Count(m => m.Uid > claimed);
    }

    private async Task<bool> WriteStatusAsync(Folder folder, StatusItems items)
    {
        var status = await _services.Mailboxes.GetFolderStatusAsync(AccountId, folder.FolderId, Closed).ConfigureAwait(false);
        if (status is null)
        {
            return false;
        }

        var recent = items.HasFlag(StatusItems.Recent) ? await CountRecentAsync(folder, status).ConfigureAwait(false) : 0;
        _w.Star().Atom("STATUS").Mailbox(folder.Name).OpenList();
        void Item(string name, ulong value) => _w.Atom(name).Number(value);
        if (items.HasFlag(StatusItems.Messages))
        {
            Item("MESSAGES", (ulong)status.Messages);
        }

        if (items.HasFlag(StatusItems.Recent))
        {
            Item("RECENT", (ulong)recent);
        }

        if (items.HasFlag(StatusItems.UidNext))
        {
            Item("UIDNEXT", (ulong)status.UidNext);
        }

        if (items.HasFlag(StatusItems.UidValidity))
        {
            Item("UIDVALIDITY", (ulong)status.UidValidity);
        }

        if (items.HasFlag(StatusItems.Unseen))
        {
            Item("UNSEEN", (ulong)status.Unseen);
        }

        if (items.HasFlag(StatusItems.Deleted))
        {
            Item("DELETED", (ulong)status.Deleted);
        }

        if (items.HasFlag(StatusItems.Size))
        {
            Item("SIZE", (ulong)status.Size);
        }

        if (items.HasFlag(StatusItems.HighestModSeq))
        {
            Item("HIGHESTMODSEQ", (ulong)status.HighestModSeq);
        }

        if (items.HasFlag(StatusItems.AppendLimit))
        {
            Item("APPENDLIMIT", (ulong)Policy.Limits.MaxLiteralSize);
        }

        _w.CloseList().EndLine();
        return true;
    }

    private QuotaLimits Limits()
    {
        var account = _account!;
        return new QuotaLimits(
            AccountStorageBytes: account.HasQuota ? account.QuotaBytes : null,
            DomainStorageBytes: _domain is { HasQuota: true } ? _domain.QuotaBytes : null);
    }

    private async Task GetQuotaRootAsync(MailboxCommand command)
    {
        var name = DecodeName(command.Mailbox);
        if (name is null || await FindFolderAsync(name).ConfigureAwait(false) is null)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
            return;
        }

        _w.Star().Atom("QUOTAROOT").Mailbox(name).String("User quota").EndLine();
        await WriteQuotaAsync().ConfigureAwait(false);
        Ok(command.Tag, "GETQUOTAROOT completed");
    }

    private async Task GetQuotaAsync(MailboxCommand command)
    {
        if (!command.Mailbox.Equals("User quota", StringComparison.OrdinalIgnoreCase))
        {
            No(command.Tag, "No such quota root", ImapResponseCode.NonExistent);
            return;
        }

        await WriteQuotaAsync().ConfigureAwait(false);
        Ok(command.Tag, "GETQUOTA completed");
    }

    private async Task WriteQuotaAsync()
    {
        var usage = await _services.Mailboxes.GetAccountUsageAsync(AccountId, Closed).ConfigureAwait(false);
        _w.Star().Atom("QUOTA").String("User quota").OpenList();
        var account = _account!;
        if (account.HasQuota)
        {
            // RFC 9208 STORAGE is in units of 1024 octets.
            _w.Atom("STORAGE").Number((ulong)((usage.StorageBytes + 1023) / 1024)).Number((ulong)(account.QuotaBytes / 1024));
        }

        _w.CloseList().EndLine();
    }

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);
}
