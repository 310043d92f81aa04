using System.Globalization;
using System.Text;

namespace Postern.ImapTest;

/// <summary>Where a test starts (imaptest's "state:" header); each state does the work of the ones before it.</summary>
public enum StartupState
{
    NonAuth,
    Auth,
    Created,
    Appended,
    Selected,
}

/// <summary>"*" (must come), "!" (must not come) or "?" (may come).</summary>
public enum Existence
{
    MustExist,
    MustNotExist,
    MayExist,
}

public sealed record ExpectedUntagged(IReadOnlyList<ImapArg> Args, Existence Existence, int Line);

/// <summary>One command line of a script; <see cref="Reply"/> is what its tagged reply must start with.</summary>
public sealed class ScriptCommand
{
    public required int Line { get; init; }

    /// <summary>The script's "tagN" number (0 when the command has none).</summary>
    public required int Tag { get; init; }

    public required string Text { get; set; }

    public IReadOnlyList<ImapArg>? Reply { get; set; }
}

/// <summary>Commands sent together on one connection, with the untagged replies expected while they run.</summary>
public sealed class CommandGroup
{
    public int Connection { get; set; }

    public List<ScriptCommand> Commands { get; } = [];

    public List<ExpectedUntagged> Untagged { get; } = [];

    public bool Ordered { get; set; }

    public int RepliesPending { get; set; }

    public bool HasBye { get; set; }

    public int Line => Commands.Count > 0 ? Commands[0].Line : 0;
}

/// <summary>One imaptest script ("test group"): its header and its command groups.</summary>
public sealed class ImapScript
{
    public required string Name { get; init; }

    public required string MboxPath { get; init; }

    public IReadOnlyList<string> RequiredCapabilities { get; set; } = [];

    public int Connections { get; set; } = 1;

    /// <summary>Messages appended at setup; null means "all" (the whole mbox once).</summary>
    public long? MessageCount { get; set; }

    public StartupState State { get; set; } = StartupState.Selected;

    public bool IgnoreExtraUntagged { get; set; } = true;

    /// <summary>The script names a second user ("user 2: $user2"), which the runner needs configured.</summary>
    public bool RequiresUser2 { get; set; }

    public List<CommandGroup> Groups { get; } = [];

    public static readonly Encoding Latin1 = Encoding.Latin1;

    /// <summary>Reads a script file (and finds its mbox: name.mbox, else default.mbox in the same folder).</summary>
    public static ImapScript Load(string path)
    {
        var mbox = path + ".mbox";
        if (!File.Exists(mbox))
        {
            mbox = Path.Combine(Path.GetDirectoryName(path) ?? ".", "default.mbox");
        }

        return Parse(Path.GetFileName(path), Latin1.GetString(File.ReadAllBytes(path)), mbox);
    }

    /// <summary>Parses script text (Latin-1: one char per byte). Throws <see cref="FormatException"/> with the line on errors.</summary>
    public static ImapScript Parse(string name, string text, string mboxPath, Func<string, bool>? hasEnv = null)
    {
        var script = new ImapScript { Name = name, MboxPath = mboxPath };
        new Parser(script, hasEnv ?? (e => Environment.GetEnvironmentVariable(e) is not null)).Run(text);
        if (!script.Groups.Any(g => g.HasBye || g.Commands.Any(c => c.Text.Equals("logout", StringComparison.OrdinalIgnoreCase))))
        {
            // imaptest ends every test with a LOGOUT on the first connection.
            var logout = new CommandGroup { Connection = 0 };
            logout.Commands.Add(new ScriptCommand { Line = 0, Tag = 0, Text = "logout", Reply = [ImapArg.Atom("ok")] });
            script.Groups.Add(logout);
        }

        return script;
    }

    private sealed class Parser(ImapScript script, Func<string, bool> hasEnv)
    {
        private readonly Stack<(bool Skip, bool ElseSeen)> _ifs = new();
        private CommandGroup? _group;
        private bool _skip;

