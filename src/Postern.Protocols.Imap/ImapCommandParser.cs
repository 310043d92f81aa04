using System.Text;

namespace Postern.Protocols.Imap;

/// <summary>
/// What went wrong with a command: the session sends <c>tag BAD [code] text</c> (or NO for
/// <c>[TOOBIG]</c> APPEND literals), untagged when the tag could not be read, and closes the connection
/// (after <c>* BYE</c>) when <see cref="CloseConnection"/> is set. The text is generic: no client bytes.
/// </summary>
public sealed record ImapCommandError(string? Tag, ImapStatus Status, string? Code, string Text, bool CloseConnection = false);

/// <summary>
/// Parses one framed command (see <see cref="ImapCommandReader"/>) into a typed <see cref="ImapCommand"/>.
/// Total: every input gives a command or an error.
/// </summary>
public static class ImapCommandParser
{
    /// <summary>Parses a command given as text (tests, tools): literals as <c>{n}</c> CRLF + n bytes, no final CRLF.</summary>
    public static ImapCommand Parse(string command, ImapLimits? limits = null) =>
        Parse(Encoding.UTF8.GetBytes(command), limits, out var error) ?? throw new FormatException(error!.Text);

    public static ImapCommand? Parse(ReadOnlySpan<byte> command, ImapLimits? limits, out ImapCommandError? error)
    {
        limits ??= new ImapLimits();
        var tag = ReadTag(command, limits);
        error = null;
        if (tag is null)
        {
            error = new ImapCommandError(null, ImapStatus.Bad, null, "Invalid tag");
            return null;
        }

        var t = new ImapTokenizer(command, limits);
        try
        {
            t.Skip(tag.Length);
            t.Sp();
            var command2 = ParseCommand(ref t, tag);
            if (command2 is not UnknownCommand)
            {
                t.End();
            }

            return command2;
        }
        catch (ImapSyntaxException e)
        {
            error = new ImapCommandError(tag, ImapStatus.Bad, e.Code, e.Message);
            return null;
        }
    }

    /// <summary>The tag at the start of a command, or null if there is none that can be echoed.</summary>
    public static string? ReadTag(ReadOnlySpan<byte> command, ImapLimits limits)
    {
        var end = command.IndexOf((byte)' ');
        var tag = end < 0 ? command : command[..end];
        if (tag.IsEmpty || tag.Length > limits.MaxTagLength)
        {
            return null;
        }

        foreach (var b in tag)
        {
            // tag = 1*<any ASTRING-CHAR except "+">; ASCII only.
            if (b >= 0x80 || b == '+' || !ImapTokenizer.IsAStringChar(b))
            {
                return null;
            }
        }

        return Encoding.ASCII.GetString(tag);
    }

