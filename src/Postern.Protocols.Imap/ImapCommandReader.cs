using System.Buffers;

namespace Postern.Protocols.Imap;

public enum ImapReadStatus
{
    /// <summary>Everything given was taken in; read more from the connection.</summary>
    NeedMoreData,

    /// <summary>A complete command: <see cref="ImapReadResult.Command"/>.</summary>
    Command,

    /// <summary>A bad command or a breached limit: <see cref="ImapReadResult.Error"/>. The reader is back in step (unless it says close).</summary>
    Error,

    /// <summary>
    /// A synchronizing literal was announced (<see cref="ImapReadResult.Literal"/>): the session checks it
    /// (quota, mailbox), then calls <see cref="ImapCommandReader.AcceptLiteral"/> and sends <c>+ Ready</c>,
    /// or <see cref="ImapCommandReader.RejectLiteral"/> and sends the tagged NO/BAD.
    /// </summary>
    ContinuationRequest,

    /// <summary>An APPEND message literal begins (<see cref="ImapReadResult.Literal"/>): open a spool for it.</summary>
    LiteralStart,

    /// <summary>Bytes of the APPEND message (<see cref="ImapReadResult.Data"/>): copy them before advancing the pipe.</summary>
    LiteralData,

    /// <summary>The APPEND message is complete.</summary>
    LiteralEnd,
}

/// <summary>A literal the client announced.</summary>
public sealed record ImapLiteralInfo(string? Tag, string CommandName, long Length, bool Synchronizing, bool Binary)
{
    /// <summary>For an APPEND message: its flags, date and index (<see cref="AppendMessage.Index"/>); null for other literals.</summary>
    public AppendMessage? Message { get; init; }

    /// <summary>For an APPEND: the mailbox (as on the wire).</summary>
    public string? Mailbox { get; init; }
}

public readonly record struct ImapReadResult(ImapReadStatus Status)
{
    public ImapCommand? Command { get; init; }
    public ImapCommandError? Error { get; init; }
    public ImapLiteralInfo? Literal { get; init; }
    public ReadOnlySequence<byte> Data { get; init; }
}

/// <summary>
/// Frames IMAP commands off a connection's bytes, incrementally: fed whatever the pipe has, it takes in
/// as much as it can and says what happened (<see cref="ImapReadStatus"/>). One per connection: it keeps
/// the partial command between reads (line bytes and small literals are copied into its own buffer, so
/// the pipe can always be advanced to <c>consumed</c>), and APPEND message literals are handed to the
/// session as they arrive instead of being buffered. Bad input gives an error, never an exception.
/// </summary>
public sealed class ImapCommandReader(ImapLimits? limits = null)
{
    private enum State
    {
        Line,
        InlineLiteral,
        AwaitDecision,
        StreamStart,
        Stream,
        StreamEnd,
        DiscardLiteral,
        DiscardLine,
    }

    private readonly ImapLimits _limits = limits ?? new ImapLimits();
    private byte[] _buf = new byte[256];
    private int _len;
    private int _partStart;
    private int _lineBytes;
    private int _inlineTotal;
    private int _literals;
    private long _remaining;
    private State _state;
    private ImapLiteralInfo? _pending;
    private bool _pendingStream;
    private string? _tag;
    private string _verb = string.Empty;
    private bool _append;
    private string? _appendMailbox;
    private List<AppendMessage>? _appendMessages;
    private readonly byte[] _tail = new byte[32];
    private int _tailLength;

    public ImapLimits Limits => _limits;

    /// <summary>Bytes of a partial command held (for tests and metrics).</summary>
    internal int BufferCapacity => _buf.Length;

    /// <summary>Whether the reader is between commands (nothing of a command buffered).</summary>
    public bool IsIdle => _state == State.Line && _len == 0 && !_append;

    /// <summary>Takes in bytes from <paramref name="buffer"/>; <paramref name="consumed"/> is how far the pipe may be advanced.</summary>
    public ImapReadResult Read(ReadOnlySequence<byte> buffer, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        var result = Step(ref reader);
        consumed = reader.Position;
        return result;
    }

    /// <summary>The session accepts the announced synchronizing literal (and sends the go-ahead).</summary>
    public void AcceptLiteral()
    {
        if (_state != State.AwaitDecision || _pending is null)
        {
            throw new InvalidOperationException("No literal is waiting for a decision.");
        }

        _remaining = _pending.Length;
        _state = _pendingStream ? State.StreamStart : _remaining == 0 ? State.Line : State.InlineLiteral;
        if (_state == State.Line)
        {
            _partStart = _len;
        }
    }

