using System.Buffers;
using Postern.Mime.Codecs;
using Postern.Mime.Headers;

namespace Postern.Mime;

/// <summary>A delimiter line of a multipart: <see cref="Start"/> includes the line break before the "--".</summary>
public readonly record struct MimeBoundaryLine(int Start, int End, int Line, bool IsClose);

/// <summary>What the entities of one parse share: the input, its line-break style and the limits it was read with.</summary>
internal sealed class MimeSource(ReadOnlyMemory<byte> data, bool crlf)
{
    public ReadOnlyMemory<byte> Data { get; } = data;

    public bool Crlf { get; } = crlf;

    /// <summary>Every header field of the parse, in input order, as LEB128 varints of (length &lt;&lt; 1 | isField): about
    /// 1.5 bytes a field instead of an int. Entities index into it; <see cref="MimeEntity.Headers"/> decodes its run once.</summary>
    public byte[] HeaderTable { get; set; } = [];
}

/// <summary>One MIME entity (a message, a part, or a nested message), as byte ranges into the parsed input.</summary>
public sealed class MimeEntity
{
    private readonly MimeSource _source;
    private int _headerFirst;
    private int _headerCount;
    private HeaderList? _headers;
    private List<MimeEntity>? _children;
    private List<MimeBoundaryLine>? _delimiters;
    private MimeDefectRecord[]? _defects;
    private int _defectCount;
    private ContentType? _contentType;

    internal MimeEntity(MimeSource source, int start, int line, int depth, MimeEntity? parent)
    {
        _source = source;
        Start = start;
        Line = line;
        Depth = depth;
        Parent = parent;
        EpilogueStart = -1;
    }

    /// <summary>The whole parsed input (the entity's ranges index into it).</summary>
    public ReadOnlyMemory<byte> Source => _source.Data;

    public MimeEntity? Parent { get; }

    /// <summary>0 for the top-level message.</summary>
    public int Depth { get; }

    /// <summary>Offset of the first header byte.</summary>
    public int Start { get; }

    /// <summary>1-based line of <see cref="Start"/>.</summary>
    public int Line { get; }

    /// <summary>Offset just after the last header field (the blank separator line starts here).</summary>
    public int HeaderEnd { get; internal set; }

    /// <summary>Offset of the first body byte.</summary>
    public int BodyStart { get; internal set; }

    /// <summary>1-based line of <see cref="BodyStart"/>.</summary>
    public int BodyLine { get; internal set; }

    /// <summary>Offset after the last body byte (a following delimiter's line break is not included).</summary>
    public int End { get; internal set; }

    /// <summary>1-based line where the entity ends.</summary>
    public int EndLine { get; internal set; }

    public MimeBodyKind Kind { get; internal set; }

    /// <summary>The header fields (offsets into the input until changed).</summary>
    public HeaderList Headers => _headers ??= ReadHeaders();

    /// <summary>The 1-based line number of an offset in the input.</summary>
    public int LineAt(int offset) => Source.Span[..Math.Clamp(offset, 0, Source.Length)].Count((byte)'\n') + 1;

    /// <summary>Children of a multipart, in order.</summary>
    public IReadOnlyList<MimeEntity> Children => (IReadOnlyList<MimeEntity>?)_children ?? [];

    /// <summary>The nested message of a message/rfc822 or message/global entity.</summary>
    public MimeEntity? Message { get; internal set; }

    /// <summary>Delimiter lines of a multipart, in order (the close delimiter last, when present).</summary>
    public IReadOnlyList<MimeBoundaryLine> Delimiters => (IReadOnlyList<MimeBoundaryLine>?)_delimiters ?? [];

    /// <summary>Offset where the epilogue starts, or -1 when there is none.</summary>
    public int EpilogueStart { get; internal set; }

    /// <summary>Defects found in this entity (not its children).</summary>
    public IReadOnlyList<MimeDefectRecord> Defects
    {
        get
        {
            if (_defects is null)
            {
                return Array.Empty<MimeDefectRecord>();
            }

            return _defectCount == _defects.Length ? _defects : new ArraySegment<MimeDefectRecord>(_defects, 0, _defectCount);
        }
    }

    /// <summary>The whole entity's bytes as received.</summary>
    public ReadOnlyMemory<byte> RawEntity => Source[Start..End];

    /// <summary>The header block as received (fields only, without the blank line).</summary>
    public ReadOnlyMemory<byte> RawHeaders => Source[Start..HeaderEnd];

    /// <summary>The body as received (still transfer-encoded).</summary>
    public ReadOnlyMemory<byte> RawBody => Source[BodyStart..End];