    private static ImapCommand ParseCommand(ref ImapTokenizer t, string tag)
    {
        var verb = t.AtomUpper();
        var uid = false;
        if (verb == "UID")
        {
            t.Sp();
            uid = true;
            verb = t.AtomUpper();
            if (verb is not ("COPY" or "MOVE" or "FETCH" or "SEARCH" or "STORE" or "EXPUNGE" or "SORT" or "THREAD"))
            {
                throw ImapTokenizer.Error("UID does not go with this command");
            }
        }

        ImapCommand command = verb switch
        {
            "CAPABILITY" => new SimpleCommand(tag, ImapCommandName.Capability),
            "NOOP" => new SimpleCommand(tag, ImapCommandName.Noop),
            "LOGOUT" => new SimpleCommand(tag, ImapCommandName.Logout),
            "STARTTLS" => new SimpleCommand(tag, ImapCommandName.StartTls),
            "NAMESPACE" => new SimpleCommand(tag, ImapCommandName.Namespace),
            "IDLE" => new SimpleCommand(tag, ImapCommandName.Idle),
            "CHECK" => new SimpleCommand(tag, ImapCommandName.Check),
            "CLOSE" => new SimpleCommand(tag, ImapCommandName.Close),
            "UNSELECT" => new SimpleCommand(tag, ImapCommandName.Unselect),
            "EXPUNGE" => uid ? ParseUidExpunge(ref t, tag) : new SimpleCommand(tag, ImapCommandName.Expunge),
            "AUTHENTICATE" => ParseAuthenticate(ref t, tag),
            "LOGIN" => ParseLogin(ref t, tag),
            "ENABLE" => ParseEnable(ref t, tag),
            "SELECT" => ParseSelect(ref t, tag, readOnly: false),
            "EXAMINE" => ParseSelect(ref t, tag, readOnly: true),
            "CREATE" => ParseCreate(ref t, tag),
            "DELETE" => ParseMailboxOnly(ref t, tag, ImapCommandName.Delete),
            "SUBSCRIBE" => ParseMailboxOnly(ref t, tag, ImapCommandName.Subscribe),
            "UNSUBSCRIBE" => ParseMailboxOnly(ref t, tag, ImapCommandName.Unsubscribe),
            "GETQUOTAROOT" => ParseMailboxOnly(ref t, tag, ImapCommandName.GetQuotaRoot),
            "GETACL" => ParseMailboxOnly(ref t, tag, ImapCommandName.GetAcl),
            "MYRIGHTS" => ParseMailboxOnly(ref t, tag, ImapCommandName.MyRights),
            "GETQUOTA" => ParseGetQuota(ref t, tag),
            "SETQUOTA" => ParseSetQuota(ref t, tag),
            "SETACL" => ParseAcl(ref t, tag, ImapCommandName.SetAcl),
            "DELETEACL" => ParseAcl(ref t, tag, ImapCommandName.DeleteAcl),
            "LISTRIGHTS" => ParseAcl(ref t, tag, ImapCommandName.ListRights),
            "RENAME" => ParseRename(ref t, tag),
            "LIST" => ParseList(ref t, tag, ImapCommandName.List),
            "LSUB" => ParseList(ref t, tag, ImapCommandName.Lsub),
            "STATUS" => ParseStatus(ref t, tag),
            "APPEND" => throw ImapTokenizer.Error("APPEND without a message literal"),
            "SEARCH" => ParseSearch(ref t, tag),
            "FETCH" => ParseFetch(ref t, tag),
            "STORE" => ParseStore(ref t, tag),
            "COPY" => ParseCopy(ref t, tag, ImapCommandName.Copy),
            "MOVE" => ParseCopy(ref t, tag, ImapCommandName.Move),
            "SORT" => ParseSort(ref t, tag),
            "THREAD" => ParseThread(ref t, tag),
            "ID" => ParseId(ref t, tag),
            "COMPRESS" => ParseCompress(ref t, tag),
            _ => new UnknownCommand(tag, verb),
        };

        return uid ? command with { Uid = true } : command;
    }

    private static ExpungeCommand ParseUidExpunge(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        return new ExpungeCommand(tag, t.SequenceSet());
    }

    private static AuthenticateCommand ParseAuthenticate(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var mechanism = t.AtomUpper();
        string? initial = null;
        if (t.TryConsume((byte)' '))
        {
            if (t.TryConsume((byte)'='))
            {
                initial = string.Empty;
            }
            else
            {
                initial = t.Atom();
                foreach (var c in initial)
                {
                    if (!char.IsAsciiLetterOrDigit(c) && c is not ('+' or '/' or '='))
                    {
                        throw ImapTokenizer.Error("The initial response is not base64");
                    }
                }
            }
        }

        return new AuthenticateCommand(tag, mechanism, initial);
    }

    private static LoginCommand ParseLogin(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var user = t.AString();
        t.Sp();
        var password = t.AString();
        return new LoginCommand(tag, user, password);
    }

    private static EnableCommand ParseEnable(ref ImapTokenizer t, string tag)
    {
        var capabilities = new List<string>();
        do
        {
            t.Sp();
            capabilities.Add(t.AtomUpper());
        }
        while (t.Peek() == ' ' && t.PeekAt(1) != 0);

        return new EnableCommand(tag, capabilities);
    }

    private static SelectCommand ParseSelect(ref ImapTokenizer t, string tag, bool readOnly)
    {
        t.Sp();
        var mailbox = t.Mailbox();
        var condStore = false;
        QResyncParameters? qresync = null;
        if (t.TryConsume((byte)' ') && t.Peek() == '(')
        {
            t.OpenList();
            do
            {
                var name = t.AtomUpper();
                switch (name)
                {
                    case "CONDSTORE":
                        condStore = true;
                        break;
                    case "QRESYNC":
                        t.Sp();
                        qresync = ParseQResync(ref t);
                        break;
                    default:
                        throw ImapTokenizer.Error("Unknown SELECT parameter");
                }
            }
            while (t.TryConsume((byte)' '));

            t.CloseList();
        }

        return new SelectCommand(tag, mailbox, readOnly, condStore, qresync);
    }

