using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using Postern.Mime.Headers;

namespace Postern.Mime;

/// <summary>What an entity's body holds.</summary>
public enum MimeBodyKind
{
    /// <summary>Content bytes (text, image, application, or a composite the parser would not open).</summary>
    Leaf = 0,
    /// <summary>Child entities between boundary delimiter lines.</summary>
    Multipart = 1,
    /// <summary>One nested message (message/rfc822, message/global).</summary>
    Message = 2,
}

/// <summary>Where one header field lies in the input. <see cref="End"/> includes the field's final line break.</summary>
/// <param name="Start">Offset of the field name.</param>
/// <param name="NameLength">Bytes of the name (0 for a line the parser could not read as a field).</param>
/// <param name="ValueStart">Offset just after the colon.</param>
/// <param name="End">Offset after the field's last line break.</param>
/// <param name="Line">1-based line number of the field's first line.</param>
public readonly record struct MimeHeaderLocation(int Start, int NameLength, int ValueStart, int End, int Line)
{
    /// <summary>False for a raw line (an mbox From line, junk, or the overflow past a limit).</summary>
    public bool IsField => NameLength > 0;
}

/// <summary>Callbacks of the streaming <see cref="MimeReader"/>. Offsets are into the input; lines are 1-based.
/// Calls come in input order: entity start, its headers, headers end, then its body (boundaries and nested
/// entities, or an epilogue), then entity end.</summary>
public interface IMimeReaderHandler
{
    void OnEntityStart(int offset, int line, int depth);

    void OnHeader(in MimeHeaderLocation header);

    /// <summary>The header block ended at <paramref name="headerEnd"/>; the separator line (if any) runs to <paramref name="bodyStart"/>.</summary>
    void OnHeadersEnd(int headerEnd, int bodyStart, int line, MimeBodyKind kind);

    /// <summary>A delimiter line. <paramref name="start"/> includes the line break before it (it belongs to the delimiter).</summary>
    void OnBoundary(int start, int end, int line, bool isClose);

    /// <summary>The multipart's epilogue starts here and runs to the entity end.</summary>
    void OnEpilogue(int start, int line);

    void OnEntityEnd(int end, int line);

    void OnDefect(MimeDefect defect, int offset);
}

/// <summary>What <see cref="MimeReader"/> read from a stream or a sequence.</summary>
/// <param name="Length">Bytes read (the offset just after the last one).</param>
/// <param name="Truncated">True when the input went on past <see cref="MimeLimits.MaxMessageBytes"/> and was cut there.</param>
public readonly record struct MimeReadResult(long Length, bool Truncated);

/// <summary>The streaming MIME structure reader. It never throws on bad input and keeps only offsets.</summary>
public static class MimeReader
{
    /// <summary>Reads the structure of <paramref name="data"/>, calling <paramref name="handler"/> as it goes.</summary>
    public static void Read<T>(ReadOnlySpan<byte> data, ref T handler, MimeParserOptions? options = null)
        where T : IMimeReaderHandler
    {
        var core = new ReaderCore<T>(data, ref handler, (options ?? MimeParserOptions.Default).Limits);
        core.Run();
    }

    /// <summary>Reads the structure of a byte sequence segment by segment, without joining the segments: only the bytes
    /// the reader is looking at (a header field, a delimiter line) are held, so memory is bounded by the limits.</summary>
    public static MimeReadResult Read<T>(ReadOnlySequence<byte> data, ref T handler, MimeParserOptions? options = null)
        where T : IMimeReaderHandler
    {
        var limits = (options ?? MimeParserOptions.Default).Limits;
        if (data.IsSingleSegment && data.Length <= limits.MaxMessageBytes)
        {
            Read(data.FirstSpan, ref handler, options);
            return new MimeReadResult(data.Length, false);
        }

        return ReadChunked(new SequenceSource(data), ref handler, limits);
    }