    /// <summary>
    /// The session refuses the literal: a synchronizing one is never sent, so the reader simply forgets the
    /// command; a non-synchronizing APPEND message under way is read and thrown away with the rest of the
    /// command. False when that would be more than <see cref="ImapLimits.MaxDiscardSize"/>: close the connection.
    /// </summary>
    public bool RejectLiteral()
    {
        switch (_state)
        {
            case State.AwaitDecision:
                Reset();
                return true;
            case State.StreamStart or State.Stream or State.StreamEnd:
                if (_remaining > _limits.MaxDiscardSize)
                {
                    Reset();
                    return false;
                }

                var remaining = _remaining;
                Reset();
                _remaining = remaining;
                _state = remaining == 0 ? State.DiscardLine : State.DiscardLiteral;
                return true;
            default:
                throw new InvalidOperationException("No literal to reject.");
        }
    }

    /// <summary>
    /// Reads one line outside commands (an AUTHENTICATE response, IDLE's DONE): true with the line (without
    /// CRLF) when one is complete; false with tooLong when the limit was passed (the line is consumed).
    /// </summary>
    public static bool TryReadLine(ReadOnlySequence<byte> buffer, int maxLength, out ReadOnlySequence<byte> line, out SequencePosition consumed, out bool tooLong)
    {
        tooLong = false;
        var reader = new SequenceReader<byte>(buffer);
        if (reader.TryReadTo(out line, (byte)'\n'))
        {
            consumed = reader.Position;
            if (line.Length > 0 && line.Slice(line.Length - 1).FirstSpan[0] == '\r')
            {
                line = line.Slice(0, line.Length - 1);
            }

            if (line.Length > maxLength)
            {
                tooLong = true;
                line = default;
                return false;
            }

            return true;
        }

        consumed = buffer.Start;
        if (buffer.Length > maxLength)
        {
            tooLong = true;
            consumed = buffer.End;
        }

        line = default;
        return false;
    }

    /// <summary>Whether a line is IDLE's <c>DONE</c> (RFC 2177), case-insensitively.</summary>
    public static bool IsDone(ReadOnlySequence<byte> line)
    {
        Span<byte> buf = stackalloc byte[4];
        if (line.Length != 4)
        {
            return false;
        }

        line.CopyTo(buf);
        return System.Text.Ascii.EqualsIgnoreCase(buf, "DONE"u8);
    }

    private void Reset()
    {
        _state = State.Line;
        _len = 0;
        _partStart = 0;
        _lineBytes = 0;
        _inlineTotal = 0;
        _literals = 0;
        _remaining = 0;
        _pending = null;
        _pendingStream = false;
        _tag = null;
        _verb = string.Empty;
        _append = false;
        _appendMailbox = null;
        _appendMessages = null;
        if (_buf.Length > 64 * 1024)
        {
            _buf = new byte[256];
        }
    }