    private static QResyncParameters ParseQResync(ref ImapTokenizer t)
    {
        t.OpenList();
        var uidValidity = t.NzNumber();
        t.Sp();
        var modSeq = t.Number64();
        if (modSeq == 0)
        {
            throw ImapTokenizer.Error("QRESYNC needs a non-zero mod-sequence");
        }

        SequenceSet? known = null, seqs = null, uids = null;
        if (t.TryConsume((byte)' '))
        {
            if (t.Peek() != '(')
            {
                known = t.SequenceSet();
                t.TryConsume((byte)' ');
            }

            if (t.Peek() == '(')
            {
                t.OpenList();
                seqs = t.SequenceSet();
                t.Sp();
                uids = t.SequenceSet();
                t.CloseList();
            }
        }

        t.CloseList();
        return new QResyncParameters(uidValidity, modSeq, known, seqs, uids);
    }

    private static CreateCommand ParseCreate(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var mailbox = t.Mailbox();
        var uses = new List<string>();
        if (t.TryConsume((byte)' ') && t.Peek() == '(')
        {
            t.OpenList();
            do
            {
                t.Keyword("USE");
                t.Sp();
                var list = t.FlagList();
                if (list.Count == 0)
                {
                    throw ImapTokenizer.Error("USE needs at least one attribute");
                }

                uses.AddRange(list);
            }
            while (t.TryConsume((byte)' '));

            t.CloseList();
        }

        return new CreateCommand(tag, mailbox, uses);
    }

    private static MailboxCommand ParseMailboxOnly(ref ImapTokenizer t, string tag, ImapCommandName name)
    {
        t.Sp();
        return new MailboxCommand(tag, name, t.Mailbox());
    }

    private static MailboxCommand ParseGetQuota(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        return new MailboxCommand(tag, ImapCommandName.GetQuota, t.AString());
    }

    private static SetQuotaCommand ParseSetQuota(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var root = t.AString();
        t.Sp();
        t.OpenList();
        var limits = new List<QuotaLimit>();
        if (!t.TryConsume((byte)')'))
        {
            do
            {
                var resource = t.AtomUpper();
                t.Sp();
                limits.Add(new QuotaLimit(resource, t.Number64()));
            }
            while (t.TryConsume((byte)' '));

            t.Expect((byte)')', ")");
        }

        t.Leave();
        return new SetQuotaCommand(tag, root, limits);
    }

    private static AclCommand ParseAcl(ref ImapTokenizer t, string tag, ImapCommandName name)
    {
        t.Sp();
        var mailbox = t.Mailbox();
        t.Sp();
        var identifier = t.AString();
        string? rights = null;
        if (name == ImapCommandName.SetAcl)
        {
            t.Sp();
            rights = t.AString();
        }

        return new AclCommand(tag, name, mailbox, identifier, rights);
    }

    private static RenameCommand ParseRename(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var from = t.Mailbox();
        t.Sp();
        var to = t.Mailbox();
        return new RenameCommand(tag, from, to);
    }