        public void Run(string text)
        {
            var header = true;
            var continues = false;
            var binary = false;
            var multiline = new StringBuilder();
            int startPos = 0, lastLineEnd = 0, lineNumber = 0, startLine = 0;
            var pos = 0;
            while (pos < text.Length)
            {
                var nl = text.IndexOf('\n', pos);
                var raw = nl < 0 ? text[pos..] : text[pos..nl];
                pos = nl < 0 ? text.Length : nl + 1;
                lineNumber++;
                // imaptest keeps a CR of the file inside {{{ }}} blocks (it splits at LF only); elsewhere it is dropped.
                var line = raw.EndsWith('\r') && !continues ? raw[..^1] : raw;
                if (continues)
                {
                    if (!line.StartsWith("}}}", StringComparison.Ordinal))
                    {
                        multiline.Append(line);
                        lastLineEnd = multiline.Length;
                        multiline.Append(binary ? "\n" : "\r\n");
                        continue;
                    }

                    if (line.EndsWith('\r'))
                    {
                        line = line[..^1];
                    }

                    multiline.Length = lastLineEnd;
                    var rest = line[3..];
                    multiline.Insert(startPos, (binary ? "~" : "") + "{" + (multiline.Length - startPos).ToString(CultureInfo.InvariantCulture) + "}\r\n");
                    if (rest.EndsWith("{{{", StringComparison.Ordinal))
                    {
                        binary = rest.Length > 3 && rest[^4] == '~';
                        multiline.Append(rest, 0, rest.Length - 3 - (binary ? 1 : 0));
                        startPos = lastLineEnd = multiline.Length;
                        continue;
                    }

                    multiline.Append(rest);
                    line = multiline.ToString();
                    continues = false;
                }
                else
                {
                    startLine = lineNumber;
                    if (line.Length == 0)
                    {
                        header = false;
                        continue;
                    }

                    if (line[0] == '#')
                    {
                        continue;
                    }

                    if (line.EndsWith("{{{", StringComparison.Ordinal))
                    {
                        binary = line.Length > 3 && line[^4] == '~';
                        multiline.Clear();
                        multiline.Append(line, 0, line.Length - 3 - (binary ? 1 : 0));
                        startPos = lastLineEnd = multiline.Length;
                        continues = true;
                        continue;
                    }
                }

                try
                {
                    if (header)
                    {
                        HeaderLine(line);
                    }
                    else
                    {
                        CommandLine(startLine, line);
                    }
                }
                catch (FormatException e)
                {
                    throw new FormatException($"{script.Name} line {lineNumber}: {e.Message}", e);
                }
            }

            if (continues)
            {
                throw new FormatException($"{script.Name}: multiline block from line {startLine} not ended");
            }

            if (_group is { RepliesPending: > 0 })
            {
                throw new FormatException($"{script.Name}: missing reply for the command at line {_group.Line}");
            }

            if (_ifs.Count > 0)
            {
                throw new FormatException($"{script.Name}: !ifenv not closed");
            }

            if (script.Groups.Count == 0)
            {
                throw new FormatException($"{script.Name}: no commands");
            }
        }

        private void HeaderLine(string line)
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                throw new FormatException("missing ':' in header");
            }

            var key = line[..colon].TrimEnd(' ').ToLowerInvariant();
            var value = line[(colon + 1)..].TrimStart(' ');
            switch (key)
            {
                case "capabilities":
                    script.RequiredCapabilities = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return;
                case "connections":
                    script.Connections = int.Parse(value, CultureInfo.InvariantCulture);
                    if (script.Connections is < 1 or > 100)
                    {
                        throw new FormatException("bad connection count");
                    }

                    return;
                case "ignore_extra_untagged":
                    script.IgnoreExtraUntagged = value.StartsWith('y');
                    return;
                case "messages":
                    script.MessageCount = value == "all" ? null : long.Parse(value, CultureInfo.InvariantCulture);
                    return;
                case "state":
                    script.State = value.ToLowerInvariant() switch
                    {
                        "nonauth" => StartupState.NonAuth,
                        "auth" => StartupState.Auth,
                        "created" => StartupState.Created,
                        "appended" => StartupState.Appended,
                        "selected" => StartupState.Selected,
                        _ => throw new FormatException("unknown state " + value),
                    };
                    return;
            }

            if (key.StartsWith("user ", StringComparison.Ordinal) && int.TryParse(key[5..], CultureInfo.InvariantCulture, out var n) && n > 0)
            {
                if (value is "$user2" or "${user2}")
                {
                    script.RequiresUser2 = true;
                }

                return;
            }

