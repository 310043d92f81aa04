using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Mime.Tests;

/// <summary>The reader fed in chunks (a stream whose reads return random sizes, a sequence of random segments) gives exactly
/// the callbacks, offsets, lines and defects of a parse of the whole input, and holds memory bounded by the limits.</summary>
public sealed class StreamingReaderTests
{
    private static readonly Lazy<byte[][]> AllMessages = new(() => Corpus.AllMessages().Select(File.ReadAllBytes).ToArray());

    private static readonly MimeParserOptions Tight = new()
    {
        Limits = new MimeLimits { MaxDepth = 3, MaxParts = 4, MaxHeaderCount = 3, MaxHeaderBlockBytes = 64, MaxLineLength = 20 },
    };

    private static List<string> Whole(byte[] data, MimeParserOptions? options = null)
    {
        var rec = new Recorder();
        MimeReader.Read(data, ref rec, options);
        return rec.Events;
    }

    private static List<string> FromStream(byte[] data, Func<int> chunk, MimeParserOptions? options = null)
    {
        var rec = new Recorder();
        var result = MimeReader.Read(new ChunkedStream(data, chunk), ref rec, options);
        Assert.Equal(data.Length, result.Length);
        Assert.False(result.Truncated);
        return rec.Events;
    }

    private static List<string> FromSequence(byte[] data, Func<int> chunk, MimeParserOptions? options = null)
    {
        var rec = new Recorder();
        var result = MimeReader.Read(Segments(data, chunk), ref rec, options);
        Assert.Equal(data.Length, result.Length);
        return rec.Events;
    }

    /// <summary>Mostly small chunks (where every cut lands inside a line, a CRLF or a delimiter), sometimes large ones.</summary>
    private static Func<int> Sizes(int seed, int max)
    {
        var rnd = new Random(seed);
        return () => rnd.Next(4) == 0 ? rnd.Next(1, max + 1) : rnd.Next(1, Math.Min(max, 40) + 1);
    }

    [Fact]
    public void Every_corpus_message_fed_in_random_chunks_gives_the_same_callbacks_as_the_whole()
    {
        var messages = AllMessages.Value;
        for (var i = 0; i < messages.Length; i++)
        {
            var whole = Whole(messages[i]);
            Assert.Equal(whole, FromStream(messages[i], Sizes(i, 64 * 1024)));
            if (i % 4 == 0)
            {
                Assert.Equal(whole, FromSequence(messages[i], Sizes(i + 1, 64 * 1024)));
            }
        }
    }

