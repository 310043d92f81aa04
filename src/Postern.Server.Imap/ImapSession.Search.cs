using System.Text;
using Postern.Core.Storage.Mailboxes;
using Postern.Mime;
using Postern.Mime.Views;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    private static readonly string[] SearchCharsets = ["US-ASCII", "UTF-8"];

    /// <summary>How many messages one store call loads while a search or sort walks a folder.</summary>
    private const int SearchPage = 1000;

    private async Task SearchAsync(SearchCommand command)
    {
        var selected = _selected!;
        var save = command.Return is { } r && r.HasFlag(SearchReturnOptions.Save);
        if (command.Charset is { } charset && !SearchCharsets.Contains(charset, StringComparer.OrdinalIgnoreCase))
        {
            if (save)
            {
                selected.SavedResult = [];
            }

            No(command.Tag, "Unsupported charset", ImapResponseCode.BadCharset(SearchCharsets));
            return;
        }

        var (matches, usesModSeq) = await RunSearchAsync(command.Criteria).ConfigureAwait(false);
        if (usesModSeq)
        {
            _condStore = true;
        }

        if (command.Return is not { } options)
        {
            _w.Star().Atom("SEARCH");
            foreach (var m in matches)
            {
                _w.Number(command.Uid ? (ulong)m.Uid : (ulong)m.Seq);
            }

            if (usesModSeq && matches.Count > 0)
            {
                _w.OpenList().Atom("MODSEQ").Number((ulong)matches.Max(m => m.Flags.ModSeq)).CloseList();
            }

            _w.EndLine();
        }
        else
        {
            WriteSearchResult(command.Tag, command.Uid, options, command.Partial, matches, usesModSeq);
        }

        await UpdatesAsync(allowExpunge: command.Uid).ConfigureAwait(false);
        Ok(command.Tag, "SEARCH completed");
    }

    /// <summary>
    /// The ESEARCH answer (RFC 4731; PARTIAL RFC 9394) for SEARCH or SORT with RETURN, and the SEARCHRES saved
    /// result (RFC 5182). <paramref name="matches"/> is in result order: ascending for SEARCH, sort order for SORT.
    /// </summary>
    private void WriteSearchResult(string tag, bool uid, SearchReturnOptions options, PartialRange? partial, IReadOnlyList<SearchSubject> matches, bool usesModSeq)
    {
        var selected = _selected!;
        if (options == SearchReturnOptions.None)
        {
            options = SearchReturnOptions.All;
        }

        if (options.HasFlag(SearchReturnOptions.Save))
        {
            // SAVE with only MIN and/or MAX keeps just those (RFC 5182 §2.4); otherwise every match.
            var onlyEnds = (options & (SearchReturnOptions.All | SearchReturnOptions.Count | SearchReturnOptions.Partial)) == 0
                && (options & (SearchReturnOptions.Min | SearchReturnOptions.Max)) != 0;
            if (onlyEnds && matches.Count > 0)
            {
                var ends = new List<long>();
                if (options.HasFlag(SearchReturnOptions.Min))
                {
                    ends.Add(matches[0].Uid);
                }

                if (options.HasFlag(SearchReturnOptions.Max))
                {
                    ends.Add(matches[^1].Uid);
                }

                selected.SavedResult = [.. ends.Distinct().Order()];
            }
            else
            {
                selected.SavedResult = [.. matches.Select(m => m.Uid).Order()];
            }

            if ((options & ~SearchReturnOptions.Save) == 0)
            {
                return;
            }
        }

        ulong Number(SearchSubject m) => uid ? (ulong)m.Uid : (ulong)m.Seq;
        _w.Star().Atom("ESEARCH").OpenList().Atom("TAG").String(tag).CloseList();
        if (uid)
        {
            _w.Atom("UID");
        }

        if (matches.Count > 0 && options.HasFlag(SearchReturnOptions.Min))
        {
            _w.Atom("MIN").Number(Number(matches[0]));
        }

        if (matches.Count > 0 && options.HasFlag(SearchReturnOptions.Max))
        {
            _w.Atom("MAX").Number(Number(matches[^1]));
        }

        if (options.HasFlag(SearchReturnOptions.Count))
        {
            _w.Atom("COUNT").Number((ulong)matches.Count);
        }

        if (matches.Count > 0 && options.HasFlag(SearchReturnOptions.All))
        {
            _w.Atom("ALL").Atom(OrderedSet(matches.Select(Number)));
        }

        if (options.HasFlag(SearchReturnOptions.Partial) && partial is { } range)
        {
            _w.Atom("PARTIAL").OpenList().Atom(range.First + ":" + range.Last);
            var window = PartialWindow(matches, range);
            if (window.Count == 0)
            {
                _w.Nil();
            }
            else
            {
                _w.Atom(OrderedSet(window.Select(Number)));
            }

            _w.CloseList();
        }

        if (usesModSeq && matches.Count > 0)
        {
            _w.Atom("MODSEQ").Number((ulong)matches.Max(m => m.Flags.ModSeq));
        }

        _w.EndLine();
    }

    /// <summary>The results a PARTIAL range names: 1-based positions, negative ones counted from the end (RFC 9394 §3.1).</summary>
    private static List<SearchSubject> PartialWindow(IReadOnlyList<SearchSubject> matches, PartialRange range)
    {
        long first = Math.Min(Math.Abs(range.First), Math.Abs(range.Last)), last = Math.Max(Math.Abs(range.First), Math.Abs(range.Last));
        var fromEnd = range.First < 0;
        var window = new List<SearchSubject>();
        for (var p = first; p <= last && p <= matches.Count; p++)
        {
            window.Add(fromEnd ? matches[(int)(matches.Count - p)] : matches[(int)(p - 1)]);
        }

        if (fromEnd)
        {
            window.Reverse();
        }

        return window;
    }

    /// <summary>A sequence-set keeping the order given: only ascending runs of consecutive numbers become ranges.</summary>
    private static string OrderedSet(IEnumerable<ulong> numbers)
    {
        var sb = new StringBuilder();
        ulong start = 0, end = 0;
        var open = false;
        void Close()
        {
            if (sb.Length > 0)
            {
                sb.Append(',');
            }

            sb.Append(start);
            if (end != start)
            {
                sb.Append(':').Append(end);
            }
        }

        foreach (var n in numbers)
        {
            if (open && n == end + 1)
            {
                end = n;
                continue;
            }

            if (open)
            {
                Close();
            }

            start = end = n;
            open = true;
        }

        if (open)
        {
            Close();
        }

        return sb.ToString();
    }

    /// <summary>
    /// The messages of the selected folder that match, ascending. Flags decide first; the stored rows are loaded
    /// only for messages the flags could not decide, and the message itself only for those its row could not.
    /// </summary>
    private async Task<(List<SearchSubject> Matches, bool UsesModSeq)> RunSearchAsync(SearchKey criteria)
    {
        var selected = _selected!;
        var evaluator = new SearchEvaluator(criteria, selected, _services.Time.GetUtcNow());
        foreach (var key in evaluator.IndexableKeys())
        {
            if (await _services.Mailboxes.SearchTextAsync(AccountId, selected.FolderId, key.Value, Closed).ConfigureAwait(false) is { } candidates)
            {
                evaluator.SetCandidates(key, candidates);
            }
        }

        var matches = new List<SearchSubject>();
        if (selected.Count == 0)
        {
            return (matches, evaluator.UsesModSeq);
        }

        var index = await _services.FolderIndex.GetAsync(AccountId, selected.FolderId, Closed).ConfigureAwait(false);
        if (index is null)
        {
            return (matches, evaluator.UsesModSeq);
        }

        var undecided = new List<SearchSubject>();
        var uids = selected.Uids;
        for (var i = 0; i < uids.Count; i++)
        {
            // A message another session expunged, not yet reported to this one, matches nothing.
            if (index.Find(uids[i]) is { } state)
            {
                var subject = new SearchSubject(i + 1, uids[i], state);
                switch (evaluator.Match(subject))
                {
                    case true:
                        matches.Add(subject);
                        break;
                    case null:
                        undecided.Add(subject);
                        break;
                }
            }
        }

        await LoadRowsAsync(undecided, evaluator.RequiredSummaryText()).ConfigureAwait(false);
        foreach (var subject in undecided)
        {
            if (subject.Row is null)
            {
                continue;
            }

            var result = evaluator.Match(subject);
            if (result is null)
            {
                subject.Parsed = MimeMessage.Parse(await LoadContentAsync(subject.Row).ConfigureAwait(false));
                result = evaluator.Match(subject) ?? false;
                subject.Release();
                await KeepBuiltSummaryAsync(subject).ConfigureAwait(false);
            }

            if (result == true)
            {
                matches.Add(subject);
            }
        }

        matches.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        return (matches, evaluator.UsesModSeq);
    }

    /// <summary>
    /// Loads the stored rows of <paramref name="subjects"/> (ascending), a page of UIDs per store call. With
    /// <paramref name="summaryText"/>, the store leaves out rows whose summary cannot hold it: those subjects stay
    /// without a row and so match nothing.
    /// </summary>
    private async Task LoadRowsAsync(List<SearchSubject> subjects, string? summaryText = null)
    {
        for (var start = 0; start < subjects.Count; start += SearchPage)
        {
            var page = subjects.GetRange(start, Math.Min(SearchPage, subjects.Count - start));
            var span = page[^1].Seq - page[0].Seq + 1;
            if (span <= 4 * page.Count)
            {
                var rows = new Dictionary<long, StoredMessage>();
                var found = summaryText is null
                    ? await _services.Mailboxes.ListMessagesAsync(AccountId, _selected!.FolderId, page[0].Uid, page[^1].Uid, null, Closed).ConfigureAwait(false)
                    : await _services.Mailboxes.ListMessagesBySummaryAsync(AccountId, _selected!.FolderId, page[0].Uid, page[^1].Uid, MessageSummary.VersionPrefix, summaryText, Closed).ConfigureAwait(false);
                foreach (var row in found)
                {
                    rows[row.Uid] = row;
                }

                foreach (var s in page)
                {
                    Attach(s, rows.GetValueOrDefault(s.Uid));
                }
            }
            else
            {
                // Few messages spread over a wide range: one by one beats reading everything between them.
                foreach (var s in page)
                {
                    Attach(s, await _services.Mailboxes.GetMessageAsync(AccountId, _selected!.FolderId, s.Uid, Closed).ConfigureAwait(false));
                }
            }
        }

        static void Attach(SearchSubject s, StoredMessage? row)
        {
            s.Row = row;
            if (row is not null)
            {
                s.Flags = new FlagState(row.Uid, row.Flags, row.Keywords, row.ModSeq);
            }
        }
    }

    /// <summary>A summary built because the row had none is stored, so the next search or FETCH finds it.</summary>
    private async Task KeepBuiltSummaryAsync(SearchSubject subject)
    {
        if (subject.SummaryBuilt && subject.Summary is { } summary && subject.Row is { } row)
        {
            await _services.Mailboxes.SetSummaryAsync(AccountId, row.FolderId, row.Uid, summary.ToJson(), Closed).ConfigureAwait(false);
        }
    }

    /// <summary>Rows and summaries for every match (SORT and THREAD keys); messages without a stored summary are parsed once.</summary>
    private async Task<List<SearchSubject>> WithSummariesAsync(List<SearchSubject> matches)
    {
        await LoadRowsAsync(matches.Where(m => m.Row is null).ToList()).ConfigureAwait(false);
        var ready = new List<SearchSubject>(matches.Count);
        foreach (var m in matches)
        {
            if (m.Row is null)
            {
                continue;
            }

            if (m.Summary is null)
            {
                m.Parsed = MimeMessage.Parse(await LoadContentAsync(m.Row).ConfigureAwait(false));
                m.Release();
                await KeepBuiltSummaryAsync(m).ConfigureAwait(false);
            }

            ready.Add(m);
        }

        return ready;
    }

    private async Task SortAsync(SortCommand command)
    {
        var selected = _selected!;
        var save = command.Return is { } r && r.HasFlag(SearchReturnOptions.Save);
        if (!SearchCharsets.Contains(command.Charset, StringComparer.OrdinalIgnoreCase))
        {
            if (save)
            {
                selected.SavedResult = [];
            }

            No(command.Tag, "Unsupported charset", ImapResponseCode.BadCharset(SearchCharsets));
            return;
        }

        var (found, usesModSeq) = await RunSearchAsync(command.Criteria).ConfigureAwait(false);
        if (usesModSeq)
        {
            _condStore = true;
        }

        var matches = await WithSummariesAsync(found).ConfigureAwait(false);
        var keys = matches.ToDictionary(m => m, m => SortKeys.Of(m, command.Order));
        matches.Sort((a, b) => SortKeys.Compare(keys[a], keys[b], command.Order, a.Seq, b.Seq));
        if (command.Return is not { } options)
        {
            _w.Star().Atom("SORT");
            foreach (var m in matches)
            {
                _w.Number(command.Uid ? (ulong)m.Uid : (ulong)m.Seq);
            }

            if (usesModSeq && matches.Count > 0)
            {
                _w.OpenList().Atom("MODSEQ").Number((ulong)matches.Max(m => m.Flags.ModSeq)).CloseList();
            }

            _w.EndLine();
        }
        else
        {
            WriteSearchResult(command.Tag, command.Uid, options, command.Partial, matches, usesModSeq);
        }

        await UpdatesAsync(allowExpunge: command.Uid).ConfigureAwait(false);
        Ok(command.Tag, "SORT completed");
    }

    private async Task ThreadAsync(ThreadCommand command)
    {
        if (command.Algorithm is not ("ORDEREDSUBJECT" or "REFERENCES"))
        {
            Bad(command.Tag, "Unknown threading algorithm");
            return;
        }

        if (!SearchCharsets.Contains(command.Charset, StringComparer.OrdinalIgnoreCase))
        {
            No(command.Tag, "Unsupported charset", ImapResponseCode.BadCharset(SearchCharsets));
            return;
        }

        var (found, usesModSeq) = await RunSearchAsync(command.Criteria).ConfigureAwait(false);
        if (usesModSeq)
        {
            _condStore = true;
        }

        var messages = (await WithSummariesAsync(found).ConfigureAwait(false)).Select(m =>
        {
            var s = m.Summary!;
            return new ThreadMessage(m.Seq, m.Uid, s.MessageId, s.References, s.InReplyTo, s.Subject, s.Date ?? m.Row!.InternalDate);
        }).ToList();
        var roots = command.Algorithm == "REFERENCES" ? MessageThreader.References(messages) : MessageThreader.OrderedSubject(messages);
        _w.Star().Atom("THREAD");
        if (roots.Count > 0)
        {
            _w.RawBytes(Encoding.ASCII.GetBytes(" " + MessageThreader.Format(roots, command.Uid)));
        }

        _w.EndLine();
        await UpdatesAsync(allowExpunge: command.Uid).ConfigureAwait(false);
        Ok(command.Tag, "THREAD completed");
    }
}

