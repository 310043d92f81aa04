using System.Globalization;
using System.Text.RegularExpressions;

namespace Postern.ImapTest;

/// <summary>The server a run talks to, and the test user (every connection logs in as it).</summary>
public sealed record ImapTestServer(string Host, int Port, string User, string Password)
{
    /// <summary>Parses "host:port:user:pass" (the password may contain ':').</summary>
    public static ImapTestServer Parse(string text)
    {
        var parts = text.Split(':', 4);
        if (parts.Length != 4)
        {
            throw new FormatException("expected host:port:user:pass");
        }

        return new ImapTestServer(parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture), parts[2], parts[3]);
    }
}

public enum GroupOutcome
{
    Passed,
    Failed,
    Skipped,
}

/// <summary>What one test group (script) did.</summary>
public sealed class GroupResult
{
    public required string Name { get; init; }

    public GroupOutcome Outcome => SkipReason is not null ? GroupOutcome.Skipped : Failures.Count > 0 ? GroupOutcome.Failed : GroupOutcome.Passed;

    public string? SkipReason { get; set; }

    public List<string> Failures { get; } = [];

    public int Commands { get; set; }

    public int FailedCommands { get; set; }

    public override string ToString() => Outcome switch
    {
        GroupOutcome.Skipped => $"{Name}: skipped ({SkipReason})",
        GroupOutcome.Passed => $"{Name}: passed ({Commands} commands)",
        _ => $"{Name}: FAILED ({FailedCommands}/{Commands} commands)\n  " + string.Join("\n  ", Failures.Select(f => f.Replace("\n", "\n  ", StringComparison.Ordinal))),
    };
}

/// <summary>
/// Runs imaptest scripts against an IMAP server: the setup imaptest does for the script's state, then each command
/// group (pipelined on its connection), matching untagged and tagged replies as imaptest does.
/// </summary>
public sealed class ScriptRunner(ImapTestServer server)
{
    /// <summary>The test mailbox (imaptest's default "box").</summary>
    public string Mailbox { get; init; } = "imaptest";

    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(15);

    public async Task<GroupResult> RunAsync(ImapScript script, CancellationToken cancellationToken = default)
    {
        var result = new GroupResult { Name = script.Name, Commands = script.Groups.Sum(g => g.Commands.Count) };
        var run = new Run(this, script, result, cancellationToken);
        try
        {
            await run.ExecuteAsync();
        }
        catch (Exception e) when (e is TimeoutException or IOException or System.Net.Sockets.SocketException or FormatException or AbortException)
        {
            result.Failures.Add((run.CurrentGroup is { } g ? $"line {g.Line} ({g.Commands.FirstOrDefault()?.Text}): " : "setup: ") + e.Message);
            if (run.CurrentGroup is not null)
            {
                result.FailedCommands++;
            }
        }
        finally
        {
            await run.DisposeAsync();
        }

        if (result.Failures.Count > 0)
        {
            result.SkipReason = null;
        }

        return result;
    }

