using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;

namespace Postern.Protocols.Smtp;

/// <summary>Limits of the command parser (RFC 5321 §4.5.3.1 minimums, with room for extensions).</summary>
public sealed record SmtpCommandLimits
{
    /// <summary>Longest command line accepted, CRLF included (RFC 5321: 512, plus extension parameters).</summary>
    public int MaxLineLength { get; init; } = 2048;

    /// <summary>Longest path (RFC 5321 §4.5.3.1.3: 256 octets including the brackets).</summary>
    public int MaxPathLength { get; init; } = 256;
}

public enum LineStatus
{
    NeedMoreData,
    Line,

    /// <summary>The line is longer than the limit: the bytes up to the line end are discarded (consumed) and the command refused.</summary>
    TooLong,
}

/// <summary>
/// Parses SMTP command lines: pure and synchronous, over bytes from the pipe. <see cref="TryReadLine"/>
/// takes one complete line or consumes nothing; <c>Parse</c> turns a line into a typed command or
/// the reply that explains what is wrong. Total: no input makes it throw.
/// </summary>
public static class SmtpCommandParser
{
    private static readonly SearchValues<char> AtextSpecials = SearchValues.Create("!#$%&'*+-/=?^_`{|}~");
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Reads one line ending in LF (CRLF expected; a bare LF is accepted for commands, as Postfix does).
    /// A line longer than the limit is consumed up to its end (or as far as it goes) and reported as too long,
    /// so the session can answer 500 and stay in step.
    /// </summary>
    public static LineStatus TryReadLine(ref SequenceReader<byte> reader, int maxLength, out ReadOnlySequence<byte> line)
    {
        var start = reader.Position;
        if (reader.TryReadTo(out line, (byte)'\n', advancePastDelimiter: true))
        {
            if (line.Length + 1 > maxLength)
            {
                line = default;
                return LineStatus.TooLong;
            }

            if (line.Length > 0 && EndsWithCr(line))
            {
                line = line.Slice(0, line.Length - 1);
            }

            return LineStatus.Line;
        }

        if (reader.Remaining > maxLength)
        {
            // No line end within the limit: discard what is here and report it once.
            reader.Advance(reader.Remaining);
            line = default;
            return LineStatus.TooLong;
        }

        reader.Rewind(reader.Consumed - reader.Sequence.Slice(0, start).Length);
        line = default;
        return LineStatus.NeedMoreData;
    }

    private static bool EndsWithCr(ReadOnlySequence<byte> line)
    {
        var last = line.Slice(line.Length - 1);
        return last.FirstSpan[0] == (byte)'\r';
    }

    public static SmtpCommand Parse(ReadOnlySequence<byte> line, SmtpCommandLimits? limits = null) =>
        line.IsSingleSegment ? Parse(line.FirstSpan, limits) : Parse(line.ToArray(), limits);

    public static SmtpCommand Parse(ReadOnlySpan<byte> line, SmtpCommandLimits? limits = null)
    {
        limits ??= new SmtpCommandLimits();
        string text;
        try
        {
            text = StrictUtf8.GetString(line);
        }
        catch (DecoderFallbackException)
        {
            return Fail(SmtpVerb.Unknown, SmtpReplies.BadArguments("Invalid UTF-8 in command"));
        }

        if (text.Contains('\0', StringComparison.Ordinal) || text.Contains('\r', StringComparison.Ordinal))
        {
            return Fail(SmtpVerb.Unknown, SmtpReplies.SyntaxError);
        }

        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var verbText = space < 0 ? text : text[..space];
        var argument = space < 0 ? string.Empty : text[(space + 1)..];
        var verb = VerbOf(verbText);
        return verb switch
        {
            SmtpVerb.Helo or SmtpVerb.Ehlo or SmtpVerb.Lhlo => ParseHello(verb, argument),
            SmtpVerb.Mail => ParseMail(argument, limits),
            SmtpVerb.Rcpt => ParseRcpt(argument, limits),
            SmtpVerb.Bdat => ParseBdat(argument),
            SmtpVerb.Auth => ParseAuth(argument),
            SmtpVerb.Data or SmtpVerb.Rset or SmtpVerb.Quit or SmtpVerb.StartTls => argument.Trim().Length == 0
                ? new SmtpCommand(verb, string.Empty)
                : Fail(verb, SmtpReplies.BadArguments($"{verbText.ToUpperInvariant()} takes no argument")),
            SmtpVerb.Noop or SmtpVerb.Help or SmtpVerb.Vrfy or SmtpVerb.Expn => new SmtpCommand(verb, argument.Trim()),
            _ => Fail(SmtpVerb.Unknown, SmtpReplies.SyntaxError),
        };
    }