    private static ListCommand ParseList(ref ImapTokenizer t, string tag, ImapCommandName name)
    {
        t.Sp();
        var selection = ListSelectOptions.None;
        var extended = false;
        if (name == ImapCommandName.List && t.Peek() == '(')
        {
            extended = true;
            t.OpenList();
            if (!t.TryConsume((byte)')'))
            {
                do
                {
                    selection |= t.AtomUpper() switch
                    {
                        "SUBSCRIBED" => ListSelectOptions.Subscribed,
                        "REMOTE" => ListSelectOptions.Remote,
                        "RECURSIVEMATCH" => ListSelectOptions.RecursiveMatch,
                        "SPECIAL-USE" => ListSelectOptions.SpecialUse,
                        _ => throw ImapTokenizer.Error("Unknown LIST selection option"),
                    };
                }
                while (t.TryConsume((byte)' '));

                t.Expect((byte)')', ")");
            }

            t.Leave();
            t.Sp();
            if (selection.HasFlag(ListSelectOptions.RecursiveMatch) && (selection & ~(ListSelectOptions.RecursiveMatch | ListSelectOptions.Remote)) == 0)
            {
                throw ImapTokenizer.Error("RECURSIVEMATCH needs another selection option");
            }
        }

        var reference = t.Mailbox();
        t.Sp();
        var patterns = new List<string>();
        if (name == ImapCommandName.List && t.Peek() == '(')
        {
            extended = true;
            t.OpenList();
            do
            {
                patterns.Add(t.ListMailbox());
            }
            while (t.TryConsume((byte)' '));

            t.CloseList();
        }
        else
        {
            patterns.Add(t.ListMailbox());
        }

        var returns = ListReturnOptions.None;
        var status = StatusItems.None;
        if (name == ImapCommandName.List && t.TryConsume((byte)' ') && !t.AtEnd)
        {
            extended = true;
            t.Keyword("RETURN");
            t.Sp();
            t.OpenList();
            if (!t.TryConsume((byte)')'))
            {
                do
                {
                    var option = t.AtomUpper();
                    switch (option)
                    {
                        case "SUBSCRIBED":
                            returns |= ListReturnOptions.Subscribed;
                            break;
                        case "CHILDREN":
                            returns |= ListReturnOptions.Children;
                            break;
                        case "SPECIAL-USE":
                            returns |= ListReturnOptions.SpecialUse;
                            break;
                        case "MYRIGHTS":
                            returns |= ListReturnOptions.MyRights;
                            break;
                        case "STATUS":
                            returns |= ListReturnOptions.Status;
                            t.Sp();
                            status |= ParseStatusItems(ref t);
                            break;
                        default:
                            throw ImapTokenizer.Error("Unknown LIST return option");
                    }
                }
                while (t.TryConsume((byte)' '));

                t.Expect((byte)')', ")");
            }

            t.Leave();
        }

        return new ListCommand(tag, name, reference, patterns, selection, returns, status, extended);
    }

    private static StatusCommand ParseStatus(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var mailbox = t.Mailbox();
        t.Sp();
        return new StatusCommand(tag, mailbox, ParseStatusItems(ref t));
    }

    private static StatusItems ParseStatusItems(ref ImapTokenizer t)
    {
        t.OpenList();
        var items = StatusItems.None;
        do
        {
            items |= t.AtomUpper() switch
            {
                "MESSAGES" => StatusItems.Messages,
                "RECENT" => StatusItems.Recent,
                "UIDNEXT" => StatusItems.UidNext,
                "UIDVALIDITY" => StatusItems.UidValidity,
                "UNSEEN" => StatusItems.Unseen,
                "DELETED" => StatusItems.Deleted,
                "SIZE" => StatusItems.Size,
                "HIGHESTMODSEQ" => StatusItems.HighestModSeq,
                "APPENDLIMIT" => StatusItems.AppendLimit,
                "MAILBOXID" => StatusItems.MailboxId,
                "DELETED-STORAGE" => StatusItems.DeletedStorage,
                _ => throw ImapTokenizer.Error("Unknown STATUS item"),
            };
        }
        while (t.TryConsume((byte)' '));

        t.CloseList();
        return items;
    }

    private static CopyCommand ParseCopy(ref ImapTokenizer t, string tag, ImapCommandName name)
    {
        t.Sp();
        var set = t.SequenceSet();
        t.Sp();
        return new CopyCommand(tag, name, set, t.Mailbox());
    }

    private static StoreCommand ParseStore(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var set = t.SequenceSet();
        t.Sp();
        ulong? unchangedSince = null;
        if (t.Peek() == '(')
        {
            t.OpenList();
            t.Keyword("UNCHANGEDSINCE");
            t.Sp();
            unchangedSince = t.Number64();
            t.CloseList();
            t.Sp();
        }

        var mode = t.TryConsume((byte)'+') ? StoreMode.Add : t.TryConsume((byte)'-') ? StoreMode.Remove : StoreMode.Replace;
        var item = t.Word();
        var silent = item switch
        {
            "FLAGS" => false,
            "FLAGS.SILENT" => true,
            _ => throw ImapTokenizer.Error("STORE takes FLAGS or FLAGS.SILENT"),
        };
        t.Sp();
        List<string> flags;
        if (t.Peek() == '(')
        {
            flags = t.FlagList();
        }
        else
        {
            flags = [t.Flag()];
            while (t.TryConsume((byte)' '))
            {
                flags.Add(t.Flag());
            }
        }

        return new StoreCommand(tag, set, mode, silent, flags, unchangedSince);
    }