    private ImapReadResult Step(ref SequenceReader<byte> reader)
    {
        while (true)
        {
            switch (_state)
            {
                case State.AwaitDecision:
                    throw new InvalidOperationException("Call AcceptLiteral or RejectLiteral first.");

                case State.StreamStart:
                    _state = _remaining == 0 ? State.StreamEnd : State.Stream;
                    return new ImapReadResult(ImapReadStatus.LiteralStart) { Literal = _pending };

                case State.Stream:
                    {
                        if (reader.End)
                        {
                            return new ImapReadResult(ImapReadStatus.NeedMoreData);
                        }

                        var take = Math.Min(_remaining, reader.Remaining);
                        var data = reader.UnreadSequence.Slice(0, take);
                        reader.Advance(take);
                        _remaining -= take;
                        if (_remaining == 0)
                        {
                            _state = State.StreamEnd;
                        }

                        return new ImapReadResult(ImapReadStatus.LiteralData) { Data = data, Literal = _pending };
                    }

                case State.StreamEnd:
                    {
                        var done = _pending;
                        _state = State.Line;
                        _len = 0;
                        _partStart = 0;
                        _lineBytes = 0;
                        return new ImapReadResult(ImapReadStatus.LiteralEnd) { Literal = done };
                    }

                case State.InlineLiteral:
                    {
                        if (reader.End)
                        {
                            return new ImapReadResult(ImapReadStatus.NeedMoreData);
                        }

                        var take = (int)Math.Min(_remaining, reader.Remaining);
                        Ensure(take);
                        reader.UnreadSequence.Slice(0, take).CopyTo(_buf.AsSpan(_len));
                        reader.Advance(take);
                        _len += take;
                        _remaining -= take;
                        if (_remaining == 0)
                        {
                            _state = State.Line;
                            _partStart = _len;
                        }

                        continue;
                    }

                case State.DiscardLiteral:
                    {
                        if (reader.End)
                        {
                            return new ImapReadResult(ImapReadStatus.NeedMoreData);
                        }

                        var take = Math.Min(_remaining, reader.Remaining);
                        reader.Advance(take);
                        _remaining -= take;
                        if (_remaining == 0)
                        {
                            _state = State.DiscardLine;
                            _tailLength = 0;
                        }

                        continue;
                    }

                case State.DiscardLine:
                    {
                        if (reader.End)
                        {
                            return new ImapReadResult(ImapReadStatus.NeedMoreData);
                        }

                        var found = reader.TryReadTo(out ReadOnlySequence<byte> skipped, (byte)'\n');
                        if (!found)
                        {
                            skipped = reader.UnreadSequence;
                            reader.Advance(reader.Remaining);
                        }

                        KeepTail(skipped);
                        if (!found)
                        {
                            return new ImapReadResult(ImapReadStatus.NeedMoreData);
                        }

                        var tail = _tail.AsSpan(0, _tailLength);
                        if (tail.Length > 0 && tail[^1] == '\r')
                        {
                            tail = tail[..^1];
                        }

                        _tailLength = 0;
                        if (FindLiteral(tail, false, out _, out var length, out var sync, out _) && !sync)
                        {
                            if (length > _limits.MaxDiscardSize)
                            {
                                Reset();
                                return Fail(null, ImapStatus.Bad, "TOOBIG", "Literal too large to skip", close: true);
                            }

                            _remaining = length;
                            _state = length == 0 ? State.DiscardLine : State.DiscardLiteral;
                            continue;
                        }

                        Reset();
                        continue;
                    }

                default:
                    {
                        if (reader.End)
                        {
                            return new ImapReadResult(ImapReadStatus.NeedMoreData);
                        }

                        var found = reader.TryReadTo(out ReadOnlySequence<byte> part, (byte)'\n');
                        if (!found)
                        {
                            part = reader.UnreadSequence;
                        }

                        if (_lineBytes + part.Length > _limits.MaxLineLength)
                        {
                            var tag = _tag ?? TagOf(part);
                            Reset();
                            _tailLength = 0;
                            if (found)
                            {
                                // Whole line here: look at its end for a literal to skip.
                                KeepTail(part);
                                reader.Rewind(1);
                            }
                            else
                            {
                                KeepTail(part);
                                reader.Advance(reader.Remaining);
                            }

                            _state = State.DiscardLine;
                            return Fail(tag, ImapStatus.Bad, "TOOBIG", "Command line too long");
                        }

                        Ensure((int)part.Length);
                        part.CopyTo(_buf.AsSpan(_len));
                        _len += (int)part.Length;
                        _lineBytes += (int)part.Length;
                        if (!found)
                        {
                            reader.Advance(reader.Remaining);
                            return new ImapReadResult(ImapReadStatus.NeedMoreData);
                        }

                        if (_len > _partStart && _buf[_len - 1] == '\r')
                        {
                            _len--;
                        }

                        var lineResult = OnLine();
                        if (lineResult is { } r)
                        {
                            return r;
                        }

                        continue;
                    }
            }
        }
    }

    /// <summary>A line part is complete in _buf[_partStart.._len]: the command ends, or a literal follows.</summary>
    private ImapReadResult? OnLine()
    {
        var first = _partStart == 0 && _appendMessages is null;
        if (first)
        {
            _tag = ImapCommandParser.ReadTag(_buf.AsSpan(0, _len), _limits);
            _verb = VerbOf(_buf.AsSpan(0, _len));
            _append = _verb == "APPEND";
        }

        if (first && _len == 0)
        {
            // Empty lines between commands are ignored, as most servers do.
            Reset();
            return null;
        }

        if (!FindLiteral(_buf.AsSpan(_partStart, _len - _partStart), inQuote: false, out var at, out var length, out var sync, out var binary))
        {
            return _append ? FinishAppend() : Complete();
        }

        var announcementStart = _partStart + at;
        var isMessage = _append && !(first && IsMailboxLiteral(announcementStart));
        if (isMessage)
        {
            // Message literals are counted by MaxAppendMessages.
            return OnAppendLiteral(announcementStart, length, sync, binary);
        }

        if (++_literals > _limits.MaxLiteralsPerCommand)
        {
            return Refuse(sync, length, ImapStatus.Bad, "LIMIT", "Too many literals");
        }

        if (length > _limits.MaxInlineLiteralSize || _inlineTotal + length > _limits.MaxInlineLiteralTotal)
        {
            return Refuse(sync, length, ImapStatus.Bad, "TOOBIG", "Literal too large");
        }

        if (!sync && !_limits.LiteralPlus && length > ImapLimits.LiteralMinusLimit)
        {
            return Refuse(sync, length, ImapStatus.Bad, "TOOBIG", "Non-synchronizing literal over 4096 bytes");
        }

        _inlineTotal += (int)length;
        Ensure(2);
        _buf[_len++] = (byte)'\r';
        _buf[_len++] = (byte)'\n';
        _pending = new ImapLiteralInfo(_tag, _verb, length, sync, binary);
        _pendingStream = false;
        if (sync)
        {
            _state = State.AwaitDecision;
            return new ImapReadResult(ImapReadStatus.ContinuationRequest) { Literal = _pending };
        }

        _remaining = length;
        _state = length == 0 ? State.Line : State.InlineLiteral;
        _partStart = _len;
        return null;
    }