    private static SmtpVerb VerbOf(string verb)
    {
        if (verb.Length is < 4 or > 8)
        {
            return SmtpVerb.Unknown;
        }

        return verb.ToUpperInvariant() switch
        {
            "HELO" => SmtpVerb.Helo,
            "EHLO" => SmtpVerb.Ehlo,
            "LHLO" => SmtpVerb.Lhlo,
            "MAIL" => SmtpVerb.Mail,
            "RCPT" => SmtpVerb.Rcpt,
            "DATA" => SmtpVerb.Data,
            "BDAT" => SmtpVerb.Bdat,
            "RSET" => SmtpVerb.Rset,
            "NOOP" => SmtpVerb.Noop,
            "QUIT" => SmtpVerb.Quit,
            "VRFY" => SmtpVerb.Vrfy,
            "EXPN" => SmtpVerb.Expn,
            "HELP" => SmtpVerb.Help,
            "STARTTLS" => SmtpVerb.StartTls,
            "AUTH" => SmtpVerb.Auth,
            _ => SmtpVerb.Unknown,
        };
    }

    private static SmtpCommand Fail(SmtpVerb verb, SmtpReply reply) => new(verb, string.Empty) { Error = reply };

    private static SmtpCommand ParseHello(SmtpVerb verb, string argument)
    {
        var name = argument.Trim();
        if (name.Length == 0)
        {
            return Fail(verb, SmtpReplies.BadArguments($"{verb.ToString().ToUpperInvariant()} requires a domain name or address literal"));
        }

        // Clients send all sorts of names; keep the first word, as Postfix does, and let policy judge it,
        // but the word itself must be a domain name or an address literal (RFC 5321 §4.1.1.1).
        var end = name.IndexOf(' ', StringComparison.Ordinal);
        var clientName = end < 0 ? name : name[..end];
        if (!IsValidHelloName(clientName))
        {
            return Fail(verb, new SmtpReply(501, new EnhancedStatusCode(5, 5, 2), "Invalid HELO/EHLO name: a domain name or address literal is required"));
        }

        return new SmtpCommand(verb, argument) { ClientName = clientName };
    }

    /// <summary>
    /// A domain (labels of letters, digits, hyphens and, as real clients send them, underscores; UTF-8
    /// letters for SMTPUTF8 clients; an optional final dot) or an address literal ([IPv4], [IPv6:...], or a
    /// general literal tag:content). What it rejects: empty labels, punctuation, unbalanced brackets.
    /// </summary>
    public static bool IsValidHelloName(string name)
    {
        if (name.Length is 0 or > 255)
        {
            return false;
        }

        if (name[0] == '[')
        {
            if (name[^1] != ']' || name.Length < 3)
            {
                return false;
            }

            var inner = name[1..^1];
            if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            {
                return System.Net.IPAddress.TryParse(inner[5..], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            }

            if (System.Net.IPAddress.TryParse(inner, out var v4) && v4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && inner.Count(c => c == '.') == 3)
            {
                return true;
            }

            // General-address-literal: Standardized-tag ":" 1*dcontent (printable ASCII but [ \ ]).
            var colon = inner.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 && colon < inner.Length - 1
                && inner[..colon].All(c => char.IsAsciiLetterOrDigit(c) || c == '-')
                && inner[(colon + 1)..].All(c => c is >= '!' and <= '~' and not '[' and not '\\' and not ']');
        }

        var labels = (name[^1] == '.' ? name[..^1] : name).Split('.');
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63)
            {
                return false;
            }

            foreach (var c in label)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_' || (c > 0x7f && char.IsLetterOrDigit(c))))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static SmtpCommand ParseMail(string argument, SmtpCommandLimits limits)
    {
        if (!TryStripPrefix(argument, "FROM:", out var rest))
        {
            return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments("Syntax: MAIL FROM:<address>"));
        }

        if (!TryParsePath(rest, allowNull: true, allowPostmaster: false, limits, out var path, out var parameters, out var error))
        {
            return Fail(SmtpVerb.Mail, error!);
        }

        var mail = new MailParameters();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in parameters)
        {
            if (!seen.Add(key))
            {
                return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments($"Duplicate parameter {key}"));
            }

