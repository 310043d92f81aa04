namespace Postern.Protocols.Imap;

/// <summary>The commands the parser knows (RFC 9051, RFC 3501 and the extensions Postern serves).</summary>
public enum ImapCommandName
{
    Unknown,
    Capability,
    Noop,
    Logout,
    StartTls,
    Authenticate,
    Login,
    Enable,
    Select,
    Examine,
    Create,
    Delete,
    Rename,
    Subscribe,
    Unsubscribe,
    List,
    Lsub,
    Namespace,
    Status,
    Append,
    Idle,
    Check,
    Close,
    Unselect,
    Expunge,
    Search,
    Fetch,
    Store,
    Copy,
    Move,
    Sort,
    Thread,
    GetQuota,
    GetQuotaRoot,
    SetQuota,
    GetAcl,
    SetAcl,
    DeleteAcl,
    ListRights,
    MyRights,
    Id,
    Compress,
}

/// <summary>
/// A parsed command: its tag, its name and, for COPY/MOVE/FETCH/SEARCH/STORE/EXPUNGE/SORT/THREAD,
/// whether it came with the UID prefix. Mailbox names are as sent on the wire (modified UTF-7 or, after
/// ENABLE UTF8=ACCEPT, UTF-8; <c>INBOX</c> in any case is normalised to <c>INBOX</c>): decode them with
/// <see cref="MailboxNameCodec"/>. Commands own their data: nothing refers to the reader's buffers.
/// </summary>
public abstract record ImapCommand(string Tag, ImapCommandName Name)
{
    /// <summary>The command came as <c>UID COPY</c>, <c>UID FETCH</c>, ... (UID semantics for its sequence set).</summary>
    public bool Uid { get; init; }
}

/// <summary>A command without arguments: CAPABILITY, NOOP, LOGOUT, STARTTLS, NAMESPACE, IDLE, CHECK, CLOSE, UNSELECT, EXPUNGE.</summary>
public sealed record SimpleCommand(string Tag, ImapCommandName Name) : ImapCommand(Tag, Name);

/// <summary>A command the parser does not know (the session answers BAD).</summary>
public sealed record UnknownCommand(string Tag, string Verb) : ImapCommand(Tag, ImapCommandName.Unknown);

/// <summary>AUTHENTICATE mechanism [initial-response] (RFC 4959 SASL-IR: <c>=</c> is an empty response, given as "").</summary>
public sealed record AuthenticateCommand(string Tag, string Mechanism, string? InitialResponse) : ImapCommand(Tag, ImapCommandName.Authenticate)
{
    public override string ToString() => $"{Tag} AUTHENTICATE {Mechanism}{(InitialResponse is null ? "" : " ***")}";
}

public sealed record LoginCommand(string Tag, string UserName, string Password) : ImapCommand(Tag, ImapCommandName.Login)
{
    public override string ToString() => $"{Tag} LOGIN {UserName} ***";
}

public sealed record EnableCommand(string Tag, IReadOnlyList<string> Capabilities) : ImapCommand(Tag, ImapCommandName.Enable);

/// <summary>QRESYNC parameters of SELECT/EXAMINE (RFC 7162 §3.2.5).</summary>
public sealed record QResyncParameters(uint UidValidity, ulong ModSeq, SequenceSet? KnownUids, SequenceSet? KnownSequenceNumbers, SequenceSet? KnownSequenceUids);

/// <summary>SELECT or EXAMINE (<see cref="ReadOnly"/>) with the CONDSTORE and QRESYNC parameters.</summary>
public sealed record SelectCommand(string Tag, string Mailbox, bool ReadOnly, bool CondStore, QResyncParameters? QResync)
    : ImapCommand(Tag, ReadOnly ? ImapCommandName.Examine : ImapCommandName.Select);

/// <summary>A command whose only argument is a mailbox (or a quota root): DELETE, SUBSCRIBE, UNSUBSCRIBE, GETQUOTA, GETQUOTAROOT, GETACL, MYRIGHTS.</summary>
public sealed record MailboxCommand(string Tag, ImapCommandName Name, string Mailbox) : ImapCommand(Tag, Name);

/// <summary>CREATE with the RFC 6154 USE attributes.</summary>
public sealed record CreateCommand(string Tag, string Mailbox, IReadOnlyList<string> SpecialUse) : ImapCommand(Tag, ImapCommandName.Create);

public sealed record RenameCommand(string Tag, string Mailbox, string NewName) : ImapCommand(Tag, ImapCommandName.Rename);