    private static FetchCommand ParseFetch(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var set = t.SequenceSet();
        t.Sp();
        var items = new List<FetchItem>();
        FetchMacro? macro = null;
        if (t.Peek() == '(')
        {
            t.OpenList();
            do
            {
                items.Add(ParseFetchItem(ref t));
            }
            while (t.TryConsume((byte)' '));

            t.CloseList();
        }
        else if (t.TryKeyword("ALL"))
        {
            macro = FetchMacro.All;
            items.AddRange([new(FetchItemKind.Flags), new(FetchItemKind.InternalDate), new(FetchItemKind.Rfc822Size), new(FetchItemKind.Envelope)]);
        }
        else if (t.TryKeyword("FAST"))
        {
            macro = FetchMacro.Fast;
            items.AddRange([new(FetchItemKind.Flags), new(FetchItemKind.InternalDate), new(FetchItemKind.Rfc822Size)]);
        }
        else if (t.TryKeyword("FULL"))
        {
            macro = FetchMacro.Full;
            items.AddRange([new(FetchItemKind.Flags), new(FetchItemKind.InternalDate), new(FetchItemKind.Rfc822Size), new(FetchItemKind.Envelope), new(FetchItemKind.Body)]);
        }
        else
        {
            items.Add(ParseFetchItem(ref t));
        }

        ulong? changedSince = null;
        var vanished = false;
        if (t.TryConsume((byte)' '))
        {
            t.OpenList();
            do
            {
                switch (t.AtomUpper())
                {
                    case "CHANGEDSINCE":
                        t.Sp();
                        changedSince = t.Number64();
                        break;
                    case "VANISHED":
                        vanished = true;
                        break;
                    default:
                        throw ImapTokenizer.Error("Unknown FETCH modifier");
                }
            }
            while (t.TryConsume((byte)' '));

            t.CloseList();
            if (vanished && changedSince is null)
            {
                throw ImapTokenizer.Error("VANISHED needs CHANGEDSINCE");
            }
        }

        return new FetchCommand(tag, set, items, changedSince, vanished, macro);
    }

    private static FetchItem ParseFetchItem(ref ImapTokenizer t)
    {
        var name = t.Word();
        switch (name)
        {
            case "ENVELOPE": return new FetchItem(FetchItemKind.Envelope);
            case "FLAGS": return new FetchItem(FetchItemKind.Flags);
            case "INTERNALDATE": return new FetchItem(FetchItemKind.InternalDate);
            case "RFC822": return new FetchItem(FetchItemKind.Rfc822);
            case "RFC822.HEADER": return new FetchItem(FetchItemKind.Rfc822Header);
            case "RFC822.SIZE": return new FetchItem(FetchItemKind.Rfc822Size);
            case "RFC822.TEXT": return new FetchItem(FetchItemKind.Rfc822Text);
            case "BODYSTRUCTURE": return new FetchItem(FetchItemKind.BodyStructure);
            case "UID": return new FetchItem(FetchItemKind.Uid);
            case "MODSEQ": return new FetchItem(FetchItemKind.ModSeq);
            case "EMAILID": return new FetchItem(FetchItemKind.EmailId);
            case "THREADID": return new FetchItem(FetchItemKind.ThreadId);
            case "SAVEDATE": return new FetchItem(FetchItemKind.SaveDate);
            case "BODY" or "BODY.PEEK":
                if (t.Peek() != '[')
                {
                    return name == "BODY" ? new FetchItem(FetchItemKind.Body) : throw ImapTokenizer.Error("BODY.PEEK needs a section");
                }

                var section = ParseSection(ref t);
                return new FetchItem(FetchItemKind.BodySection) { Peek = name == "BODY.PEEK", Section = section, Partial = ParsePartial(ref t) };
            case "BINARY" or "BINARY.PEEK" or "BINARY.SIZE":
                var part = ParseBinarySection(ref t);
                return name == "BINARY.SIZE"
                    ? new FetchItem(FetchItemKind.BinarySize) { BinaryPart = part }
                    : new FetchItem(FetchItemKind.Binary) { Peek = name == "BINARY.PEEK", BinaryPart = part, Partial = ParsePartial(ref t) };
            default:
                throw ImapTokenizer.Error("Unknown FETCH item");
        }
    }