            throw new FormatException("unknown setting " + key);
        }

        private static bool IsUntagged(string line, out Existence existence)
        {
            existence = Existence.MustExist;
            if (line.StartsWith("* ", StringComparison.Ordinal))
            {
                return true;
            }

            if (line.StartsWith("! ", StringComparison.Ordinal))
            {
                existence = Existence.MustNotExist;
                return true;
            }

            if (line.StartsWith("? ", StringComparison.Ordinal))
            {
                existence = Existence.MayExist;
                return true;
            }

            return false;
        }

        private void CommandLine(int lineNumber, string line)
        {
            if (line.StartsWith("!ifenv ", StringComparison.Ordinal) || line.StartsWith("!ifnenv ", StringComparison.Ordinal))
            {
                var present = hasEnv(line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..]);
                var wanted = line.StartsWith("!ifenv ", StringComparison.Ordinal);
                _ifs.Push((_skip, false));
                if (present != wanted)
                {
                    _skip = true;
                }

                return;
            }

            if (line == "!else")
            {
                if (_ifs.Count == 0)
                {
                    throw new FormatException("!else without !ifenv");
                }

                var top = _ifs.Pop();
                if (top.ElseSeen)
                {
                    throw new FormatException("!else already seen");
                }

                _ifs.Push((top.Skip, true));
                if (!top.Skip)
                {
                    _skip = !_skip;
                }

                return;
            }

            if (line == "!endif")
            {
                if (_ifs.Count == 0)
                {
                    throw new FormatException("!endif without !ifenv");
                }

                _skip = _ifs.Pop().Skip;
                return;
            }

            if (_skip)
            {
                return;
            }

            var group = _group;
            if (group is not null)
            {
                if (line.StartsWith("!sleep ", StringComparison.Ordinal) || line.StartsWith("!output ", StringComparison.Ordinal))
                {
                    return;
                }

                if (line == "!ordered")
                {
                    group.Ordered = true;
                    return;
                }

                if (IsUntagged(line, out var existence))
                {
                    AddUntagged(group, line[2..], existence, lineNumber);
                    return;
                }

                if (group.RepliesPending > 0)
                {
                    // A tagged reply for a command of this group ("ok [read-write]", "tag1 ok", "2 tag1 ok").
                    var rest = line;
                    if (script.Connections > 1)
                    {
                        var sp = rest.IndexOf(' ', StringComparison.Ordinal);
                        var first = sp < 0 ? rest : rest[..sp];
                        if (uint.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var conn) && conn > 0)
                        {
                            if (conn - 1 != group.Connection)
                            {
                                throw new FormatException("reply for the wrong connection");
                            }

                            rest = sp < 0 ? "" : rest[(sp + 1)..];
                        }
                    }

                    var probe = rest;
                    if (ReplyPrefix(ref probe, out var tag) is not null)
                    {
                        var cmd = group.Commands.FirstOrDefault(c => c.Tag == tag) ?? throw new FormatException("reply for unknown tag");
                        if (cmd.Reply is not null)
                        {
                            throw new FormatException("command already has a reply");
                        }

                        var args = ImapArgParser.TryParse(rest, out var error) ?? throw new FormatException(error);
                        cmd.Reply = tag == 0 ? args : args.Skip(1).ToList();
                        group.RepliesPending--;
                        return;
                    }
                }
            }

            if (group is null || group.RepliesPending == 0)
            {
                group = new CommandGroup();
                _group = group;
                script.Groups.Add(group);
            }

            if (script.Connections > 1)
            {
                var sp = line.IndexOf(' ', StringComparison.Ordinal);
                var first = sp < 0 ? line : line[..sp];
                if (!uint.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var conn) || conn == 0)
                {
                    throw new FormatException("missing connection number");
                }

                if (group.Commands.Count > 0 && group.Connection != conn - 1)
                {
                    throw new FormatException("all pipelined commands must use the same connection");
                }

                group.Connection = (int)conn - 1;
                if (conn > script.Connections)
                {
                    script.Connections = (int)conn;
                }

                line = sp < 0 ? "" : line[(sp + 1)..];
            }

            var reply = ReplyPrefix(ref line, out var cmdTag);
            if (cmdTag == 0)
            {
                if (group.RepliesPending > 0)
                {
                    throw new FormatException("missing reply from the previous command group");
                }
            }
            else if (group.Commands.Any(c => c.Tag == cmdTag))
            {
                throw new FormatException("tag reused within a command group");
            }

            if (group.Commands.Count == 0 && IsUntagged(line, out _))
            {
                throw new FormatException("banner checks are not supported by this runner");
            }

            if (reply is null)
            {
                group.RepliesPending++;
            }

            group.Commands.Add(new ScriptCommand { Line = lineNumber, Tag = cmdTag, Text = line, Reply = reply });
        }

        /// <summary>Strips an optional "tagN " and an "ok|no|bad|\"\"" word; returns the expected reply or null.</summary>
        private static IReadOnlyList<ImapArg>? ReplyPrefix(ref string line, out int tag)
        {
            tag = 0;
            var word = FirstWord(line);
            if (word.StartsWith("tag", StringComparison.OrdinalIgnoreCase) && line.Contains(' ', StringComparison.Ordinal)
                && int.TryParse(word.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0)
            {
                line = line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..];
                tag = n;
                word = FirstWord(line);
            }

            IReadOnlyList<ImapArg>? reply = word.ToLowerInvariant() switch
            {
                "ok" => [ImapArg.Atom("ok")],
                "no" => [ImapArg.Atom("no")],
                "bad" => [ImapArg.Atom("bad")],
                "\"\"" => [ImapArg.Atom("")],
                _ => null,
            };
            if (reply is not null)
            {
                line = line[word.Length..];
                if (line.StartsWith(' '))
                {
                    line = line[1..];
                }
            }

            return reply;
        }

        private static string FirstWord(string line)
        {
            var sp = line.IndexOf(' ', StringComparison.Ordinal);
            return sp < 0 ? line : line[..sp];
        }

        private void AddUntagged(CommandGroup group, string text, Existence existence, int lineNumber)
        {
            var args = ImapArgParser.TryParse(text, out var error) ?? throw new FormatException(error);
            var replyName = "";
            if (args.Count > 0 && args[0].Kind == ImapArgKind.Atom)
            {
                replyName = args[0].Text;
                if (replyName.StartsWith('$') || (replyName.Length > 0 && char.IsAsciiDigit(replyName[0])))
                {
                    replyName = args.Count > 1 && args[1].Kind == ImapArgKind.Atom ? args[1].Text : "";
                }
            }

            var withDirectives = Directives.Apply(args, new Directives.Context(null, replyName.ToLowerInvariant(), null, 0));
            if (replyName.StartsWith("BYE", StringComparison.OrdinalIgnoreCase))
            {
                if (existence == Existence.MayExist)
                {
                    throw new FormatException("? BYE is not supported");
                }

                if (existence == Existence.MustExist)
                {
                    group.HasBye = true;
                }
            }

            group.Untagged.Add(new ExpectedUntagged(withDirectives, existence, lineNumber));
        }
    }
}

