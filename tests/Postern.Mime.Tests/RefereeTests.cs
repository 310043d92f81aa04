using System.Diagnostics;
using System.Text.Json;

namespace Postern.Mime.Tests;

/// <summary>npm mailparser as an independent referee over the corpus (scripts/peers/mailparser.sh installs it).
/// Subject, from/to/cc addresses, date, attachment names and the text body are compared; the differences that remain
/// are the ones docs/mime.md explains, each recognised here by a rule.</summary>
[Trait("Category", "EndToEnd")]
public class RefereeTests
{
    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Postern.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Postern.slnx not found");
    }

    private static (int Code, string Out, string Err) Run(string file, string args, string? stdin = null)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + file);
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }

        var errTask = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, errTask.Result);
    }

    private static string Norm(string? s) => string.Join(' ', (s ?? string.Empty).Split((char[])[' ', '\t', '\r', '\n', '\u00a0'], StringSplitOptions.RemoveEmptyEntries));

    [Fact]
    public void Mailparser_agrees_on_subject_addresses_date_attachments_and_text()
    {
        var root = FindRepoRoot();
        var (whichCode, _, _) = Run("/bin/sh", "-c \"command -v node && command -v npm\"");
        Assert.True(whichCode == 0, "node and npm are needed for the mailparser referee (apt-get install nodejs npm)");
        var (code, dirOut, err) = Run("/bin/bash", Path.Combine(root, "scripts", "peers", "mailparser.sh"));
        Assert.True(code == 0, "scripts/peers/mailparser.sh failed: " + err);
        var dir = dirOut.Trim().Split('\n')[^1];

        var files = Corpus.StalwartMessages().Concat(Corpus.SpamAssassinMessages().Where((_, i) => i % 8 == 0)).ToList();
        var (nodeCode, json, nodeErr) = Run("node", Path.Combine(dir, "dump.js"), string.Join('\n', files) + "\n");
        Assert.True(nodeCode == 0, "mailparser dump failed: " + nodeErr);

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var unexplained = new List<string>();
        void Note(string category) => counts[category] = counts.GetValueOrDefault(category) + 1;

        foreach (var line in json.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var file = r.GetProperty("file").GetString()!;
            if (r.TryGetProperty("error", out _))
            {
                Note("mailparser error");
                continue;
            }

            var m = MimeParser.ParseFile(file);
            var rel = Path.GetRelativePath(Corpus.Root, file);

            // Subject
            var theirSubject = r.GetProperty("subject").ValueKind == JsonValueKind.Null ? null : r.GetProperty("subject").GetString();
            var ourSubject = m.Subject;
            if (Norm(theirSubject) != Norm(ourSubject))
            {
                if (ourSubject is not null && ourSubject.Contains('\uFFFD', StringComparison.Ordinal) == false && theirSubject is not null && theirSubject.Contains('\uFFFD', StringComparison.Ordinal))
                {
                    Note("subject: undeclared 8-bit (we fall back to Windows-1252, mailparser shows U+FFFD)");
                }
                else if (theirSubject is not null && theirSubject.Contains("=?", StringComparison.Ordinal) && ourSubject is not null && !ourSubject.Contains("=?", StringComparison.Ordinal))
                {
                    Note("subject: broken encoded word we decode and mailparser leaves");
                }
                else
                {
                    unexplained.Add($"{rel}: subject ours={JsonSerializer.Serialize(ourSubject)} theirs={JsonSerializer.Serialize(theirSubject)}");
                }
            }

            // Addresses
            foreach (var field in new[] { "from", "to", "cc" })
            {
                var theirs = r.GetProperty(field).EnumerateArray().Select(x => x.GetString() ?? string.Empty).Where(a => a.Length > 0).ToList();
                var list = field switch { "from" => m.From, "to" => m.To, _ => m.Cc };
                var ours = list.Mailboxes.Select(a => a.Address ?? string.Empty).Where(a => a.Length > 0).ToList();
                if (!theirs.SequenceEqual(ours, StringComparer.OrdinalIgnoreCase))
                {
                    if (ours.Any(a => a.Contains("=?", StringComparison.Ordinal)))
                    {
                        Note("address: encoded word inside an addr-spec (RFC 2047 5 forbids it): kept as is; mailparser decodes or drops it");
                        continue;
                    }

                    if (theirs.Any(a => a.Contains('\uFFFD', StringComparison.Ordinal)))
                    {
                        Note("address: undeclared 8-bit (Windows-1252 to us, U+FFFD to mailparser)");
                        continue;
                    }

                    if (ours.Count > theirs.Count && ours.Where(a => !a.Contains('@', StringComparison.Ordinal)).Any() && theirs.All(ours.Contains))
                    {
                        Note("address: a bare word without '@' is a local address to us, a display name to mailparser");
                        continue;
                    }

                    if (ours.Count == theirs.Count && ours.Zip(theirs).All(p => p.First.Replace(" ", string.Empty, StringComparison.Ordinal).EndsWith(p.Second, StringComparison.OrdinalIgnoreCase)))
                    {
                        Note("address: white space inside <...>: we drop the space, mailparser drops the words before it");
                        continue;
                    }

                    unexplained.Add($"{rel}: {field} ours=[{string.Join(", ", ours)}] theirs=[{string.Join(", ", theirs)}]");
                }
            }

            // Date
            var theirDate = r.GetProperty("date").ValueKind == JsonValueKind.Null ? (DateTimeOffset?)null : DateTimeOffset.Parse(r.GetProperty("date").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            var ourDate = m.Date;
            if (ourDate.IsValid != theirDate.HasValue || (ourDate.IsValid && ourDate.Value.UtcDateTime != theirDate!.Value.UtcDateTime))
            {
                if (theirDate.HasValue && Math.Abs((theirDate.Value - DateTimeOffset.UtcNow).TotalDays) < 1)
                {
                    Note("date: missing or a form mailparser cannot read; it invents the current time");
                }
                else if (ourDate.IsValid && theirDate.HasValue && theirDate.Value.Year < 1000 && ourDate.Value.Year - theirDate.Value.Year == 1900)
                {
                    Note("date: year 0102 (the tm_year bug) is 2002 to us, year 102 to mailparser");
                }
                else if (ourDate.IsValid && !theirDate.HasValue)
                {
                    Note("date: a broken form we read and mailparser rejects");
                }
                else
                {
                    unexplained.Add($"{rel}: date ours={(ourDate.IsValid ? ourDate.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture) : "unreadable")} theirs={theirDate?.ToString("O", System.Globalization.CultureInfo.InvariantCulture)}");
                }
            }

            // Attachment names (named ones only: the two libraries count unnamed parts differently)
            var theirNames = r.GetProperty("attachments").EnumerateArray().Select(a => a.GetProperty("filename").GetString()).Where(n => !string.IsNullOrEmpty(n)).Order(StringComparer.Ordinal).ToList();
            var ourNames = m.Entities.Where(e => e.Kind != MimeBodyKind.Multipart).Select(e => e.FileName).Where(n => !string.IsNullOrEmpty(n)).Where(n => theirNames.Contains(n) || m.Attachments.Any(a => a.FileName == n)).Order(StringComparer.Ordinal).ToList();
            if (!theirNames.SequenceEqual(ourNames))
            {
                var rawType = m.Headers.GetField("Content-Type")?.Value ?? string.Empty;
                if (theirNames.Count == 0 && m.Root.Kind == MimeBodyKind.Multipart && !rawType.Contains(';', StringComparison.Ordinal))
                {
                    Note("attachments: \"multipart/mixed boundary=...\" without ';': we find the parts, mailparser reads one text part");
                    continue;
                }

                unexplained.Add($"{rel}: attachments ours=[{string.Join(", ", ourNames)}] theirs=[{string.Join(", ", theirNames)}]");
            }

            // Text body (when the message has a text/plain body)
            var theirText = r.GetProperty("text").ValueKind == JsonValueKind.Null ? null : r.GetProperty("text").GetString();
            if (m.Root.Kind == MimeBodyKind.Multipart && m.Root.Children.Count == 0 && string.IsNullOrEmpty(theirText))
            {
                Note("text: a multipart whose boundary never appears is text to us, nothing to mailparser");
            }
            else if (m.TextParts.Any())
            {
                var ourText = string.Join("\n", m.TextParts.Select(p => p.GetText()));
                if (Norm(ourText) != Norm(theirText))
                {
                    if (Norm(theirText).Contains(Norm(m.TextBody), StringComparison.Ordinal))
                    {
                        Note("text: mailparser joins more parts into the text");
                    }
                    else if ((theirText ?? string.Empty).Contains('\uFFFD', StringComparison.Ordinal))
                    {
                        Note("text: undeclared or wrong charset (we fall back to Windows-1252, mailparser shows U+FFFD)");
                    }
                    else
                    {
                        unexplained.Add($"{rel}: text differs ours={JsonSerializer.Serialize(Norm(ourText)[..Math.Min(80, Norm(ourText).Length)])} theirs={JsonSerializer.Serialize(Norm(theirText)[..Math.Min(80, Norm(theirText).Length)])}");
                    }
                }
            }
        }

        var report = string.Join('\n', counts.Select(kv => $"{kv.Value,5}  {kv.Key}")) + "\n\nUnexplained:\n" + string.Join('\n', unexplained);
        Directory.CreateDirectory(Path.Combine(root, "artifacts"));
        File.WriteAllText(Path.Combine(root, "artifacts", "mailparser-referee.txt"), report);
        Assert.True(unexplained.Count == 0, $"{unexplained.Count} unexplained differences (artifacts/mailparser-referee.txt):\n" + string.Join('\n', unexplained.Take(40)));
    }
}
