namespace Postern.Mime;

/// <summary>Bounds the parser respects. Reaching one records a <see cref="MimeDefect"/>; it never throws.</summary>
public sealed record MimeLimits
{
    /// <summary>Default limits, generous for real mail.</summary>
    public static MimeLimits Default { get; } = new();

    /// <summary>Deepest nesting of multiparts and message/rfc822 bodies (the root is depth 0).</summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>Most entities in one message, the root included.</summary>
    public int MaxParts { get; init; } = 10_000;

    /// <summary>Most header fields recorded for one entity; later fields are kept as one raw block.</summary>
    public int MaxHeaderCount { get; init; } = 1_000;

    /// <summary>Largest header block of one entity in bytes; past it the rest is kept as one raw block.</summary>
    public int MaxHeaderBlockBytes { get; init; } = 1024 * 1024;

    /// <summary>Longest header line (RFC 5322 says 998 plus CRLF) before a defect is recorded.</summary>
    public int MaxLineLength { get; init; } = 998;

    /// <summary>Largest message read from a stream or file; the rest is dropped with a defect.</summary>
    public long MaxMessageBytes { get; init; } = 512L * 1024 * 1024;
}

/// <summary>Options for <see cref="MimeReader"/>.</summary>
public sealed record MimeParserOptions
{
    /// <summary>The defaults.</summary>
    public static MimeParserOptions Default { get; } = new();

    /// <summary>Resource limits.</summary>
    public MimeLimits Limits { get; init; } = MimeLimits.Default;

    /// <summary>Charset assumed for text without a declared charset and for undeclared 8-bit header bytes
    /// that are not valid UTF-8. Windows-1252 unless changed.</summary>
    public string FallbackCharset { get; init; } = "windows-1252";

    /// <summary>
    /// Also decode every header field and leaf body while parsing (a full parse) and record what the decoding tolerated
    /// on the entity: <see cref="MimeDefect.InvalidBase64"/>, <see cref="MimeDefect.InvalidQuotedPrintable"/>,
    /// <see cref="MimeDefect.UnknownCharset"/>, <see cref="MimeDefect.InvalidCharsetBytes"/> (text parts and encoded words)
    /// and <see cref="MimeDefect.Undeclared8BitHeader"/>. Off by default: a structure parse decodes nothing.
    /// </summary>
    public bool CheckContent { get; init; }
}