/// <summary>
/// The "$!" list directives of expected lines, and the defaults imaptest adds to lists that name none:
/// FETCH (…) is $!unordered=2, FETCH's FLAGS (…) is $!unordered $!noextra $!ignore=\recent, LIST/LSUB flags are
/// $!unordered, STATUS (…) is $!unordered=2.
/// </summary>
internal static class Directives
{
    internal sealed record Context(Context? Parent, string ReplyName, string? PrevAtom, int ParentChainIndex)
    {
        public int ChainCount { get; set; } = 1;
    }

    public static IReadOnlyList<ImapArg> Apply(IReadOnlyList<ImapArg> args, Context ctx)
    {
        var list = args.ToList();
        var explicitDirectives = false;
        foreach (var a in list)
        {
            if (a.Kind != ImapArgKind.Atom || !a.Text.StartsWith("$!", StringComparison.Ordinal))
            {
                break;
            }

            var d = a.Text[2..];
            if (d.StartsWith("unordered", StringComparison.Ordinal))
            {
                if (d.Length > 9)
                {
                    if (d[9] != '=' || !int.TryParse(d.AsSpan(10), NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
                    {
                        throw new FormatException("broken $!unordered directive");
                    }

                    ctx.ChainCount = n;
                }
            }
            else if (d is not ("ordered" or "noextra" or "extra") && !d.StartsWith("ignore=", StringComparison.Ordinal) && !d.StartsWith("ban=", StringComparison.Ordinal))
            {
                throw new FormatException("unknown directive " + a.Text);
            }

            explicitDirectives = true;
        }

        if (!explicitDirectives)
        {
            list.InsertRange(0, Defaults(ctx).Select(ImapArg.Atom));
        }

        string? prevAtom = null;
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Kind == ImapArgKind.Atom)
            {
                prevAtom = list[i].Text.ToLowerInvariant();
            }

            if (list[i].Kind != ImapArgKind.List)
            {
                continue;
            }

            var sub = new Context(ctx, ctx.ReplyName, prevAtom, ctx.ChainCount == 1 ? i : i % ctx.ChainCount);
            list[i] = ImapArg.List(Apply(list[i].Items, sub));
        }

        return list;
    }

    private static string[] Defaults(Context ctx)
    {
        if (ctx.Parent is null)
        {
            return [];
        }

        var top = ctx.Parent.Parent is null && ctx.Parent.ParentChainIndex == 0;
        switch (ctx.ReplyName)
        {
            case "list" or "lsub" when top && ctx.ParentChainIndex == 1:
                return ["$!unordered"];
            case "status" when top && ctx.ParentChainIndex == 2:
                return ["$!unordered=2"];
            case "fetch" when top && ctx.ParentChainIndex == 2:
                return ["$!unordered=2"];
            case "fetch" when ctx.Parent.Parent is { Parent: null, ParentChainIndex: 0 } && ctx.Parent.ParentChainIndex == 2 && ctx.PrevAtom == "flags":
                return ["$!unordered", "$!noextra", "$!ignore=\\recent", "$!ignore=$HasAttachment", "$!ignore=$HasNoAttachment"];
            default:
                return [];
        }
    }
}
