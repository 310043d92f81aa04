using System.Buffers;
using System.Globalization;
using System.Text;

namespace Postern.Protocols.Imap;

/// <summary>
/// Writes server responses into an <see cref="IBufferWriter{T}"/> (a PipeWriter): status responses
/// (tagged, untagged, with response codes), continuation requests, and the data of untagged responses
/// value by value. Values are separated by one space automatically (none after an opening parenthesis
/// or at the start of a line). Strings become atoms, quoted strings or literals, whichever is safe:
/// quoted only for short text without CR, LF or NUL, and 8-bit only when the client enabled UTF-8.
/// </summary>
public sealed class ImapResponseWriter(IBufferWriter<byte> output)
{
    /// <summary>Quoted strings longer than this are written as literals.</summary>
    public const int MaxQuotedLength = 1024;

    private bool _needSpace;

    /// <summary>The client enabled UTF8=ACCEPT or IMAP4rev2: UTF-8 in quoted strings and mailbox names.</summary>
    public bool Utf8Enabled { get; set; }

    public void Tagged(string tag, ImapStatus status, string text, ImapResponseCode? code = null)
    {
        Begin();
        Ascii(tag);
        StatusLine(status, code, text);
    }

    public void Untagged(ImapStatus status, string text, ImapResponseCode? code = null)
    {
        Begin();
        Ascii("*");
        StatusLine(status, code, text);
    }

    /// <summary>
    /// The answer to a reader or parser error: <c>tag BAD [code] text</c> (or NO), untagged when the tag
    /// was unreadable, followed by <c>* BYE</c> when the connection is to be closed.
    /// </summary>
    public void Error(ImapCommandError error)
    {
        var code = error.Code is null ? null : new ImapResponseCode(error.Code);
        if (error.Tag is null)
        {
            Untagged(error.Status, error.Text, code);
        }
        else
        {
            Tagged(error.Tag, error.Status, error.Text, code);
        }

        if (error.CloseConnection)
        {
            Untagged(ImapStatus.Bye, "Too much invalid input");
        }
    }

    /// <summary><c>+ text</c> (the go-ahead for a literal, or IDLE's "idling").</summary>
    public void Continuation(string text = "Ready")
    {
        Begin();
        Ascii("+ ");
        Text(text);
        EndLine();
    }

    /// <summary><c>+ base64</c>: a SASL challenge.</summary>
    public void ContinuationBase64(ReadOnlySpan<byte> challenge)
    {
        Begin();
        Ascii("+ ");
        Ascii(Convert.ToBase64String(challenge));
        EndLine();
    }

    private void StatusLine(ImapStatus status, ImapResponseCode? code, string text)
    {
        Ascii(status switch
        {
            ImapStatus.Ok => " OK ",
            ImapStatus.No => " NO ",
            ImapStatus.Bad => " BAD ",
            ImapStatus.PreAuth => " PREAUTH ",
            _ => " BYE ",
        });
        if (code is not null)
        {
            Ascii("[");
            Text(code.ToString());
            Ascii("] ");
        }

        Text(text.Length == 0 ? "Done" : text);
        EndLine();
    }

    /// <summary>Starts an untagged data response: <c>* </c>.</summary>
    public ImapResponseWriter Star()
    {
        Begin();
        Ascii("*");
        _needSpace = true;
        return this;
    }

    private void Begin() => _needSpace = false;

    private void Separate()
    {
        if (_needSpace)
        {
            Ascii(" ");
        }

        _needSpace = true;
    }

    /// <summary>Protocol text (an atom, a keyword like <c>BODY[1]&lt;0&gt;</c>), written as it is.</summary>
    public ImapResponseWriter Atom(string atom)
    {
        Separate();
        Ascii(atom);
        return this;
    }

    public ImapResponseWriter Number(ulong n)
    {
        Separate();
        Span<byte> digits = stackalloc byte[20];
        n.TryFormat(digits, out var written, default, CultureInfo.InvariantCulture);
        Bytes(digits[..written]);
        return this;
    }

    public ImapResponseWriter Nil() => Atom("NIL");

    public ImapResponseWriter OpenList()
    {
        Separate();
        Ascii("(");
        _needSpace = false;
        return this;
    }

    public ImapResponseWriter CloseList()
    {
        Ascii(")");
        _needSpace = true;
        return this;
    }