    /// <summary>Reads the structure of a stream as its chunks arrive (an SMTP DATA stream, a file), up to
    /// <see cref="MimeLimits.MaxMessageBytes"/>. Offsets are absolute offsets from the stream's current position. Memory is
    /// bounded by the limits (header block size, line length), not by the message size; nothing is read ahead of need
    /// beyond one buffer. Bad bytes never throw; the stream's own I/O exceptions pass through. At the limit, one more byte
    /// is read to tell whether the stream went on (<see cref="MimeReadResult.Truncated"/>).</summary>
    public static MimeReadResult Read<T>(Stream stream, ref T handler, MimeParserOptions? options = null)
        where T : IMimeReaderHandler
    {
        ArgumentNullException.ThrowIfNull(stream);
        return ReadChunked(new StreamSource(stream), ref handler, (options ?? MimeParserOptions.Default).Limits);
    }

    private static MimeReadResult ReadChunked<T>(ChunkSource source, ref T handler, MimeLimits limits)
        where T : IMimeReaderHandler
    {
        source.Limit = Math.Min(limits.MaxMessageBytes, int.MaxValue - 1);
        var core = new ReaderCore<T>(source, ref handler, limits);
        try
        {
            core.Run();
        }
        finally
        {
            core.Release();
        }

        return new MimeReadResult(source.Position, source.Truncated);
    }
}

/// <summary>Input that arrives in chunks. <see cref="Read"/> returns 0 at the end (or at <see cref="Limit"/>).</summary>
internal abstract class ChunkSource
{
    public long Limit { get; set; } = long.MaxValue;

    public long Position { get; protected set; }

    public bool Truncated { get; protected set; }

    public abstract int Read(Span<byte> buffer);
}

internal sealed class StreamSource(Stream stream) : ChunkSource
{
    public override int Read(Span<byte> buffer)
    {
        var room = Limit - Position;
        if (room <= 0)
        {
            if (!Truncated)
            {
                Span<byte> probe = stackalloc byte[1];
                Truncated = stream.Read(probe) > 0;
            }

            return 0;
        }

        if (buffer.Length > room)
        {
            buffer = buffer[..(int)room];
        }

        var n = stream.Read(buffer);
        Position += n;
        return n;
    }
}

internal sealed class SequenceSource(ReadOnlySequence<byte> data) : ChunkSource
{
    private ReadOnlySequence<byte> _rest = data;

    public override int Read(Span<byte> buffer)
    {
        var room = Limit - Position;
        if (room <= 0)
        {
            Truncated = !_rest.IsEmpty;
            return 0;
        }

        var take = (int)Math.Min(Math.Min(buffer.Length, room), _rest.Length);
        _rest.Slice(0, take).CopyTo(buffer);
        _rest = _rest.Slice(take);
        Position += take;
        return take;
    }
}

