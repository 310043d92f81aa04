using System.Buffers;
using System.Text;

namespace Postern.Protocols.Smtp.Client;

/// <summary>Limits of the reply parser: a reply bigger than this is a protocol error, so a peer cannot make us buffer without end.</summary>
public sealed record SmtpReplyLimits
{
    /// <summary>Longest reply line, CRLF included.</summary>
    public int MaxLineLength { get; init; } = 4096;

    /// <summary>Most lines in one reply.</summary>
    public int MaxLines { get; init; } = 100;
}

public enum ReplyParseStatus
{
    /// <summary>The reply is not complete yet; nothing was consumed.</summary>
    NeedMoreData,

    /// <summary>One whole reply was read and consumed.</summary>
    Reply,

    /// <summary>The bytes are not a reply (or break a limit); nothing was consumed and the connection cannot be trusted any more.</summary>
    Malformed,
}

/// <summary>
/// Parses server replies (RFC 5321 §4.2): pure, synchronous and incremental over bytes from the wire. One call
/// takes one whole reply (all lines of a multi-line reply) or consumes nothing. Lines end in CRLF; a bare LF is
/// tolerated. A line that is not <c>ddd</c> followed by space, hyphen or the line end, a code outside 2xx–5xx,
/// lines of one reply with different codes, a line over the limit (detected before its end arrives) and too many
/// lines are <see cref="ReplyParseStatus.Malformed"/>. An enhanced status code (RFC 3463) at the start of the text,
/// of the same class as the reply code, is taken off each line and reported in <see cref="SmtpReply.Status"/>
/// (from the first line). Text is decoded as UTF-8 (invalid bytes become U+FFFD) with control characters replaced by '?'.
/// Total: no input makes it throw; the bytes it looks at are bounded by the limits.
/// </summary>
public static class SmtpReplyParser
{
    public static ReplyParseStatus TryParse(ref SequenceReader<byte> reader, SmtpReplyLimits limits, out SmtpReply? reply, out string? error)
    {
        ArgumentNullException.ThrowIfNull(limits);
        reply = null;
        error = null;
        var scan = reader;
        var lines = new List<string>();
        var code = -1;
        EnhancedStatusCode? status = null;
        Span<byte> copy = stackalloc byte[512];
        while (true)
        {
            if (!scan.TryReadTo(out ReadOnlySequence<byte> raw, (byte)'\n', advancePastDelimiter: true))
            {
                if (scan.Remaining + 1 > limits.MaxLineLength)
                {
                    error = "reply line longer than " + limits.MaxLineLength + " octets";
                    return ReplyParseStatus.Malformed;
                }

                return ReplyParseStatus.NeedMoreData;
            }

            if (raw.Length + 1 > limits.MaxLineLength)
            {
                error = "reply line longer than " + limits.MaxLineLength + " octets";
                return ReplyParseStatus.Malformed;
            }

            if (lines.Count + 1 > limits.MaxLines)
            {
                error = "reply of more than " + limits.MaxLines + " lines";
                return ReplyParseStatus.Malformed;
            }

            scoped ReadOnlySpan<byte> line;
            if (raw.IsSingleSegment)
            {
                line = raw.FirstSpan;
            }
            else if (raw.Length <= copy.Length)
            {
                raw.CopyTo(copy);
                line = copy[..(int)raw.Length];
            }
            else
            {
                line = raw.ToArray();
            }

            if (line.Length > 0 && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (line.Length < 3 || !IsDigit(line[0], '2', '5') || !IsDigit(line[1], '0', '5') || !IsDigit(line[2], '0', '9'))
            {
                error = "reply line does not start with a code 200-559";
                return ReplyParseStatus.Malformed;
            }

            var lineCode = ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
            if (code >= 0 && lineCode != code)
            {
                error = "lines of one reply carry different codes";
                return ReplyParseStatus.Malformed;
            }

            code = lineCode;
            bool last;
            if (line.Length == 3)
            {
                last = true;
            }
            else if (line[3] is (byte)' ' or (byte)'-')
            {
                last = line[3] == (byte)' ';
            }
            else
            {
                error = "reply code not followed by space or hyphen";
                return ReplyParseStatus.Malformed;
            }

            var text = line.Length > 4 ? Text(line[4..]) : string.Empty;
            var (lineStatus, rest) = SplitStatus(text, line[0]);
            if (lines.Count == 0)
            {
                status = lineStatus;
            }

            lines.Add(rest);
            if (last)
            {
                reader.Advance(scan.Consumed - reader.Consumed);
                reply = new SmtpReply(code, status, lines);
                return ReplyParseStatus.Reply;
            }
        }
    }

    private static bool IsDigit(byte b, char low, char high) => b >= low && b <= high;

    private static string Text(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.UTF8.GetString(bytes);
        foreach (var c in text)
        {
            if (char.IsControl(c) && c != '\t')
            {
                return string.Create(text.Length, text, static (span, source) =>
                {
                    for (var i = 0; i < source.Length; i++)
                    {
                        span[i] = char.IsControl(source[i]) && source[i] != '\t' ? '?' : source[i];
                    }
                });
            }
        }

        return text;
    }

    /// <summary>Takes "c.s.d " off the text when c is the reply's class digit.</summary>
    private static (EnhancedStatusCode? Status, string Text) SplitStatus(string text, byte classDigit)
    {
        if (text.Length < 5 || text[0] != (char)classDigit || text[1] != '.')
        {
            return (null, text);
        }

        var end = text.IndexOf(' ', StringComparison.Ordinal);
        var token = end < 0 ? text : text[..end];
        if (token.Length > 9 || !EnhancedStatusCode.TryParse(token, out var status))
        {
            return (null, text);
        }

        return (status, end < 0 ? string.Empty : text[(end + 1)..]);
    }
}