/// <summary>SORT keys (RFC 5256 §3; DISPLAYFROM/DISPLAYTO RFC 5957), computed once per message.</summary>
internal static class SortKeys
{
    public static object[] Of(SearchSubject m, IReadOnlyList<SortCriterion> order)
    {
        var s = m.Summary!;
        var row = m.Row!;
        var keys = new object[order.Count];
        for (var i = 0; i < order.Count; i++)
        {
            keys[i] = order[i].Key switch
            {
                SortKey.Arrival => row.InternalDate.UtcTicks,
                SortKey.Date => (s.Date ?? row.InternalDate).UtcTicks,
                SortKey.Size => row.Size,
                SortKey.Subject => BaseSubject.Of(s.Subject),
                SortKey.From => s.FirstFrom?.Mailbox ?? string.Empty,
                SortKey.To => s.FirstTo?.Mailbox ?? string.Empty,
                SortKey.Cc => s.FirstCc?.Mailbox ?? string.Empty,
                SortKey.DisplayFrom => Display(s.FirstFrom),
                SortKey.DisplayTo => Display(s.FirstTo),
                _ => 0L,
            };
        }

        return keys;
    }

    /// <summary>Key by key, REVERSE where asked; ties in mailbox order (RFC 5256 §3: "the order in which they appear").</summary>
    public static int Compare(object[] a, object[] b, IReadOnlyList<SortCriterion> order, int seqA, int seqB)
    {
        for (var i = 0; i < order.Count; i++)
        {
            var c = a[i] is string x ? string.Compare(x, (string)b[i], StringComparison.OrdinalIgnoreCase) : ((long)a[i]).CompareTo((long)b[i]);
            if (c != 0)
            {
                return order[i].Reverse ? -c : c;
            }
        }

        return seqA.CompareTo(seqB);
    }

    /// <summary>The display name when there is one, else the address (RFC 5957 §3.1).</summary>
    private static string Display(SummaryAddress? address) => address switch
    {
        null => string.Empty,
        { DisplayName: { Length: > 0 } name } => name,
        { Host: { Length: > 0 } host } => (address.Mailbox ?? string.Empty) + "@" + host,
        _ => address.Mailbox ?? string.Empty,
    };
}