    private bool IsMailboxLiteral(int announcementStart)
    {
        // "tag APPEND {n}": nothing between the verb and the literal.
        var span = _buf.AsSpan(0, announcementStart);
        var firstSpace = span.IndexOf((byte)' ');
        if (firstSpace < 0)
        {
            return false;
        }

        var rest = span[(firstSpace + 1)..];
        var secondSpace = rest.IndexOf((byte)' ');
        return secondSpace >= 0 && secondSpace == rest.Length - 1;
    }

    private ImapReadResult? OnAppendLiteral(int announcementStart, long length, bool sync, bool binary)
    {
        var segment = _buf.AsSpan(0, announcementStart);
        var t = new ImapTokenizer(segment, _limits);
        List<string> flags;
        DateTimeOffset? date;
        try
        {
            if (_appendMessages is null)
            {
                t.Atom();
                t.Sp();
                t.Atom();
                t.Sp();
                _appendMailbox = t.Mailbox();
                t.Sp();
                _appendMessages = [];
            }
            else
            {
                t.Sp();
            }

            if (t.TryKeyword("CATENATE") || t.TryKeyword("UTF8"))
            {
                throw ImapTokenizer.Error("CATENATE and UTF8 APPEND are not supported");
            }

            (flags, date) = ImapCommandParser.ParseAppendPrefix(ref t);
            if (!t.AtEnd)
            {
                throw ImapTokenizer.Error("Invalid APPEND arguments");
            }
        }
        catch (ImapSyntaxException e)
        {
            return Refuse(sync, length, ImapStatus.Bad, e.Code, e.Message);
        }

        if (_appendMessages.Count >= _limits.MaxAppendMessages)
        {
            return Refuse(sync, length, ImapStatus.No, "LIMIT", "Too many messages in one APPEND");
        }

        if (length > _limits.MaxLiteralSize)
        {
            return Refuse(sync, length, ImapStatus.No, "TOOBIG", "Message too large");
        }

        if (!sync && !_limits.LiteralPlus && length > ImapLimits.LiteralMinusLimit)
        {
            return Refuse(sync, length, ImapStatus.Bad, "TOOBIG", "Non-synchronizing literal over 4096 bytes");
        }

        var message = new AppendMessage(_appendMessages.Count, flags, date, length, binary);
        _appendMessages.Add(message);
        _pending = new ImapLiteralInfo(_tag, _verb, length, sync, binary) { Message = message, Mailbox = _appendMailbox };
        _pendingStream = true;
        _remaining = length;
        if (sync)
        {
            _state = State.AwaitDecision;
            return new ImapReadResult(ImapReadStatus.ContinuationRequest) { Literal = _pending };
        }

        _state = State.StreamStart;
        return null;
    }

    /// <summary>Refuses a literal: a synchronizing one is never sent; a non-synchronizing one is skipped or the connection closed.</summary>
    private ImapReadResult Refuse(bool sync, long length, ImapStatus status, string? code, string text)
    {
        var tag = _tag;
        Reset();
        if (sync)
        {
            return Fail(tag, status, code, text);
        }

        if (length > _limits.MaxDiscardSize)
        {
            return Fail(tag, status, code, text, close: true);
        }

        _remaining = length;
        _state = length == 0 ? State.DiscardLine : State.DiscardLiteral;
        _tailLength = 0;
        return Fail(tag, status, code, text);
    }

    private ImapReadResult Complete()
    {
        var command = ImapCommandParser.Parse(_buf.AsSpan(0, _len), _limits, out var error);
        Reset();
        return command is not null
            ? new ImapReadResult(ImapReadStatus.Command) { Command = command }
            : new ImapReadResult(ImapReadStatus.Error) { Error = error };
    }