    /// <summary>A string (quoted or literal); null gives NIL.</summary>
    public ImapResponseWriter String(string? value)
    {
        if (value is null)
        {
            return Nil();
        }

        Separate();
        if (CanQuote(value))
        {
            Quoted(value);
        }
        else
        {
            WriteLiteral(Encoding.UTF8.GetBytes(value), binary: false);
        }

        return this;
    }

    /// <summary>An astring: an atom when it is one (and not NIL), otherwise a string.</summary>
    public ImapResponseWriter AString(string value)
    {
        if (IsAtom(value))
        {
            return Atom(value);
        }

        return String(value);
    }

    /// <summary>A mailbox name, encoded for the client (modified UTF-7 unless UTF-8 is enabled).</summary>
    public ImapResponseWriter Mailbox(string name) => AString(MailboxNameCodec.Encode(name, Utf8Enabled));

    public ImapResponseWriter Literal(ReadOnlySpan<byte> data)
    {
        Separate();
        WriteLiteral(data, binary: false);
        return this;
    }

    /// <summary>A literal8 (<c>~{n}</c>, RFC 3516) for binary content.</summary>
    public ImapResponseWriter Literal8(ReadOnlySpan<byte> data)
    {
        Separate();
        WriteLiteral(data, binary: true);
        return this;
    }

    /// <summary>Only the <c>{n}</c> CRLF of a literal: the caller copies the n bytes itself (a message from the blob store).</summary>
    public ImapResponseWriter LiteralHeader(long length, bool binary = false)
    {
        Separate();
        Ascii(binary ? "~{" : "{");
        Ascii(length.ToString(CultureInfo.InvariantCulture));
        Ascii("}\r\n");
        return this;
    }

    /// <summary>Bytes written as they are (the content after <see cref="LiteralHeader"/>).</summary>
    public ImapResponseWriter RawBytes(ReadOnlySpan<byte> data)
    {
        Bytes(data);
        return this;
    }

    public ImapResponseWriter Flags(IEnumerable<string> flags)
    {
        OpenList();
        foreach (var flag in flags)
        {
            Atom(flag);
        }

        return CloseList();
    }

    public ImapResponseWriter DateTime(DateTimeOffset value)
    {
        Separate();
        Ascii("\"");
        Ascii(ImapDateTime.FormatDateTime(value));
        Ascii("\"");
        return this;
    }

    public ImapResponseWriter SequenceSet(SequenceSet set) => Atom(set.ToString());

    public void EndLine()
    {
        Ascii("\r\n");
        _needSpace = false;
    }

    private bool CanQuote(string value)
    {
        if (value.Length > MaxQuotedLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c is '\r' or '\n' or '\0' || (c > '~' && !Utf8Enabled) || (c < ' ' && c != '\t'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAtom(string value)
    {
        if (value.Length == 0 || value.Equals("NIL", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c > '~' || !ImapTokenizer.IsAStringChar((byte)c))
            {
                return false;
            }
        }

        return true;
    }

    private void Quoted(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        var span = output.GetSpan((bytes.Length * 2) + 2);
        var n = 0;
        span[n++] = (byte)'"';
        foreach (var b in bytes)
        {
            if (b is (byte)'"' or (byte)'\\')
            {
                span[n++] = (byte)'\\';
            }

            span[n++] = b;
        }

        span[n++] = (byte)'"';
        output.Advance(n);
    }

    private void WriteLiteral(ReadOnlySpan<byte> data, bool binary)
    {
        Ascii(binary ? "~{" : "{");
        Ascii(data.Length.ToString(CultureInfo.InvariantCulture));
        Ascii("}\r\n");
        Bytes(data);
    }

    /// <summary>Human-readable text: CR, LF and other controls become spaces.</summary>
    private void Text(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] < 0x20 || bytes[i] == 0x7F)
            {
                bytes[i] = (byte)' ';
            }
        }

        Bytes(bytes);
    }

    private void Ascii(string text)
    {
        var span = output.GetSpan(text.Length);
        var n = Encoding.ASCII.GetBytes(text, span);
        output.Advance(n);
    }

    private void Bytes(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        var span = output.GetSpan(data.Length);
        data.CopyTo(span);
        output.Advance(data.Length);
    }
}