/// <summary>
/// The reader proper. Every position is an absolute offset into the whole input. The bytes it looks at live in a window
/// (<see cref="_d"/>, starting at <see cref="_base"/>): the whole input when it is one span, else a buffer refilled from a
/// <see cref="ChunkSource"/> that drops the bytes before <see cref="_pin"/> (the earliest position the reader may still
/// look at) as it goes. Lines are counted as bytes leave the window, so line numbers stay absolute too.
/// </summary>
internal ref struct ReaderCore<T>
    where T : IMimeReaderHandler
{
    private const int FirstBuffer = 16 * 1024;

    private readonly ref T _h;
    private readonly MimeLimits _limits;
    private readonly ChunkSource? _src;
    private ReadOnlySpan<byte> _d;
    private byte[]? _buf;
    private int _base;
    private bool _eof;
    private int _pin;
    private byte[][] _bounds;
    private int _boundCount;
    private int _parts;
    private int _linePos;
    private int _lineNo;
    private readonly int _lineMax;

    public ReaderCore(ReadOnlySpan<byte> data, ref T handler, MimeLimits limits)
    {
        _d = data;
        _h = ref handler;
        _limits = limits;
        _bounds = [];
        _lineNo = 1;
        _eof = true;
        _lineMax = Math.Max(1, limits.MaxHeaderBlockBytes);
    }

    public ReaderCore(ChunkSource source, ref T handler, MimeLimits limits)
    {
        _src = source;
        _h = ref handler;
        _limits = limits;
        _bounds = [];
        _lineNo = 1;
        _lineMax = Math.Max(1, limits.MaxHeaderBlockBytes);
        _buf = ArrayPool<byte>.Shared.Rent(FirstBuffer);
        _d = [];
    }

    private struct Hit
    {
        public int Start;     // delimiter start (incl. preceding line break) or data length
        public int LineStart; // offset of the "--"
        public int End;       // after the delimiter line's break
        public int Index;     // boundary stack index, -1 = end of data
        public bool Close;
    }

    private struct HeaderBlock
    {
        public int HeaderEnd;
        public int BodyStart;
        public bool TypeSeen;
        public bool Encoded;
        public bool IsDigest;
        public bool IsMessageType;
        public MimeBodyKind Kind;
        public byte[]? Boundary;
        public bool EndedByBoundary;
        public Hit BoundaryHit;
    }

    public void Run()
    {
        var hit = ParseEntity(0, 0, false);
        if (hit.Index >= 0)
        {
            // Cannot happen: the stack is empty at the top.
            _h.OnDefect(MimeDefect.InternalError, hit.Start);
        }
    }

    public void Release()
    {
        if (_buf is not null)
        {
            ArrayPool<byte>.Shared.Return(_buf);
            _buf = null;
            _d = [];
        }
    }

    /// <summary>Offset just after the last byte in the window.</summary>
    private readonly int Avail
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _base + _d.Length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly byte B(int pos) => _d[pos - _base];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly ReadOnlySpan<byte> S(int from, int to) => _d[(from - _base)..(to - _base)];

    /// <summary>True when the byte at <paramref name="pos"/> exists (reading more input if needed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Has(int pos) => pos < Avail || (!_eof && Fill(pos + 1));

    /// <summary>Reads until the window reaches <paramref name="end"/> or the input ends; true if it reached it.</summary>
    private bool Fill(int end)
    {
        while (Avail < end)
        {
            if (_eof)
            {
                return false;
            }

            ReadMore();
        }

        return true;
    }

    /// <summary>From here on the reader never looks before <paramref name="pos"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Pin(int pos)
    {
        if (pos > _pin)
        {
            _pin = pos;
        }
    }

    private void ReadMore()
    {
        if (_src is null || _buf is null)
        {
            _eof = true;
            return;
        }

        var drop = Math.Min(_pin, Avail) - _base;
        var used = _d.Length;
        if (drop > 0)
        {
            if (_linePos < _base + drop)
            {
                _lineNo += S(_linePos, _base + drop).Count((byte)'\n');
                _linePos = _base + drop;
            }

            _buf.AsSpan(drop, used - drop).CopyTo(_buf);
            used -= drop;
            _base += drop;
        }

        if (used > _buf.Length - (_buf.Length / 4))
        {
            // Less than a quarter free after dropping what is behind the pin: grow rather than move most of the
            // buffer for a small read (the window is bounded by the limits, so this stays bounded too).
            var bigger = ArrayPool<byte>.Shared.Rent(_buf.Length * 2);
            _buf.AsSpan(0, used).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buf);
            _buf = bigger;
        }

        var n = _src.Read(_buf.AsSpan(used));
        if (n <= 0)
        {
            _eof = true;
            n = 0;
        }

        _d = _buf.AsSpan(0, used + n);
    }

    private int LineAt(int pos)
    {
        if (pos >= _linePos)
        {
            _lineNo += S(_linePos, pos).Count((byte)'\n');
        }
        else
        {
            _lineNo -= S(pos, _linePos).Count((byte)'\n');
        }

        _linePos = pos;
        return _lineNo;
    }

    /// <summary>The end of the line at <paramref name="pos"/> (after its '\n'), the end of the input, or
    /// <paramref name="pos"/> + <paramref name="max"/> when the line is longer (a header line is cut there).</summary>
    private int LineEnd(int pos, int max)
    {
        var rel = pos - _base;
        var quick = _d[rel..];
        if (quick.Length > max)
        {
            quick = quick[..max];
        }

        var q = quick.IndexOf((byte)'\n');
        if (q >= 0)
        {
            return pos + q + 1;
        }

        return LineEndSlow(pos, max);
    }

    private int LineEndSlow(int pos, int max)
    {
        var limit = pos > int.MaxValue - max ? int.MaxValue : pos + max;
        var from = pos;
        while (true)
        {
            var end = Math.Min(Avail, limit);
            var i = S(from, end).IndexOf((byte)'\n');
            if (i >= 0)
            {
                return from + i + 1;
            }

            if (end >= limit)
            {
                return limit;
            }

            from = end;
            if (!Fill(Avail + 1))
            {
                return Avail;
            }
        }
    }

    /// <summary>The end of the line at <paramref name="pos"/> however long, without holding it (the window slides).</summary>
    private int SkipLine(int pos)
    {
        var from = pos;
        while (true)
        {
            var i = S(from, Avail).IndexOf((byte)'\n');
            if (i >= 0)
            {
                return from + i + 1;
            }

            from = Avail;
            Pin(from);
            if (!Fill(Avail + 1))
            {
                return Avail;
            }
        }
    }

    private static int ContentLength(ReadOnlySpan<byte> line)
    {
        var n = line.Length;
        if (n > 0 && line[n - 1] == '\n')
        {
            n--;
        }

        if (n > 0 && line[n - 1] == '\r')
        {
            n--;
        }

        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsBlankLine(int pos)
    {
        var b0 = B(pos);
        return b0 == '\n' || (b0 == '\r' && Has(pos + 1) && B(pos + 1) == '\n');
    }

    private HeaderBlock ReadHeaderBlock(int start, int depth)
    {
        var pos = start;
        var count = 0;
        var r = default(HeaderBlock);
        var longLineReported = false;

        while (true)
        {
            Pin(pos);
            if (!Has(pos))
            {
                if (pos > start)
                {
                    _h.OnDefect(MimeDefect.MissingHeaderSeparator, pos);
                }

                r.HeaderEnd = r.BodyStart = pos;
                break;
            }

            var b0 = B(pos);
            if (IsBlankLine(pos))
            {
                r.HeaderEnd = pos;
                r.BodyStart = pos + (b0 == '\n' ? 1 : 2);
                break;
            }

            if (_boundCount > 0 && b0 == '-' && TryMatchBoundary(pos, pos, out var bh))
            {
                // The entity ends inside its header block: no body.
                r.HeaderEnd = r.BodyStart = pos;
                r.EndedByBoundary = true;
                r.BoundaryHit = bh;
                return r;
            }

            var lineEnd = LineEnd(pos, _lineMax);
            var contentLength = ContentLength(S(pos, lineEnd));
            if (!longLineReported && contentLength > _limits.MaxLineLength)
            {
                longLineReported = true;
                _h.OnDefect(MimeDefect.LineTooLong, pos);
            }

            if (count >= _limits.MaxHeaderCount || pos - start >= _limits.MaxHeaderBlockBytes)
            {
                _h.OnDefect(count >= _limits.MaxHeaderCount ? MimeDefect.TooManyHeaders : MimeDefect.HeaderBlockTooLarge, pos);
                var rawLine = LineAt(pos);
                var rawEnd = SkipToHeaderEnd(pos);
                _h.OnHeader(new MimeHeaderLocation(pos, 0, pos, rawEnd, rawLine));
                pos = rawEnd;
                count++;
                continue;
            }

            if (pos == 0 && depth == 0 && Fill(5) && S(0, 5).SequenceEqual("From "u8))
            {
                _h.OnDefect(MimeDefect.MboxFromLine, pos);
                _h.OnHeader(new MimeHeaderLocation(pos, 0, pos, lineEnd, LineAt(pos)));
                pos = lineEnd;
                continue;
            }

            if (b0 == ' ' || b0 == '\t')
            {
                // Continuation with no field before it: keep it raw.
                _h.OnDefect(MimeDefect.LeadingContinuationLine, pos);
                var contEnd = ExtendFolded(lineEnd, ref longLineReported, pos);
                _h.OnHeader(new MimeHeaderLocation(pos, 0, pos, contEnd, LineAt(pos)));
                pos = contEnd;
                count++;
                continue;
            }

            var content = S(pos, pos + contentLength);
            var k = 0;
            while (k < content.Length && content[k] > 32 && content[k] < 127 && content[k] != ':')
            {
                k++;
            }

            var nameEnd = pos + k;
            while (k < content.Length && (content[k] == ' ' || content[k] == '\t'))
            {
                k++;
            }

            if (nameEnd == pos || k >= content.Length || content[k] != ':')
            {
                // A junk line among the fields: kept raw, and the header block goes on (as Dovecot and mail-parser do).
                _h.OnDefect(MimeDefect.InvalidHeaderLine, pos);
                var junkEnd = ExtendFolded(lineEnd, ref longLineReported, pos);
                _h.OnHeader(new MimeHeaderLocation(pos, 0, pos, junkEnd, LineAt(pos)));
                pos = junkEnd;
                count++;
                continue;
            }

            var valueStart = pos + k + 1;
            var fieldEnd = ExtendFolded(lineEnd, ref longLineReported, pos);
            _h.OnHeader(new MimeHeaderLocation(pos, nameEnd - pos, valueStart, fieldEnd, LineAt(pos)));
            count++;

            var name = S(pos, nameEnd);
            if (name.Length == 12 && Ascii.EqualsIgnoreCase(name, "Content-Type"u8))
            {
                if (r.TypeSeen)
                {
                    _h.OnDefect(MimeDefect.DuplicateContentType, pos);
                }
                else
                {
                    r.TypeSeen = true;
                    Classify(S(valueStart, fieldEnd), ref r.IsMessageType, ref r.IsDigest, ref r.Boundary, ref r.Kind);
                }
            }
            else if (name.Length == 25 && Ascii.EqualsIgnoreCase(name, "Content-Transfer-Encoding"u8))
            {
                var v = S(valueStart, fieldEnd).Trim(" \t\r\n"u8);
                r.Encoded = Ascii.EqualsIgnoreCase(v, "base64"u8) || Ascii.EqualsIgnoreCase(v, "quoted-printable"u8);
            }

            pos = fieldEnd;
        }

        return r;
    }

    private Hit ParseEntity(int start, int depth, bool defaultMessage)
    {
        _parts++;
        _h.OnEntityStart(start, LineAt(start), depth);
        var hb = ReadHeaderBlock(start, depth);
        if (hb.EndedByBoundary)
        {
            var at = hb.HeaderEnd;
            _h.OnDefect(MimeDefect.MissingHeaderSeparator, at);
            _h.OnHeadersEnd(at, at, LineAt(at), MimeBodyKind.Leaf);
            _h.OnEntityEnd(at, LineAt(at));
            return hb.BoundaryHit;
        }

        var kind = hb.Kind;
        var headerEnd = hb.HeaderEnd;
        var bodyStart = hb.BodyStart;
        if (!hb.TypeSeen && defaultMessage)
        {
            kind = MimeBodyKind.Message;
        }

        if (kind != MimeBodyKind.Leaf && hb.Encoded)
        {
            _h.OnDefect(MimeDefect.EncodedCompositeBody, bodyStart);
            kind = MimeBodyKind.Leaf;
        }

        if (kind == MimeBodyKind.Multipart && hb.Boundary is null)
        {
            _h.OnDefect(MimeDefect.MissingBoundaryParameter, start);
            kind = MimeBodyKind.Leaf;
        }

        if (kind != MimeBodyKind.Leaf && (depth >= _limits.MaxDepth || _boundCount >= 1024))
        {
            _h.OnDefect(MimeDefect.NestingTooDeep, bodyStart);
            kind = MimeBodyKind.Leaf;
        }

        if (kind == MimeBodyKind.Message && Has(bodyStart) && !LooksLikeField(bodyStart))
        {
            _h.OnDefect(MimeDefect.InvalidMessageBody, bodyStart);
            kind = MimeBodyKind.Leaf;
        }

        if (kind == MimeBodyKind.Message && (!Has(bodyStart) || _parts >= _limits.MaxParts))
        {
            _h.OnDefect(!Has(bodyStart) ? MimeDefect.EmptyMessageBody : MimeDefect.TooManyParts, bodyStart);
            kind = MimeBodyKind.Leaf;
        }

        _h.OnHeadersEnd(headerEnd, bodyStart, LineAt(headerEnd), kind);

        Hit hit;
        switch (kind)
        {
            case MimeBodyKind.Multipart:
                hit = ParseMultipart(bodyStart, depth, hb.Boundary!, hb.IsDigest);
                break;
            case MimeBodyKind.Message:
                // A message that ends where the outer delimiter begins: an empty body is checked above.
                if (_boundCount > 0 && TryMatchBoundary(bodyStart, bodyStart, out var immediate))
                {
                    _h.OnDefect(MimeDefect.EmptyMessageBody, bodyStart);
                    hit = immediate;
                    break;
                }

                hit = ParseEntity(bodyStart, depth + 1, false);
                break;
            default:
                hit = FindBoundary(bodyStart, bodyStart);
                break;
        }

        _h.OnEntityEnd(hit.Start, LineAt(hit.Start));
        return hit;
    }

    /// <summary>True when the line at <paramref name="pos"/> starts like a header field (or an mbox From line). A name is
    /// looked for in the first <see cref="MimeLimits.MaxHeaderBlockBytes"/> bytes only.</summary>
    private bool LooksLikeField(int pos)
    {
        if (Fill(pos + 5) && S(pos, pos + 5).SequenceEqual("From "u8))
        {
            return true;
        }

        var limit = pos > int.MaxValue - _lineMax ? int.MaxValue : pos + _lineMax;
        var i = pos;
        while (i < limit && Has(i) && B(i) > 32 && B(i) < 127 && B(i) != ':')
        {
            i++;
        }

        if (i == pos)
        {
            return false;
        }

        while (i < limit && Has(i) && (B(i) == ' ' || B(i) == '\t'))
        {
            i++;
        }

        return i < limit && Has(i) && B(i) == ':';
    }

    private readonly void Classify(ReadOnlySpan<byte> value, ref bool isMessage, ref bool isDigest, ref byte[]? boundary, ref MimeBodyKind kind)
    {
        var v = value.TrimStart(" \t\r\n"u8);
        if (v.Length == 0 || (v[0] | 0x20) != 'm')
        {
            return;
        }

        if (TryClassifyFast(v, ref isMessage, ref isDigest, ref boundary, ref kind))
        {
            return;
        }

        var ct = ContentType.Parse(value);
        if (ct.IsMultipart)
        {
            kind = MimeBodyKind.Multipart;
            isDigest = ct.SubtypeIs("digest");
            var b = ct.Boundary;
            if (!string.IsNullOrEmpty(b))
            {
                boundary = Encoding.Latin1.GetBytes(b.TrimEnd(' ', '\t'));
            }
        }
        else if (ct.IsEncapsulatedMessage)
        {
            isMessage = true;
            kind = MimeBodyKind.Message;
        }
    }

    /// <summary>The common spellings without allocating strings; false sends the value to the full parser.</summary>
    private static bool TryClassifyFast(ReadOnlySpan<byte> v, ref bool isMessage, ref bool isDigest, ref byte[]? boundary, ref MimeBodyKind kind)
    {
        var slash = v.IndexOf((byte)'/');
        if (slash < 0)
        {
            return false;
        }

        var type = v[..slash].TrimEnd(" \t"u8);
        var rest = v[(slash + 1)..].TrimStart(" \t\r\n"u8);
        var subEnd = rest.IndexOfAny(";( \t\r\n"u8);
        var subtype = subEnd < 0 ? rest : rest[..subEnd];
        if (Ascii.EqualsIgnoreCase(type, "message"u8))
        {
            if (Ascii.EqualsIgnoreCase(subtype, "rfc822"u8) || Ascii.EqualsIgnoreCase(subtype, "global"u8) || Ascii.EqualsIgnoreCase(subtype, "news"u8))
            {
                isMessage = true;
                kind = MimeBodyKind.Message;
            }

            return true;
        }

        if (!Ascii.EqualsIgnoreCase(type, "multipart"u8))
        {
            return type.IndexOfAny("(\"\\"u8) < 0;
        }

        var p = subEnd < 0 ? [] : rest[subEnd..];
        if (p.IndexOfAny("(*\\"u8) >= 0 || p.Count((byte)'"') > 2)
        {
            return false;
        }

        while (p.Length > 0)
        {
            var semi = p.IndexOf((byte)';');
            if (semi < 0)
            {
                break;
            }

            p = p[(semi + 1)..].TrimStart(" \t\r\n"u8);
            if (p.Length < 9 || !Ascii.EqualsIgnoreCase(p[..8], "boundary"u8))
            {
                continue;
            }

            var q = p[8..].TrimStart(" \t\r\n"u8);
            if (q.Length == 0 || q[0] != '=')
            {
                continue;
            }

            q = q[1..].TrimStart(" \t\r\n"u8);
            ReadOnlySpan<byte> b;
            if (q.Length > 0 && q[0] == '"')
            {
                var close = q[1..].IndexOf((byte)'"');
                if (close < 0 || q.Slice(1, close).IndexOfAny("\r\n"u8) >= 0)
                {
                    return false;
                }

                b = q.Slice(1, close).TrimEnd(" \t"u8);
            }
            else
            {
                var end = q.IndexOfAny("; \t\r\n"u8);
                b = end < 0 ? q : q[..end];
            }

            if (b.Length == 0 || !Ascii.IsValid(b))
            {
                return false;
            }

            kind = MimeBodyKind.Multipart;
            isDigest = Ascii.EqualsIgnoreCase(subtype, "digest"u8);
            boundary = b.ToArray();
            return true;
        }

        // No "; boundary=": let the tolerant parser look (a missing semicolon, say).
        return false;
    }

    private int ExtendFolded(int lineEnd, ref bool longLineReported, int fieldStart)
    {
        var end = lineEnd;
        while (Has(end) && (B(end) == ' ' || B(end) == '\t'))
        {
            // One field holds at most about twice the header block limit (memory stays bounded when streaming).
            if (end - fieldStart > _limits.MaxHeaderBlockBytes)
            {
                break;
            }

            var next = LineEnd(end, _lineMax);
            if (!longLineReported && ContentLength(S(end, next)) > _limits.MaxLineLength)
            {
                longLineReported = true;
                _h.OnDefect(MimeDefect.LineTooLong, end);
            }

            end = next;
        }

        return end;
    }

    private int SkipToHeaderEnd(int pos)
    {
        // Up to (not including) the blank line, or a boundary line, or the end.
        while (Has(pos))
        {
            Pin(pos);
            if (IsBlankLine(pos))
            {
                return pos;
            }

            if (_boundCount > 0 && B(pos) == '-' && TryMatchBoundary(pos, pos, out _))
            {
                return pos;
            }

            pos = SkipLine(pos);
        }

        return pos;
    }

    private Hit ParseMultipart(int bodyStart, int depth, byte[] boundary, bool isDigest)
    {
        var ours = _boundCount;
        if (_boundCount == _bounds.Length)
        {
            Array.Resize(ref _bounds, Math.Max(4, _bounds.Length * 2));
        }

        _bounds[_boundCount++] = boundary;
        var hit = FindBoundary(bodyStart, bodyStart);
        if (hit.Index < 0)
        {
            _h.OnDefect(MimeDefect.NoBoundaryFound, bodyStart);
            _boundCount--;
            return hit;
        }

        if (hit.Index != ours)
        {
            _h.OnDefect(MimeDefect.NoBoundaryFound, bodyStart);
            _boundCount = ours;
            return hit;
        }

        if (hit.Close)
        {
            _h.OnDefect(MimeDefect.NoParts, hit.LineStart);
        }

        while (true)
        {
            _h.OnBoundary(hit.Start, hit.End, LineAt(hit.LineStart), hit.Close);
            var atEnd = !Has(hit.End);
            if (hit.Close || _parts >= _limits.MaxParts || atEnd)
            {
                if (atEnd && !hit.Close)
                {
                    // An open delimiter as the last line: no part follows it.
                    _h.OnDefect(MimeDefect.MissingCloseDelimiter, hit.End);
                }
                else if (!hit.Close)
                {
                    _h.OnDefect(MimeDefect.TooManyParts, hit.End);
                }

                _boundCount = ours;
                _h.OnEpilogue(hit.End, LineAt(hit.End));
                return FindBoundary(hit.End, hit.End);
            }

            var child = ParseEntity(hit.End, depth + 1, isDigest);
            if (child.Index == ours)
            {
                hit = child;
                continue;
            }

            _h.OnDefect(MimeDefect.MissingCloseDelimiter, child.Start);
            _boundCount = ours;
            return child;
        }
    }

    /// <summary>Finds the next delimiter line of any open boundary at or after <paramref name="from"/> (a line start);
    /// the line break before it is looked for no earlier than <paramref name="floor"/>. Without one, reads to the end.</summary>
    private Hit FindBoundary(int from, int floor)
    {
        if (_boundCount > 0)
        {
            Pin(Math.Max(floor, from - 2));
            if (Has(from) && TryMatchBoundary(from, floor, out var first))
            {
                return first;
            }

            var pos = from;
            while (true)
            {
                var i = S(pos, Avail).IndexOf("\n--"u8);
                if (i < 0)
                {
                    if (_eof)
                    {
                        break;
                    }

                    // A "\n-" cut by the end of the window is looked at again once more bytes are in.
                    pos = Math.Max(pos, Avail - 2);
                    Pin(Math.Max(floor, pos - 2));
                    Fill(Avail + 1);
                    continue;
                }

                var ls = pos + i + 1;
                if (TryMatchBoundary(ls, floor, out var h))
                {
                    return h;
                }

                pos = ls;
                Pin(Math.Max(floor, pos - 2));
            }
        }

        while (!_eof)
        {
            Pin(Avail);
            Fill(Avail + 1);
        }

        var len = Avail;
        return new Hit { Start = len, LineStart = len, End = len, Index = -1 };
    }

    private bool TryMatchBoundary(int ls, int floor, out Hit hit)
    {
        hit = default;
        if (!Fill(ls + 2) || B(ls) != '-' || B(ls + 1) != '-')
        {
            return false;
        }

        for (var k = _boundCount - 1; k >= 0; k--)
        {
            var b = _bounds[k];
            var j = ls + 2 + b.Length;
            if (!Fill(j) || !S(ls + 2, j).SequenceEqual(b))
            {
                continue;
            }

            var close = false;
            if (Fill(j + 2) && B(j) == '-' && B(j + 1) == '-')
            {
                close = true;
                j += 2;
            }

            // Transport padding: at most a line's worth, so a delimiter line is bounded like any other line.
            var padEnd = j + Math.Max(1, _limits.MaxLineLength);
            while (j < padEnd && Has(j) && (B(j) == ' ' || B(j) == '\t' || B(j) == '\r'))
            {
                j++;
            }

            var more = Has(j);
            if (more && B(j) != '\n')
            {
                continue;
            }

            var end = more ? j + 1 : j;
            var start = ls;
            if (ls - 1 >= floor && B(ls - 1) == '\n')
            {
                start = ls - 1;
                if (ls - 2 >= floor && B(ls - 2) == '\r')
                {
                    start = ls - 2;
                }
            }

            hit = new Hit { Start = start, LineStart = ls, End = end, Index = k, Close = close };
            return true;
        }

        return false;
    }
}