    private ImapReadResult FinishAppend()
    {
        var tag = _tag;
        if (_appendMessages is null || _appendMessages.Count == 0 || _appendMailbox is null)
        {
            var result = tag is null ? Fail(null, ImapStatus.Bad, null, "Invalid tag") : Fail(tag, ImapStatus.Bad, null, "APPEND needs a mailbox and a message literal");
            Reset();
            return result;
        }

        // After the last message only the line end may follow.
        var rest = _buf.AsSpan(_partStart, _len - _partStart).TrimEnd((byte)' ');
        if (!rest.IsEmpty)
        {
            Reset();
            return Fail(tag, ImapStatus.Bad, null, "Invalid APPEND arguments");
        }

        var command = new AppendCommand(tag!, _appendMailbox, _appendMessages);
        Reset();
        return new ImapReadResult(ImapReadStatus.Command) { Command = command };
    }

    private static ImapReadResult Fail(string? tag, ImapStatus status, string? code, string text, bool close = false) =>
        new(ImapReadStatus.Error) { Error = new ImapCommandError(tag, status, code, text, close) };

    private string? TagOf(ReadOnlySequence<byte> part)
    {
        var head = part.Slice(0, Math.Min(part.Length, _limits.MaxTagLength + 1)).ToArray();
        return _len == 0 ? ImapCommandParser.ReadTag(head, _limits) : ImapCommandParser.ReadTag(_buf.AsSpan(0, Math.Min(_len, _limits.MaxTagLength + 1)), _limits);
    }

    private static string VerbOf(ReadOnlySpan<byte> line)
    {
        var space = line.IndexOf((byte)' ');
        if (space < 0)
        {
            return string.Empty;
        }

        var rest = line[(space + 1)..];
        var end = rest.IndexOfAny((byte)' ', (byte)'{');
        var verb = end < 0 ? rest : rest[..end];
        return verb.Length is 0 or > 16 ? string.Empty : System.Text.Encoding.ASCII.GetString(verb).ToUpperInvariant();
    }

    /// <summary>A literal announcement (<c>{n}</c>, <c>{n+}</c>, <c>~{n}</c>) at the end of a line part, outside quoted strings.</summary>
    private static bool FindLiteral(ReadOnlySpan<byte> part, bool inQuote, out int at, out long length, out bool sync, out bool binary)
    {
        at = 0;
        length = 0;
        sync = true;
        binary = false;
        if (part.Length < 3 || part[^1] != '}')
        {
            return false;
        }

        var i = part.Length - 2;
        if (part[i] == '+')
        {
            sync = false;
            i--;
        }

        var digitsEnd = i + 1;
        while (i >= 0 && part[i] is >= (byte)'0' and <= (byte)'9')
        {
            i--;
        }

        var digits = part[(i + 1)..digitsEnd];
        if (i < 0 || part[i] != '{' || digits.IsEmpty || digits.Length > 19)
        {
            return false;
        }

        at = i;
        if (i > 0 && part[i - 1] == '~')
        {
            binary = true;
            at = i - 1;
        }

        // The brace must not be inside a quoted string.
        var quoted = inQuote;
        for (var k = 0; k < at; k++)
        {
            if (part[k] == '\\' && quoted)
            {
                k++;
                continue;
            }

            if (part[k] == '"')
            {
                quoted = !quoted;
            }
        }

        if (quoted)
        {
            return false;
        }

        foreach (var d in digits)
        {
            length = length > (long.MaxValue - 9) / 10 ? long.MaxValue : (length * 10) + (d - '0');
        }

        return true;
    }

    private void KeepTail(ReadOnlySequence<byte> bytes)
    {
        if (bytes.Length >= _tail.Length)
        {
            bytes.Slice(bytes.Length - _tail.Length).CopyTo(_tail);
            _tailLength = _tail.Length;
            return;
        }

        var n = (int)bytes.Length;
        if (_tailLength + n > _tail.Length)
        {
            var keep = _tail.Length - n;
            _tail.AsSpan(_tailLength - keep, keep).CopyTo(_tail);
            _tailLength = keep;
        }

        bytes.CopyTo(_tail.AsSpan(_tailLength));
        _tailLength += n;
    }

    private void Ensure(int more)
    {
        if (_len + more <= _buf.Length)
        {
            return;
        }

        var size = Math.Max(_buf.Length * 2, _len + more);
        Array.Resize(ref _buf, size);
    }
}
