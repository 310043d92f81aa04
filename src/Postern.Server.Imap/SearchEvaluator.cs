using System.Text;
using Postern.Core.Storage.Mailboxes;
using Postern.Mime;
using Postern.Mime.Views;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

/// <summary>
/// One message as a search sees it. What is known grows in three steps — flags (from the flag list),
/// the stored row (size, dates, cached summary), the parsed message — and each is loaded only when the
/// criteria could not be decided without it.
/// </summary>
internal sealed class SearchSubject(int seq, long uid, FlagState flags)
{
    private string? _text;
    private string? _body;
    private MessageSummary? _summary;

    public int Seq { get; } = seq;

    public long Uid { get; } = uid;

    public FlagState Flags { get; set; } = flags;

    public StoredMessage? Row { get; set; }

    public MimeMessage? Parsed { get; set; }

    /// <summary>The cached summary, or one built from the parsed message; null while neither is at hand.</summary>
    public MessageSummary? Summary
    {
        get
        {
            if (_summary is null && Row is not null)
            {
                _summary = MessageSummary.FromJson(Row.Summary);
            }

            if (_summary is null && Parsed is not null)
            {
                _summary = MessageSummary.Build(Parsed);
                SummaryBuilt = true;
            }

            return _summary;
        }
    }

    /// <summary>Whether the summary has been read or built already.</summary>
    public bool HasSummary => _summary is not null;

    /// <summary>True when <see cref="Summary"/> had to be built (the row had none): the caller may store it.</summary>
    public bool SummaryBuilt { get; private set; }

    /// <summary>
    /// Drops the parsed message and its text (a search holds one at a time), first building the summary when the
    /// row has none, so that the caller can store it.
    /// </summary>
    public void Release()
    {
        if (_summary is null && Parsed is not null && MessageSummary.FromJson(Row?.Summary) is null)
        {
            _summary = MessageSummary.Build(Parsed);
            SummaryBuilt = true;
        }

        Parsed = null;
        _text = null;
        _body = null;
    }

    /// <summary>The header fields and body text, uncapped (SEARCH TEXT).</summary>
    public string? Text => Parsed is null ? null : _text ??= MessageSearchText.Build(Parsed, int.MaxValue);

    /// <summary>The body text, uncapped (SEARCH BODY).</summary>
    public string? Body => Parsed is null ? null : _body ??= MessageSearchText.BuildBody(Parsed, int.MaxValue);
}

/// <summary>
/// Evaluates SEARCH criteria (RFC 9051 §6.4.4, MODSEQ RFC 7162, OLDER/YOUNGER RFC 5032, $ RFC 5182) in
/// three-valued logic: a key that needs data not yet loaded answers "unknown", and the caller loads more only
/// for the messages still unknown. Full-text candidates from the store's index decide BODY keys for the messages
/// the index rules out; the others are confirmed on the message, so IMAP's substring semantics hold.
/// </summary>
internal sealed class SearchEvaluator
{
    private readonly SearchKey _criteria;
    private readonly int _count;
    private readonly long _maxUid;
    private readonly HashSet<long> _recent;
    private readonly HashSet<long> _saved;
    private readonly DateTimeOffset _now;
    private readonly Dictionary<SearchKey, HashSet<long>> _candidates = new(ReferenceEqualityComparer.Instance);

    public SearchEvaluator(SearchKey criteria, SelectedFolder folder, DateTimeOffset now)
    {
        _criteria = criteria;
        _count = folder.Count;
        _maxUid = folder.MaxUid;
        _recent = folder.Recent;
        _saved = [.. folder.SavedResult];
        _now = now;
    }

    /// <summary>Whether any key uses the MODSEQ criterion (the answer then carries the highest modseq, RFC 7162 §3.1.5).</summary>
    public bool UsesModSeq => Any(_criteria, k => k.Kind == SearchKeyKind.ModSeq);

    /// <summary>Whether some key needs more than the flag list.</summary>
    public bool NeedsRows => Any(_criteria, k => k.Kind is not (SearchKeyKind.All or SearchKeyKind.Answered or SearchKeyKind.Deleted
        or SearchKeyKind.Draft or SearchKeyKind.Flagged or SearchKeyKind.New or SearchKeyKind.Old or SearchKeyKind.Recent
        or SearchKeyKind.Seen or SearchKeyKind.Unanswered or SearchKeyKind.Undeleted or SearchKeyKind.Undraft
        or SearchKeyKind.Unflagged or SearchKeyKind.Unseen or SearchKeyKind.Keyword or SearchKeyKind.Unkeyword
        or SearchKeyKind.SequenceSet or SearchKeyKind.Uid or SearchKeyKind.ModSeq or SearchKeyKind.Not or SearchKeyKind.Or
        or SearchKeyKind.And or SearchKeyKind.EmailId or SearchKeyKind.ThreadId));