[Flags]
public enum ListSelectOptions
{
    None = 0,
    Subscribed = 1,
    Remote = 2,
    RecursiveMatch = 4,
    SpecialUse = 8,
}

[Flags]
public enum ListReturnOptions
{
    None = 0,
    Subscribed = 1,
    Children = 2,
    SpecialUse = 4,
    Status = 8,
    MyRights = 16,
}

/// <summary>
/// LIST (RFC 9051 and RFC 5258 LIST-EXTENDED: selection options, several patterns, RETURN options incl.
/// RFC 5819 STATUS) or LSUB. <see cref="Extended"/> says whether any extended syntax was used.
/// </summary>
public sealed record ListCommand(
    string Tag,
    ImapCommandName Name,
    string Reference,
    IReadOnlyList<string> Patterns,
    ListSelectOptions Selection,
    ListReturnOptions Return,
    StatusItems StatusItems,
    bool Extended) : ImapCommand(Tag, Name);

[Flags]
public enum StatusItems
{
    None = 0,
    Messages = 1,
    Recent = 2,
    UidNext = 4,
    UidValidity = 8,
    Unseen = 16,
    Deleted = 32,
    Size = 64,
    HighestModSeq = 128,
    AppendLimit = 256,
    MailboxId = 512,
    DeletedStorage = 1024,
}

public sealed record StatusCommand(string Tag, string Mailbox, StatusItems Items) : ImapCommand(Tag, ImapCommandName.Status);

/// <summary>
/// One message of APPEND (several with MULTIAPPEND). The bytes are not here: they reached the session as
/// <see cref="ImapReadStatus.LiteralStart"/>/<see cref="ImapReadStatus.LiteralData"/>/<see cref="ImapReadStatus.LiteralEnd"/>
/// with the same <see cref="Index"/>.
/// </summary>
public sealed record AppendMessage(int Index, IReadOnlyList<string> Flags, DateTimeOffset? InternalDate, long Length, bool Binary);

public sealed record AppendCommand(string Tag, string Mailbox, IReadOnlyList<AppendMessage> Messages) : ImapCommand(Tag, ImapCommandName.Append);

/// <summary>EXPUNGE, or UID EXPUNGE with its UID set (RFC 4315).</summary>
public sealed record ExpungeCommand(string Tag, SequenceSet UidSet) : ImapCommand(Tag, ImapCommandName.Expunge);

[Flags]
public enum SearchReturnOptions
{
    None = 0,
    Min = 1,
    Max = 2,
    All = 4,
    Count = 8,
    Save = 16,
    Partial = 32,
}

/// <summary>A PARTIAL range (RFC 9394): negative numbers count from the end.</summary>
public readonly record struct PartialRange(long First, long Last);

/// <summary>
/// SEARCH. <see cref="Return"/> is null for a plain SEARCH (untagged SEARCH answer) and set for
/// <c>RETURN (...)</c> (ESEARCH; an empty list means ALL, RFC 4731).
/// </summary>
public sealed record SearchCommand(string Tag, string? Charset, SearchKey Criteria, SearchReturnOptions? Return, PartialRange? Partial)
    : ImapCommand(Tag, ImapCommandName.Search);

public enum FetchItemKind
{
    Envelope,
    Flags,
    InternalDate,
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,

    /// <summary>BODY without a section: the non-extensible BODYSTRUCTURE.</summary>
    Body,
    BodyStructure,
    Uid,

    /// <summary>BODY[section]&lt;partial&gt; or BODY.PEEK[...] (<see cref="FetchItem.Peek"/>).</summary>
    BodySection,

    /// <summary>BINARY[part]&lt;partial&gt; or BINARY.PEEK[...] (RFC 3516).</summary>
    Binary,
    BinarySize,
    ModSeq,
    EmailId,
    ThreadId,
    SaveDate,
}

public enum SectionText
{
    /// <summary>The whole part (or message): <c>BODY[]</c>, <c>BODY[1.2]</c>.</summary>
    None,
    Header,
    HeaderFields,
    HeaderFieldsNot,
    Text,
    Mime,
}

/// <summary>A body section: part numbers (empty for the top level), what of it, and the header field names.</summary>
public sealed record FetchSection(IReadOnlyList<uint> Part, SectionText Text, IReadOnlyList<string> Fields)
{
    public static readonly FetchSection Whole = new([], SectionText.None, []);

    public bool Equals(FetchSection? other) =>
        other is not null && Text == other.Text && Part.SequenceEqual(other.Part) && Fields.SequenceEqual(other.Fields, StringComparer.OrdinalIgnoreCase);