    private static List<uint> ParseBinarySection(ref ImapTokenizer t)
    {
        t.Expect((byte)'[', "[");
        var part = new List<uint>();
        if (!t.TryConsume((byte)']'))
        {
            part.Add(t.NzNumber());
            while (t.TryConsume((byte)'.'))
            {
                part.Add(t.NzNumber());
            }

            t.Expect((byte)']', "]");
        }

        return part;
    }

    private static FetchSection ParseSection(ref ImapTokenizer t)
    {
        t.Expect((byte)'[', "[");
        if (t.TryConsume((byte)']'))
        {
            return FetchSection.Whole;
        }

        var part = new List<uint>();
        while (t.Peek() is >= (byte)'0' and <= (byte)'9')
        {
            part.Add(t.NzNumber());
            if (!t.TryConsume((byte)'.'))
            {
                t.Expect((byte)']', "]");
                return new FetchSection(part, SectionText.None, []);
            }
        }

        var text = t.Word();
        var kind = text switch
        {
            "HEADER" => SectionText.Header,
            "HEADER.FIELDS" => SectionText.HeaderFields,
            "HEADER.FIELDS.NOT" => SectionText.HeaderFieldsNot,
            "TEXT" => SectionText.Text,
            "MIME" when part.Count > 0 => SectionText.Mime,
            _ => throw ImapTokenizer.Error("Invalid section"),
        };
        var fields = new List<string>();
        if (kind is SectionText.HeaderFields or SectionText.HeaderFieldsNot)
        {
            t.Sp();
            t.OpenList();
            do
            {
                var field = t.AString();
                if (field.Length == 0 || field.Any(c => c <= ' ' || c == ':' || c > '~'))
                {
                    throw ImapTokenizer.Error("Invalid header field name");
                }

                fields.Add(field);
            }
            while (t.TryConsume((byte)' '));

            t.CloseList();
        }

        t.Expect((byte)']', "]");
        return new FetchSection(part, kind, fields);
    }

    private static FetchPartial? ParsePartial(ref ImapTokenizer t)
    {
        if (!t.TryConsume((byte)'<'))
        {
            return null;
        }

        var offset = t.Number();
        t.Expect((byte)'.', ".");
        var length = t.NzNumber();
        t.Expect((byte)'>', ">");
        return new FetchPartial(offset, length);
    }

    private static SearchCommand ParseSearch(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var (returns, partial) = ParseSearchReturn(ref t);
        string? charset = null;
        if (t.TryKeyword("CHARSET"))
        {
            t.Sp();
            charset = t.AString().ToUpperInvariant();
            t.Sp();
        }

        return new SearchCommand(tag, charset, ParseSearchKeys(ref t), returns, partial);
    }

    private static (SearchReturnOptions? Options, PartialRange? Partial) ParseSearchReturn(ref ImapTokenizer t)
    {
        if (!t.TryKeyword("RETURN"))
        {
            return (null, null);
        }

        t.Sp();
        t.OpenList();
        var options = SearchReturnOptions.None;
        PartialRange? partial = null;
        if (!t.TryConsume((byte)')'))
        {
            do
            {
                switch (t.AtomUpper())
                {
                    case "MIN":
                        options |= SearchReturnOptions.Min;
                        break;
                    case "MAX":
                        options |= SearchReturnOptions.Max;
                        break;
                    case "ALL":
                        options |= SearchReturnOptions.All;
                        break;
                    case "COUNT":
                        options |= SearchReturnOptions.Count;
                        break;
                    case "SAVE":
                        options |= SearchReturnOptions.Save;
                        break;
                    case "PARTIAL":
                        options |= SearchReturnOptions.Partial;
                        t.Sp();
                        partial = ParsePartialRange(ref t);
                        break;
                    default:
                        throw ImapTokenizer.Error("Unknown RETURN option");
                }
            }
            while (t.TryConsume((byte)' '));

            t.Expect((byte)')', ")");
        }

        t.Leave();
        t.Sp();
        return (options, partial);
    }

    private static PartialRange ParsePartialRange(ref ImapTokenizer t)
    {
        var negative = t.TryConsume((byte)'-');
        var first = (long)t.NzNumber();
        t.Expect((byte)':', ":");
        var negative2 = t.TryConsume((byte)'-');
        var last = (long)t.NzNumber();
        if (negative != negative2)
        {
            throw ImapTokenizer.Error("Invalid PARTIAL range");
        }

        return negative ? new PartialRange(-first, -last) : new PartialRange(first, last);
    }