    /// <summary>The multipart preamble (before the first delimiter).</summary>
    public ReadOnlyMemory<byte> Preamble => Kind == MimeBodyKind.Multipart
        ? Source[BodyStart..(_delimiters is { Count: > 0 } d ? d[0].Start : End)]
        : ReadOnlyMemory<byte>.Empty;

    /// <summary>The multipart epilogue (after the close delimiter).</summary>
    public ReadOnlyMemory<byte> Epilogue => EpilogueStart >= 0 ? Source[EpilogueStart..End] : ReadOnlyMemory<byte>.Empty;

    /// <summary>The Content-Type, with the RFC 2045 defaults (message/rfc822 inside multipart/digest).</summary>
    public ContentType ContentType => _contentType ??= ReadContentType();

    /// <summary>The Content-Disposition, or null.</summary>
    public ContentType? ContentDisposition
    {
        get
        {
            var f = Headers.GetField("Content-Disposition");
            return f is null ? null : ContentType.Parse(f.Value.RawValue.Span);
        }
    }

    /// <summary>The transfer encoding, lower-cased ("7bit" when missing).</summary>
    public string TransferEncoding
    {
        get
        {
            var v = Headers["Content-Transfer-Encoding"];
            if (string.IsNullOrWhiteSpace(v))
            {
                return "7bit";
            }

            var t = v.Trim().ToLowerInvariant();
            var sc = t.IndexOfAny([' ', ';', '(']);
            return sc > 0 ? t[..sc] : t;
        }
    }

    /// <summary>The file name from Content-Disposition filename or Content-Type name, decoded, or null.</summary>
    public string? FileName
    {
        get
        {
            var n = ContentDisposition?["filename"] ?? ContentType["name"];
            return string.IsNullOrWhiteSpace(n) ? null : n.Trim();
        }
    }

    /// <summary>True when the part is an attachment (disposition attachment, or a named non-text leaf).</summary>
    public bool IsAttachment
    {
        get
        {
            if (Kind == MimeBodyKind.Multipart)
            {
                return false;
            }

            var d = ContentDisposition;
            if (d is not null && d.MediaType == "attachment")
            {
                return true;
            }

            if (Kind == MimeBodyKind.Message && Depth > 0)
            {
                return true;
            }

            if (d is not null && d.MediaType == "inline" && ContentType.IsText)
            {
                return false;
            }

            return FileName is not null || (!ContentType.IsText && Kind == MimeBodyKind.Leaf && Depth > 0 && ContentType.MediaType != "multipart");
        }
    }

