using System.Globalization;
using Postern.Core.Storage.Mailboxes;
using Postern.Mime;
using Postern.Mime.Views;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    private static readonly HashSet<string> KnownEncodings = new(StringComparer.OrdinalIgnoreCase) { "7bit", "8bit", "binary", "base64", "quoted-printable", "" };

    private async Task FetchAsync(FetchCommand command)
    {
        var selected = _selected!;
        if (!command.Uid && !command.Set.IsSavedResult && selected.IsOutOfRange(command.Set))
        {
            Bad(command.Tag, "Invalid message number");
            return;
        }

        if (command.Vanished && (!command.Uid || !_qresync || command.ChangedSince is null))
        {
            Bad(command.Tag, "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled");
            return;
        }

        if (command.ChangedSince is not null)
        {
            _condStore = true;
        }

        var items = command.Items.ToList();
        if (command.Uid && !items.Any(i => i.Kind == FetchItemKind.Uid))
        {
            items.Insert(0, new FetchItem(FetchItemKind.Uid));
        }

        if ((command.ChangedSince is not null || _condStore && items.Any(i => i.Kind == FetchItemKind.Flags)) && !items.Any(i => i.Kind == FetchItemKind.ModSeq))
        {
            // RFC 7162 §3.1.4.1: CHANGEDSINCE (and FLAGS once CONDSTORE is on) bring MODSEQ along.
            items.Add(new FetchItem(FetchItemKind.ModSeq));
        }

        var targets = ResolveUids(command.Set, command.Uid);
        if (command.Vanished && targets.Count >= 0)
        {
            await WriteVanishedEarlierAsync(command.Set, (long)command.ChangedSince!.Value).ConfigureAwait(false);
        }

        var marksSeen = !selected.ReadOnly && items.Any(i => i.Kind is FetchItemKind.Rfc822 or FetchItemKind.Rfc822Text
            || (i.Kind is FetchItemKind.BodySection or FetchItemKind.Binary && !i.Peek));
        var needsRow = items.Any(i => i.Kind is not (FetchItemKind.Uid or FetchItemKind.Flags or FetchItemKind.ModSeq));
        var needsFlags = items.Any(i => i.Kind is FetchItemKind.Flags or FetchItemKind.ModSeq) || command.ChangedSince is not null || marksSeen;
        long? changedSince = command.ChangedSince is { } cs ? (long)cs : null;
        var missing = false;

        // A page of messages at a time: what is loaded for a large FETCH stays bounded.
        for (var start = 0; start < targets.Count; start += SearchPage)
        {
            var page = targets.GetRange(start, Math.Min(SearchPage, targets.Count - start));
            var rows = new Dictionary<long, StoredMessage>();
            var flags = new Dictionary<long, FlagState>();
            if (needsRow)
            {
                foreach (var m in await LoadFetchRowsAsync(page, changedSince).ConfigureAwait(false))
                {
                    rows[m.Uid] = m;
                    flags[m.Uid] = new FlagState(m.Uid, m.Flags, m.Keywords, m.ModSeq);
                }
            }
            else if (needsFlags)
            {
                var index = await _services.FolderIndex.GetAsync(AccountId, selected.FolderId, Closed).ConfigureAwait(false);
                foreach (var (_, uid) in page)
                {
                    if (index?.Find(uid) is { } m && (changedSince is null || m.ModSeq > changedSince))
                    {
                        flags[m.Uid] = m;
                    }
                }
            }

            if (marksSeen)
            {
                var unseen = page.Where(t => flags.TryGetValue(t.Uid, out var f) && !f.Flags.HasFlag(MessageFlags.Seen)).Select(t => t.Uid).ToList();
                if (unseen.Count > 0)
                {
                    var stored = await _services.Mailboxes.StoreFlagsAsync(AccountId, selected.FolderId, unseen, new FlagChange(FlagChangeMode.Add, MessageFlags.Seen), null, Closed).ConfigureAwait(false);
                    foreach (var c in stored.Changed)
                    {
                        flags[c.Uid] = c;
                        selected.Reported[c.Uid] = c.ModSeq;
                    }
                }
            }

            if (!needsRow)
            {
                await FlushIfLargeAsync().ConfigureAwait(false);
            }

            foreach (var (seq, uid) in page)
            {
                if (command.ChangedSince is not null && !flags.ContainsKey(uid))
                {
                    continue;
                }

                if ((needsRow && !rows.ContainsKey(uid)) || (needsFlags && !flags.ContainsKey(uid)))
                {
                    missing = true;
                    continue;
                }

                if (!needsRow)
                {
                    // UID, FLAGS and MODSEQ only: written straight from the folder index.
                    WriteFlagsOnlyFetch(seq, uid, items, flags.GetValueOrDefault(uid));
                    continue;
                }

                var error = await WriteFetchAsync(seq, uid, items, rows.GetValueOrDefault(uid), flags.GetValueOrDefault(uid), marksSeen).ConfigureAwait(false);
                if (error is not null)
                {
                    await UpdatesAsync(allowExpunge: command.Uid).ConfigureAwait(false);
                    No(command.Tag, error.Value.Text, error.Value.Code);
                    return;
                }

                await FlushIfLargeAsync().ConfigureAwait(false);
            }
        }

        await UpdatesAsync(allowExpunge: command.Uid).ConfigureAwait(false);
        if (missing)
        {
            No(command.Tag, "Some messages were expunged meanwhile", ImapResponseCode.ExpungeIssued);
        }
        else
        {
            Ok(command.Tag, "FETCH completed");
        }
    }

    private void WriteFlagsOnlyFetch(int seq, long uid, List<FetchItem> items, FlagState? flags)
    {
        _w.Star().Number((ulong)seq).Atom("FETCH").OpenList();
        foreach (var item in items)
        {
            switch (item.Kind)
            {
                case FetchItemKind.Uid:
                    _w.Atom("UID").Number((ulong)uid);
                    break;
                case FetchItemKind.Flags:
                    _w.Atom("FLAGS").Flags(FlagNames(flags!.Flags, flags.Keywords, IsRecent(uid)));
                    break;
                case FetchItemKind.ModSeq:
                    _w.Atom("MODSEQ").OpenList().Number((ulong)flags!.ModSeq).CloseList();
                    break;
            }
        }

        _w.CloseList().EndLine();
    }

    /// <summary>The rows of a page of FETCH targets: one range read when they are dense, one by one when they are spread out.</summary>
    private async Task<IReadOnlyList<StoredMessage>> LoadFetchRowsAsync(List<(int Seq, long Uid)> page, long? changedSince)
    {
        var folderId = _selected!.FolderId;
        if (page[^1].Seq - page[0].Seq + 1 <= 4 * page.Count)
        {
            return await _services.Mailboxes.ListMessagesAsync(AccountId, folderId, page[0].Uid, page[^1].Uid, changedSince, Closed).ConfigureAwait(false);
        }

        var rows = new List<StoredMessage>(page.Count);
        foreach (var (_, uid) in page)
        {
            if (await _services.Mailboxes.GetMessageAsync(AccountId, folderId, uid, Closed).ConfigureAwait(false) is { } row && (changedSince is null || row.ModSeq > changedSince))
            {
                rows.Add(row);
            }
        }

        return rows;
    }

    private async Task WriteVanishedEarlierAsync(SequenceSet uidSet, long since)
    {
        var expunged = await _services.Mailboxes.ListExpungedAsync(AccountId, _selected!.FolderId, since, Closed).ConfigureAwait(false);
        if (expunged.Count == 0)
        {
            return;
        }

        var max = (uint)Math.Min(Math.Max(expunged[^1], _selected.MaxUid), uint.MaxValue);
        var inSet = expunged.Where(u => uidSet.IsSavedResult || uidSet.Contains((uint)u, max)).Select(u => (uint)u).ToList();
        if (inSet.Count > 0 && SequenceSet.FromNumbers(inSet) is { } set)
        {
            _w.Star().Atom("VANISHED").OpenList().Atom("EARLIER").CloseList().SequenceSet(set).EndLine();
        }
    }

    private async Task<(string Text, ImapResponseCode Code)?> WriteFetchAsync(int seq, long uid, List<FetchItem> items, StoredMessage? row, FlagState? flags, bool flagsChanged)
    {
        MessageSummary? summary = null;
        byte[]? content = null;
        MimeMessage? parsed = null;
        var wroteFlags = false;

        async Task<byte[]> Content()
        {
            content ??= await LoadContentAsync(row!).ConfigureAwait(false);
            return content;
        }

        async Task<MimeMessage> Parsed()
        {
            parsed ??= MimeMessage.Parse(await Content().ConfigureAwait(false));
            return parsed;
        }

        async Task<MessageSummary> Summary()
        {
            if (summary is not null)
            {
                return summary;
            }

            summary = MessageSummary.FromJson(row!.Summary);
            if (summary is null)
            {
                summary = BuildSummary(await Parsed().ConfigureAwait(false));
                await _services.Mailboxes.SetSummaryAsync(AccountId, row.FolderId, row.Uid, summary.ToJson(), Closed).ConfigureAwait(false);
            }

            return summary;
        }

        // Check the parts that can fail before anything of this message is written.
        foreach (var item in items)
        {
            if (item.Kind is FetchItemKind.Binary or FetchItemKind.BinarySize && item.BinaryPart is { Count: > 0 } part)
            {
                var entity = FindPart(await Parsed().ConfigureAwait(false), part);
                if (entity is not null && !KnownEncodings.Contains(entity.TransferEncoding))
                {
                    return ("Unknown content transfer encoding", ImapResponseCode.UnknownCte);
                }
            }
        }

        _w.Star().Number((ulong)seq).Atom("FETCH").OpenList();
        foreach (var item in items)
        {
            switch (item.Kind)
            {
                case FetchItemKind.Uid:
                    _w.Atom("UID").Number((ulong)uid);
                    break;
                case FetchItemKind.Flags:
                    _w.Atom("FLAGS").Flags(FlagNames(flags!.Flags, flags.Keywords, IsRecent(uid)));
                    wroteFlags = true;
                    break;
                case FetchItemKind.ModSeq:
                    _w.Atom("MODSEQ").OpenList().Number((ulong)flags!.ModSeq).CloseList();
                    break;
                case FetchItemKind.InternalDate:
                    _w.Atom("INTERNALDATE").DateTime(row!.InternalDate);
                    break;
                case FetchItemKind.SaveDate:
                    _w.Atom("SAVEDATE");
                    if (row!.SavedDate is { } saved)
                    {
                        _w.DateTime(saved);
                    }
                    else
                    {
                        _w.Nil();
                    }

                    break;
                case FetchItemKind.Rfc822Size:
                    _w.Atom("RFC822.SIZE").Number((ulong)row!.Size);
                    break;
                case FetchItemKind.Envelope:
                    _w.Atom("ENVELOPE");
                    Syntax((await Summary().ConfigureAwait(false)).Envelope);
                    break;
                case FetchItemKind.BodyStructure:
                    _w.Atom("BODYSTRUCTURE");
                    Syntax((await Summary().ConfigureAwait(false)).BodyStructure);
                    break;
                case FetchItemKind.Body:
                    _w.Atom("BODY");
                    Syntax((await Summary().ConfigureAwait(false)).Body);
                    break;
                case FetchItemKind.Rfc822:
                    _w.Atom("RFC822");
                    WriteBytes(await Content().ConfigureAwait(false));
                    break;
                case FetchItemKind.Rfc822Header:
                    _w.Atom("RFC822.HEADER");
                    WriteBytes(ImapView.Section(await Parsed().ConfigureAwait(false), "HEADER") ?? []);
                    break;
                case FetchItemKind.Rfc822Text:
                    _w.Atom("RFC822.TEXT");
                    WriteBytes(ImapView.Section(await Parsed().ConfigureAwait(false), "TEXT") ?? []);
                    break;
                case FetchItemKind.BodySection:
                    {
                        var section = item.Section ?? FetchSection.Whole;
                        var bytes = section.Part.Count == 0 && section.Text == SectionText.None
                            ? await Content().ConfigureAwait(false)
                            : ImapView.Section(await Parsed().ConfigureAwait(false), section.ToString()) ?? [];
                        var name = "BODY[" + section + "]";
                        if (item.Partial is { } p)
                        {
                            name += "<" + p.Offset.ToString(CultureInfo.InvariantCulture) + ">";
                            bytes = ImapView.Partial(bytes, p.Offset, p.Length);
                        }

                        _w.Atom(name);
                        WriteBytes(bytes);
                        break;
                    }

                case FetchItemKind.Binary:
                case FetchItemKind.BinarySize:
                    {
                        var part = item.BinaryPart ?? [];
                        byte[]? bytes;
                        if (part.Count == 0)
                        {
                            bytes = await Content().ConfigureAwait(false);
                        }
                        else
                        {
                            var entity = FindPart(await Parsed().ConfigureAwait(false), part);
                            bytes = entity is null ? null : entity.Kind == MimeBodyKind.Leaf ? entity.GetContent() : entity.RawBody.ToArray();
                        }

                        var partText = string.Join('.', part);
                        if (item.Kind == FetchItemKind.BinarySize)
                        {
                            _w.Atom("BINARY.SIZE[" + partText + "]").Number((ulong)(bytes?.Length ?? 0));
                            break;
                        }

                        var name = "BINARY[" + partText + "]";
                        bytes ??= [];
                        if (item.Partial is { } p)
                        {
                            name += "<" + p.Offset.ToString(CultureInfo.InvariantCulture) + ">";
                            bytes = ImapView.Partial(bytes, p.Offset, p.Length);
                        }

                        _w.Atom(name);
                        if (bytes.AsSpan().Contains((byte)0))
                        {
                            _w.Literal8(bytes);
                        }
                        else
                        {
                            WriteBytes(bytes);
                        }

                        break;
                    }
            }
        }

        if (flagsChanged && !wroteFlags && flags is not null && _selected!.Reported.TryGetValue(uid, out var reported) && reported == flags.ModSeq)
        {
            // \Seen was just set by this FETCH: the client learns it in the same response (RFC 9051 §6.4.5).
            _w.Atom("FLAGS").Flags(FlagNames(flags.Flags, flags.Keywords, IsRecent(uid)));
        }

        _w.CloseList().EndLine();
        return null;
    }

    private void WriteBytes(byte[] bytes)
    {
        if (bytes.AsSpan().Contains((byte)0))
        {
            // A plain literal must not carry NUL (RFC 9051 §4.3): as Dovecot does, 0x80 stands in for it
            // (BINARY[] gives the octets as they are, in a literal8).
            bytes = (byte[])bytes.Clone();
            bytes.AsSpan().Replace((byte)0, (byte)0x80);
        }

        _w.LiteralHeader(bytes.Length);
        _w.RawBytes(bytes);
    }

    /// <summary>Protocol syntax built by ImapView (an ENVELOPE or BODYSTRUCTURE list), written as it is after a space.</summary>
    private void Syntax(string text)
    {
        _w.RawBytes(" "u8);
        _w.RawBytes(System.Text.Encoding.UTF8.GetBytes(text));
    }

    /// <summary>The whole stored message: the per-recipient trace prefix followed by the blob (only the prefix when the blob is gone).</summary>
    private async Task<byte[]> LoadContentAsync(StoredMessage message)
    {
        var stream = await _services.Blobs.OpenAsync(message, Closed).ConfigureAwait(false);
        if (stream is null)
        {
            return message.HeaderPrefix.ToArray();
        }

        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[message.Size];
            var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, Closed).ConfigureAwait(false);
            return read == buffer.Length ? buffer : buffer[..read];
        }
    }

    /// <summary>The part a BINARY part number names (RFC 3516 / RFC 9051 §6.4.5 numbering).</summary>
    private static MimeEntity? FindPart(MimeMessage message, IReadOnlyList<uint> part)
    {
        var container = message.Root;
        MimeEntity? selected = null;
        foreach (var n in part)
        {
            MimeEntity next;
            if (container.Kind == MimeBodyKind.Multipart && container.Children.Count > 0)
            {
                if (n < 1 || n > container.Children.Count)
                {
                    return null;
                }

                next = container.Children[(int)n - 1];
            }
            else if (n == 1)
            {
                next = container;
            }
            else
            {
                return null;
            }

            selected = next;
            container = next.Kind == MimeBodyKind.Message && next.Message is not null ? next.Message : next;
        }

        return selected;
    }

    internal static MessageSummary BuildSummary(MimeMessage message) => MessageSummary.Build(message);
}