    private static SearchKey ParseSearchKeys(ref ImapTokenizer t)
    {
        var keys = new List<SearchKey> { ParseSearchKey(ref t) };
        while (t.TryConsume((byte)' ') && !t.AtEnd)
        {
            keys.Add(ParseSearchKey(ref t));
        }

        return keys.Count == 1 ? keys[0] : new AndSearchKey(keys);
    }

    private static SearchKey ParseSearchKey(ref ImapTokenizer t)
    {
        if (t.Peek() == '(')
        {
            t.OpenList();
            var keys = new List<SearchKey> { ParseSearchKey(ref t) };
            while (t.TryConsume((byte)' '))
            {
                keys.Add(ParseSearchKey(ref t));
            }

            t.CloseList();
            return keys.Count == 1 ? keys[0] : new AndSearchKey(keys);
        }

        if (t.AtSequenceSet())
        {
            return new SetSearchKey(SearchKeyKind.SequenceSet, t.SequenceSet());
        }

        var word = t.AtomUpper();
        switch (word)
        {
            case "ALL": return new FlagSearchKey(SearchKeyKind.All);
            case "ANSWERED": return new FlagSearchKey(SearchKeyKind.Answered);
            case "DELETED": return new FlagSearchKey(SearchKeyKind.Deleted);
            case "DRAFT": return new FlagSearchKey(SearchKeyKind.Draft);
            case "FLAGGED": return new FlagSearchKey(SearchKeyKind.Flagged);
            case "NEW": return new FlagSearchKey(SearchKeyKind.New);
            case "OLD": return new FlagSearchKey(SearchKeyKind.Old);
            case "RECENT": return new FlagSearchKey(SearchKeyKind.Recent);
            case "SEEN": return new FlagSearchKey(SearchKeyKind.Seen);
            case "UNANSWERED": return new FlagSearchKey(SearchKeyKind.Unanswered);
            case "UNDELETED": return new FlagSearchKey(SearchKeyKind.Undeleted);
            case "UNDRAFT": return new FlagSearchKey(SearchKeyKind.Undraft);
            case "UNFLAGGED": return new FlagSearchKey(SearchKeyKind.Unflagged);
            case "UNSEEN": return new FlagSearchKey(SearchKeyKind.Unseen);
            case "BCC": return Text(ref t, SearchKeyKind.Bcc);
            case "BODY": return Text(ref t, SearchKeyKind.Body);
            case "CC": return Text(ref t, SearchKeyKind.Cc);
            case "FROM": return Text(ref t, SearchKeyKind.From);
            case "SUBJECT": return Text(ref t, SearchKeyKind.Subject);
            case "TEXT": return Text(ref t, SearchKeyKind.Text);
            case "TO": return Text(ref t, SearchKeyKind.To);
            case "EMAILID": return Text(ref t, SearchKeyKind.EmailId);
            case "THREADID": return Text(ref t, SearchKeyKind.ThreadId);
            case "KEYWORD":
                t.Sp();
                return new TextSearchKey(SearchKeyKind.Keyword, t.Atom());
            case "UNKEYWORD":
                t.Sp();
                return new TextSearchKey(SearchKeyKind.Unkeyword, t.Atom());
            case "BEFORE": return Date(ref t, SearchKeyKind.Before);
            case "ON": return Date(ref t, SearchKeyKind.On);
            case "SINCE": return Date(ref t, SearchKeyKind.Since);
            case "SENTBEFORE": return Date(ref t, SearchKeyKind.SentBefore);
            case "SENTON": return Date(ref t, SearchKeyKind.SentOn);
            case "SENTSINCE": return Date(ref t, SearchKeyKind.SentSince);
            case "LARGER": return Number(ref t, SearchKeyKind.Larger);
            case "SMALLER": return Number(ref t, SearchKeyKind.Smaller);
            case "OLDER": return Number(ref t, SearchKeyKind.Older, nonZero: true);
            case "YOUNGER": return Number(ref t, SearchKeyKind.Younger, nonZero: true);
            case "HEADER":
                t.Sp();
                var field = t.AString();
                t.Sp();
                return new HeaderSearchKey(field, t.AString());
            case "UID":
                t.Sp();
                return new SetSearchKey(SearchKeyKind.Uid, t.SequenceSet());
            case "NOT":
                t.Sp();
                t.Enter();
                var inner = ParseSearchKey(ref t);
                t.Leave();
                return new NotSearchKey(inner);
            case "OR":
                t.Sp();
                t.Enter();
                var left = ParseSearchKey(ref t);
                t.Sp();
                var right = ParseSearchKey(ref t);
                t.Leave();
                return new OrSearchKey(left, right);
            case "MODSEQ":
                t.Sp();
                string? entry = null, type = null;
                if (t.Peek() == '"')
                {
                    entry = t.String();
                    t.Sp();
                    type = t.AtomUpper();
                    if (type is not ("PRIV" or "SHARED" or "ALL"))
                    {
                        throw ImapTokenizer.Error("Invalid MODSEQ entry type");
                    }

                    t.Sp();
                }

                return new ModSeqSearchKey(t.Number64(), entry, type);
            default:
                throw ImapTokenizer.Error("Unknown search key");
        }
    }