    [Fact]
    public void Corpus_messages_in_random_chunk_sizes_from_1_byte_to_64_KiB_match_the_whole_parse()
    {
        var messages = AllMessages.Value;
        var gen =
            from index in Gen.Choose(0, messages.Length - 1)
            from max in Gen.Elements(1, 2, 3, 7, 64, 1024, 64 * 1024)
            from seed in Gen.Choose(0, int.MaxValue)
            from crlf in Gen.Elements(false, true)
            select (index, max, seed, crlf);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var data = t.crlf ? Corpus.ToCrlf(messages[t.index]) : Corpus.ToLf(messages[t.index]);
            var whole = Whole(data);
            return whole.SequenceEqual(FromStream(data, Sizes(t.seed, t.max))) &&
                whole.SequenceEqual(FromSequence(data, Sizes(t.seed ^ 0x5bd1e995, t.max)));
        }));
    }

    [Fact]
    public void Mutated_messages_and_tight_limits_give_the_same_callbacks_in_chunks()
    {
        var samples = FuzzTests.Samples.Value;
        var gen =
            from s in Gen.Choose(0, samples.Length - 1)
            from kind in Gen.Choose(0, 4)
            from a in Gen.Choose(0, int.MaxValue)
            from b in Gen.Choose(0, int.MaxValue)
            from tight in Gen.Elements(false, true)
            select (FuzzTests.Mutate(samples[s], kind, a, b), tight, a);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(200), Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var options = t.tight ? Tight : null;
            var whole = Whole(t.Item1, options);
            return whole.SequenceEqual(FromStream(t.Item1, Sizes(t.a, 4096), options)) &&
                whole.SequenceEqual(FromSequence(t.Item1, Sizes(t.a + 7, 512), options));
        }));
    }

    [Fact]
    public void Random_bytes_and_MIME_token_soup_give_the_same_callbacks_in_chunks()
    {
        var gen =
            from data in Gen.OneOf(FuzzTests.MimeLike(), ArbMap.Default.GeneratorFor<byte[]>())
            from max in Gen.Elements(1, 2, 5, 64)
            from seed in Gen.Choose(0, int.MaxValue)
            from tight in Gen.Elements(false, true)
            select (data, max, seed, tight);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(400), Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var options = t.tight ? Tight : null;
            var whole = Whole(t.data, options);
            return whole.SequenceEqual(FromStream(t.data, Sizes(t.seed, t.max), options)) &&
                whole.SequenceEqual(FromSequence(t.data, Sizes(t.seed + 1, t.max), options));
        }));
    }

    [Fact]
    public void The_tree_from_a_multi_segment_sequence_equals_the_tree_from_one_buffer()
    {
        foreach (var data in FuzzTests.Samples.Value)
        {
            var one = MimeParser.Parse(data);
            var many = MimeParser.Parse(Segments(data, Sizes(data.Length, 100)));
            Assert.Equal(Shape(one.Root), Shape(many.Root));
            Assert.Equal(data, many.ToArray());
        }
    }

    private static string Shape(MimeEntity e) =>
        $"{e.Start}/{e.HeaderEnd}/{e.BodyStart}/{e.End}/{e.Line}/{e.BodyLine}/{e.EndLine}/{e.Kind}/{e.Headers.Count}/" +
        string.Join(",", e.Defects) + "[" + string.Join(";", e.Children.Select(Shape)) + "]" + (e.Message is null ? string.Empty : "{" + Shape(e.Message) + "}");

    [Fact]
    public void A_huge_message_fed_in_chunks_is_read_in_bounded_memory()
    {
        // 64 MiB of a multipart message with a large base64 part and many small ones, generated as it is read.
        const long Size = 64L * 1024 * 1024;
        var stream = new GeneratedMessage(Size);
        var rec = new CountingHandler();
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = MimeReader.Read(stream, ref rec);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(stream.Length, result.Length);
        Assert.False(result.Truncated);
        Assert.Equal(stream.Length, rec.RootEnd);
        Assert.Equal(stream.Lines + 1, rec.RootEndLine);
        Assert.Equal(stream.Parts + 1, rec.Entities);
        Assert.Equal(0, rec.Defects);
        Assert.True(allocated < 2 * 1024 * 1024, $"allocated {allocated} bytes for a {Size}-byte message");
    }

    [Fact]
    public void A_header_line_that_never_ends_is_cut_at_the_header_limit_and_memory_stays_bounded()
    {
        var prefix = "Subject: "u8.ToArray();
        var stream = new RepeatStream(prefix, (byte)'x', 32L * 1024 * 1024);
        var rec = new CountingHandler();
        var options = new MimeParserOptions { Limits = new MimeLimits { MaxHeaderBlockBytes = 64 * 1024 } };
        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = MimeReader.Read(stream, ref rec, options);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(stream.Length, result.Length);
        Assert.Equal(stream.Length, rec.RootEnd);
        Assert.True(rec.Defects > 0);
        Assert.True(allocated < 2 * 1024 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    public void A_stream_longer_than_the_message_limit_is_cut_and_reported()
    {
        var data = Encoding.ASCII.GetBytes("Subject: x\n\n" + new string('a', 5000));
        var rec = new Recorder();
        var result = MimeReader.Read(new ChunkedStream(data, () => 100), ref rec, new MimeParserOptions { Limits = new MimeLimits { MaxMessageBytes = 1000 } });
        Assert.Equal(1000, result.Length);
        Assert.True(result.Truncated);
        Assert.Equal("end@1000 line3", rec.Events[^1]);
    }

    private sealed class Recorder : IMimeReaderHandler
    {
        public List<string> Events { get; } = [];

        public void OnEntityStart(int offset, int line, int depth) => Events.Add($"start@{offset} line{line} depth{depth}");

        public void OnHeader(in MimeHeaderLocation header) => Events.Add($"header {header}");

        public void OnHeadersEnd(int headerEnd, int bodyStart, int line, MimeBodyKind kind) => Events.Add($"headers-end@{headerEnd} body@{bodyStart} line{line} {kind}");

        public void OnBoundary(int start, int end, int line, bool isClose) => Events.Add($"delimiter {start}-{end} line{line} close={isClose}");

        public void OnEpilogue(int start, int line) => Events.Add($"epilogue@{start} line{line}");

        public void OnEntityEnd(int end, int line) => Events.Add($"end@{end} line{line}");

        public void OnDefect(MimeDefect defect, int offset) => Events.Add($"defect {defect}@{offset}");
    }

    private struct CountingHandler : IMimeReaderHandler
    {
        public int Entities;
        public int Defects;
        public long RootEnd;
        public int RootEndLine;
        private int _depth;

        public void OnEntityStart(int offset, int line, int depth)
        {
            Entities++;
            _depth++;
        }

        public readonly void OnHeader(in MimeHeaderLocation header)
        {
        }

        public readonly void OnHeadersEnd(int headerEnd, int bodyStart, int line, MimeBodyKind kind)
        {
        }

        public readonly void OnBoundary(int start, int end, int line, bool isClose)
        {
        }

        public readonly void OnEpilogue(int start, int line)
        {
        }

        public void OnEntityEnd(int end, int line)
        {
            if (--_depth == 0)
            {
                RootEnd = end;
                RootEndLine = line;
            }
        }

        public void OnDefect(MimeDefect defect, int offset) => Defects++;
    }

    internal static ReadOnlySequence<byte> Segments(byte[] data, Func<int> size)
    {
        if (data.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        Segment? first = null, last = null;
        for (var i = 0; i < data.Length;)
        {
            var n = Math.Min(size(), data.Length - i);
            var s = new Segment(data.AsMemory(i, n), last);
            first ??= s;
            last = s;
            i += n;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, Segment? previous)
        {
            Memory = memory;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }

    /// <summary>A read-only stream whose reads return at most the next chunk size: bytes "as they arrive".</summary>
    private sealed class ChunkedStream(byte[] data, Func<int> chunk) : ForwardStream
    {
        private int _pos;

        public override long Length => data.Length;

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(Math.Min(buffer.Length, chunk()), data.Length - _pos);
            data.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
    }

    /// <summary>A prefix and then one byte repeated: a header line with no end.</summary>
    private sealed class RepeatStream(byte[] prefix, byte fill, long length) : ForwardStream
    {
        private long _pos;

        public override long Length => length;

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(Math.Min(buffer.Length, 8192), length - _pos);
            for (var i = 0; i < n; i++)
            {
                var p = _pos + i;
                buffer[i] = p < prefix.Length ? prefix[p] : fill;
            }

            _pos += n;
            return n;
        }
    }

    /// <summary>A multipart message of about <c>size</c> bytes made line by line while it is read (never held whole):
    /// a header, then parts of 100 base64 lines, one in ten a big one of 4,000 lines, and the close delimiter.</summary>
    private sealed class GeneratedMessage : ForwardStream
    {
        private static readonly byte[] Head = "From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_gen\"\r\n\r\npreamble\r\n"u8.ToArray();
        private static readonly byte[] PartHead = "--=_gen\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"u8.ToArray();
        private static readonly byte[] Line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n"u8.ToArray();
        private static readonly byte[] CloseDelimiter = "--=_gen--\r\n"u8.ToArray();
        private readonly long _target;
        private byte[] _pending = [];
        private int _pendingPos;
        private long _written;
        private int _linesLeftInPart;
        private int _stage;
        private int _partNo;

        public GeneratedMessage(long target)
        {
            _target = target;
            var measure = new GeneratedMessage(target, 0);
            for (var chunk = measure.Next(); chunk is not null; chunk = measure.Next())
            {
                Length += chunk.Length;
                Lines += chunk.AsSpan().Count((byte)'\n');
                Parts += chunk == PartHead ? 1 : 0;
            }
        }

        private GeneratedMessage(long target, int stage)
        {
            _target = target;
            _stage = stage;
        }

        public override long Length { get; }

        public long Lines { get; }

        public int Parts { get; }

        private byte[]? Next()
        {
            if (_stage == 0)
            {
                _stage = 1;
                _written += Head.Length;
                return Head;
            }

            if (_stage == 2)
            {
                return null;
            }

            if (_linesLeftInPart > 0)
            {
                _linesLeftInPart--;
                _written += Line.Length;
                return Line;
            }

            if (_written >= _target)
            {
                _stage = 2;
                _written += CloseDelimiter.Length;
                return CloseDelimiter;
            }

            _linesLeftInPart = _partNo++ % 10 == 0 ? 4000 : 100;
            _written += PartHead.Length;
            return PartHead;
        }

        public override int Read(Span<byte> buffer)
        {
            var total = 0;
            while (total < buffer.Length)
            {
                if (_pendingPos == _pending.Length)
                {
                    var next = Next();
                    if (next is null)
                    {
                        break;
                    }

                    _pending = next;
                    _pendingPos = 0;
                }

                var n = Math.Min(buffer.Length - total, _pending.Length - _pendingPos);
                _pending.AsSpan(_pendingPos, n).CopyTo(buffer[total..]);
                _pendingPos += n;
                total += n;
            }

            return total;
        }
    }

    private abstract class ForwardStream : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
