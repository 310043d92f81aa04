using System.Globalization;

namespace Postern.Protocols.Imap;

public enum ImapStatus
{
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

/// <summary>
/// A response code, the bracketed part of a status response (RFC 9051 §7.1 and the extensions: UIDPLUS,
/// CONDSTORE/QRESYNC, QUOTA, APPENDLIMIT, RFC 5530 codes, ...). <see cref="Arguments"/> is written as is.
/// </summary>
public sealed record ImapResponseCode(string Name, string? Arguments = null)
{
    public static ImapResponseCode Alert { get; } = new("ALERT");
    public static ImapResponseCode TryCreate { get; } = new("TRYCREATE");
    public static ImapResponseCode ReadOnly { get; } = new("READ-ONLY");
    public static ImapResponseCode ReadWrite { get; } = new("READ-WRITE");
    public static ImapResponseCode Parse { get; } = new("PARSE");
    public static ImapResponseCode TooBig { get; } = new("TOOBIG");
    public static ImapResponseCode OverQuota { get; } = new("OVERQUOTA");
    public static ImapResponseCode Closed { get; } = new("CLOSED");
    public static ImapResponseCode NonExistent { get; } = new("NONEXISTENT");
    public static ImapResponseCode AlreadyExists { get; } = new("ALREADYEXISTS");
    public static ImapResponseCode AuthenticationFailed { get; } = new("AUTHENTICATIONFAILED");
    public static ImapResponseCode AuthorizationFailed { get; } = new("AUTHORIZATIONFAILED");
    public static ImapResponseCode Unavailable { get; } = new("UNAVAILABLE");
    public static ImapResponseCode Expired { get; } = new("EXPIRED");
    public static ImapResponseCode PrivacyRequired { get; } = new("PRIVACYREQUIRED");
    public static ImapResponseCode ContactAdmin { get; } = new("CONTACTADMIN");
    public static ImapResponseCode NoPerm { get; } = new("NOPERM");
    public static ImapResponseCode InUse { get; } = new("INUSE");
    public static ImapResponseCode ExpungeIssued { get; } = new("EXPUNGEISSUED");
    public static ImapResponseCode Corruption { get; } = new("CORRUPTION");
    public static ImapResponseCode ServerBug { get; } = new("SERVERBUG");
    public static ImapResponseCode ClientBug { get; } = new("CLIENTBUG");
    public static ImapResponseCode Cannot { get; } = new("CANNOT");
    public static ImapResponseCode Limit { get; } = new("LIMIT");
    public static ImapResponseCode UnknownCte { get; } = new("UNKNOWN-CTE");
    public static ImapResponseCode HasChildren { get; } = new("HASCHILDREN");
    public static ImapResponseCode NoModSeq { get; } = new("NOMODSEQ");
    public static ImapResponseCode UseAttr { get; } = new("USEATTR");
    public static ImapResponseCode NotSaved { get; } = new("NOTSAVED");
    public static ImapResponseCode CompressionActive { get; } = new("COMPRESSIONACTIVE");
    public static ImapResponseCode UidNotSticky { get; } = new("UIDNOTSTICKY");

    public static ImapResponseCode UidValidity(uint value) => new("UIDVALIDITY", Num(value));

    public static ImapResponseCode UidNext(uint value) => new("UIDNEXT", Num(value));

    public static ImapResponseCode Unseen(uint value) => new("UNSEEN", Num(value));

    public static ImapResponseCode HighestModSeq(ulong value) => new("HIGHESTMODSEQ", Num(value));

    /// <summary>RFC 4315: the UIDs the APPENDed messages got.</summary>
    public static ImapResponseCode AppendUid(uint uidValidity, SequenceSet uids) => new("APPENDUID", Num(uidValidity) + " " + uids);

    /// <summary>RFC 4315: source UIDs and the UIDs of the copies, in the same order.</summary>
    public static ImapResponseCode CopyUid(uint uidValidity, SequenceSet source, SequenceSet destination) =>
        new("COPYUID", Num(uidValidity) + " " + source + " " + destination);

    public static ImapResponseCode Modified(SequenceSet set) => new("MODIFIED", set.ToString());

    public static ImapResponseCode Capability(IEnumerable<string> capabilities) => new("CAPABILITY", string.Join(' ', capabilities));

    public static ImapResponseCode PermanentFlags(IEnumerable<string> flags) => new("PERMANENTFLAGS", "(" + string.Join(' ', flags) + ")");

    public static ImapResponseCode BadCharset(IEnumerable<string> supported) => new("BADCHARSET", "(" + string.Join(' ', supported) + ")");

    public static ImapResponseCode MailboxId(string id) => new("MAILBOXID", "(" + id + ")");

    public static ImapResponseCode AppendLimit(long limit) => new("APPENDLIMIT", Num((ulong)limit));

    public override string ToString() => Arguments is null ? Name : Name + " " + Arguments;

    private static string Num(ulong n) => n.ToString(CultureInfo.InvariantCulture);
}
