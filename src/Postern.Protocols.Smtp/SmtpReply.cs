using System.Globalization;
using System.Text;

namespace Postern.Protocols.Smtp;

/// <summary>An RFC 3463 enhanced status code: class.subject.detail (e.g. 5.1.1).</summary>
public readonly record struct EnhancedStatusCode(int Class, int Subject, int Detail)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Class}.{Subject}.{Detail}");

    public static bool TryParse(string text, out EnhancedStatusCode code)
    {
        code = default;
        var parts = text.Split('.');
        if (parts.Length != 3
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var c) || c is not (2 or 4 or 5)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var s) || s > 999
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var d) || d > 999)
        {
            return false;
        }

        code = new EnhancedStatusCode(c, s, d);
        return true;
    }
}

/// <summary>
/// A server reply: a three-digit code, an optional enhanced status code (sent on every line when the
/// ENHANCEDSTATUSCODES extension is in use) and one or more text lines.
/// </summary>
public sealed record SmtpReply(int Code, EnhancedStatusCode? Status, IReadOnlyList<string> Lines)
{
    public SmtpReply(int code, EnhancedStatusCode? status, string text)
        : this(code, status, [text])
    {
    }

    public bool IsPositive => Code is >= 200 and < 400;

    public bool IsTransientFailure => Code is >= 400 and < 500;

    public bool IsPermanentFailure => Code >= 500;

    /// <summary>Writes the reply with CRLF line ends (<c>250-</c> continuation lines, <c>250 </c> last).</summary>
    public void WriteTo(StringBuilder output, bool enhanced = true)
    {
        for (var i = 0; i < Lines.Count; i++)
        {
            output.Append(Code.ToString(CultureInfo.InvariantCulture)).Append(i == Lines.Count - 1 ? ' ' : '-');
            if (enhanced && Status is { } status)
            {
                output.Append(status.ToString()).Append(' ');
            }

            output.Append(Sanitize(Lines[i])).Append("\r\n");
        }
    }

    public byte[] ToBytes(bool enhanced = true)
    {
        var text = new StringBuilder();
        WriteTo(text, enhanced);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        WriteTo(text);
        return text.ToString();
    }

    /// <summary>Reply text never carries a line break or control character (it may echo client input).</summary>
    private static string Sanitize(string line)
    {
        if (!line.Any(c => char.IsControl(c)))
        {
            return line;
        }

        return new string(line.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}

/// <summary>The replies Postern sends, with RFC 5321 codes and RFC 3463 enhanced codes.</summary>
public static class SmtpReplies
{
    private static EnhancedStatusCode S(int c, int s, int d) => new(c, s, d);

    public static SmtpReply Ok(string text = "OK") => new(250, S(2, 0, 0), text);

    public static SmtpReply SenderOk { get; } = new(250, S(2, 1, 0), "Sender OK");

    public static SmtpReply RecipientOk { get; } = new(250, S(2, 1, 5), "Recipient OK");

    public static SmtpReply StartData { get; } = new(354, null, "Start mail input; end with <CRLF>.<CRLF>");

    public static SmtpReply Queued(string queueId) => new(250, S(2, 0, 0), $"OK queued as {queueId}");

    public static SmtpReply Bye(string hostname) => new(221, S(2, 0, 0), $"{hostname} closing connection");

    public static SmtpReply ReadyToStartTls { get; } = new(220, S(2, 0, 0), "Ready to start TLS");

    public static SmtpReply ShuttingDown(string hostname) => new(421, S(4, 3, 2), $"{hostname} shutting down, try again later");

    public static SmtpReply TooManyConnections(string hostname) => new(421, S(4, 7, 0), $"{hostname} too many connections, try again later");

    public static SmtpReply Timeout(string hostname) => new(421, S(4, 4, 2), $"{hostname} timeout, closing connection");

    public static SmtpReply SessionTimeLimit(string hostname) => new(421, S(4, 4, 2), $"{hostname} session time limit reached, closing connection");

    public static SmtpReply SyntaxError { get; } = new(500, S(5, 5, 2), "Syntax error, command unrecognized");

    public static SmtpReply LineTooLong { get; } = new(500, S(5, 5, 2), "Line too long");

    public static SmtpReply BadArguments(string what) => new(501, S(5, 5, 4), what);

    public static SmtpReply NotImplemented { get; } = new(502, S(5, 5, 1), "Command not implemented");

    public static SmtpReply BadSequence(string what) => new(503, S(5, 5, 1), what);

    public static SmtpReply ParameterNotImplemented(string what) => new(555, S(5, 5, 4), what);

    public static SmtpReply MessageTooBig { get; } = new(552, S(5, 3, 4), "Message size exceeds fixed maximum message size");

    public static SmtpReply TooManyRecipients { get; } = new(452, S(4, 5, 3), "Too many recipients");

    public static SmtpReply InsufficientStorage { get; } = new(452, S(4, 3, 1), "Insufficient system storage, try again later");

    public static SmtpReply LocalError { get; } = new(451, S(4, 3, 0), "Local error in processing, try again later");

    public static SmtpReply NoSuchUser { get; } = new(550, S(5, 1, 1), "No such user here");

    public static SmtpReply Disabled { get; } = new(550, S(5, 2, 1), "Mailbox disabled, not accepting messages");

    public static SmtpReply RelayDenied { get; } = new(554, S(5, 7, 1), "Relay access denied");

    public static SmtpReply AuthRequired { get; } = new(530, S(5, 7, 0), "Authentication required");

    public static SmtpReply EncryptionRequired { get; } = new(530, S(5, 7, 0), "Must issue a STARTTLS command first");

    public static SmtpReply AuthSucceeded { get; } = new(235, S(2, 7, 0), "Authentication successful");

    public static SmtpReply AuthFailed { get; } = new(535, S(5, 7, 8), "Authentication credentials invalid");

    public static SmtpReply NoValidRecipients { get; } = new(554, S(5, 5, 1), "No valid recipients");
}
