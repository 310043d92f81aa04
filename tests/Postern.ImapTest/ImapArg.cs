using System.Text;

namespace Postern.ImapTest;

/// <summary>The kinds of IMAP arguments the runner compares.</summary>
public enum ImapArgKind
{
    Atom,
    String,
    Literal,
    Nil,
    List,
}

/// <summary>
/// One parsed IMAP argument (from a server reply or from an expected line of a script). Text is Latin-1:
/// one char per byte, so binary literals survive and comparisons work byte by byte.
/// </summary>
public sealed class ImapArg
{
    private ImapArg(ImapArgKind kind, string text, IReadOnlyList<ImapArg> items)
    {
        Kind = kind;
        Text = text;
        Items = items;
    }

    public ImapArgKind Kind { get; }

    public string Text { get; }

    public IReadOnlyList<ImapArg> Items { get; }

    /// <summary>Atom, quoted string or literal: the kinds imaptest compares as text.</summary>
    public bool IsAString => Kind is ImapArgKind.Atom or ImapArgKind.String or ImapArgKind.Literal;

    public static ImapArg Atom(string text) => new(ImapArgKind.Atom, text, []);

    public static ImapArg Str(string text) => new(ImapArgKind.String, text, []);

    public static ImapArg Literal(string text) => new(ImapArgKind.Literal, text, []);

    public static ImapArg Nil() => new(ImapArgKind.Nil, "NIL", []);

    public static ImapArg List(IReadOnlyList<ImapArg> items) => new(ImapArgKind.List, "", items);

    public override string ToString() => Format([this]);

    /// <summary>Renders arguments back as IMAP text (for failure messages); long literals are shortened.</summary>
    public static string Format(IEnumerable<ImapArg> args)
    {
        var sb = new StringBuilder();
        Append(sb, args);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, IEnumerable<ImapArg> args)
    {
        var first = true;
        foreach (var a in args)
        {
            if (!first)
            {
                sb.Append(' ');
            }

            first = false;
            switch (a.Kind)
            {
                case ImapArgKind.Atom:
                    sb.Append(a.Text);
                    break;
                case ImapArgKind.Nil:
                    sb.Append("NIL");
                    break;
                case ImapArgKind.String:
                case ImapArgKind.Literal:
                    var t = a.Text.Length > 300 ? a.Text[..300] + "…" : a.Text;
                    sb.Append('"').Append(t.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
                        .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('"');
                    break;
                case ImapArgKind.List:
                    sb.Append('(');
                    Append(sb, a.Items);
                    sb.Append(')');
                    break;
            }
        }
    }
}

/// <summary>
/// Parses IMAP arguments out of one logical line whose literals are inline ("{5}\r\nhello"). The same parser reads
/// both server replies and the scripts' expected lines, so both sides are split alike. An atom that opens '[' runs
/// to the matching ']' (so "BODY[HEADER.FIELDS (FROM)]" and "[COPYUID 1 2 3]" are single atoms).
/// </summary>
public static class ImapArgParser
{
    public static IReadOnlyList<ImapArg>? TryParse(string line, out string? error)
    {
        var pos = 0;
        error = null;
        var stack = new Stack<List<ImapArg>>();
        var current = new List<ImapArg>();
        while (true)
        {
            while (pos < line.Length && line[pos] == ' ')
            {
                pos++;
            }

            if (pos >= line.Length || line[pos] is '\r' or '\n')
            {
                if (stack.Count > 0)
                {
                    error = "unterminated list";
                    return null;
                }

                return current;
            }

            var c = line[pos];
            if (c == '(')
            {
                stack.Push(current);
                current = [];
                pos++;
                continue;
            }

            if (c == ')')
            {
                if (stack.Count == 0)
                {
                    error = "unexpected ')'";
                    return null;
                }

                var list = ImapArg.List(current);
                current = stack.Pop();
                current.Add(list);
                pos++;
                continue;
            }

            if (c == '"')
            {
                var sb = new StringBuilder();
                pos++;
                while (true)
                {
                    if (pos >= line.Length)
                    {
                        error = "unterminated quoted string";
                        return null;
                    }

                    var q = line[pos++];
                    if (q == '"')
                    {
                        break;
                    }

                    if (q == '\\' && pos < line.Length)
                    {
                        q = line[pos++];
                    }

                    sb.Append(q);
                }

                current.Add(ImapArg.Str(sb.ToString()));
                continue;
            }

            if (TryLiteral(line, ref pos, out var literal, out error))
            {
                current.Add(ImapArg.Literal(literal));
                continue;
            }

            if (error is not null)
            {
                return null;
            }

            var start = pos;
            var depth = 0;
            while (pos < line.Length)
            {
                var a = line[pos];
                if (a == '[')
                {
                    depth++;
                }
                else if (a == ']' && depth > 0)
                {
                    depth--;
                }
                else if (depth == 0 && a is ' ' or '(' or ')' or '\r' or '\n')
                {
                    break;
                }
                else if (depth > 0 && a is '\r' or '\n')
                {
                    break;
                }

                pos++;
            }

            var atom = line[start..pos];
            current.Add(atom.Equals("NIL", StringComparison.OrdinalIgnoreCase) ? ImapArg.Nil() : ImapArg.Atom(atom));
        }
    }

    /// <summary>"{N}\r\n" or "~{N}\r\n" (or "{N+}") followed by N characters.</summary>
    private static bool TryLiteral(string line, ref int pos, out string text, out string? error)
    {
        text = "";
        error = null;
        var p = pos;
        if (p < line.Length && line[p] == '~')
        {
            p++;
        }

        if (p >= line.Length || line[p] != '{')
        {
            return false;
        }

        p++;
        var digits = p;
        while (p < line.Length && char.IsAsciiDigit(line[p]))
        {
            p++;
        }

        if (p == digits)
        {
            return false;
        }

        var end = p;
        if (p < line.Length && line[p] == '+')
        {
            p++;
        }

        if (p >= line.Length || line[p] != '}')
        {
            return false;
        }

        p++;
        if (p + 2 > line.Length || line[p] != '\r' || line[p + 1] != '\n')
        {
            return false;
        }

        p += 2;
        if (!long.TryParse(line.AsSpan(digits, end - digits), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            || p + n > line.Length)
        {
            error = "literal longer than the line";
            return false;
        }

        text = line.Substring(p, (int)n);
        pos = p + (int)n;
        return true;
    }
}
