namespace Postern.Protocols.Imap;

public enum SearchKeyKind
{
    All,
    Answered,
    Deleted,
    Draft,
    Flagged,
    New,
    Old,
    Recent,
    Seen,
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unseen,

    Bcc,
    Body,
    Cc,
    From,
    Subject,
    Text,
    To,
    Keyword,
    Unkeyword,

    Before,
    On,
    Since,
    SentBefore,
    SentOn,
    SentSince,

    Larger,
    Smaller,

    Older,
    Younger,

    Header,
    SequenceSet,
    Uid,
    ModSeq,
    Not,
    Or,
    And,
    EmailId,
    ThreadId,
}

/// <summary>A search key of SEARCH/SORT/THREAD (RFC 9051 §6.4.4; MODSEQ RFC 7162, OLDER/YOUNGER RFC 5032, EMAILID/THREADID RFC 8474).</summary>
public abstract record SearchKey(SearchKeyKind Kind);

/// <summary>A key without an argument: ALL, ANSWERED, DELETED, ..., UNSEEN.</summary>
public sealed record FlagSearchKey(SearchKeyKind Kind) : SearchKey(Kind);

/// <summary>BCC, BODY, CC, FROM, SUBJECT, TEXT, TO (substring, case-insensitive), KEYWORD/UNKEYWORD (a keyword), EMAILID/THREADID.</summary>
public sealed record TextSearchKey(SearchKeyKind Kind, string Value) : SearchKey(Kind);

public sealed record HeaderSearchKey(string Field, string Value) : SearchKey(SearchKeyKind.Header);

/// <summary>BEFORE, ON, SINCE (internal date), SENTBEFORE, SENTON, SENTSINCE (Date: header).</summary>
public sealed record DateSearchKey(SearchKeyKind Kind, DateOnly Date) : SearchKey(Kind);

/// <summary>LARGER/SMALLER (octets) and OLDER/YOUNGER (seconds).</summary>
public sealed record NumberSearchKey(SearchKeyKind Kind, ulong Value) : SearchKey(Kind);

/// <summary>A sequence set (message numbers) or <c>UID</c> set; <c>$</c> is the saved result (RFC 5182).</summary>
public sealed record SetSearchKey(SearchKeyKind Kind, SequenceSet Set) : SearchKey(Kind);

/// <summary>MODSEQ [entry-name entry-type] value (RFC 7162).</summary>
public sealed record ModSeqSearchKey(ulong ModSeq, string? EntryName, string? EntryType) : SearchKey(SearchKeyKind.ModSeq);

public sealed record NotSearchKey(SearchKey Key) : SearchKey(SearchKeyKind.Not);

public sealed record OrSearchKey(SearchKey Left, SearchKey Right) : SearchKey(SearchKeyKind.Or);

/// <summary>All of the keys (a parenthesised group, or the keys of the command itself).</summary>
public sealed record AndSearchKey(IReadOnlyList<SearchKey> Keys) : SearchKey(SearchKeyKind.And)
{
    public bool Equals(AndSearchKey? other) => other is not null && Keys.SequenceEqual(other.Keys);

    public override int GetHashCode() => Keys.Count;
}
