using System.Buffers;
using Postern.Mime.Headers;

namespace Postern.Mime;

/// <summary>Builds a <see cref="MimeMessage"/> tree with the streaming <see cref="MimeReader"/>. Never throws on bad input.</summary>
public static class MimeParser
{
    private static long _internalErrors;

    /// <summary>How many times the catch-all recovered from an unexpected exception (should stay zero).</summary>
    public static long InternalErrorCount => Interlocked.Read(ref _internalErrors);

    /// <summary>Parses a message held in memory. The tree references <paramref name="data"/>; do not change it afterwards.</summary>
    public static MimeMessage Parse(ReadOnlyMemory<byte> data, MimeParserOptions? options = null)
    {
        options ??= MimeParserOptions.Default;
        try
        {
            var nl = data.Span.IndexOf((byte)'\n');
            var builder = TreeBuilder.Rent(new MimeSource(data, nl <= 0 || data.Span[nl - 1] == '\r'));
            try
            {
                MimeReader.Read(data.Span, ref builder, options);
                builder.Finish();
                var message = new MimeMessage(builder.Root!, options);
                if (options.CheckContent)
                {
                    RecordContentDefects(message);
                }

                return message;
            }
            finally
            {
                builder.Return();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _internalErrors);
            var root = new MimeEntity(new MimeSource(data, true), 0, 1, 0, null) { HeaderEnd = 0, BodyStart = 0, End = data.Length, Kind = MimeBodyKind.Leaf };
            root.AddDefect(MimeDefect.InternalError, 0);
            return new MimeMessage(root, options);
        }
    }

    /// <summary>Decodes every header field and every leaf body once and lists on its entity what the decoding tolerated.</summary>
    private static void RecordContentDefects(MimeMessage message)
    {
        foreach (var entity in message.Entities)
        {
            RecordHeaderDefects(entity);
            if (entity.Kind != MimeBodyKind.Leaf)
            {
                continue;
            }

            entity.GetContent(out var transfer);
            if (transfer != MimeDefect.None)
            {
                entity.AddDefect(transfer, entity.BodyStart);
            }

            if (entity.ContentType.IsText)
            {
                entity.GetText(out var charset);
                if (charset != MimeDefect.None)
                {
                    entity.AddDefect(charset, entity.BodyStart);
                }
            }
        }
    }

    /// <summary>
    /// Per field: <see cref="MimeDefect.Undeclared8BitHeader"/> when it holds 8-bit bytes that are not UTF-8 (RFC 6532 allows
    /// UTF-8 in header fields, so only bytes read with the Windows-1252 fallback count), and
    /// <see cref="MimeDefect.InvalidCharsetBytes"/> when an encoded word's bytes are not valid in its charset.
    /// </summary>
    private static void RecordHeaderDefects(MimeEntity entity)
    {
        foreach (var field in entity.Headers)
        {
            if (!field.IsField)
            {
                continue;
            }

            var raw = field.RawValue.Span;
            if (!System.Text.Ascii.IsValid(raw) && !System.Text.Unicode.Utf8.IsValid(raw))
            {
                entity.AddDefect(MimeDefect.Undeclared8BitHeader, field.Offset);
            }

            if (HeaderText.HasInvalidEncodedWords(raw))
            {
                entity.AddDefect(MimeDefect.InvalidCharsetBytes, field.Offset);
            }
        }
    }

    /// <summary>Parses a byte sequence (segments are joined into one buffer).</summary>
    public static MimeMessage Parse(ReadOnlySequence<byte> data, MimeParserOptions? options = null) =>
        Parse(data.IsSingleSegment ? data.First : data.ToArray(), options);

    /// <summary>Reads a stream to its end (up to <see cref="MimeLimits.MaxMessageBytes"/>) and parses it.</summary>
    public static MimeMessage Parse(Stream stream, MimeParserOptions? options = null)
    {
        options ??= MimeParserOptions.Default;
        var (bytes, truncated) = ReadBounded(stream, options.Limits.MaxMessageBytes);
        var m = Parse(bytes, options);
        if (truncated)
        {
            m.Root.AddDefect(MimeDefect.MessageTruncated, bytes.Length);
        }

        return m;
    }

