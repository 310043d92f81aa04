using Postern.Core.Storage.Mailboxes;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    private IMailboxChangeSubscription? _subscription;

    private static readonly string[] SystemFlags = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

    private async Task SelectAsync(SelectCommand command)
    {
        if (_selected is not null)
        {
            // RFC 7162 §3.2.11 / RFC 9051: the previous folder is closed without expunging.
            _selected = null;
            _state = ImapState.Authenticated;
            if (_qresync || _rev2)
            {
                _w.Untagged(ImapStatus.Ok, "Previous mailbox closed", ImapResponseCode.Closed);
            }
        }

        var name = DecodeName(command.Mailbox);
        var folder = name is null ? null : await FindFolderAsync(name).ConfigureAwait(false);
        if (folder is null)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
            return;
        }

        if (command.QResync is not null && !_qresync)
        {
            Bad(command.Tag, "QRESYNC must be enabled first");
            return;
        }

        if (command.CondStore)
        {
            _condStore = true;
        }

        var index = await _services.FolderIndex.GetAsync(AccountId, folder.FolderId, Closed).ConfigureAwait(false);
        if (index is null)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.NonExistent);
            return;
        }

        var status = index.Folder;
        var all = index.States;
        var selected = new SelectedFolder(status, command.ReadOnly) { ModSeq = status.HighestModSeq };
        selected.AddRange(index.Uids());
        foreach (var m in all)
        {
            if (m.ModSeq > status.HighestModSeq)
            {
                // Newer than the folder row read first: already part of this view.
                selected.Reported[m.Uid] = m.ModSeq;
            }
        }

        selected.Keywords.UnionWith(index.Keywords);
        var firstUnseen = index.FirstUnseen + 1;

        ClaimRecent(selected);
        _selected = selected;
        _state = ImapState.Selected;
        _subscription ??= _services.Mailboxes.Subscribe(AccountId);

        WriteFlagsResponses(selected);
        _w.Star().Number((ulong)selected.Count).Atom("EXISTS").EndLine();
        if (!_rev2)
        {
            _w.Star().Number((ulong)selected.Recent.Count).Atom("RECENT").EndLine();
            if (firstUnseen > 0)
            {
                _w.Untagged(ImapStatus.Ok, "First unseen", ImapResponseCode.Unseen((uint)firstUnseen));
            }
        }

        _w.Untagged(ImapStatus.Ok, "UIDs valid", ImapResponseCode.UidValidity((uint)status.UidValidity));
        _w.Untagged(ImapStatus.Ok, "Predicted next UID", ImapResponseCode.UidNext((uint)status.UidNext));
        _w.Untagged(ImapStatus.Ok, "Highest", ImapResponseCode.HighestModSeq((ulong)status.HighestModSeq));
        if (_rev2)
        {
            _w.Star().Atom("LIST").OpenList().CloseList().String("/").Mailbox(folder.Name).EndLine();
        }

        if (command.QResync is { } q && q.UidValidity == (uint)status.UidValidity)
        {
            await QResyncAsync(selected, q).ConfigureAwait(false);
        }

        Ok(command.Tag, (command.ReadOnly ? "EXAMINE" : "SELECT") + " completed", command.ReadOnly ? ImapResponseCode.ReadOnly : ImapResponseCode.ReadWrite);
    }

    private void WriteFlagsResponses(SelectedFolder selected)
    {
        var flags = SystemFlags.Concat(selected.Keywords).ToList();
        _w.Star().Atom("FLAGS").Flags(flags).EndLine();
        if (selected.ReadOnly)
        {
            _w.Untagged(ImapStatus.Ok, "No permanent flags permitted", ImapResponseCode.PermanentFlags([]));
        }
        else
        {
            _w.Untagged(ImapStatus.Ok, "Flags permitted", ImapResponseCode.PermanentFlags(flags.Append("\\*")));
        }
    }

    /// <summary>SELECT (QRESYNC ...): what changed since the client's modseq (RFC 7162 §3.2.5).</summary>
    private async Task QResyncAsync(SelectedFolder selected, QResyncParameters q)
    {
        var since = (long)q.ModSeq;
        var vanished = await _services.Mailboxes.ListExpungedAsync(AccountId, selected.FolderId, since, Closed).ConfigureAwait(false);
        var known = q.KnownUids;
        var maxUid = (uint)Math.Min(Math.Max(selected.MaxUid, vanished.Count > 0 ? vanished[^1] : 0), uint.MaxValue);
        var gone = vanished.Where(u => known is null || known.Contains((uint)u, maxUid)).Select(u => (uint)u).ToList();
        if (gone.Count > 0 && SequenceSet.FromNumbers(gone) is { } set)
        {
            _w.Star().Atom("VANISHED").OpenList().Atom("EARLIER").CloseList().SequenceSet(set).EndLine();
        }

        var changed = await _services.Mailboxes.ListFlagsAsync(AccountId, selected.FolderId, since, Closed).ConfigureAwait(false);
        foreach (var m in changed)
        {
            var seq = selected.SequenceOf(m.Uid);
            if (seq == 0 || (known is not null && !known.Contains((uint)m.Uid, (uint)Math.Min(selected.MaxUid, uint.MaxValue))))
            {
                continue;
            }

            WriteFlagsFetch(seq, m, includeUid: true, includeModSeq: true);
        }
    }

    private void ClaimRecent(SelectedFolder selected)
    {
        if (selected.Count == 0)
        {
            return;
        }

        // EXAMINE must not take \Recent away from anyone (RFC 3501 §6.3.2): it sees what nobody claimed yet, claiming nothing.
        var claimed = _services.Recent.Claimed(selected.FolderId);
        var first = selected.ReadOnly ? (selected.MaxUid > claimed ? claimed + 1 : (long?)null) : _services.Recent.Claim(selected.FolderId, selected.MaxUid, 0);
        if (first is not null)
        {
            for (var i = selected.Count - 1; i >= 0 && selected.Uids[i] >= first; i--)
            {
                selected.Recent.Add(selected.Uids[i]);
            }
        }
    }

    private async Task CloseAsync(SimpleCommand command, bool expunge)
    {
        var selected = _selected!;
        if (expunge && !selected.ReadOnly)
        {
            // CLOSE expunges silently (RFC 9051 §6.4.1).
            var uids = selected.Uids.ToList();
            if (uids.Count > 0)
            {
                await _services.Mailboxes.ExpungeAsync(AccountId, selected.FolderId, uids, onlyDeleted: true, Closed).ConfigureAwait(false);
            }
        }

        _selected = null;
        _state = ImapState.Authenticated;
        Ok(command.Tag, expunge ? "CLOSE completed" : "UNSELECT completed");
    }

    private async Task ExpungeAsync(string tag, SequenceSet? uidSet)
    {
        var selected = _selected!;
        if (selected.ReadOnly)
        {
            No(tag, "The mailbox is read-only", ImapResponseCode.ReadOnly);
            return;
        }

        var uids = uidSet is null ? selected.Uids.ToList() : ResolveUids(uidSet, uid: true).Select(p => p.Uid).ToList();
        if (uids.Count > 0)
        {
            var result = await _services.Mailboxes.ExpungeAsync(AccountId, selected.FolderId, uids, onlyDeleted: true, Closed).ConfigureAwait(false);
            ReportExpunged(result.Uids);
            if (result.ModSeq > 0)
            {
                await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
                Ok(tag, "EXPUNGE completed", _condStore ? ImapResponseCode.HighestModSeq((ulong)result.ModSeq) : null);
                return;
            }
        }

        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(tag, "EXPUNGE completed");
    }

    /// <summary>EXPUNGE responses (or one VANISHED under QRESYNC) for UIDs this session removed.</summary>
    private void ReportExpunged(IEnumerable<long> uids)
    {
        var selected = _selected!;
        var removed = new List<uint>();
        foreach (var uid in uids.OrderBy(u => u))
        {
            if (_qresync)
            {
                if (selected.Remove(uid) > 0)
                {
                    removed.Add((uint)uid);
                }

                continue;
            }

            // Each EXPUNGE renumbers the rest: report from the highest down so the numbers stay as sent.
            removed.Add((uint)uid);
        }

        if (_qresync)
        {
            if (removed.Count > 0 && SequenceSet.FromNumbers(removed) is { } set)
            {
                _w.Star().Atom("VANISHED").SequenceSet(set).EndLine();
            }

            return;
        }

        for (var i = removed.Count - 1; i >= 0; i--)
        {
            var seq = selected.Remove(removed[i]);
            if (seq > 0)
            {
                _w.Star().Number((ulong)seq).Atom("EXPUNGE").EndLine();
            }
        }
    }

    /// <summary>
    /// Tells the client what changed in the selected folder since it last heard (other sessions, deliveries):
    /// EXPUNGE/VANISHED only where allowed (not during FETCH, STORE, SEARCH by number: RFC 9051 §7.5.1),
    /// flag changes as FETCH, new messages as EXISTS (and RECENT for IMAP4rev1 clients).
    /// </summary>
    private async Task UpdatesAsync(bool allowExpunge)
    {
        var selected = _selected;
        if (selected is null)
        {
            return;
        }

        var status = await _services.Mailboxes.GetFolderStatusAsync(AccountId, selected.FolderId, Closed).ConfigureAwait(false);
        if (status is null)
        {
            _w.Untagged(ImapStatus.Bye, "The selected mailbox was deleted");
            _state = ImapState.Logout;
            return;
        }

        if (status.HighestModSeq <= selected.ModSeq)
        {
            return;
        }

        var h = status.HighestModSeq;
        if (allowExpunge)
        {
            var expunged = await _services.Mailboxes.ListExpungedAsync(AccountId, selected.FolderId, selected.ModSeq, Closed).ConfigureAwait(false);
            var inView = expunged.Where(u => selected.SequenceOf(u) > 0).ToList();
            if (inView.Count > 0)
            {
                ReportExpunged(inView);
            }
        }

        var changed = await _services.Mailboxes.ListFlagsAsync(AccountId, selected.FolderId, selected.ModSeq, Closed).ConfigureAwait(false);
        var before = selected.Count;
        var keywordsBefore = selected.Keywords.Count;
        var flagUpdates = new List<FlagState>();
        foreach (var m in changed)
        {
            if (selected.Reported.TryGetValue(m.Uid, out var reported) && reported >= m.ModSeq)
            {
                continue;
            }

            selected.Reported[m.Uid] = m.ModSeq;
            foreach (var k in m.Keywords)
            {
                selected.Keywords.Add(k);
            }

            if (m.Uid > selected.MaxUid)
            {
                selected.Add(m.Uid);
            }
            else if (selected.SequenceOf(m.Uid) > 0)
            {
                flagUpdates.Add(m);
            }
        }

        if (selected.Keywords.Count != keywordsBefore)
        {
            WriteFlagsResponses(selected);
        }

        foreach (var m in flagUpdates)
        {
            WriteFlagsFetch(selected.SequenceOf(m.Uid), m, includeUid: _qresync, includeModSeq: _condStore);
        }

        if (selected.Count != before)
        {
            ClaimRecent(selected);
            _w.Star().Number((ulong)selected.Count).Atom("EXISTS").EndLine();
            if (!_rev2)
            {
                _w.Star().Number((ulong)selected.Recent.Count).Atom("RECENT").EndLine();
            }
        }

        if (allowExpunge)
        {
            selected.ModSeq = h;
            var stale = selected.Reported.Where(kv => kv.Value <= h).Select(kv => kv.Key).ToList();
            foreach (var uid in stale)
            {
                selected.Reported.Remove(uid);
            }
        }
    }

    private void WriteFlagsFetch(int seq, FlagState m, bool includeUid, bool includeModSeq)
    {
        _w.Star().Number((ulong)seq).Atom("FETCH").OpenList();
        if (includeUid)
        {
            _w.Atom("UID").Number((ulong)m.Uid);
        }

        _w.Atom("FLAGS").Flags(FlagNames(m.Flags, m.Keywords, IsRecent(m.Uid)));
        if (includeModSeq)
        {
            _w.Atom("MODSEQ").OpenList().Number((ulong)m.ModSeq).CloseList();
        }

        _w.CloseList().EndLine();
    }

    /// <summary>\Recent as IMAP4rev1 shows it; IMAP4rev2 dropped the flag.</summary>
    private bool IsRecent(long uid) => !_rev2 && _selected!.Recent.Contains(uid);

    private static List<string> FlagNames(MessageFlags flags, IReadOnlyList<string> keywords, bool recent)
    {
        var list = new List<string>(4 + keywords.Count);
        if (flags.HasFlag(MessageFlags.Seen))
        {
            list.Add("\\Seen");
        }

        if (flags.HasFlag(MessageFlags.Answered))
        {
            list.Add("\\Answered");
        }

        if (flags.HasFlag(MessageFlags.Flagged))
        {
            list.Add("\\Flagged");
        }

        if (flags.HasFlag(MessageFlags.Deleted))
        {
            list.Add("\\Deleted");
        }

        if (flags.HasFlag(MessageFlags.Draft))
        {
            list.Add("\\Draft");
        }

        if (recent)
        {
            list.Add("\\Recent");
        }

        list.AddRange(keywords);
        return list;
    }

    /// <summary>Resolves a set given to a command, with <c>$</c> as the saved search result.</summary>
    private List<(int Seq, long Uid)> ResolveUids(SequenceSet set, bool uid)
    {
        var selected = _selected!;
        if (set.IsSavedResult)
        {
            return selected.SavedResult.Select(u => (selected.SequenceOf(u), u)).Where(p => p.Item1 > 0).OrderBy(p => p.Item1).ToList();
        }

        return selected.Resolve(set, uid);
    }
}