    /// <summary>The BODY keys whose text is long enough for the full-text index to narrow.</summary>
    public IEnumerable<TextSearchKey> IndexableKeys()
    {
        var found = new List<TextSearchKey>();
        Any(_criteria, k =>
        {
            if (k is TextSearchKey { Kind: SearchKeyKind.Body } t && t.Value.EnumerateRunes().Count() >= 3)
            {
                found.Add(t);
            }

            return false;
        });
        return found;
    }

    /// <summary>
    /// A text every match's summary must hold: the value of a FROM/TO/CC/BCC/SUBJECT key that all matches must satisfy
    /// (a top-level key), when it can be looked for in the stored JSON as it is. Null when there is none.
    /// </summary>
    public string? RequiredSummaryText()
    {
        IEnumerable<SearchKey> required = _criteria is AndSearchKey and ? and.Keys : [_criteria];
        foreach (var key in required)
        {
            if (key is TextSearchKey { Kind: SearchKeyKind.From or SearchKeyKind.To or SearchKeyKind.Cc or SearchKeyKind.Bcc or SearchKeyKind.Subject } t
                && t.Value.Length > 0 && MessageSummary.IsVerbatimInJson(t.Value))
            {
                return t.Value;
            }
        }

        return null;
    }

    /// <summary>Records the index's candidates for a BODY key (a superset of the messages that match it).</summary>
    public void SetCandidates(SearchKey key, IEnumerable<long> uids) => _candidates[key] = [.. uids];

    /// <summary>True, false, or null when the message must be loaded further to decide.</summary>
    public bool? Match(SearchSubject m) => Eval(_criteria, m);

    private bool? Eval(SearchKey key, SearchSubject m)
    {
        var f = m.Flags.Flags;
        switch (key)
        {
            case AndSearchKey and:
                var result = (bool?)true;
                foreach (var k in and.Keys)
                {
                    var r = Eval(k, m);
                    if (r == false)
                    {
                        return false;
                    }

                    if (r is null)
                    {
                        result = null;
                    }
                }

                return result;
            case OrSearchKey or:
                var left = Eval(or.Left, m);
                if (left == true)
                {
                    return true;
                }

                var right = Eval(or.Right, m);
                return right == true ? true : left is null || right is null ? null : false;
            case NotSearchKey not:
                return !Eval(not.Key, m);
            case FlagSearchKey flag:
                return flag.Kind switch
                {
                    SearchKeyKind.All => true,
                    SearchKeyKind.Answered => f.HasFlag(MessageFlags.Answered),
                    SearchKeyKind.Deleted => f.HasFlag(MessageFlags.Deleted),
                    SearchKeyKind.Draft => f.HasFlag(MessageFlags.Draft),
                    SearchKeyKind.Flagged => f.HasFlag(MessageFlags.Flagged),
                    SearchKeyKind.Seen => f.HasFlag(MessageFlags.Seen),
                    SearchKeyKind.Unanswered => !f.HasFlag(MessageFlags.Answered),
                    SearchKeyKind.Undeleted => !f.HasFlag(MessageFlags.Deleted),
                    SearchKeyKind.Undraft => !f.HasFlag(MessageFlags.Draft),
                    SearchKeyKind.Unflagged => !f.HasFlag(MessageFlags.Flagged),
                    SearchKeyKind.Unseen => !f.HasFlag(MessageFlags.Seen),
                    SearchKeyKind.Recent => _recent.Contains(m.Uid),
                    SearchKeyKind.New => _recent.Contains(m.Uid) && !f.HasFlag(MessageFlags.Seen),
                    SearchKeyKind.Old => !_recent.Contains(m.Uid),
                    _ => false,
                };
            case TextSearchKey text:
                return EvalText(text, m);
            case HeaderSearchKey header:
                return m.Parsed is null ? null : HeaderContains(m.Parsed, header.Field, header.Value);
            case DateSearchKey date:
                return EvalDate(date, m);
            case NumberSearchKey number:
                return EvalNumber(number, m);
            case SetSearchKey set when set.Kind == SearchKeyKind.Uid:
                return set.Set.IsSavedResult ? _saved.Contains(m.Uid) : set.Set.Contains((uint)m.Uid, (uint)Math.Min(_maxUid, uint.MaxValue));
            case SetSearchKey set:
                return set.Set.IsSavedResult ? _saved.Contains(m.Uid) : set.Set.Contains((uint)m.Seq, (uint)_count);
            case ModSeqSearchKey modseq:
                return (ulong)m.Flags.ModSeq >= modseq.ModSeq;
            default:
                return false;
        }
    }

