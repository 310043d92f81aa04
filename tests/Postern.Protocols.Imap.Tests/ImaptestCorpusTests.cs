using System.Text;
using System.Text.RegularExpressions;

namespace Postern.Protocols.Imap.Tests;

/// <summary>
/// Every client command in the imaptest scripts (../shared/corpus/imaptest-scripts, read in place, never
/// copied here) goes through the reader and the parser without an error, for the extensions we parse.
/// </summary>
public sealed partial class ImaptestCorpusTests
{
    // Groups for extensions the parser does not take (CATENATE, CONTEXT=, URLAUTH, NOTIFY).
    private static readonly string[] Unsupported = ["CATENATE", "CONTEXT=SEARCH", "CONTEXT=SORT", "URLAUTH", "NOTIFY"];

    private static readonly string[] NotCommands = ["ok", "no", "bad", "\"\""];

    private static string? CorpusFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "corpus", "imaptest-scripts", "tests");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        return Directory.Exists("/work/shared/corpus/imaptest-scripts/tests") ? "/work/shared/corpus/imaptest-scripts/tests" : null;
    }

    [Fact]
    public void Every_scripted_command_parses()
    {
        var folder = CorpusFolder();
        if (folder is null)
        {
            return; // the corpus is not on this machine
        }

        var total = 0;
        var bad = 0;
        var failures = new List<string>();
        foreach (var file in Directory.GetFiles(folder).Where(f => !f.EndsWith(".mbox", StringComparison.Ordinal)).Order())
        {
            var text = File.ReadAllText(file, Encoding.Latin1);
            var headerEnd = text.IndexOf("\n\n", StringComparison.Ordinal);
            var header = headerEnd < 0 ? "" : text[..headerEnd];
            if (Unsupported.Any(u => header.Contains(u, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            foreach (var (command, expectBad) in Commands(headerEnd < 0 ? text : text[(headerEnd + 2)..]))
            {
                total++;
                var wire = "t1 " + command + "\r\n";
                var d = Driver.Run(wire);
                if (expectBad)
                {
                    bad++;
                    if (d.Errors.Count == 0 && d.Commands[0] is not UnknownCommand)
                    {
                        failures.Add($"{Path.GetFileName(file)}: {command} was expected to be BAD");
                    }
                }
                else if (d.Errors.Count > 0 || d.Commands.Count != 1 || d.Commands[0] is UnknownCommand)
                {
                    failures.Add($"{Path.GetFileName(file)}: {command.ReplaceLineEndings("⏎")} → {d.Errors.FirstOrDefault()?.Text ?? d.Commands.FirstOrDefault()?.ToString()}");
                }
            }
        }

        Assert.True(total > 500, $"only {total} commands found");
        Assert.True(bad > 0, "no command expected BAD");
        Assert.True(failures.Count == 0, $"{failures.Count} of {total} failed:\n" + string.Join("\n", failures));
    }

    /// <summary>The client commands of a script (methods 1, 2 and 3 of scripted_test.md), variables filled in.</summary>
    private static IEnumerable<(string Command, bool ExpectBad)> Commands(string body)
    {
        var lines = body.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            // Multi-line literal blocks {{{ ... }}}.
            var literals = new List<string>();
            while (line.EndsWith("{{{", StringComparison.Ordinal))
            {
                var content = new List<string>();
                i++;
                while (i < lines.Length && !lines[i].TrimEnd('\r').StartsWith("}}}", StringComparison.Ordinal))
                {
                    content.Add(lines[i].TrimEnd('\r'));
                    i++;
                }

                literals.Add(string.Join("\r\n", content));
                var rest = i < lines.Length ? lines[i].TrimEnd('\r')[3..] : "";
                line = line[..^3] + "\u0001" + rest;
            }

            if (line.Length == 0 || line[0] is '#' or '*' or '!')
            {
                continue;
            }

            var words = line.Split(' ');
            var w = 0;
            if (words[w].All(char.IsAsciiDigit) && words.Length > 1)
            {
                w++; // connection number
            }

            var first = words[w];
            string command;
            var expectBad = first.Equals("bad", StringComparison.OrdinalIgnoreCase);
            if (NotCommands.Contains(first, StringComparer.OrdinalIgnoreCase))
            {
                var rest = string.Join(' ', words[(w + 1)..]);
                if (rest.Length == 0 || rest.StartsWith('['))
                {
                    continue; // a reply line of method 2
                }

                command = rest;
            }
            else if (w + 1 < words.Length && NotCommands.Contains(words[w + 1], StringComparer.OrdinalIgnoreCase))
            {
                continue; // "tag ok": a reply line of method 3
            }
            else if (first.StartsWith("tag", StringComparison.OrdinalIgnoreCase) && w + 1 < words.Length && TagLike().IsMatch(first))
            {
                command = string.Join(' ', words[(w + 1)..]);
            }
            else
            {
                command = string.Join(' ', words[w..]);
            }

            command = Substitute(command);
            var sb = new StringBuilder();
            var k = 0;
            foreach (var c in command)
            {
                if (c == '\u0001')
                {
                    var data = literals[k++];
                    sb.Append('{').Append(Encoding.UTF8.GetByteCount(data)).Append("}\r\n").Append(data);
                }
                else
                {
                    sb.Append(c);
                }
            }

            command = sb.ToString();
            if (command.Equals("append", StringComparison.OrdinalIgnoreCase))
            {
                command += " imaptest"; // imaptest's default mailbox
            }

            if (command.StartsWith("append", StringComparison.OrdinalIgnoreCase) && literals.Count == 0)
            {
                command += " {12}\r\nSubject: x\r\n"; // imaptest appends the next message of the .mbox
            }

            yield return (command, expectBad);
        }
    }

    private static string Substitute(string command)
    {
        command = command.Replace("$$", "\u0002", StringComparison.Ordinal);
        command = Variable().Replace(command, m => m.Groups[1].Value switch
        {
            "mailbox" => "imaptest",
            "sep" => "/",
            "user" => "u@example.com",
            "username" => "u",
            "domain" => "example.com",
            "password" => "p",
            "keyword" => "kw" + m.Groups[2].Value,
            "" when m.Groups[2].Value.Length == 0 && !m.Value.Contains('{', StringComparison.Ordinal) => "$",
            _ => "1" + (m.Groups[2].Value.Length > 0 ? m.Groups[2].Value : ""),
        });
        return command.Replace("\u0002", "$", StringComparison.Ordinal);
    }

    [GeneratedRegex(@"\$\{?([a-z_]*?)(\d*)\}?(?![a-z_0-9])", RegexOptions.IgnoreCase)]
    private static partial Regex Variable();

    [GeneratedRegex(@"^tag\d*$", RegexOptions.IgnoreCase)]
    private static partial Regex TagLike();
}
