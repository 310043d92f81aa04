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
}

internal ref struct ReaderCore<T>
    where T : IMimeReaderHandler
{
    private readonly ReadOnlySpan<byte> _d;
    private readonly ref T _h;
    private readonly MimeLimits _limits;
    private byte[][] _bounds;
    private int _boundCount;
    private int _parts;
    private int _linePos;
    private int _lineNo;

    public ReaderCore(ReadOnlySpan<byte> data, ref T handler, MimeLimits limits)
    {
        _d = data;
        _h = ref handler;
        _limits = limits;
        _bounds = [];
        _lineNo = 1;
    }

    private struct Hit
    {
        public int Start;     // delimiter start (incl. preceding line break) or data length
        public int LineStart; // offset of the "--"
        public int End;       // after the delimiter line's break
        public int Index;     // boundary stack index, -1 = end of data
        public bool Close;
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

    private int LineAt(int pos)
    {
        if (pos >= _linePos)
        {
            _lineNo += _d[_linePos..pos].Count((byte)'\n');
        }
        else
        {
            _lineNo -= _d[pos.._linePos].Count((byte)'\n');
        }

        _linePos = pos;
        return _lineNo;
    }

    private readonly int LineEnd(int pos)
    {
        var i = _d[pos..].IndexOf((byte)'\n');
        return i < 0 ? _d.Length : pos + i + 1;
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

    private Hit ParseEntity(int start, int depth, bool defaultMessage)
    {
        _parts++;
        _h.OnEntityStart(start, LineAt(start), depth);
        var len = _d.Length;
        var pos = start;
        var count = 0;
        var kind = MimeBodyKind.Leaf;
        var typeSeen = false;
        var encoded = false;
        byte[]? boundary = null;
        var longLineReported = false;
        var isDigest = false;
        var isMessageType = defaultMessage;
        int headerEnd, bodyStart;

        while (true)
        {
            if (pos >= len)
            {
                if (pos > start)
                {
                    _h.OnDefect(MimeDefect.MissingHeaderSeparator, pos);
                }

                headerEnd = bodyStart = len;
                break;
            }

            var b0 = _d[pos];
            if (b0 == '\n' || (b0 == '\r' && pos + 1 < len && _d[pos + 1] == '\n'))
            {
                headerEnd = pos;
                bodyStart = pos + (b0 == '\n' ? 1 : 2);
                break;
            }

            if (_boundCount > 0 && b0 == '-' && TryMatchBoundary(pos, pos, out var bh))
            {
                // The entity ends inside its header block: no body.
                _h.OnDefect(MimeDefect.MissingHeaderSeparator, pos);
                _h.OnHeadersEnd(pos, pos, LineAt(pos), MimeBodyKind.Leaf);
                _h.OnEntityEnd(pos, LineAt(pos));
                return bh;
            }

            var lineEnd = LineEnd(pos);
            if (!longLineReported && ContentLength(_d[pos..lineEnd]) > _limits.MaxLineLength)
            {
                longLineReported = true;
                _h.OnDefect(MimeDefect.LineTooLong, pos);
            }

            if (count >= _limits.MaxHeaderCount || pos - start >= _limits.MaxHeaderBlockBytes)
            {
                _h.OnDefect(count >= _limits.MaxHeaderCount ? MimeDefect.TooManyHeaders : MimeDefect.HeaderBlockTooLarge, pos);
                var rawEnd = SkipToHeaderEnd(pos);
                _h.OnHeader(new MimeHeaderLocation(pos, 0, pos, rawEnd, LineAt(pos)));
                pos = rawEnd;
                count++;
                continue;
            }

            if (pos == 0 && depth == 0 && _d.StartsWith("From "u8))
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

            var i = pos;
            var contentEnd = pos + ContentLength(_d[pos..lineEnd]);
            while (i < contentEnd && _d[i] > 32 && _d[i] < 127 && _d[i] != ':')
            {
                i++;
            }

            var nameEnd = i;
            while (i < contentEnd && (_d[i] == ' ' || _d[i] == '\t'))
            {
                i++;
            }

            if (nameEnd == pos || i >= contentEnd || _d[i] != ':')
            {
                // A junk line among the fields: kept raw, and the header block goes on (as Dovecot and mail-parser do).
                _h.OnDefect(MimeDefect.InvalidHeaderLine, pos);
                var junkEnd = ExtendFolded(lineEnd, ref longLineReported, pos);
                _h.OnHeader(new MimeHeaderLocation(pos, 0, pos, junkEnd, LineAt(pos)));
                pos = junkEnd;
                count++;
                continue;
            }

            var valueStart = i + 1;
            var fieldEnd = ExtendFolded(lineEnd, ref longLineReported, pos);
            _h.OnHeader(new MimeHeaderLocation(pos, nameEnd - pos, valueStart, fieldEnd, LineAt(pos)));
            count++;

            var name = _d[pos..nameEnd];
            if (name.Length == 12 && Ascii.EqualsIgnoreCase(name, "Content-Type"u8))
            {
                if (typeSeen)
                {
                    _h.OnDefect(MimeDefect.DuplicateContentType, pos);
                }
                else
                {
                    typeSeen = true;
                    Classify(_d[valueStart..fieldEnd], ref isMessageType, ref isDigest, ref boundary, ref kind);
                }
            }
            else if (name.Length == 25 && Ascii.EqualsIgnoreCase(name, "Content-Transfer-Encoding"u8))
            {
                var v = _d[valueStart..fieldEnd].Trim(" \t\r\n"u8);
                encoded = Ascii.EqualsIgnoreCase(v, "base64"u8) || Ascii.EqualsIgnoreCase(v, "quoted-printable"u8);
            }

            pos = fieldEnd;
        }

        if (!typeSeen && defaultMessage)
        {
            kind = MimeBodyKind.Message;
        }

        if (kind != MimeBodyKind.Leaf && encoded)
        {
            _h.OnDefect(MimeDefect.EncodedCompositeBody, bodyStart);
            kind = MimeBodyKind.Leaf;
        }

        if (kind == MimeBodyKind.Multipart && boundary is null)
        {
            _h.OnDefect(MimeDefect.MissingBoundaryParameter, start);
            kind = MimeBodyKind.Leaf;
        }

        if (kind != MimeBodyKind.Leaf && (depth >= _limits.MaxDepth || _boundCount >= 1024))
        {
            _h.OnDefect(MimeDefect.NestingTooDeep, bodyStart);
            kind = MimeBodyKind.Leaf;
        }

        if (kind == MimeBodyKind.Message && bodyStart < len && !LooksLikeField(bodyStart))
        {
            _h.OnDefect(MimeDefect.InvalidMessageBody, bodyStart);
            kind = MimeBodyKind.Leaf;
        }

        if (kind == MimeBodyKind.Message && (bodyStart >= len || _parts >= _limits.MaxParts))
        {
            _h.OnDefect(bodyStart >= len ? MimeDefect.EmptyMessageBody : MimeDefect.TooManyParts, bodyStart);
            kind = MimeBodyKind.Leaf;
        }

        _h.OnHeadersEnd(headerEnd, bodyStart, LineAt(headerEnd), kind);
        _ = isMessageType;

        Hit hit;
        switch (kind)
        {
            case MimeBodyKind.Multipart:
                hit = ParseMultipart(bodyStart, depth, boundary!, isDigest);
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

    private readonly bool LooksLikeField(int pos)
    {
        var line = _d[pos..LineEnd(pos)];
        if (line.StartsWith("From "u8))
        {
            return true;
        }

        var i = 0;
        while (i < line.Length && line[i] > 32 && line[i] < 127 && line[i] != ':')
        {
            i++;
        }

        if (i == 0)
        {
            return false;
        }

        while (i < line.Length && (line[i] == ' ' || line[i] == '\t'))
        {
            i++;
        }

        return i < line.Length && line[i] == ':';
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
        while (end < _d.Length && (_d[end] == ' ' || _d[end] == '\t'))
        {
            if (_boundCount > 0 && end - fieldStart > _limits.MaxHeaderBlockBytes)
            {
                break;
            }

            var next = LineEnd(end);
            if (!longLineReported && ContentLength(_d[end..next]) > _limits.MaxLineLength)
            {
                longLineReported = true;
                _h.OnDefect(MimeDefect.LineTooLong, end);
            }

            end = next;
        }

        return end;
    }

    private readonly int SkipToHeaderEnd(int pos)
    {
        // Up to (not including) the blank line, or a boundary line, or the end.
        while (pos < _d.Length)
        {
            var b0 = _d[pos];
            if (b0 == '\n' || (b0 == '\r' && pos + 1 < _d.Length && _d[pos + 1] == '\n'))
            {
                return pos;
            }

            if (_boundCount > 0 && b0 == '-' && TryMatchBoundary(pos, pos, out _))
            {
                return pos;
            }

            pos = LineEnd(pos);
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
            if (hit.Close || _parts >= _limits.MaxParts || hit.End >= _d.Length)
            {
                if (hit.End >= _d.Length && !hit.Close)
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

    /// <summary>Finds the next delimiter line of any open boundary at or after <paramref name="from"/> (a line start).</summary>
    private readonly Hit FindBoundary(int from, int floor)
    {
        var len = _d.Length;
        if (_boundCount > 0)
        {
            if (from < len && TryMatchBoundary(from, floor, out var first))
            {
                return first;
            }

            var pos = from;
            while (pos < len)
            {
                var i = _d[pos..].IndexOf("\n--"u8);
                if (i < 0)
                {
                    break;
                }

                var ls = pos + i + 1;
                if (TryMatchBoundary(ls, floor, out var h))
                {
                    return h;
                }

                pos = ls;
            }
        }

        return new Hit { Start = len, LineStart = len, End = len, Index = -1 };
    }

    private readonly bool TryMatchBoundary(int ls, int floor, out Hit hit)
    {
        hit = default;
        var line = _d[ls..];
        if (line.Length < 2 || line[0] != '-' || line[1] != '-')
        {
            return false;
        }

        line = line[2..];
        for (var k = _boundCount - 1; k >= 0; k--)
        {
            var b = _bounds[k];
            if (!line.StartsWith(b))
            {
                continue;
            }

            var j = b.Length;
            var close = false;
            if (j + 1 < line.Length && line[j] == '-' && line[j + 1] == '-')
            {
                close = true;
                j += 2;
            }

            while (j < line.Length && (line[j] == ' ' || line[j] == '\t' || line[j] == '\r'))
            {
                j++;
            }

            if (j < line.Length && line[j] != '\n')
            {
                continue;
            }

            var end = ls + 2 + (j < line.Length ? j + 1 : j);
            var start = ls;
            if (ls - 1 >= floor && _d[ls - 1] == '\n')
            {
                start = ls - 1;
                if (ls - 2 >= floor && _d[ls - 2] == '\r')
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
