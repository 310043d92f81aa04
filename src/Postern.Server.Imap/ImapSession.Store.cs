using Postern.Core.Storage.Mailboxes;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    private const int MaxKeywordLength = 255;

    /// <summary>Splits IMAP flags into system flags and keywords; null with an error text when one is not allowed.</summary>
    private static (MessageFlags Flags, List<string> Keywords, string? Error) ParseFlags(IEnumerable<string> names)
    {
        var flags = MessageFlags.None;
        var keywords = new List<string>();
        foreach (var name in names)
        {
            if (name.StartsWith('\\'))
            {
                switch (name.ToUpperInvariant())
                {
                    case "\\SEEN": flags |= MessageFlags.Seen; break;
                    case "\\ANSWERED": flags |= MessageFlags.Answered; break;
                    case "\\FLAGGED": flags |= MessageFlags.Flagged; break;
                    case "\\DELETED": flags |= MessageFlags.Deleted; break;
                    case "\\DRAFT": flags |= MessageFlags.Draft; break;
                    case "\\RECENT": break; // set by the server only; ignored as RFC 3501 §6.4.6 allows
                    default: return (flags, keywords, $"Unknown system flag {Sanitize(name)}");
                }
            }
            else if (name.Length > MaxKeywordLength || name.Any(c => c <= ' ' || c > '~' || c is '(' or ')' or '{' or '%' or '*' or '"' or '\\' or ']'))
            {
                return (flags, keywords, "Invalid keyword");
            }
            else if (!keywords.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                keywords.Add(name);
            }
        }

        return (flags, keywords, null);
    }

    private async Task StoreAsync(StoreCommand command)
    {
        var selected = _selected!;
        if (!command.Uid && !command.Set.IsSavedResult && selected.IsOutOfRange(command.Set))
        {
            Bad(command.Tag, "Invalid message number");
            return;
        }

        if (selected.ReadOnly)
        {
            No(command.Tag, "The mailbox is read-only", ImapResponseCode.ReadOnly);
            return;
        }

        var (flags, keywords, error) = ParseFlags(command.Flags);
        if (error is not null)
        {
            Bad(command.Tag, error);
            return;
        }

        if (command.UnchangedSince is not null)
        {
            EnableCondStore();
        }

        var targets = ResolveUids(command.Set, command.Uid);
        var mode = command.Mode switch
        {
            StoreMode.Add => FlagChangeMode.Add,
            StoreMode.Remove => FlagChangeMode.Remove,
            _ => FlagChangeMode.Replace,
        };
        var result = targets.Count == 0
            ? new StoreFlagsResult([], [], selected.ModSeq)
            : await _services.Mailboxes.StoreFlagsAsync(AccountId, selected.FolderId, targets.Select(t => t.Uid).ToList(),
                new FlagChange(mode, flags, keywords), command.UnchangedSince is { } u ? (long)u : null, Closed).ConfigureAwait(false);

        var changed = result.Changed.ToDictionary(c => c.Uid);
        foreach (var c in result.Changed)
        {
            selected.Reported[c.Uid] = c.ModSeq;
        }

        var newKeywords = keywords.Where(k => !selected.Keywords.Contains(k)).ToList();
        if (newKeywords.Count > 0)
        {
            foreach (var k in newKeywords)
            {
                selected.Keywords.Add(k);
            }

            WriteFlagsResponses(selected);
        }

        var modified = new HashSet<long>(result.Modified);
        if (!command.Silent)
        {
            // Every message named gets its flags back, changed or not (RFC 9051 §6.4.6), except those refused by UNCHANGEDSINCE.
            var current = new Dictionary<long, FlagState>(changed);
            var unchanged = targets.Where(t => !changed.ContainsKey(t.Uid) && !modified.Contains(t.Uid)).ToList();
            if (unchanged.Count > 0)
            {
                foreach (var m in await _services.Mailboxes.ListMessagesAsync(AccountId, selected.FolderId, unchanged[0].Uid, unchanged[^1].Uid, null, Closed).ConfigureAwait(false))
                {
                    current.TryAdd(m.Uid, new FlagState(m.Uid, m.Flags, m.Keywords, m.ModSeq));
                }
            }

            foreach (var (seq, uid) in targets)
            {
                if (!modified.Contains(uid) && current.TryGetValue(uid, out var state))
                {
                    WriteFlagsFetch(seq, state, includeUid: command.Uid || _qresync, includeModSeq: _condStore);
                }
            }
        }
        else if (command.UnchangedSince is not null)
        {
            // With UNCHANGEDSINCE the new modseqs are sent even for .SILENT (RFC 7162 §3.1.3).
            foreach (var (seq, uid) in targets)
            {
                if (changed.TryGetValue(uid, out var state))
                {
                    _w.Star().Number((ulong)seq).Atom("FETCH").OpenList();
                    if (command.Uid || _qresync)
                    {
                        _w.Atom("UID").Number((ulong)uid);
                    }

                    _w.Atom("MODSEQ").OpenList().Number((ulong)state.ModSeq).CloseList().CloseList().EndLine();
                }
            }
        }

        await UpdatesAsync(allowExpunge: command.Uid).ConfigureAwait(false);
        if (modified.Count > 0)
        {
            var numbers = command.Uid ? modified.Select(m => (uint)m) : targets.Where(t => modified.Contains(t.Uid)).Select(t => (uint)t.Seq);
            Ok(command.Tag, "Conditional STORE failed for some messages", ImapResponseCode.Modified(SequenceSet.FromNumbers(numbers)!));
        }
        else
        {
            Ok(command.Tag, "STORE completed");
        }
    }

    private async Task CopyAsync(CopyCommand command)
    {
        var selected = _selected!;
        var move = command.Name == ImapCommandName.Move;
        if (!command.Uid && !command.Set.IsSavedResult && selected.IsOutOfRange(command.Set))
        {
            Bad(command.Tag, "Invalid message number");
            return;
        }

        var name = DecodeName(command.Mailbox);
        var target = name is null ? null : await FindFolderAsync(name).ConfigureAwait(false);
        if (target is null)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.TryCreate);
            return;
        }

        if (move && selected.ReadOnly)
        {
            No(command.Tag, "The mailbox is read-only", ImapResponseCode.ReadOnly);
            return;
        }

        var targets = ResolveUids(command.Set, command.Uid);
        if (targets.Count == 0)
        {
            await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
            Ok(command.Tag, command.Uid ? "No messages" : (move ? "MOVE" : "COPY") + " completed");
            return;
        }

        var uids = targets.Select(t => t.Uid).ToList();
        await RecordTrainingAsync(selected.Folder, target, uids).ConfigureAwait(false);
        var result = move
            ? await _services.Mailboxes.MoveAsync(AccountId, selected.FolderId, uids, target.FolderId, Closed).ConfigureAwait(false)
            : await _services.Mailboxes.CopyAsync(AccountId, selected.FolderId, uids, target.FolderId, Limits(), Closed).ConfigureAwait(false);
        switch (result.Status)
        {
            case CopyStatus.FolderNotFound:
                No(command.Tag, "Mailbox does not exist", ImapResponseCode.TryCreate);
                return;
            case CopyStatus.AccountQuotaExceeded or CopyStatus.DomainQuotaExceeded:
                No(command.Tag, "Quota exceeded", ImapResponseCode.OverQuota);
                return;
        }

        ImapResponseCode? copyUid = result.Uids.Count == 0 ? null
            : ImapResponseCode.CopyUid((uint)result.TargetUidValidity, UidList(result.Uids.Select(p => p.SourceUid)), UidList(result.Uids.Select(p => p.TargetUid)));
        if (move)
        {
            // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
            if (copyUid is not null)
            {
                _w.Untagged(ImapStatus.Ok, "Moved", copyUid);
            }

            ReportExpunged(result.Uids.Select(p => p.SourceUid));
            await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
            Ok(command.Tag, "MOVE completed");
            return;
        }

        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, "COPY completed", copyUid);
    }

    /// <summary>A UID list in the given order (COPYUID pairs them by position, so it is not sorted or merged).</summary>
    private static SequenceSet UidList(IEnumerable<long> uids)
    {
        var ranges = new List<SequenceRange>();
        foreach (var uid in uids.Select(u => (uint)u))
        {
            if (ranges.Count > 0 && ranges[^1].End + 1 == uid)
            {
                ranges[^1] = new SequenceRange(ranges[^1].Start, uid);
            }
            else
            {
                ranges.Add(new SequenceRange(uid, uid));
            }
        }

        return SequenceSet.Of([.. ranges]);
    }

    private async Task RecordTrainingAsync(Folder source, Folder target, List<long> uids)
    {
        var sink = _services.Training;
        var intoJunk = target.SpecialUse.HasFlag(SpecialUse.Junk) && !source.SpecialUse.HasFlag(SpecialUse.Junk);
        var outOfJunk = source.SpecialUse.HasFlag(SpecialUse.Junk) && !target.SpecialUse.HasFlag(SpecialUse.Junk) && !target.SpecialUse.HasFlag(SpecialUse.Trash);
        if (sink is null || !(intoJunk || outOfJunk))
        {
            return;
        }

        foreach (var uid in uids)
        {
            if (await _services.Mailboxes.GetMessageAsync(AccountId, source.FolderId, uid, Closed).ConfigureAwait(false) is { } message)
            {
                await sink.RecordAsync(_user!, AccountId, message, intoJunk, Closed).ConfigureAwait(false);
            }
        }
    }
}