    /// <summary>Reads a stream asynchronously (bounded) and parses it.</summary>
    public static async Task<MimeMessage> ParseAsync(Stream stream, MimeParserOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= MimeParserOptions.Default;
        var limit = options.Limits.MaxMessageBytes;
        using var ms = new MemoryStream();
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        var truncated = false;
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false)) > 0)
            {
                var take = (int)Math.Min(n, limit - ms.Length);
                ms.Write(buffer, 0, take);
                if (take < n)
                {
                    truncated = true;
                    break;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var m = Parse(ms.GetBuffer().AsMemory(0, (int)ms.Length), options);
        if (truncated)
        {
            m.Root.AddDefect(MimeDefect.MessageTruncated, ms.Length);
        }

        return m;
    }

    /// <summary>Reads and parses a file.</summary>
    public static MimeMessage ParseFile(string path, MimeParserOptions? options = null)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        return Parse(fs, options);
    }

    private static (ReadOnlyMemory<byte> Bytes, bool Truncated) ReadBounded(Stream stream, long limit)
    {
        limit = Math.Min(limit, Array.MaxLength);
        if (stream.CanSeek)
        {
            var remaining = stream.Length - stream.Position;
            var size = (int)Math.Min(remaining, limit);
            var arr = new byte[size];
            stream.ReadExactly(arr);
            return (arr, remaining > limit);
        }

        using var ms = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            var take = (int)Math.Min(n, limit - ms.Length);
            ms.Write(buffer, 0, take);
            if (take < n)
            {
                return (ms.ToArray(), true);
            }
        }

        return (ms.GetBuffer().AsMemory(0, (int)ms.Length), false);
    }

    private sealed class TreeBuilder : IMimeReaderHandler
    {
        [ThreadStatic]
        private static TreeBuilder? _cached;

        private readonly Stack<MimeEntity> _stack = new();
        private readonly List<MimeDefectRecord> _early = [];
        private MimeSource? _source;
        private byte[] _table = new byte[1024];
        private int _tableLength;
        private int _entityFirst;
        private int _entityHeaders;
        private int _lastEnd;

        public MimeEntity? Root { get; private set; }

        public static TreeBuilder Rent(MimeSource source)
        {
            var b = _cached ?? new TreeBuilder();
            _cached = null;
            b._source = source;
            b._tableLength = 0;
            b.Root = null;
            b._stack.Clear();
            b._early.Clear();
            return b;
        }

        public void Finish() => _source!.HeaderTable = _table.AsSpan(0, _tableLength).ToArray();

        public void Return()
        {
            if (_table.Length > 256 * 1024)
            {
                _table = new byte[1024];
            }

            _source = null;
            Root = null;
            _stack.Clear();
            _cached = this;
        }

        public void OnEntityStart(int offset, int line, int depth)
        {
            _stack.TryPeek(out var parent);
            var e = new MimeEntity(_source!, offset, line, depth, parent);
            if (parent is null)
            {
                Root = e;
                foreach (var d in _early)
                {
                    e.AddDefect(d.Defect, d.Offset);
                }
            }
            else if (parent.Kind == MimeBodyKind.Multipart)
            {
                parent.AddChild(e);
            }
            else
            {
                parent.Message = e;
            }

            _entityFirst = _tableLength;
            _entityHeaders = 0;
            _lastEnd = offset;
            _stack.Push(e);
        }

        /// <summary>Fields are contiguous from the entity start: each is kept as its length and kind, a varint.</summary>
        public void OnHeader(in MimeHeaderLocation header)
        {
            if (_tableLength + 10 > _table.Length)
            {
                Array.Resize(ref _table, _table.Length * 2);
            }

            var v = ((ulong)(uint)(header.End - _lastEnd) << 1) | (header.IsField ? 1UL : 0UL);
            _lastEnd = header.End;
            while (v >= 0x80)
            {
                _table[_tableLength++] = (byte)(v | 0x80);
                v >>= 7;
            }

            _table[_tableLength++] = (byte)v;
            _entityHeaders++;
        }

        public void OnHeadersEnd(int headerEnd, int bodyStart, int line, MimeBodyKind kind)
        {
            var e = _stack.Peek();
            e.HeaderEnd = headerEnd;
            e.BodyStart = bodyStart;
            e.BodyLine = line + (bodyStart > headerEnd ? 1 : 0);
            e.Kind = kind;
            e.SetHeaders(_entityFirst, _entityHeaders);
        }

        public void OnBoundary(int start, int end, int line, bool isClose) => _stack.Peek().AddDelimiter(new MimeBoundaryLine(start, end, line, isClose));

        public void OnEpilogue(int start, int line) => _stack.Peek().EpilogueStart = start;

        public void OnEntityEnd(int end, int line)
        {
            var e = _stack.Pop();
            e.End = end;
            e.EndLine = line;
        }

        public void OnDefect(MimeDefect defect, int offset)
        {
            if (_stack.TryPeek(out var e))
            {
                e.AddDefect(defect, offset);
            }
            else
            {
                _early.Add(new MimeDefectRecord(defect, offset));
            }
        }
    }
}
