using System.Buffers;
using System.Globalization;
using System.Text;

namespace Postern.Protocols.Imap;

/// <summary>Thrown inside the parser only; <see cref="ImapCommandParser"/> turns it into an <see cref="ImapCommandError"/>.</summary>
internal sealed class ImapSyntaxException(string message, string? code = null) : Exception(message)
{
    public string? Code { get; } = code;
}

/// <summary>
/// A cursor over one framed command: the line bytes with each literal as <c>{n}</c> CRLF and its n bytes
/// (the form <see cref="ImapCommandReader"/> assembles). Counts tokens and list depth against the limits.
/// </summary>
internal ref struct ImapTokenizer
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    // ATOM-CHAR: any CHAR except atom-specials: ( ) { SP CTL % * " \ ]. 8-bit bytes are allowed (UTF-8 atoms from real clients).
    private static readonly SearchValues<byte> NotAtom = SearchValues.Create("(){ %*\"\\]"u8);

    private readonly ReadOnlySpan<byte> _s;
    private readonly ImapLimits _limits;
    private int _tokens;
    private int _depth;

    public ImapTokenizer(ReadOnlySpan<byte> s, ImapLimits limits)
    {
        _s = s;
        _limits = limits;
    }

    public int Position { get; private set; }

    public readonly bool AtEnd => Position >= _s.Length;

    public readonly byte Peek() => AtEnd ? (byte)0 : _s[Position];

    public readonly byte PeekAt(int ahead) => Position + ahead < _s.Length ? _s[Position + ahead] : (byte)0;

    public static bool IsAtomChar(byte b) => b > 0x20 && b != 0x7F && !NotAtom.Contains(b);

    public static bool IsAStringChar(byte b) => IsAtomChar(b) || b == ']';

    public static ImapSyntaxException Error(string message, string? code = null) => new(message, code);

    private void Count()
    {
        if (++_tokens > _limits.MaxArguments)
        {
            throw Error("Too many arguments", "LIMIT");
        }
    }

    public void Skip(int count) => Position = Math.Min(_s.Length, Position + count);

    public bool TryConsume(byte b)
    {
        if (Peek() == b && !AtEnd)
        {
            Position++;
            return true;
        }

        return false;
    }

    public void Expect(byte b, string what)
    {
        if (!TryConsume(b))
        {
            throw Error($"Expected {what}");
        }
    }

    public void Sp() => Expect((byte)' ', "a space");

    public void End()
    {
        // Tolerate trailing spaces, which some clients send.
        while (Peek() == ' ' && !AtEnd)
        {
            Position++;
        }

        if (!AtEnd)
        {
            throw Error("Unexpected characters after the command");
        }
    }

    public void OpenList()
    {
        Expect((byte)'(', "(");
        Enter();
    }

    public void Enter()
    {
        if (++_depth > _limits.MaxDepth)
        {
            throw Error("Too deeply nested", "LIMIT");
        }
    }

    public void Leave() => _depth--;

    public void CloseList()
    {
        Expect((byte)')', ")");
        Leave();
    }

    /// <summary>Whether the next word (up to a space, parenthesis or bracket) is <paramref name="keyword"/>, case-insensitively; consumes it if so.</summary>
    public bool TryKeyword(string keyword)
    {
        var end = Position + keyword.Length;
        if (end > _s.Length)
        {
            return false;
        }

        for (var i = 0; i < keyword.Length; i++)
        {
            var b = _s[Position + i];
            if (b >= 'a' && b <= 'z')
            {
                b = (byte)(b - 32);
            }

            if (b != keyword[i])
            {
                return false;
            }
        }

        if (end < _s.Length && IsAtomChar(_s[end]) && _s[end] != '[' && _s[end] != '<')
        {
            return false;
        }

        Position = end;
        Count();
        return true;
    }

    public void Keyword(string keyword)
    {
        if (!TryKeyword(keyword))
        {
            throw Error($"Expected {keyword}");
        }
    }

    /// <summary>1*ATOM-CHAR.</summary>
    public string Atom()
    {
        var start = Position;
        while (!AtEnd && IsAtomChar(_s[Position]))
        {
            Position++;
        }

        if (Position == start)
        {
            throw Error("Expected an atom");
        }

        Count();
        return Decode(_s[start..Position]);
    }

    /// <summary>An atom, upper-cased (keywords, mechanisms, options).</summary>
    public string AtomUpper() => Atom().ToUpperInvariant();

    /// <summary>A word of characters allowed in a fetch attribute name (letters, digits, '.', '-').</summary>
    public string Word()
    {
        var start = Position;
        while (!AtEnd && (char.IsAsciiLetterOrDigit((char)_s[Position]) || _s[Position] is (byte)'.' or (byte)'-' or (byte)'_' or (byte)'='))
        {
            Position++;
        }

        if (Position == start)
        {
            throw Error("Expected a keyword");
        }

        Count();
        return Encoding.ASCII.GetString(_s[start..Position]).ToUpperInvariant();
    }

    public string AString()
    {
        var b = Peek();
        if (b is (byte)'"' or (byte)'{' || (b == '~' && PeekAt(1) == '{'))
        {
            return String();
        }

        var start = Position;
        while (!AtEnd && IsAStringChar(_s[Position]))
        {
            Position++;
        }

        if (Position == start)
        {
            throw Error("Expected a string");
        }

        Count();
        return Decode(_s[start..Position]);
    }

    /// <summary>A mailbox name: astring, with INBOX normalised.</summary>
    public string Mailbox()
    {
        var name = AString();
        return name.Equals("INBOX", StringComparison.OrdinalIgnoreCase) ? "INBOX" : name;
    }

    /// <summary>list-mailbox: 1*list-char (atom chars, % * and ]) or a string.</summary>
    public string ListMailbox()
    {
        var b = Peek();
        if (b is (byte)'"' or (byte)'{' || (b == '~' && PeekAt(1) == '{'))
        {
            return String();
        }

        var start = Position;
        while (!AtEnd && (IsAStringChar(_s[Position]) || _s[Position] is (byte)'%' or (byte)'*'))
        {
            Position++;
        }

        if (Position == start)
        {
            throw Error("Expected a mailbox pattern");
        }

        Count();
        return Decode(_s[start..Position]);
    }

    public string? NString()
    {
        if (TryNil())
        {
            return null;
        }

        return String();
    }

    public bool TryNil()
    {
        if (Position + 3 <= _s.Length && Ascii.EqualsIgnoreCase(_s.Slice(Position, 3), "NIL"u8)
            && (Position + 3 == _s.Length || !IsAtomChar(_s[Position + 3])))
        {
            Position += 3;
            Count();
            return true;
        }

        return false;
    }

    /// <summary>A quoted string or a literal, as text (strict UTF-8).</summary>
    public string String() => Decode(StringBytes(allowBinary: false));

    /// <summary>A quoted string or a literal (literal8 only if allowed), as bytes.</summary>
    public ReadOnlySpan<byte> StringBytes(bool allowBinary)
    {
        Count();
        var b = Peek();
        if (b == '"')
        {
            return Quoted();
        }

        if (b == '~')
        {
            if (!allowBinary)
            {
                throw Error("A literal8 is not allowed here");
            }

            Position++;
            return Literal(binary: true);
        }

        if (b == '{')
        {
            return Literal(binary: false);
        }

        throw Error("Expected a quoted string or a literal");
    }

    private ReadOnlySpan<byte> Quoted()
    {
        Position++;
        var start = Position;
        var plain = true;
        while (true)
        {
            if (AtEnd)
            {
                throw Error("Unterminated quoted string");
            }

            var c = _s[Position];
            if (c == '"')
            {
                break;
            }

            if (c is (byte)'\r' or (byte)'\n' or 0)
            {
                throw Error("Invalid character in a quoted string");
            }

            if (c == '\\')
            {
                plain = false;
                var next = PeekAt(1);
                if (next is not ((byte)'"' or (byte)'\\'))
                {
                    throw Error("Invalid escape in a quoted string");
                }

                Position += 2;
                continue;
            }

            Position++;
        }

        var raw = _s[start..Position];
        Position++;
        if (plain)
        {
            return raw;
        }

        var unescaped = new byte[raw.Length];
        var n = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '\\')
            {
                i++;
            }

            unescaped[n++] = raw[i];
        }

        return unescaped.AsSpan(0, n);
    }

    private ReadOnlySpan<byte> Literal(bool binary)
    {
        Expect((byte)'{', "{");
        var start = Position;
        while (!AtEnd && _s[Position] is >= (byte)'0' and <= (byte)'9')
        {
            Position++;
        }

        if (Position == start || Position - start > 19 || !long.TryParse(_s[start..Position], NumberStyles.None, CultureInfo.InvariantCulture, out var length))
        {
            throw Error("Invalid literal length");
        }

        TryConsume((byte)'+');
        Expect((byte)'}', "}");
        if (!TryConsume((byte)'\r') || !TryConsume((byte)'\n'))
        {
            throw Error("A literal must end its line");
        }

        if (length > _s.Length - Position)
        {
            throw Error("Truncated literal");
        }

        var data = _s.Slice(Position, (int)length);
        Position += (int)length;
        if (!binary && data.Contains((byte)0))
        {
            throw Error("NUL in a literal");
        }

        return data;
    }

    public uint Number()
    {
        var v = Number64();
        if (v > uint.MaxValue)
        {
            throw Error("Number out of range");
        }

        return (uint)v;
    }

    public uint NzNumber()
    {
        var v = Number();
        if (v == 0)
        {
            throw Error("Zero is not allowed here");
        }

        return v;
    }

    public ulong Number64()
    {
        var start = Position;
        while (!AtEnd && _s[Position] is >= (byte)'0' and <= (byte)'9')
        {
            Position++;
        }

        if (Position == start)
        {
            throw Error("Expected a number");
        }

        Count();
        if (Position - start > 19 || !ulong.TryParse(_s[start..Position], NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v > long.MaxValue)
        {
            throw Error("Number out of range");
        }

        return v;
    }

    public SequenceSet SequenceSet()
    {
        var start = Position;
        while (!AtEnd && _s[Position] is (>= (byte)'0' and <= (byte)'9') or (byte)':' or (byte)',' or (byte)'*' or (byte)'$')
        {
            Position++;
        }

        Count();
        var text = Encoding.ASCII.GetString(_s[start..Position]);
        if (!Imap.SequenceSet.TryParse(text, out var set))
        {
            throw Error("Invalid sequence set");
        }

        return set;
    }

    public readonly bool AtSequenceSet() => Peek() is (>= (byte)'0' and <= (byte)'9') or (byte)'*' or (byte)'$';

    /// <summary>A flag: <c>\Word</c> or a keyword atom (<c>\*</c> is refused: it is only for PERMANENTFLAGS).</summary>
    public string Flag()
    {
        if (Peek() == '\\')
        {
            Position++;
            return "\\" + Atom();
        }

        return Atom();
    }

    public List<string> FlagList()
    {
        OpenList();
        var flags = new List<string>();
        if (!TryConsume((byte)')'))
        {
            flags.Add(Flag());
            while (TryConsume((byte)' '))
            {
                flags.Add(Flag());
            }

            Expect((byte)')', ")");
        }

        Leave();
        return flags;
    }

    public DateTimeOffset DateTime()
    {
        var s = Peek() == '"' ? String() : throw Error("Expected a quoted date-time");
        if (!ImapDateTime.TryParseDateTime(s, out var value))
        {
            throw Error("Invalid date-time");
        }

        return value;
    }

    public DateOnly Date()
    {
        var quoted = TryConsume((byte)'"');
        var start = Position;
        while (!AtEnd && (char.IsAsciiLetterOrDigit((char)_s[Position]) || _s[Position] == '-'))
        {
            Position++;
        }

        var text = Encoding.ASCII.GetString(_s[start..Position]);
        if (quoted)
        {
            Expect((byte)'"', "\"");
        }

        Count();
        if (!ImapDateTime.TryParseDate(text, out var date))
        {
            throw Error("Invalid date");
        }

        return date;
    }

    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        if (Ascii.IsValid(bytes))
        {
            return Encoding.ASCII.GetString(bytes);
        }

        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Error("Invalid UTF-8");
        }
    }
}
