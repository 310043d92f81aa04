using System.Buffers;
using System.Text;

namespace Postern.Protocols.Imap.Tests;

/// <summary>Drives a reader the way a session does: accepts every synchronizing literal, collects results.</summary>
internal sealed class Driver(ImapLimits? limits = null)
{
    public ImapCommandReader Reader { get; } = new(limits);
    public List<ImapCommand> Commands { get; } = [];
    public List<ImapCommandError> Errors { get; } = [];
    public List<ImapLiteralInfo> Continuations { get; } = [];
    public Dictionary<int, MemoryStream> Literals { get; } = [];
    public List<string> Events { get; } = [];
    public bool Closed { get; private set; }

    private readonly List<byte> _pending = [];

    public static Driver Run(string input, int chunk = int.MaxValue, ImapLimits? limits = null, bool perByteSegments = false)
    {
        var d = new Driver(limits);
        d.Feed(Encoding.UTF8.GetBytes(input), chunk, perByteSegments);
        return d;
    }

    public void Feed(byte[] input, int chunk = int.MaxValue, bool perByteSegments = false)
    {
        for (var i = 0; i < input.Length && !Closed; i += chunk)
        {
            _pending.AddRange(input.AsSpan(i, Math.Min(chunk, input.Length - i)).ToArray());
            Pump(perByteSegments);
        }
    }

    private void Pump(bool perByteSegments)
    {
        var buffer = perByteSegments ? Segments.PerByte([.. _pending]) : new ReadOnlySequence<byte>([.. _pending]);
        var guard = 0;
        while (!Closed)
        {
            if (++guard > 1_000_000)
            {
                throw new InvalidOperationException("The reader does not make progress.");
            }

            var r = Reader.Read(buffer, out var consumed);
            buffer = buffer.Slice(consumed);
            switch (r.Status)
            {
                case ImapReadStatus.NeedMoreData:
                    _pending.Clear();
                    _pending.AddRange(buffer.ToArray());
                    return;
                case ImapReadStatus.Command:
                    Commands.Add(r.Command!);
                    Events.Add("command " + r.Command!.Name);
                    break;
                case ImapReadStatus.Error:
                    Errors.Add(r.Error!);
                    Events.Add("error " + r.Error!.Status + " " + r.Error.Code);
                    if (r.Error.CloseConnection)
                    {
                        Closed = true;
                    }

                    break;
                case ImapReadStatus.ContinuationRequest:
                    Continuations.Add(r.Literal!);
                    Events.Add("+ " + r.Literal!.Length);
                    Reader.AcceptLiteral();
                    break;
                case ImapReadStatus.LiteralStart:
                    Literals[r.Literal!.Message!.Index] = new MemoryStream();
                    Events.Add("start " + r.Literal.Message.Index);
                    break;
                case ImapReadStatus.LiteralData:
                    foreach (var m in r.Data)
                    {
                        Literals[r.Literal!.Message!.Index].Write(m.Span);
                    }

                    break;
                case ImapReadStatus.LiteralEnd:
                    Events.Add("end " + r.Literal!.Message!.Index);
                    break;
            }
        }
    }

    public string Literal(int index) => Encoding.UTF8.GetString(Literals[index].ToArray());
}

internal static class Segments
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    public static ReadOnlySequence<byte> PerByte(byte[] data)
    {
        if (data.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(data.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < data.Length; i++)
        {
            last = last.Append(data.AsMemory(i, 1));
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }
}
