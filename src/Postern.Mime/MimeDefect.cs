namespace Postern.Mime;

/// <summary>Something the parser tolerated. Values are stable (persisted by filters and scores).</summary>
public enum MimeDefect
{
    None = 0,
    /// <summary>A header line without a colon, or with an invalid field name.</summary>
    InvalidHeaderLine = 1,
    /// <summary>The header block did not end with an empty line.</summary>
    MissingHeaderSeparator = 2,
    /// <summary>The first header line began with white space.</summary>
    LeadingContinuationLine = 3,
    /// <summary>A line in the header block was longer than <see cref="MimeLimits.MaxLineLength"/>.</summary>
    LineTooLong = 4,
    /// <summary>More header fields than <see cref="MimeLimits.MaxHeaderCount"/>.</summary>
    TooManyHeaders = 5,
    /// <summary>Header block larger than <see cref="MimeLimits.MaxHeaderBlockBytes"/>.</summary>
    HeaderBlockTooLarge = 6,
    /// <summary>Nesting deeper than <see cref="MimeLimits.MaxDepth"/>; the body is kept as a leaf.</summary>
    NestingTooDeep = 7,
    /// <summary>More entities than <see cref="MimeLimits.MaxParts"/>; the rest is kept as epilogue.</summary>
    TooManyParts = 8,
    /// <summary>A multipart without a boundary parameter; kept as a leaf.</summary>
    MissingBoundaryParameter = 9,
    /// <summary>No delimiter line for the multipart's boundary was found.</summary>
    NoBoundaryFound = 10,
    /// <summary>The multipart ended (end of data or an outer boundary) without its close delimiter.</summary>
    MissingCloseDelimiter = 11,
    /// <summary>A multipart or message body declared a base64 or quoted-printable transfer encoding.</summary>
    EncodedCompositeBody = 12,
    /// <summary>A second Content-Type field; the first one is used.</summary>
    DuplicateContentType = 13,
    /// <summary>An mbox "From " line before the headers.</summary>
    MboxFromLine = 14,
    /// <summary>The input was larger than <see cref="MimeLimits.MaxMessageBytes"/> and was cut.</summary>
    MessageTruncated = 15,
    /// <summary>A message/rfc822 part with an empty body.</summary>
    EmptyMessageBody = 16,
    /// <summary>A multipart whose first delimiter is its close delimiter.</summary>
    NoParts = 17,
    /// <summary>Base64 content with characters outside the alphabet or bad padding.</summary>
    InvalidBase64 = 18,
    /// <summary>Quoted-printable content with an invalid escape.</summary>
    InvalidQuotedPrintable = 19,
    /// <summary>An unknown or unsupported charset; a fallback was used.</summary>
    UnknownCharset = 20,
    /// <summary>Bytes not valid in their declared charset: in a text part (invalid UTF-8, 8-bit bytes declared US-ASCII,
    /// sequences a legacy code page cannot map) or in an encoded word of a header field. Recorded by a full parse
    /// (<see cref="MimeParserOptions.CheckContent"/>).</summary>
    InvalidCharsetBytes = 21,
    /// <summary>Raw 8-bit bytes in a header field that are not UTF-8 (RFC 6532 allows UTF-8; anything else has no declared
    /// charset and is read as Windows-1252). Recorded by a full parse (<see cref="MimeParserOptions.CheckContent"/>).</summary>
    Undeclared8BitHeader = 22,
    /// <summary>A message/rfc822 body that does not start with a header field; kept as a leaf.</summary>
    InvalidMessageBody = 23,
    /// <summary>The parser met a state it did not expect and recovered (a bug: report it).</summary>
    InternalError = 99,
}

/// <summary>A defect and the byte offset (into the parsed input) where it was found.</summary>
public readonly record struct MimeDefectRecord(MimeDefect Defect, long Offset);