    private static TextSearchKey Text(ref ImapTokenizer t, SearchKeyKind kind)
    {
        t.Sp();
        return new TextSearchKey(kind, t.AString());
    }

    private static DateSearchKey Date(ref ImapTokenizer t, SearchKeyKind kind)
    {
        t.Sp();
        return new DateSearchKey(kind, t.Date());
    }

    private static NumberSearchKey Number(ref ImapTokenizer t, SearchKeyKind kind, bool nonZero = false)
    {
        t.Sp();
        var n = t.Number64();
        if (nonZero && n == 0)
        {
            throw ImapTokenizer.Error("Zero is not allowed here");
        }

        return new NumberSearchKey(kind, n);
    }

    private static SortCommand ParseSort(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var (returns, partial) = ParseSearchReturn(ref t);
        t.OpenList();
        var order = new List<SortCriterion>();
        do
        {
            var reverse = false;
            var word = t.AtomUpper();
            if (word == "REVERSE")
            {
                reverse = true;
                t.Sp();
                word = t.AtomUpper();
            }

            var key = word switch
            {
                "ARRIVAL" => SortKey.Arrival,
                "CC" => SortKey.Cc,
                "DATE" => SortKey.Date,
                "FROM" => SortKey.From,
                "SIZE" => SortKey.Size,
                "SUBJECT" => SortKey.Subject,
                "TO" => SortKey.To,
                "DISPLAYFROM" => SortKey.DisplayFrom,
                "DISPLAYTO" => SortKey.DisplayTo,
                _ => throw ImapTokenizer.Error("Unknown sort key"),
            };
            order.Add(new SortCriterion(key, reverse));
        }
        while (t.TryConsume((byte)' '));

        t.CloseList();
        t.Sp();
        var charset = t.AString().ToUpperInvariant();
        t.Sp();
        return new SortCommand(tag, order, charset, ParseSearchKeys(ref t), returns, partial);
    }

    private static ThreadCommand ParseThread(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        var algorithm = t.AtomUpper();
        t.Sp();
        var charset = t.AString().ToUpperInvariant();
        t.Sp();
        return new ThreadCommand(tag, algorithm, charset, ParseSearchKeys(ref t));
    }

    private static IdCommand ParseId(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        if (t.TryNil())
        {
            return new IdCommand(tag, null);
        }

        t.OpenList();
        var parameters = new List<KeyValuePair<string, string?>>();
        if (!t.TryConsume((byte)')'))
        {
            do
            {
                if (parameters.Count >= 30)
                {
                    throw ImapTokenizer.Error("Too many ID parameters", "LIMIT");
                }

                var key = t.String();
                t.Sp();
                parameters.Add(new(key, t.NString()));
            }
            while (t.TryConsume((byte)' '));

            t.Expect((byte)')', ")");
        }

        t.Leave();
        return new IdCommand(tag, parameters);
    }

    private static CompressCommand ParseCompress(ref ImapTokenizer t, string tag)
    {
        t.Sp();
        return new CompressCommand(tag, t.AtomUpper());
    }

    /// <summary>Parses one APPEND message's prefix: <c>[flag-list SP] [date-time SP]</c> (the literal follows).</summary>
    internal static (List<string> Flags, DateTimeOffset? Date) ParseAppendPrefix(ref ImapTokenizer t)
    {
        List<string> flags = [];
        DateTimeOffset? date = null;
        if (t.Peek() == '(')
        {
            flags = t.FlagList();
            t.Sp();
        }

        if (t.Peek() == '"')
        {
            date = t.DateTime();
            t.Sp();
        }

        return (flags, date);
    }
}
