namespace Postern.Protocols.Imap;

/// <summary>
/// Limits of the command reader and parser. Every size and count a client controls has one; a breach
/// gives a typed error (<see cref="ImapCommandError"/>) that the session answers with BAD, NO [TOOBIG]
/// or, when the bytes cannot be skipped safely, by closing the connection.
/// </summary>
public sealed record ImapLimits
{
    /// <summary>Line bytes of one command, literal contents excluded (for APPEND: per message segment).</summary>
    public int MaxLineLength { get; init; } = 64 * 1024;

    /// <summary>Largest APPEND message literal (the APPENDLIMIT the server advertises; RFC 7889).</summary>
    public long MaxLiteralSize { get; init; } = 50L * 1024 * 1024;

    /// <summary>Largest literal in any other place (a LOGIN password, a SEARCH string, an APPEND mailbox name).</summary>
    public int MaxInlineLiteralSize { get; init; } = 64 * 1024;

    /// <summary>Sum of the inline literals of one command.</summary>
    public int MaxInlineLiteralTotal { get; init; } = 1024 * 1024;

    /// <summary>
    /// Largest non-synchronizing literal (<c>{n+}</c>) accepted outside APPEND's messages. 4096 is LITERAL-
    /// (RFC 7888); a server that advertises LITERAL+ raises it to <see cref="MaxInlineLiteralSize"/>.
    /// APPEND messages sent non-synchronizing are bounded by <see cref="MaxLiteralSize"/> when
    /// <see cref="LiteralPlus"/> is on, by 4096 otherwise.
    /// </summary>
    public bool LiteralPlus { get; init; } = true;

    /// <summary>Inline literals in one command (APPEND's messages are counted by <see cref="MaxAppendMessages"/>).</summary>
    public int MaxLiteralsPerCommand { get; init; } = 1024;

    /// <summary>Messages in one MULTIAPPEND command (RFC 3502).</summary>
    public int MaxAppendMessages { get; init; } = 100_000;

    /// <summary>Nesting depth of parenthesised lists and search keys (NOT/OR included).</summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>Tokens (atoms, strings, numbers, list items) in one command.</summary>
    public int MaxArguments { get; init; } = 4096;

    /// <summary>Longest command tag.</summary>
    public int MaxTagLength { get; init; } = 128;

    /// <summary>
    /// A refused non-synchronizing literal up to this size is read and thrown away so the connection stays
    /// in step; a bigger one is answered and the connection closed.
    /// </summary>
    public long MaxDiscardSize { get; init; } = 1024 * 1024;

    /// <summary>The non-synchronizing literal limit of LITERAL- (RFC 7888 §4).</summary>
    public const int LiteralMinusLimit = 4096;
}