    public override int GetHashCode() => HashCode.Combine(Text, Part.Count, Fields.Count);

    /// <summary>The section as it is echoed in the FETCH response, e.g. <c>1.2.HEADER.FIELDS (SUBJECT)</c>.</summary>
    public override string ToString()
    {
        var parts = string.Join('.', Part);
        var text = Text switch
        {
            SectionText.Header => "HEADER",
            SectionText.HeaderFields => $"HEADER.FIELDS ({string.Join(' ', Fields)})",
            SectionText.HeaderFieldsNot => $"HEADER.FIELDS.NOT ({string.Join(' ', Fields)})",
            SectionText.Text => "TEXT",
            SectionText.Mime => "MIME",
            _ => "",
        };
        return parts.Length == 0 ? text : text.Length == 0 ? parts : parts + "." + text;
    }
}

/// <summary>A partial fetch <c>&lt;offset.length&gt;</c>.</summary>
public readonly record struct FetchPartial(uint Offset, uint Length);

public sealed record FetchItem(FetchItemKind Kind)
{
    public bool Peek { get; init; }
    public FetchSection? Section { get; init; }
    public FetchPartial? Partial { get; init; }

    /// <summary>BINARY/BINARY.SIZE part numbers.</summary>
    public IReadOnlyList<uint>? BinaryPart { get; init; }

    public bool Equals(FetchItem? other) =>
        other is not null && Kind == other.Kind && Peek == other.Peek && Equals(Section, other.Section) && Partial == other.Partial
        && (BinaryPart ?? []).SequenceEqual(other.BinaryPart ?? []);

    public override int GetHashCode() => HashCode.Combine(Kind, Peek, Section, Partial);
}

public enum FetchMacro
{
    All,
    Fast,
    Full,
}

/// <summary>FETCH with its items (macros expanded, <see cref="Macro"/> says which) and the RFC 7162 modifiers.</summary>
public sealed record FetchCommand(string Tag, SequenceSet Set, IReadOnlyList<FetchItem> Items, ulong? ChangedSince, bool Vanished, FetchMacro? Macro)
    : ImapCommand(Tag, ImapCommandName.Fetch);

public enum StoreMode
{
    Replace,
    Add,
    Remove,
}

public sealed record StoreCommand(string Tag, SequenceSet Set, StoreMode Mode, bool Silent, IReadOnlyList<string> Flags, ulong? UnchangedSince)
    : ImapCommand(Tag, ImapCommandName.Store);

/// <summary>COPY or MOVE (RFC 6851).</summary>
public sealed record CopyCommand(string Tag, ImapCommandName Name, SequenceSet Set, string Mailbox) : ImapCommand(Tag, Name);

public enum SortKey
{
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

public readonly record struct SortCriterion(SortKey Key, bool Reverse);

/// <summary>SORT (RFC 5256; RETURN options for ESORT, RFC 5267).</summary>
public sealed record SortCommand(string Tag, IReadOnlyList<SortCriterion> Order, string Charset, SearchKey Criteria, SearchReturnOptions? Return, PartialRange? Partial)
    : ImapCommand(Tag, ImapCommandName.Sort);

/// <summary>THREAD (RFC 5256): the algorithm as sent, upper-cased (ORDEREDSUBJECT, REFERENCES, ...).</summary>
public sealed record ThreadCommand(string Tag, string Algorithm, string Charset, SearchKey Criteria) : ImapCommand(Tag, ImapCommandName.Thread);

public readonly record struct QuotaLimit(string Resource, ulong Limit);

/// <summary>SETQUOTA root (resource limit ...) (RFC 9208).</summary>
public sealed record SetQuotaCommand(string Tag, string Root, IReadOnlyList<QuotaLimit> Limits) : ImapCommand(Tag, ImapCommandName.SetQuota);

/// <summary>SETACL (identifier and rights), DELETEACL and LISTRIGHTS (identifier) (RFC 4314).</summary>
public sealed record AclCommand(string Tag, ImapCommandName Name, string Mailbox, string Identifier, string? Rights) : ImapCommand(Tag, Name);

/// <summary>ID (RFC 2971): null parameters for <c>ID NIL</c>.</summary>
public sealed record IdCommand(string Tag, IReadOnlyList<KeyValuePair<string, string?>>? Parameters) : ImapCommand(Tag, ImapCommandName.Id);

/// <summary>COMPRESS (RFC 4978): the mechanism, upper-cased.</summary>
public sealed record CompressCommand(string Tag, string Mechanism) : ImapCommand(Tag, ImapCommandName.Compress);
