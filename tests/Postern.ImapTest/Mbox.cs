using System.Globalization;
using System.Text;

namespace Postern.ImapTest;

/// <summary>One message of an mbox file, ready to APPEND: CRLF lines and the From line's time as INTERNALDATE.</summary>
public sealed record MboxMessage(string Content, string InternalDate);

/// <summary>
/// The messages of an mbox as imaptest reads them: split at lines starting "From " (with a parseable date); every
/// other line (including the blank line before the next "From ") is the message's, with LF turned into CRLF.
/// </summary>
public static class Mbox
{
    public static IReadOnlyList<MboxMessage> Read(string path) => Parse(ImapScript.Latin1.GetString(File.ReadAllBytes(path)));

    public static IReadOnlyList<MboxMessage> Parse(string text)
    {
        var messages = new List<MboxMessage>();
        StringBuilder? current = null;
        string? date = null;
        var pos = 0;
        while (pos < text.Length)
        {
            var nl = text.IndexOf('\n', pos);
            var line = nl < 0 ? text[pos..] : text[pos..nl];
            pos = nl < 0 ? text.Length : nl + 1;
            if (line.EndsWith('\r'))
            {
                line = line[..^1];
            }

            if (line.StartsWith("From ", StringComparison.Ordinal) && TryFromLineDate(line, out var d))
            {
                if (current is { Length: > 0 })
                {
                    messages.Add(new MboxMessage(current.ToString(), date!));
                }

                current = new StringBuilder();
                date = d;
                continue;
            }

            if (current is null)
            {
                throw new FormatException("not an mbox file (no From line first)");
            }

            current.Append(line).Append("\r\n");
        }

        if (current is { Length: > 0 })
        {
            messages.Add(new MboxMessage(current.ToString(), date!));
        }

        return messages;
    }

    /// <summary>"From sender  Fri Feb 22 17:06:23 2008" → "22-Feb-2008 17:06:23 +0000".</summary>
    private static bool TryFromLineDate(string line, out string date)
    {
        date = "";
        var parts = line[5..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // sender, weekday, month, day, time, year [, zone]
        if (parts.Length < 6)
        {
            return false;
        }

        var month = parts[2];
        if (!int.TryParse(parts[3], CultureInfo.InvariantCulture, out var day) || parts[4].Length != 8
            || !int.TryParse(parts[5], CultureInfo.InvariantCulture, out var year))
        {
            return false;
        }

        var zone = parts.Length > 6 && (parts[6].StartsWith('+') || parts[6].StartsWith('-')) && parts[6].Length == 5 ? parts[6] : "+0000";
        date = $"{day:00}-{month}-{year:0000} {parts[4]} {zone}";
        return true;
    }
}
