using BenchmarkDotNet.Attributes;
using Postern.Mime;

namespace Postern.Benchmarks.Mime;

/// <summary>Structure and full parse over the corpus (spamassassin-sample plus mime-stalwart, loaded in memory).
/// MB/s = <see cref="CorpusBytes"/> ÷ mean time; allocations per run are reported by the memory diagnoser.</summary>
[MemoryDiagnoser]
public class MimeParseBenchmarks
{
    private byte[][] _messages = [];

    /// <summary>Total input bytes of one run (printed at setup so MB/s can be computed).</summary>
    public long CorpusBytes { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        var corpus = FindCorpus();
        _messages = Directory.EnumerateFiles(Path.Combine(corpus, "spamassassin-sample"), "*", SearchOption.AllDirectories)
            .Where(p => !p.EndsWith(".md", StringComparison.Ordinal) && !p.Contains("LICENSE", StringComparison.Ordinal) && !p.Contains("NOTICE", StringComparison.Ordinal))
            .Concat(Directory.EnumerateFiles(Path.Combine(corpus, "mime-stalwart", "resources", "eml"), "*.eml", SearchOption.AllDirectories))
            .Order(StringComparer.Ordinal)
            .Select(File.ReadAllBytes)
            .ToArray();
        CorpusBytes = _messages.Sum(m => (long)m.Length);
        Console.WriteLine($"// corpus: {_messages.Length} messages, {CorpusBytes} bytes");
    }

    /// <summary>Headers and boundaries only: the tree with offsets, nothing decoded.</summary>
    [Benchmark(Baseline = true)]
    public int StructureParse()
    {
        var n = 0;
        foreach (var m in _messages)
        {
            n += MimeParser.Parse(m).Root.End;
        }

        return n;
    }

    /// <summary>Structure plus the usual header fields, transfer decoding and charset conversion of every leaf.</summary>
    [Benchmark]
    public int FullParse()
    {
        var n = 0;
        foreach (var m in _messages)
        {
            var msg = MimeParser.Parse(m);
            n += msg.Subject?.Length ?? 0;
            n += msg.From.Count + msg.To.Count;
            n += msg.Date.IsValid ? 1 : 0;
            foreach (var e in msg.Entities)
            {
                if (e.Kind != MimeBodyKind.Leaf)
                {
                    continue;
                }

                n += e.ContentType.IsText ? e.GetText()?.Length ?? 0 : e.GetContent().Length;
            }
        }

        return n;
    }

    /// <summary>The streaming reader with callbacks fed from a stream (16 KiB window, bytes dropped as it goes): the
    /// incremental path an SMTP DATA stream or a spool file takes, without building a tree.</summary>
    [Benchmark]
    public long StreamingRead()
    {
        long n = 0;
        var handler = new CountingHandler();
        foreach (var m in _messages)
        {
            using var stream = new MemoryStream(m, writable: false);
            n += MimeReader.Read(stream, ref handler).Length;
        }

        return n + handler.Entities;
    }

    private struct CountingHandler : IMimeReaderHandler
    {
        public int Entities;

        public void OnEntityStart(int offset, int line, int depth) => Entities++;

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

        public readonly void OnEntityEnd(int end, int line)
        {
        }

        public readonly void OnDefect(MimeDefect defect, int offset)
        {
        }
    }

    private static string FindCorpus()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Postern.slnx")))
        {
            dir = dir.Parent;
        }

        return dir is null
            ? throw new InvalidOperationException("Postern.slnx not found above " + AppContext.BaseDirectory)
            : Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "corpus"));
    }
}