    /// <summary>This entity and all below it, depth first, in input order.</summary>
    public IEnumerable<MimeEntity> DescendantsAndSelf()
    {
        var stack = new Stack<MimeEntity>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var e = stack.Pop();
            yield return e;
            if (e.Message is not null)
            {
                stack.Push(e.Message);
            }

            for (var i = e.Children.Count - 1; i >= 0; i--)
            {
                stack.Push(e.Children[i]);
            }
        }
    }

    /// <summary>The body with its transfer encoding undone (base64, quoted-printable; others as is).</summary>
    public byte[] GetContent() => GetContent(out _);

    /// <summary>The body with its transfer encoding undone; <paramref name="defect"/> tells what was tolerated.</summary>
    public byte[] GetContent(out MimeDefect defect)
    {
        defect = MimeDefect.None;
        var raw = RawBody.Span;
        switch (TransferEncoding)
        {
            case "base64":
                var w = new ArrayBufferWriter<byte>((raw.Length / 4 * 3) + 3);
                if (!Base64Decoder.Decode(raw, w))
                {
                    defect = MimeDefect.InvalidBase64;
                }

                return w.WrittenSpan.ToArray();
            case "quoted-printable":
                var q = new ArrayBufferWriter<byte>(raw.Length + 1);
                if (!QuotedPrintableDecoder.Decode(raw, q))
                {
                    defect = MimeDefect.InvalidQuotedPrintable;
                }

                return q.WrittenSpan.ToArray();
            default:
                return raw.ToArray();
        }
    }

    /// <summary>The decoded text of a text part: transfer decoding and charset conversion (undeclared or unknown charsets:
    /// UTF-8 if valid, else Windows-1252). Null for non-text parts.</summary>
    public string? GetText() => GetText(check: false, out _);

    /// <summary>As <see cref="GetText()"/>; <paramref name="defect"/> is <see cref="MimeDefect.UnknownCharset"/> when the declared
    /// charset is not known (a fallback was used), <see cref="MimeDefect.InvalidCharsetBytes"/> when some bytes were not valid
    /// in the declared charset (replaced by U+FFFD, or for US-ASCII read as undeclared 8-bit), else <see cref="MimeDefect.None"/>.</summary>
    public string? GetText(out MimeDefect defect) => GetText(check: true, out defect);

    private string? GetText(bool check, out MimeDefect defect)
    {
        defect = MimeDefect.None;
        var declared = ContentType.Charset;
        if (declared is not null && Charsets.Get(declared) is null)
        {
            defect = MimeDefect.UnknownCharset;
        }

        if (Kind == MimeBodyKind.Multipart && Children.Count == 0)
        {
            // A multipart whose boundary never appears: its body is all the text there is.
            return DecodeText(Preamble.Span, declared, check, ref defect);
        }

        if (Kind != MimeBodyKind.Leaf || !ContentType.IsText)
        {
            return null;
        }

        var raw = RawBody.Span;
        var encoding = TransferEncoding;
        switch (encoding)
        {
            case "base64":
            case "quoted-printable":
                var buffer = ArrayPool<byte>.Shared.Rent(raw.Length + 4);
                try
                {
                    var w = new SpanWriter(buffer);
                    if (encoding == "base64")
                    {
                        Base64Decoder.Decode(raw, w);
                    }
                    else
                    {
                        QuotedPrintableDecoder.Decode(raw, w);
                    }

                    return DecodeText(buffer.AsSpan(0, w.Written), declared, check, ref defect);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }

            default:
                return DecodeText(raw, declared, check, ref defect);
        }
    }

    private static string DecodeText(ReadOnlySpan<byte> bytes, string? charset, bool check, ref MimeDefect defect)
    {
        if (!check)
        {
            return Charsets.Decode(bytes, charset, out _);
        }

        var text = Charsets.Decode(bytes, charset, out _, out var invalid);
        if (invalid && defect == MimeDefect.None)
        {
            defect = MimeDefect.InvalidCharsetBytes;
        }

        return text;
    }

    /// <summary>An <see cref="IBufferWriter{T}"/> over a caller's array that is large enough.</summary>
    private sealed class SpanWriter(byte[] buffer) : IBufferWriter<byte>
    {
        public int Written { get; private set; }

        public void Advance(int count) => Written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => buffer.AsMemory(Written);

        public Span<byte> GetSpan(int sizeHint = 0) => buffer.AsSpan(Written);
    }

    /// <summary>For a message/rfc822 or message/global part sent with base64 or quoted-printable (which RFC 2046 forbids,
    /// but mailers do): the decoded content parsed as a message of its own (offsets into the decoded bytes). Null otherwise.</summary>
    public MimeMessage? DecodeEncodedMessage(MimeParserOptions? options = null)
    {
        if (Kind != MimeBodyKind.Leaf || !ContentType.IsEncapsulatedMessage || TransferEncoding is not ("base64" or "quoted-printable"))
        {
            return null;
        }

        var content = GetContent();
        return content.Length == 0 ? null : MimeParser.Parse(content, options);
    }

    private HeaderList ReadHeaders()
    {
        var ends = _headerCount == 0 ? [] : new int[_headerCount];
        var table = _source.HeaderTable;
        var at = _headerFirst;
        var pos = Start;
        for (var i = 0; i < ends.Length && at < table.Length; i++)
        {
            ulong v = 0;
            var shift = 0;
            byte b;
            do
            {
                b = table[at++];
                v |= (ulong)(b & 0x7F) << shift;
                shift += 7;
            }
            while ((b & 0x80) != 0 && at < table.Length && shift < 63);

            pos += (int)(v >> 1);
            ends[i] = (v & 1) != 0 ? pos : -pos;
        }

        return new HeaderList(Source, ends, 0, ends.Length, _source.Crlf, Start);
    }

    internal void SetHeaders(int first, int count)
    {
        _headerFirst = first;
        _headerCount = count;
    }

    internal void AddChild(MimeEntity child) => (_children ??= []).Add(child);

    internal void AddDelimiter(MimeBoundaryLine line) => (_delimiters ??= []).Add(line);

    /// <summary>Most entities have no defect or one (an mbox From line): the array starts at one slot and doubles.</summary>
    internal void AddDefect(MimeDefect defect, long offset)
    {
        if (_defects is null || _defectCount == _defects.Length)
        {
            Array.Resize(ref _defects, _defects is null ? 1 : _defects.Length * 2);
        }

        _defects[_defectCount++] = new MimeDefectRecord(defect, offset);
    }

    private ContentType ReadContentType()
    {
        var f = Headers.GetField("Content-Type");
        if (f is not null)
        {
            var ct = ContentType.Parse(f.Value.RawValue.Span);
            if (ct.IsValid)
            {
                return ct;
            }
        }

        return Parent is { Kind: MimeBodyKind.Multipart } p && p.ContentType.SubtypeIs("digest")
            ? ContentType.MessageDefault
            : ContentType.TextPlainDefault;
    }

    /// <inheritdoc />
    public override string ToString() => $"{ContentType.MimeType} [{Start}..{End})";
}