            switch (key)
            {
                case "SIZE":
                    if (value is null || value.Length > 18 || !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var size))
                    {
                        return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments("SIZE takes a number of octets"));
                    }

                    mail = mail with { Size = size };
                    break;
                case "BODY":
                    BodyType? body = value?.ToUpperInvariant() switch
                    {
                        "7BIT" => BodyType.SevenBit,
                        "8BITMIME" => BodyType.EightBitMime,
                        "BINARYMIME" => BodyType.BinaryMime,
                        _ => null,
                    };
                    if (body is null)
                    {
                        return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments("BODY is 7BIT, 8BITMIME or BINARYMIME"));
                    }

                    mail = mail with { Body = body.Value };
                    break;
                case "SMTPUTF8":
                    if (value is not null)
                    {
                        return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments("SMTPUTF8 takes no value"));
                    }

                    mail = mail with { SmtpUtf8 = true };
                    break;
                case "RET":
                    DsnReturn? ret = value?.ToUpperInvariant() switch
                    {
                        "FULL" => DsnReturn.Full,
                        "HDRS" => DsnReturn.Headers,
                        _ => null,
                    };
                    if (ret is null)
                    {
                        return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments("RET is FULL or HDRS"));
                    }

                    mail = mail with { Return = ret.Value };
                    break;
                case "ENVID":
                    if (value is null || !XText.TryDecode(value, out var envId) || envId.Length > 100)
                    {
                        return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments("ENVID must be xtext of at most 100 characters"));
                    }

                    mail = mail with { EnvelopeId = envId };
                    break;
                case "AUTH":
                    if (value is null || !XText.TryDecode(value, out var auth))
                    {
                        return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments("AUTH must be xtext"));
                    }

                    mail = mail with { Auth = auth };
                    break;
                case "REQUIRETLS":
                    if (value is not null)
                    {
                        return Fail(SmtpVerb.Mail, SmtpReplies.BadArguments("REQUIRETLS takes no value"));
                    }

                    mail = mail with { RequireTls = true };
                    break;
                default:
                    return Fail(SmtpVerb.Mail, SmtpReplies.ParameterNotImplemented($"Unsupported parameter {key}"));
            }
        }

        if (path!.IsInternational && !mail.SmtpUtf8)
        {
            return Fail(SmtpVerb.Mail, new SmtpReply(553, new EnhancedStatusCode(5, 6, 7), "Non-ASCII address requires SMTPUTF8"));
        }

        return new SmtpCommand(SmtpVerb.Mail, argument) { Path = path, MailParameters = mail };
    }

    private static SmtpCommand ParseRcpt(string argument, SmtpCommandLimits limits)
    {
        if (!TryStripPrefix(argument, "TO:", out var rest))
        {
            return Fail(SmtpVerb.Rcpt, SmtpReplies.BadArguments("Syntax: RCPT TO:<address>"));
        }

        if (!TryParsePath(rest, allowNull: false, allowPostmaster: true, limits, out var path, out var parameters, out var error))
        {
            return Fail(SmtpVerb.Rcpt, error!);
        }

        var rcpt = new RcptParameters();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in parameters)
        {
            if (!seen.Add(key))
            {
                return Fail(SmtpVerb.Rcpt, SmtpReplies.BadArguments($"Duplicate parameter {key}"));
            }

            switch (key)
            {
                case "NOTIFY":
                    if (value is null || !TryParseNotify(value, out var notify))
                    {
                        return Fail(SmtpVerb.Rcpt, SmtpReplies.BadArguments("NOTIFY is NEVER or a list of SUCCESS, FAILURE, DELAY"));
                    }

                    rcpt = rcpt with { Notify = notify };
                    break;
                case "ORCPT":
                    var semicolon = value?.IndexOf(';', StringComparison.Ordinal) ?? -1;
                    if (value is null || semicolon <= 0 || !XText.TryDecode(value[(semicolon + 1)..], out var original) || original.Length == 0 || original.Length > 500)
                    {
                        return Fail(SmtpVerb.Rcpt, SmtpReplies.BadArguments("ORCPT is addr-type;xtext"));
                    }

                    rcpt = rcpt with { OriginalRecipientType = value[..semicolon].ToLowerInvariant(), OriginalRecipient = original };
                    break;
                default:
                    return Fail(SmtpVerb.Rcpt, SmtpReplies.ParameterNotImplemented($"Unsupported parameter {key}"));
            }
        }

        return new SmtpCommand(SmtpVerb.Rcpt, argument) { Path = path, RcptParameters = rcpt };
    }

    private static bool TryParseNotify(string value, out DsnNotify notify)
    {
        notify = DsnNotify.Unspecified;
        var parts = value.ToUpperInvariant().Split(',');
        foreach (var part in parts)
        {
            var flag = part switch
            {
                "NEVER" => DsnNotify.Never,
                "SUCCESS" => DsnNotify.Success,
                "FAILURE" => DsnNotify.Failure,
                "DELAY" => DsnNotify.Delay,
                _ => DsnNotify.Unspecified,
            };
            if (flag == DsnNotify.Unspecified || (notify & flag) != 0)
            {
                return false;
            }

            notify |= flag;
        }

        // NEVER stands alone (RFC 3461 §4.1).
        return !(notify.HasFlag(DsnNotify.Never) && notify != DsnNotify.Never);
    }

    private static SmtpCommand ParseBdat(string argument)
    {
        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2
            || parts[0].Length > 18
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            || (parts.Length == 2 && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)))
        {
            return Fail(SmtpVerb.Bdat, SmtpReplies.BadArguments("Syntax: BDAT <size> [LAST]"));
        }

        return new SmtpCommand(SmtpVerb.Bdat, argument) { ChunkSize = size, LastChunk = parts.Length == 2 };
    }

    private static SmtpCommand ParseAuth(string argument)
    {
        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || parts[0].Length > 20 || !parts[0].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            return Fail(SmtpVerb.Auth, SmtpReplies.BadArguments("Syntax: AUTH <mechanism> [initial-response]"));
        }

        return new SmtpCommand(SmtpVerb.Auth, argument) { Mechanism = parts[0].ToUpperInvariant(), InitialResponse = parts.Length == 2 ? parts[1] : null };
    }

    private static bool TryStripPrefix(string argument, string prefix, out string rest)
    {
        var trimmed = argument.TrimStart();
        if (trimmed.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            rest = trimmed[prefix.Length..].TrimStart(); // "MAIL FROM: <a@b>" is common; accept the space
            return true;
        }

        rest = string.Empty;
        return false;
    }

    /// <summary>Parses <c>&lt;path&gt; [SP key[=value]]...</c>; keys come back upper case.</summary>
    internal static bool TryParsePath(string text, bool allowNull, bool allowPostmaster, SmtpCommandLimits limits, out SmtpPath? path, out List<(string Key, string? Value)> parameters, out SmtpReply? error)
    {
        path = null;
        parameters = [];
        error = null;
        string inner;
        string rest;
        if (text.StartsWith('<'))
        {
            var close = FindClosingBracket(text);
            if (close < 0)
            {
                error = SmtpReplies.BadArguments("Missing '>' after the address");
                return false;
            }

            inner = text[1..close];
            rest = text[(close + 1)..];
            if (close + 1 > limits.MaxPathLength)
            {
                error = SmtpReplies.BadArguments("Path too long");
                return false;
            }
        }
        else
        {
            // Without brackets (a common client bug): the address runs to the first space.
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            inner = space < 0 ? text : text[..space];
            rest = space < 0 ? string.Empty : text[space..];
            if (inner.Length == 0)
            {
                error = SmtpReplies.BadArguments("Missing address");
                return false;
            }
        }

        if (rest.Length > 0 && rest[0] != ' ')
        {
            error = SmtpReplies.BadArguments("Unexpected text after the address");
            return false;
        }

        foreach (var token in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = token.IndexOf('=', StringComparison.Ordinal);
            var key = (eq < 0 ? token : token[..eq]).ToUpperInvariant();
            if (key.Length == 0 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                error = SmtpReplies.BadArguments($"Bad parameter '{Printable(token)}'");
                return false;
            }

            parameters.Add((key, eq < 0 ? null : token[(eq + 1)..]));
        }

        if (inner.Length == 0)
        {
            if (!allowNull)
            {
                error = SmtpReplies.BadArguments("The null path <> is not allowed here");
                return false;
            }

            path = SmtpPath.Null;
            return true;
        }

        if (allowPostmaster && inner.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            path = new SmtpPath("postmaster", string.Empty, IsPostmaster: true);
            return true;
        }

        // A source route "@a,@b:" is accepted and ignored (RFC 5321 §4.1.2, appendix C).
        if (inner.StartsWith('@'))
        {
            var colon = inner.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                error = SmtpReplies.BadArguments("Bad source route");
                return false;
            }

            inner = inner[(colon + 1)..];
        }

        if (!TrySplitMailbox(inner, out var local, out var domain, out var literal, out var reason))
        {
            error = new SmtpReply(553, new EnhancedStatusCode(5, 1, 3), $"Bad address syntax: {reason}");
            return false;
        }

        path = new SmtpPath(local!, domain!, IsAddressLiteral: literal);
        return true;
    }

    private static int FindClosingBracket(string text)
    {
        var quoted = false;
        for (var i = 1; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == '>')
            {
                return i;
            }
        }

        return -1;
    }

    private static bool TrySplitMailbox(string mailbox, out string? local, out string? domain, out bool literal, out string? reason)
    {
        local = null;
        domain = null;
        literal = false;
        int at;
        if (mailbox.StartsWith('"'))
        {
            var end = 1;
            while (end < mailbox.Length && mailbox[end] != '"')
            {
                if (mailbox[end] == '\\')
                {
                    if (end + 1 >= mailbox.Length || mailbox[end + 1] < 32 || mailbox[end + 1] == 127)
                    {
                        reason = "bad quoted pair";
                        return false;
                    }

                    end++;
                }
                else if (mailbox[end] < 32 || mailbox[end] == 127)
                {
                    reason = "control character in quoted local part";
                    return false;
                }

                end++;
            }

            if (end >= mailbox.Length || end + 1 >= mailbox.Length || mailbox[end + 1] != '@')
            {
                reason = "quoted local part must be followed by @domain";
                return false;
            }

            at = end + 1;
        }
        else
        {
            at = mailbox.LastIndexOf('@');
            if (at <= 0)
            {
                reason = "expected local-part@domain";
                return false;
            }

            var dotString = mailbox[..at];
            foreach (var atom in dotString.Split('.'))
            {
                if (atom.Length == 0)
                {
                    reason = "empty atom in the local part";
                    return false;
                }

                foreach (var c in atom)
                {
                    if (!(char.IsAsciiLetterOrDigit(c) || AtextSpecials.Contains(c) || c > 127))
                    {
                        reason = $"'{Printable(c.ToString())}' is not allowed in an unquoted local part";
                        return false;
                    }
                }
            }
        }

        local = mailbox[..at];
        // RFC 5321 §4.5.3.1.1 names 64 octets but asks servers to accept more where they can: SRS addresses
        // (forwarded mail's bounces) and VERP addresses are routinely longer. 255 keeps a bound.
        if (Encoding.UTF8.GetByteCount(local) > 255)
        {
            reason = "local part longer than 255 octets";
            return false;
        }

        var d = mailbox[(at + 1)..];
        if (d.StartsWith('['))
        {
            if (!d.EndsWith(']') || !IsAddressLiteral(d[1..^1]))
            {
                reason = "bad address literal";
                return false;
            }

            literal = true;
        }
        else if (!IsDomain(d))
        {
            reason = "bad domain";
            return false;
        }

        domain = d;
        reason = null;
        return true;
    }

    private static bool IsAddressLiteral(string content)
    {
        if (content.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.TryParse(content[5..], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        }

        var parts = content.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit) && int.Parse(p, CultureInfo.InvariantCulture) <= 255);
    }

    private static bool IsDomain(string domain)
    {
        if (domain.Length is 0 or > 255)
        {
            return false;
        }

        foreach (var label in domain.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            if (!label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-' || c > 127))
            {
                return false;
            }
        }

        return true;
    }

    private static string Printable(string text) => text.Length > 40 ? text[..40] + "..." : text;
}

/// <summary>RFC 3461 §4 xtext: <c>+XX</c> hex escapes for characters outside 33..126 and '+', '='.</summary>
public static class XText
{
    public static bool TryDecode(string value, out string decoded)
    {
        var builder = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '+')
            {
                if (i + 2 >= value.Length || !char.IsAsciiHexDigitUpper(value[i + 1]) && !char.IsAsciiDigit(value[i + 1])
                    || !char.IsAsciiHexDigitUpper(value[i + 2]) && !char.IsAsciiDigit(value[i + 2]))
                {
                    decoded = string.Empty;
                    return false;
                }

                builder.Append((char)Convert.ToByte(value.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c is < '!' or > '~' or '=')
            {
                decoded = string.Empty;
                return false;
            }
            else
            {
                builder.Append(c);
            }
        }

        decoded = builder.ToString();
        return true;
    }

    public static string Encode(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is < 33 or > 126 or (byte)'+' or (byte)'=')
            {
                builder.Append('+').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append((char)b);
            }
        }

        return builder.ToString();
    }
}