    private bool? EvalText(TextSearchKey key, SearchSubject m)
    {
        switch (key.Kind)
        {
            case SearchKeyKind.Keyword:
                return m.Flags.Keywords.Contains(key.Value, StringComparer.OrdinalIgnoreCase);
            case SearchKeyKind.Unkeyword:
                return !m.Flags.Keywords.Contains(key.Value, StringComparer.OrdinalIgnoreCase);
            case SearchKeyKind.Body:
                if (_candidates.TryGetValue(key, out var candidates) && !candidates.Contains(m.Uid))
                {
                    return false;
                }

                return m.Body is { } body ? Contains(body, key.Value) : null;
            case SearchKeyKind.Text:
                if (m.Row is { } row && Contains(Encoding.Latin1.GetString(row.HeaderPrefix.Span), key.Value))
                {
                    return true;
                }

                return m.Text is { } all ? Contains(all, key.Value) : null;
            case SearchKeyKind.From or SearchKeyKind.To or SearchKeyKind.Cc or SearchKeyKind.Bcc or SearchKeyKind.Subject:
                if (m.Row is { } stored && !m.HasSummary && !MessageSummary.MayContain(stored.Summary, key.Value))
                {
                    // The stored summary does not hold the text anywhere: no need to parse it.
                    return false;
                }

                if (m.Summary is not { } summary)
                {
                    return null;
                }

                var value = key.Kind switch
                {
                    SearchKeyKind.From => summary.From,
                    SearchKeyKind.To => summary.To,
                    SearchKeyKind.Cc => summary.Cc,
                    SearchKeyKind.Bcc => summary.Bcc,
                    _ => summary.Subject,
                };
                return value is not null && Contains(value, key.Value);
            default:
                // EMAILID/THREADID (RFC 8474): no object identifiers are advertised, so nothing has them.
                return false;
        }
    }

    private static bool? EvalDate(DateSearchKey key, SearchSubject m)
    {
        if (m.Row is null)
        {
            return null;
        }

        DateOnly date;
        if (key.Kind is SearchKeyKind.Before or SearchKeyKind.On or SearchKeyKind.Since)
        {
            // The internal date's own calendar day, time and zone disregarded (RFC 9051 §6.4.4).
            date = DateOnly.FromDateTime(m.Row.InternalDate.DateTime);
        }
        else
        {
            if (m.Summary is not { } summary)
            {
                return null;
            }

            // The Date: header's day in the zone it was written in; without one, the internal date (as SORT DATE does).
            date = DateOnly.FromDateTime((summary.Date ?? m.Row.InternalDate).DateTime);
        }

        return key.Kind switch
        {
            SearchKeyKind.Before or SearchKeyKind.SentBefore => date < key.Date,
            SearchKeyKind.On or SearchKeyKind.SentOn => date == key.Date,
            _ => date >= key.Date,
        };
    }

    private bool? EvalNumber(NumberSearchKey key, SearchSubject m)
    {
        if (m.Row is not { } row)
        {
            return null;
        }

        var age = (_now - row.InternalDate).TotalSeconds;
        return key.Kind switch
        {
            SearchKeyKind.Larger => (ulong)row.Size > key.Value,
            SearchKeyKind.Smaller => (ulong)row.Size < key.Value,
            SearchKeyKind.Older => age >= key.Value,
            SearchKeyKind.Younger => age <= key.Value,
            _ => false,
        };
    }

    /// <summary>HEADER field string: some field of that name contains the string; an empty string asks whether the field is there.</summary>
    private static bool HeaderContains(MimeMessage message, string field, string value)
    {
        foreach (var h in message.Headers)
        {
            if (h.IsField && h.Name.Equals(field, StringComparison.OrdinalIgnoreCase) && (value.Length == 0 || Contains(h.Value, value)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>IMAP's substring match: case-insensitive (header values come unfolded and decoded).</summary>
    internal static bool Contains(string haystack, string needle) => haystack.Contains(needle, StringComparison.OrdinalIgnoreCase);

    private static bool Any(SearchKey key, Func<SearchKey, bool> predicate) => key switch
    {
        AndSearchKey and => predicate(and) || and.Keys.Any(k => Any(k, predicate)),
        OrSearchKey or => predicate(or) || Any(or.Left, predicate) || Any(or.Right, predicate),
        NotSearchKey not => predicate(not) || Any(not.Key, predicate),
        _ => predicate(key),
    };
}
