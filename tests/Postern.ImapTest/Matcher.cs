using System.Globalization;

namespace Postern.ImapTest;

/// <summary>
/// imaptest's matching of expected arguments against a reply: $variables captured on first sight and compared
/// after, "$" matching anything (lists too), $N relative sequences, "$!" list directives, case-insensitive text
/// (values of known variables compare exactly), and prefix matching for the last argument of OK/NO/BAD/BYE lines.
/// </summary>
public sealed class Matcher
{
    /// <summary>What a full match returns (a partial one returns how many arguments matched).</summary>
    public const int Full = int.MaxValue;

    private readonly List<string> _added = [];

    public Dictionary<string, string> Variables { get; } = new(StringComparer.Ordinal);

    /// <summary>Initial sequence → current sequence (0 = expunged), for $1, $2… in expected lines.</summary>
    public List<uint> SequenceMap { get; } = [];

    public void ClearAdded() => _added.Clear();

    /// <summary>Forgets variables captured since <see cref="ClearAdded"/> (a line that did not match after all).</summary>
    public void RevertAdded()
    {
        foreach (var v in _added)
        {
            Variables.Remove(v);
        }

        _added.Clear();
    }

    public string RelativeSequence(uint seq)
    {
        if (seq == 0)
        {
            return "<zero seq>";
        }

        if (seq > SequenceMap.Count)
        {
            return "<out of range>";
        }

        return SequenceMap[(int)seq - 1] == 0 ? "<expunged>" : SequenceMap[(int)seq - 1].ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>An EXPUNGE seen: later sequences move down, the expunged one maps to 0.</summary>
    public void Expunged(uint seq)
    {
        if (seq == 0 || seq > SequenceMap.Count)
        {
            return;
        }

        for (var i = (int)seq - 1; i < SequenceMap.Count; i++)
        {
            if (SequenceMap[i] == seq)
            {
                SequenceMap[i] = 0;
            }
            else if (SequenceMap[i] > seq)
            {
                SequenceMap[i]--;
            }
        }
    }

    /// <summary>Expands a command line: $$ is $, $name and ${name} are variables, $N relative sequences.</summary>
    public string ExpandCommand(string line, bool skipUninitialized = false)
    {
        if (!line.Contains('$', StringComparison.Ordinal))
        {
            return line;
        }

        var sb = new System.Text.StringBuilder();
        var i = 0;
        while (i < line.Length)
        {
            if (line[i] != '$' || i == line.Length - 1)
            {
                sb.Append(line[i++]);
                continue;
            }

            i++;
            if (line[i] == '$')
            {
                sb.Append('$');
                i++;
                continue;
            }

            if (line[i] == '!')
            {
                while (i < line.Length && line[i] != ' ')
                {
                    i++;
                }

                continue;
            }

            string name;
            if (line[i] == '{')
            {
                var close = line.IndexOf('}', i + 1);
                if (close < 0)
                {
                    throw new FormatException("missing '}'");
                }

                name = line[(i + 1)..close];
                i = close + 1;
            }
            else
            {
                var start = i;
                while (i < line.Length && IsVarChar(line[i]))
                {
                    i++;
                }

                name = line[start..i];
            }

            if (uint.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
            {
                sb.Append(RelativeSequence(seq));
            }
            else if (Variables.TryGetValue(name, out var value))
            {
                sb.Append(value);
            }
            else if (skipUninitialized)
            {
                sb.Append('$').Append(name);
            }
            else
            {
                throw new FormatException("uninitialized variable $" + name);
            }
        }

        return sb.ToString();
    }

    private static string CString(string s)
    {
        var nul = s.IndexOf('\0', StringComparison.Ordinal);
        return nul < 0 ? s : s[..nul];
    }

    private static bool IsVarChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private static char Upper(char c) => c is >= 'a' and <= 'z' ? (char)(c - 32) : c;

    private static bool EqualsIgnoreCase(string a, string b) =>
        a.Length == b.Length && string.Compare(a, b, StringComparison.OrdinalIgnoreCase) == 0;

    /// <summary>
    /// Expands the pattern against the input: literal text must match (case-insensitively), a known variable is
    /// replaced by its value (which must appear exactly), an unknown one captures input up to the pattern's next
    /// character. Returns the expanded pattern, or null on a mismatch.
    /// </summary>
    private string? ExpandInput(string pattern, int s, string input, int i, out bool ignoreCase)
    {
        ignoreCase = true;
        var output = new System.Text.StringBuilder();
        while (s < pattern.Length)
        {
            if (pattern[s] != '$' || (s + 1 < pattern.Length && pattern[s + 1] == '$'))
            {
                if (pattern[s] == '$')
                {
                    s++;
                }

                if (i >= input.Length || Upper(pattern[s]) != Upper(input[i]))
                {
                    return null;
                }

                i++;
                output.Append(pattern[s++]);
                continue;
            }

            s++;
            string name;
            if (s < pattern.Length && pattern[s] == '{')
            {
                var close = pattern.IndexOf('}', s + 1);
                if (close < 0)
                {
                    return "";
                }

                name = pattern[(s + 1)..close];
                s = close + 1;
            }
            else
            {
                var start = s;
                while (s < pattern.Length && IsVarChar(pattern[s]))
                {
                    s++;
                }

                name = pattern[start..s];
            }

            string? value;
            if (uint.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
            {
                value = RelativeSequence(seq);
            }
            else if (name.StartsWith("case:", StringComparison.Ordinal))
            {
                ignoreCase = false;
                value = name[5..];
            }
            else
            {
                value = name.Length == 0 ? null : Variables.GetValueOrDefault(name);
                if (value is null)
                {
                    // Capture up to where the rest of the pattern's first character appears in the input.
                    var nextIgnoreCase = true;
                    var next = s < pattern.Length && pattern[s] == '$' ? ExpandInput(pattern, s, input, i, out nextIgnoreCase) ?? "" : pattern[s..];
                    var p = i;
                    if (next.Length > 0)
                    {
                        while (p < input.Length && (nextIgnoreCase ? Upper(input[p]) != Upper(next[0]) : input[p] != next[0]))
                        {
                            p++;
                        }
                    }
                    else
                    {
                        p = input.Length;
                    }

                    value = input[i..p];
                    if (name.Length > 0)
                    {
                        // (imaptest at the corpus's commit has no $modseqN rule: they are plain variables.)
                        Variables[name] = value;
                        _added.Add(name);
                    }
                }
            }

            output.Append(value);
            foreach (var c in value)
            {
                if (i >= input.Length || input[i] != c)
                {
                    return null;
                }

                i++;
            }
        }

        return output.ToString();
    }

    /// <summary>Matches expected arguments against reply arguments; <see cref="Full"/> on success.</summary>
    public int MatchArgs(IReadOnlyList<ImapArg> match, int mi, IReadOnlyList<ImapArg> args, int ai, int max, bool prefix)
    {
        var ret = 0;
        for (; mi < match.Count && max > 0; mi++, ai++, max--)
        {
            var m = match[mi];
            var a = ai < args.Count ? args[ai] : null;
            switch (m.Kind)
            {
                case ImapArgKind.Nil:
                    if (a?.Kind != ImapArgKind.Nil)
                    {
                        return ret;
                    }

                    break;
                case ImapArgKind.List:
                    if (a?.Kind != ImapArgKind.List)
                    {
                        return ret;
                    }

                    var sub = MatchList(m.Items, a.Items);
                    if (sub != Full)
                    {
                        return ret + sub;
                    }

                    break;
                default:
                    if (m.Text == "$" && a?.Kind == ImapArgKind.List)
                    {
                        break;
                    }

                    if (m.Text == "$]")
                    {
                        // Skips up to (and including) the atom that closes a "[…" response code.
                        while (ai < args.Count && args[ai].Kind == ImapArgKind.Atom && !args[ai].Text.Contains(']', StringComparison.Ordinal))
                        {
                            ai++;
                        }

                        break;
                    }

                    if (a is null || !a.IsAString)
                    {
                        return ret;
                    }

                    // imaptest compares C strings: text ends at the first NUL (for binary literals too).
                    var actual = CString(a.Text);
                    var expanded = ExpandInput(CString(m.Text), 0, actual, 0, out var ignoreCase);
                    if (expanded is null)
                    {
                        return ret;
                    }

                    var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                    if (prefix && mi == match.Count - 1)
                    {
                        if (!actual.StartsWith(expanded, comparison))
                        {
                            return ret;
                        }
                    }
                    else if (!string.Equals(actual, expanded, comparison))
                    {
                        return ret;
                    }

                    break;
            }

            ret++;
        }

        return prefix || ai >= args.Count || max == 0 ? Full : ret;
    }

    private int MatchList(IReadOnlyList<ImapArg> match, IReadOnlyList<ImapArg> args)
    {
        var unordered = false;
        var chain = 1;
        var noExtra = -1;
        var ignores = new List<string>();
        var bans = new List<string>();
        var mi = 0;
        for (; mi < match.Count && match[mi].Kind == ImapArgKind.Atom && match[mi].Text.StartsWith("$!", StringComparison.Ordinal); mi++)
        {
            var d = match[mi].Text[2..];
            if (d.StartsWith("unordered", StringComparison.Ordinal))
            {
                unordered = true;
                if (noExtra == -1)
                {
                    noExtra = 0;
                }

                if (d.Length > 10 && d[9] == '=')
                {
                    chain = int.Parse(d.AsSpan(10), CultureInfo.InvariantCulture);
                }
            }
            else if (d == "ordered")
            {
                unordered = false;
            }
            else if (d == "extra")
            {
                noExtra = 0;
            }
            else if (d == "noextra")
            {
                noExtra = 1;
            }
            else if (d.StartsWith("ignore=", StringComparison.Ordinal))
            {
                ignores.Add(d[7..]);
            }
            else if (d.StartsWith("ban=", StringComparison.Ordinal))
            {
                bans.Add(d[4..]);
            }
        }

        if (noExtra == -1)
        {
            noExtra = 1;
        }

        if (!unordered)
        {
            return MatchArgs(match, mi, args, 0, Full, false);
        }

        if (args.Count % chain != 0)
        {
            return 0;
        }

        var matched = new bool[args.Count];
        var ret = 0;
        for (; mi < match.Count; mi += chain, ret++)
        {
            var i = 0;
            for (; i < args.Count; i += chain)
            {
                if (MatchArgs(match, mi, args, i, chain, false) == Full)
                {
                    matched[i] = true;
                    break;
                }
            }

            if (i >= args.Count)
            {
                return ret;
            }
        }

        for (var i = 0; i < args.Count; i += chain)
        {
            if (matched[i] || !args[i].IsAString)
            {
                continue;
            }

            if (noExtra > 0 && !ignores.Any(x => EqualsIgnoreCase(x, args[i].Text)))
            {
                return ret;
            }

            if (noExtra == 0 && bans.Any(x => EqualsIgnoreCase(x, args[i].Text)))
            {
                return ret;
            }
        }

        return Full;
    }
}