    /// <summary>Runs every script in a folder (files without ".mbox"; sub-folders such as broken/ are not tests).</summary>
    public async Task<IReadOnlyList<GroupResult>> RunFolderAsync(string folder, Func<string, bool>? filter = null, CancellationToken cancellationToken = default)
    {
        var results = new List<GroupResult>();
        foreach (var path in Directory.GetFiles(folder).Where(p => !p.EndsWith(".mbox", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            if (name.StartsWith('.') || (filter is not null && !filter(name)))
            {
                continue;
            }

            ImapScript script;
            try
            {
                script = ImapScript.Load(path);
            }
            catch (FormatException e)
            {
                var bad = new GroupResult { Name = name };
                bad.Failures.Add("script does not parse: " + e.Message);
                results.Add(bad);
                continue;
            }

            results.Add(await RunAsync(script, cancellationToken));
        }

        return results;
    }

    /// <summary>"groups: N run, P passed, F failed, S skipped" plus imaptest's command counts.</summary>
    public static string Summary(IReadOnlyList<GroupResult> results, ISet<string>? known = null)
    {
        var run = results.Count(r => r.Outcome != GroupOutcome.Skipped);
        var passed = results.Count(r => r.Outcome == GroupOutcome.Passed);
        var failed = results.Count(r => r.Outcome == GroupOutcome.Failed);
        var skipped = results.Count(r => r.Outcome == GroupOutcome.Skipped);
        var knownFailed = known is null ? 0 : results.Count(r => r.Outcome == GroupOutcome.Failed && known.Contains(r.Name));
        var commands = results.Where(r => r.Outcome != GroupOutcome.Skipped).Sum(r => r.Commands);
        var failedCommands = results.Sum(r => r.FailedCommands);
        var f = known is null ? $"{failed} failed" : $"{failed} failed ({knownFailed} known)";
        return $"groups: {run} run, {passed} passed, {f}, {skipped} skipped; commands: {failedCommands}/{commands} failed";
    }

    private sealed class AbortException(string message) : Exception(message);

    private sealed class Run(ScriptRunner runner, ImapScript script, GroupResult result, CancellationToken ct) : IAsyncDisposable
    {
        private static readonly Regex LiteralMarker = new(@"~?\{(\d+)(\+?)\}\r\n", RegexOptions.CultureInvariant);
        private readonly Matcher _m = new();
        private readonly List<ImapConnection> _conns = [];
        private IReadOnlyList<MboxMessage>? _mbox;
        private int _nextMessage;

        // State of the group being run.
        private bool[] _found = [];
        private (int Count, string? Reply)[] _maybes = [];
        private int _mismatches;
        private string? _firstExtra;
        private bool _groupFailed;
        private readonly Dictionary<string, ScriptCommand> _pending = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _sent = new(StringComparer.Ordinal);
        private readonly Dictionary<(string Mailbox, string Uid), int> _recentOwner = [];
        private string? _groupTag;

        public CommandGroup? CurrentGroup { get; private set; }

        public async Task ExecuteAsync()
        {
            var at = server.User.IndexOf('@', StringComparison.Ordinal);
            _m.Variables["user"] = server.User;
            _m.Variables["username"] = at < 0 ? server.User : server.User[..at];
            _m.Variables["domain"] = at < 0 ? server.Host : server.User[(at + 1)..];
            _m.Variables["password"] = server.Password;
            _m.Variables["mailbox"] = runner.Mailbox;
            _m.Variables["mailbox_url"] = Uri.EscapeDataString(ModifiedUtf7Decode(runner.Mailbox)).Replace("%2F", "/", StringComparison.Ordinal);

            if (!await SetupAsync())
            {
                return;
            }

            foreach (var group in script.Groups)
            {
                CurrentGroup = group;
                await RunGroupAsync(group);
            }

            CurrentGroup = null;
        }

        private ImapTestServer server => runner.Server;

        private static string ModifiedUtf7Decode(string name) => name;

        private async Task<bool> SetupAsync()
        {
            for (var i = 0; i < script.Connections; i++)
            {
                var c = new ImapConnection(i) { Timeout = runner.ReplyTimeout };
                _conns.Add(c);
                await c.ConnectAsync(server.Host, server.Port, ct);
                var greeting = await c.ReadAsync(ct) ?? throw new AbortException("setup: connection closed before the greeting");
                if (!greeting.IsAtom(0, "OK") && !greeting.IsAtom(0, "PREAUTH"))
                {
                    throw new AbortException("setup: greeting was " + greeting.Raw);
                }

                c.Capabilities = CapabilityCode(greeting.Args) ?? [];
            }

            if (script.State == StartupState.NonAuth)
            {
                return await CheckCapabilitiesAsync(_conns[0]);
            }

            foreach (var c in _conns)
            {
                var (_, reply) = await SetupCommandAsync(c, $"LOGIN {Quote(server.User)} {Quote(server.Password)}");
                if (!IsOk(reply))
                {
                    throw new AbortException("setup: LOGIN failed: " + ImapArg.Format(reply));
                }

                c.Capabilities = CapabilityCode(reply) ?? [];
                if (c.Index == 0 && !await CheckCapabilitiesAsync(c))
                {
                    return false;
                }
            }

            var first = _conns[0];
            var pattern = Quote(runner.Mailbox + "*");
            var (listed, _) = await SetupCommandAsync(first, "LIST \"\" " + pattern);
            var (subscribed, _) = await SetupCommandAsync(first, "LSUB \"\" " + pattern);
            foreach (var name in Names(listed, "LIST").OrderByDescending(n => n, StringComparer.OrdinalIgnoreCase))
            {
                await SetupCommandAsync(first, "DELETE " + Quote(name));
            }

            foreach (var name in Names(subscribed, "LSUB").OrderByDescending(n => n, StringComparer.OrdinalIgnoreCase))
            {
                await SetupCommandAsync(first, "UNSUBSCRIBE " + Quote(name));
            }

            if (script.State == StartupState.Auth)
            {
                return true;
            }

            if (!runner.Mailbox.Equals("INBOX", StringComparison.OrdinalIgnoreCase))
            {
                var (_, created) = await SetupCommandAsync(first, "CREATE " + Quote(runner.Mailbox));
                if (!IsOk(created))
                {
                    throw new AbortException("setup: CREATE failed: " + ImapArg.Format(created));
                }
            }

            if (script.State == StartupState.Created)
            {
                return true;
            }

            var count = script.MessageCount ?? Messages().Count;
            for (var n = 0L; n < count; n++)
            {
                var tag = first.NextTag();
                await SendAsync(first, tag, AppendCommand(Quote(runner.Mailbox), withDate: true), setup: true);
                var reply = await ReadUntilTaggedAsync(first, tag);
                if (!IsOk(reply))
                {
                    throw new AbortException("setup: APPEND failed: " + ImapArg.Format(reply));
                }
            }

            if (script.State == StartupState.Appended)
            {
                return true;
            }

            foreach (var c in _conns)
            {
                c.PendingUidValidity = null;
                var (_, selected) = await SetupCommandAsync(c, "SELECT " + Quote(runner.Mailbox));
                c.SelectedKey = runner.Mailbox + "/" + c.PendingUidValidity;
                if (!IsOk(selected))
                {
                    throw new AbortException("setup: SELECT failed: " + ImapArg.Format(selected));
                }
            }

            return true;
        }

        private async Task<bool> CheckCapabilitiesAsync(ImapConnection c)
        {
            if (c.Capabilities.Count == 0)
            {
                var (untagged, _) = await SetupCommandAsync(c, "CAPABILITY");
                var line = untagged.FirstOrDefault(u => u.IsAtom(0, "CAPABILITY"));
                c.Capabilities = line?.Args.Skip(1).Where(a => a.IsAString).Select(a => a.Text).ToList() ?? [];
            }

            var missing = script.RequiredCapabilities.Where(r => !c.Capabilities.Contains(r, StringComparer.OrdinalIgnoreCase)).ToList();
            if (missing.Count > 0)
            {
                result.SkipReason = "server lacks " + string.Join(" ", missing);
                return false;
            }

            if (script.RequiresUser2)
            {
                result.SkipReason = "needs a second user ($user2), which this runner does not configure";
                return false;
            }

            return true;
        }

        private static IReadOnlyList<string>? CapabilityCode(IReadOnlyList<ImapArg> args)
        {
            // "OK [CAPABILITY IMAP4rev1 …] text": the bracketed code is one atom for our parser.
            var code = args.Skip(1).FirstOrDefault();
            if (code is not { Kind: ImapArgKind.Atom } || !code.Text.StartsWith("[CAPABILITY ", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            return code.Text[12..].TrimEnd(']').Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }

        private static IEnumerable<string> Names(IEnumerable<ImapResponse> untagged, string kind) =>
            untagged.Where(u => u.IsAtom(0, kind) && u.Args.Count >= 4 && u.Args[3].IsAString).Select(u => u.Args[3].Text).Distinct(StringComparer.Ordinal);

        private static bool IsOk(IReadOnlyList<ImapArg> reply) =>
            reply.Count > 0 && reply[0].Kind == ImapArgKind.Atom && reply[0].Text.Equals("OK", StringComparison.OrdinalIgnoreCase);

        private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

        /// <summary>A setup command: its untagged replies (not matched) and its tagged reply.</summary>
        private async Task<(List<ImapResponse> Untagged, IReadOnlyList<ImapArg> Reply)> SetupCommandAsync(ImapConnection c, string command)
        {
            var tag = c.NextTag();
            await c.SendAsync(tag + " " + command + "\r\n", ct);
            var untagged = new List<ImapResponse>();
            while (true)
            {
                var r = await c.ReadAsync(ct) ?? throw new AbortException($"setup: connection {c.Index + 1} closed during {command}");
                if (r.Kind == ResponseKind.Untagged)
                {
                    Track(c, r);
                    untagged.Add(r);
                }
                else if (r.Kind == ResponseKind.Tagged && r.Tag == tag)
                {
                    return (untagged, r.Args);
                }
            }
        }

        /// <summary>The wire form of an APPEND of the next mbox message (imaptest adds the From line's date to a bare "append").</summary>
        private string AppendCommand(string args, bool withDate)
        {
            var mbox = Messages();
            var message = mbox[_nextMessage];
            _nextMessage = (_nextMessage + 1) % mbox.Count;
            var date = withDate ? " \"" + message.InternalDate + "\"" : "";
            return $"APPEND {args}{date} {{{message.Content.Length.ToString(CultureInfo.InvariantCulture)}}}\r\n{message.Content}";
        }

        /// <summary>The group's mbox, read when first needed.</summary>
        private IReadOnlyList<MboxMessage> Messages()
        {
            if (_mbox is null)
            {
                if (!File.Exists(script.MboxPath))
                {
                    throw new AbortException("no mbox " + script.MboxPath);
                }

                _mbox = Mbox.Read(script.MboxPath);
                if (_mbox.Count == 0)
                {
                    throw new AbortException("empty mbox " + script.MboxPath);
                }
            }

            return _mbox;
        }

        /// <summary>Does "append" carry its own message (a literal, or CATENATE) after mailbox [flags] [date]?</summary>
        private static bool AppendHasBody(string args)
        {
            var parsed = ImapArgParser.TryParse(args, out _);
            if (parsed is null || parsed.Count == 0)
            {
                return false;
            }

            var i = 0;
            if (i + 1 < parsed.Count && parsed[i + 1].Kind == ImapArgKind.List)
            {
                i++;
            }

            if (i + 1 < parsed.Count && parsed[i + 1].Kind == ImapArgKind.String)
            {
                i++;
            }

            return i + 1 < parsed.Count && (parsed[i + 1].Kind == ImapArgKind.Literal
                || (parsed[i + 1].Kind == ImapArgKind.Atom && parsed[i + 1].Text.Equals("catenate", StringComparison.OrdinalIgnoreCase)));
        }

        /// <summary>Tracks what a connection knows of its mailbox (for $N sequences): EXISTS sets the count, EXPUNGE lowers it.</summary>
        private void Track(ImapConnection c, ImapResponse r)
        {
            if (r.IsAtom(0, "OK") && r.Args.Count > 1 && r.Args[1].Kind == ImapArgKind.Atom && r.Args[1].Text.StartsWith("[UIDVALIDITY ", StringComparison.OrdinalIgnoreCase))
            {
                c.PendingUidValidity = r.Args[1].Text[13..].TrimEnd(']');
            }

            if (r.IsAtom(0, "BYE"))
            {
                c.SawBye = true;
            }

            if (r.Args.Count >= 2 && r.Args[0].Kind == ImapArgKind.Atom && uint.TryParse(r.Args[0].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                if (r.IsAtom(1, "EXISTS"))
                {
                    c.Exists = n;
                }
                else if (r.IsAtom(1, "EXPUNGE") && c.Exists > 0)
                {
                    c.Exists--;
                }
            }
        }

        /// <summary>Sends a command; synchronizing literals wait for "+" (replies meanwhile are handled as the group's).</summary>
        private async Task SendAsync(ImapConnection c, string tag, string wire, bool setup)
        {
            var text = tag + " " + wire;
            var pos = 0;
            while (true)
            {
                var m = LiteralMarker.Match(text, pos);
                if (!m.Success)
                {
                    await c.SendAsync(text[pos..] + "\r\n", ct);
                    return;
                }

                var headerEnd = m.Index + m.Length;
                var size = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                await c.SendAsync(text[pos..headerEnd], ct);
                if (m.Groups[2].Value.Length == 0)
                {
                    while (true)
                    {
                        var r = await c.ReadAsync(ct) ?? throw new AbortException("connection closed while sending a literal");
                        if (r.Kind == ResponseKind.Continuation)
                        {
                            break;
                        }

                        if (setup)
                        {
                            if (r.Kind == ResponseKind.Tagged && r.Tag == tag)
                            {
                                throw new AbortException("setup: literal refused: " + r.Raw);
                            }

                            if (r.Kind == ResponseKind.Untagged)
                            {
                                Track(c, r);
                            }

                            continue;
                        }

                        Handle(c, r);
                        if (r.Kind == ResponseKind.Tagged && r.Tag == tag)
                        {
                            return;
                        }
                    }
                }

                var dataEnd = Math.Min(text.Length, headerEnd + size);
                await c.SendAsync(text[headerEnd..dataEnd], ct);
                pos = dataEnd;
            }
        }

        private async Task<IReadOnlyList<ImapArg>> ReadUntilTaggedAsync(ImapConnection c, string tag)
        {
            while (true)
            {
                var r = await c.ReadAsync(ct) ?? throw new AbortException("setup: connection closed");
                if (r.Kind == ResponseKind.Untagged)
                {
                    Track(c, r);
                }
                else if (r.Kind == ResponseKind.Tagged && r.Tag == tag)
                {
                    return r.Args;
                }
            }
        }

        private void Fail(string message)
        {
            var g = CurrentGroup!;
            var first = g.Commands.FirstOrDefault();
            result.Failures.Add($"line {first?.Line ?? g.Line} ({(first is null ? "" : first.Text.Length > 200 ? first.Text[..200] + "…" : first.Text)}): {message}");
            if (!_groupFailed)
            {
                result.FailedCommands++;
                _groupFailed = true;
            }
        }

        private async Task RunGroupAsync(CommandGroup group)
        {
            var c = _conns[group.Connection];
            _found = new bool[group.Untagged.Count];
            _maybes = new (int, string?)[group.Untagged.Count];
            _mismatches = 0;
            _firstExtra = null;
            _groupFailed = false;
            _pending.Clear();
            _groupTag = null;
            _m.SequenceMap.Clear();
            for (uint s = 1; s <= c.Exists; s++)
            {
                _m.SequenceMap.Add(s);
            }

            if (c.Closed)
            {
                Fail("connection " + (c.Index + 1) + " is already closed");
                return;
            }

            foreach (var cmd in group.Commands)
            {
                string text;
                try
                {
                    text = _m.ExpandCommand(cmd.Text);
                }
                catch (FormatException e)
                {
                    Fail(e.Message);
                    continue;
                }

                var tag = c.NextTag();
                _groupTag ??= tag;
                _pending[tag] = cmd;
                _sent[tag] = text;
                if (IsSelect(text))
                {
                    c.PendingUidValidity = null;
                }

                string wire;
                if (text.Equals("append", StringComparison.OrdinalIgnoreCase))
                {
                    wire = AppendCommand(Quote(runner.Mailbox), withDate: true);
                }
                else if (text.StartsWith("append ", StringComparison.OrdinalIgnoreCase) && !AppendHasBody(text[7..]))
                {
                    wire = AppendCommand(text[7..], withDate: false);
                }
                else
                {
                    wire = text;
                }

                await SendAsync(c, tag, wire, setup: false);
            }

            while (_pending.Count > 0)
            {
                var r = await c.ReadAsync(ct);
                if (r is null)
                {
                    if (group.HasBye && c.SawBye)
                    {
                        foreach (var cmd in _pending.Values.Where(p => p.Reply is not [{ Text: "" }]))
                        {
                            Fail($"the server disconnected after BYE; expected tagged reply '{ImapArg.Format(cmd.Reply ?? [])}' for: {cmd.Text}");
                        }

                        _pending.Clear();
                        break;
                    }

                    Fail("unexpected disconnection");
                    break;
                }

                Handle(c, r);
            }

            for (var i = 0; i < group.Untagged.Count; i++)
            {
                if (group.Untagged[i].Existence == Existence.MustExist && !_found[i])
                {
                    var missing = group.Untagged.Where((u, k) => u.Existence == Existence.MustExist && !_found[k]).Count();
                    var expanded = _m.ExpandCommand(ImapArg.Format(group.Untagged[i].Args), skipUninitialized: true);
                    Fail($"missing {missing} untagged replies ({_mismatches} mismatches)\n - expected (line {group.Untagged[i].Line}): {expanded}\n - best match: {_maybes[i].Reply ?? "(none)"}");
                    break;
                }
            }

            if (_firstExtra is not null)
            {
                Fail($"{_mismatches} unexpected untagged replies, first: {_firstExtra}");
            }
        }

        private void Handle(ImapConnection c, ImapResponse r)
        {
            switch (r.Kind)
            {
                case ResponseKind.Untagged:
                    MatchUntagged(r.Args);
                    CheckRecent(c, r);
                    if (r.IsAtom(1, "EXPUNGE") && uint.TryParse(r.Args[0].Text, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                    {
                        _m.Expunged(seq);
                    }

                    Track(c, r);
                    break;
                case ResponseKind.Tagged when r.Tag is not null && _pending.Remove(r.Tag, out var cmd):
                    TrackSelection(c, _sent.GetValueOrDefault(r.Tag, ""), r);
                    _m.Variables["tag"] = r.Tag;
                    var ok = _m.MatchArgs(cmd.Reply ?? [], 0, r.Args, 0, Matcher.Full, prefix: true) == Matcher.Full;
                    _m.Variables.Remove("tag");
                    if (!ok)
                    {
                        Fail($"expected tagged reply '{ImapArg.Format(cmd.Reply ?? [])}', got '{ImapArg.Format(r.Args)}' for: {Short(cmd.Text)}");
                    }

                    break;
            }
        }

        private static bool IsSelect(string text) =>
            text.StartsWith("select ", StringComparison.OrdinalIgnoreCase) || text.StartsWith("examine ", StringComparison.OrdinalIgnoreCase);

        /// <summary>Which mailbox (name and UIDVALIDITY) a connection has selected, for the \Recent check.</summary>
        private static void TrackSelection(ImapConnection c, string text, ImapResponse reply)
        {
            var ok = reply.IsAtom(0, "OK");
            if (IsSelect(text))
            {
                var args = ImapArgParser.TryParse(text[(text.IndexOf(' ', StringComparison.Ordinal) + 1)..], out _);
                c.SelectedKey = ok && args is [{ IsAString: true } name, ..] ? name.Text + "/" + c.PendingUidValidity : null;
            }
            else if (ok && (text.Equals("close", StringComparison.OrdinalIgnoreCase) || text.Equals("unselect", StringComparison.OrdinalIgnoreCase)))
            {
                c.SelectedKey = null;
            }
        }

        /// <summary>
        /// imaptest's mailbox-state check for \Recent: one message is recent in one session only (RFC 3501 §2.3.2).
        /// Checked on FETCH replies that carry both UID and FLAGS.
        /// </summary>
        private void CheckRecent(ImapConnection c, ImapResponse r)
        {
            if (c.SelectedKey is null || !r.IsAtom(1, "FETCH") || r.Args.Count < 3 || r.Args[2].Kind != ImapArgKind.List)
            {
                return;
            }

            var items = r.Args[2].Items;
            string? uid = null;
            var recent = false;
            for (var i = 0; i + 1 < items.Count; i += 2)
            {
                if (items[i].Kind != ImapArgKind.Atom)
                {
                    continue;
                }

                if (items[i].Text.Equals("UID", StringComparison.OrdinalIgnoreCase))
                {
                    uid = items[i + 1].Text;
                }
                else if (items[i].Text.Equals("FLAGS", StringComparison.OrdinalIgnoreCase) && items[i + 1].Kind == ImapArgKind.List)
                {
                    recent = items[i + 1].Items.Any(f => f.Text.Equals("\\Recent", StringComparison.OrdinalIgnoreCase));
                }
            }

            if (uid is null || !recent)
            {
                return;
            }

            if (_recentOwner.TryGetValue((c.SelectedKey, uid), out var owner) && owner != c.Index)
            {
                Fail($"\\Recent for UID {uid} of {c.SelectedKey} in sessions {owner + 1} and {c.Index + 1} (a message is recent in one session only)");
                return;
            }

            _recentOwner[(c.SelectedKey, uid)] = c.Index;
        }

        private static string Short(string s) => s.Length > 200 ? s[..200] + "…" : s;

        private void MatchUntagged(IReadOnlyList<ImapArg> args)
        {
            var group = CurrentGroup!;
            if (group.Untagged.Count == 0 && script.IgnoreExtraUntagged)
            {
                return;
            }

            var prefix = args.Count > 0 && args[0].Kind == ImapArgKind.Atom && args[0].Text.ToUpperInvariant() is "OK" or "NO" or "BAD" or "BYE";
            _m.ClearAdded();
            var foundSome = false;
            for (var i = 0; i < group.Untagged.Count; i++)
            {
                if (_found[i])
                {
                    continue;
                }

                var expected = group.Untagged[i];
                if (_groupTag is not null)
                {
                    _m.Variables["tag"] = _groupTag;
                }

                var n = _m.MatchArgs(expected.Args, 0, args, 0, Matcher.Full, prefix);
                _m.Variables.Remove("tag");
                if (n == Matcher.Full)
                {
                    if (expected.Existence == Existence.MustNotExist)
                    {
                        Fail($"unexpected untagged match\n - must not come (line {expected.Line}): {ImapArg.Format(expected.Args)}\n - reply: {ImapArg.Format(args)}");
                        return;
                    }

                    _found[i] = true;
                    foundSome = true;
                    _m.ClearAdded();
                    if (group.Ordered)
                    {
                        break;
                    }

                    continue;
                }

                if (_maybes[i].Count < n || _maybes[i].Reply is null)
                {
                    _maybes[i] = (n, ImapArg.Format(args));
                }

                _m.RevertAdded();
                if (group.Ordered && expected.Existence == Existence.MustExist)
                {
                    break;
                }
            }

            if (!foundSome)
            {
                _mismatches++;
                if (!script.IgnoreExtraUntagged)
                {
                    _firstExtra ??= ImapArg.Format(args);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var c in _conns)
            {
                await c.DisposeAsync();
            }
        }
    }

    internal ImapTestServer Server => server;
}
