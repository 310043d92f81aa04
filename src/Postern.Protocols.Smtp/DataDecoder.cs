using System.Buffers;

namespace Postern.Protocols.Smtp;

/// <summary>What the DATA stream held besides the message (the session decides what to refuse).</summary>
[Flags]
public enum DataDefects
{
    None = 0,

    /// <summary>A LF not preceded by CR: refused, since SMTP smuggling (CVE-2023-51766 and kin) hides a second message behind one.</summary>
    BareLineFeed = 1,

    /// <summary>A CR not followed by LF.</summary>
    BareCarriageReturn = 2,

    /// <summary>A line longer than 998 octets before its CRLF (RFC 5322 §2.1.1).</summary>
    LongLine = 4,

    /// <summary>More octets than the size limit: the rest was read and thrown away.</summary>
    TooBig = 8,
}

/// <summary>What the session does with a bare CR or LF inside DATA.</summary>
public enum BareLineEndHandling
{
    /// <summary>
    /// As Postfix 3.9's <c>smtpd_forbid_bare_newline = normalize</c>: a bare LF or CR ends a line, which is
    /// stored with CRLF, but never ends the message (a dot line after it is content). The default.
    /// </summary>
    Normalize = 0,

    /// <summary>The message is refused with 550 5.5.2.</summary>
    Reject = 1,
}

/// <summary>
/// Decodes the DATA stream (RFC 5321 §4.5.2): removes the leading dot of dot-stuffed lines and stops at
/// <c>CRLF . CRLF</c>, and only there: a dot line after a bare LF or CR is message content (SMTP smuggling
/// cannot end a message early), and the bare line end is reported so the message can be refused; with
/// <paramref name="normalize"/> the bare line end is written as CRLF, so the stored message has none.
/// Stateful across reads; consumes everything it is given except a few bytes at a line start that cannot
/// be judged yet. Past the size limit it keeps consuming to the end without writing, so the session can
/// answer 552 and stay in step.
/// </summary>
public sealed class DataDecoder(long maxSize, bool normalize = false)
{
    private static readonly byte[] LineFeed = [(byte)'\n'];
    private static readonly byte[] CrLf = [(byte)'\r', (byte)'\n'];

    private const int MaxLineOctets = 998;
    private bool _atLineStart = true;
    private bool _lastWasCr;
    private int _lineLength;

    public long MaxSize { get; } = maxSize;

    /// <summary>Octets of the message (after unstuffing), counted also past the limit.</summary>
    public long Length { get; private set; }

    public DataDefects Defects { get; private set; }

    public bool Completed { get; private set; }

    /// <summary>
    /// Decodes from <paramref name="reader"/> into <paramref name="output"/> until the end marker or the end
    /// of the input. Returns true when the end marker was consumed (the message is complete).
    /// </summary>
    public bool Decode(ref SequenceReader<byte> reader, IBufferWriter<byte> output)
    {
        while (!reader.End && !Completed)
        {
            if (_atLineStart)
            {
                if (!reader.TryPeek(out var first))
                {
                    return false;
                }

                if (first == (byte)'.')
                {
                    // ".\r\n" ends the message; ".\r" + other, or "." + other, is a stuffed dot.
                    if (reader.Remaining < 2)
                    {
                        return false;
                    }

                    reader.TryPeek(1, out var second);
                    if (second == (byte)'\r')
                    {
                        if (reader.Remaining < 3)
                        {
                            return false;
                        }

                        reader.TryPeek(2, out var third);
                        if (third == (byte)'\n')
                        {
                            reader.Advance(3);
                            Completed = true;
                            return true;
                        }
                    }

                    reader.Advance(1); // drop the stuffing dot
                }

                _atLineStart = false;
                _lineLength = 0;
            }

            var span = reader.UnreadSpan;
            var stop = span.IndexOfAny((byte)'\r', (byte)'\n');
            if (stop < 0)
            {
                if (_lastWasCr && span.Length > 0)
                {
                    BareCarriageReturn(output);
                }

                _lastWasCr = false;
                Emit(span, output);
                _lineLength += span.Length;
                reader.Advance(span.Length);
                CheckLineLength();
                continue;
            }

            var c = span[stop];
            if (_lastWasCr && !(stop == 0 && c == (byte)'\n'))
            {
                // The CR before this was not followed by LF.
                BareCarriageReturn(output);
                _lastWasCr = false;
            }

            var bareLf = c == (byte)'\n' && !_lastWasCr;
            if (bareLf && normalize)
            {
                Emit(span[..stop], output);
                Emit(CrLf, output);
            }
            else
            {
                Emit(span[..(stop + 1)], output);
            }

            _lineLength += stop;
            CheckLineLength();
            reader.Advance(stop + 1);
            if (c == (byte)'\r')
            {
                _lastWasCr = true;
                continue;
            }

            // LF
            if (bareLf)
            {
                Defects |= DataDefects.BareLineFeed;
            }
            else
            {
                _atLineStart = true;
            }

            _lastWasCr = false;
            _lineLength = 0;
        }

        return Completed;
    }

    /// <summary>A CR was not followed by LF: flagged, and completed to CRLF when normalising.</summary>
    private void BareCarriageReturn(IBufferWriter<byte> output)
    {
        Defects |= DataDefects.BareCarriageReturn;
        if (normalize)
        {
            Emit(LineFeed, output);
        }

        _lineLength = 0;
    }

    private void CheckLineLength()
    {
        if (_lineLength > MaxLineOctets)
        {
            Defects |= DataDefects.LongLine;
        }
    }

    private void Emit(ReadOnlySpan<byte> bytes, IBufferWriter<byte> output)
    {
        var room = MaxSize - Length;
        Length += bytes.Length;
        if (room <= 0)
        {
            Defects |= DataDefects.TooBig;
            return;
        }

        if (bytes.Length > room)
        {
            Defects |= DataDefects.TooBig;
            bytes = bytes[..(int)room];
        }

        output.Write(bytes);
    }
}
