using System.Buffers;

namespace Postern.Protocols.Smtp.Client;

/// <summary>
/// Turns message bytes into what goes on the wire, a block at a time: every bare CR, bare LF (and CR LF) becomes
/// CRLF, a body that does not end with a line end gets one, and for DATA a line starting with '.' gets another
/// '.' (RFC 5321 §4.5.2) and the end is <c>.CRLF</c>. With <c>binary</c> (BDAT of BODY=BINARYMIME) the bytes pass unchanged.
/// State carries across blocks, so a CR at the end of one block and an LF at the start of the next are one line end.
/// </summary>
internal sealed class BodyEncoder(bool dotStuff, bool binary = false)
{
    private static readonly SearchValues<byte> LineEnds = SearchValues.Create("\r\n"u8);

    private bool _atLineStart = true;
    private bool _pendingCr;

    /// <summary>Octets written so far.</summary>
    public long Written { get; private set; }

    public void Encode(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        if (binary)
        {
            Write(input, output);
            return;
        }

        while (!input.IsEmpty)
        {
            if (_pendingCr)
            {
                _pendingCr = false;
                WriteCrLf(output);
                if (input[0] == (byte)'\n')
                {
                    input = input[1..];
                    continue;
                }
            }

            var end = input.IndexOfAny(LineEnds);
            var run = end < 0 ? input : input[..end];
            if (!run.IsEmpty)
            {
                if (_atLineStart && dotStuff && run[0] == (byte)'.')
                {
                    Write("."u8, output);
                }

                Write(run, output);
                _atLineStart = false;
            }

            if (end < 0)
            {
                return;
            }

            if (input[end] == (byte)'\r')
            {
                _pendingCr = true;
            }
            else
            {
                WriteCrLf(output);
            }

            input = input[(end + 1)..];
        }
    }

    /// <summary>Ends the body: the last line end if missing, and for DATA the terminating dot line.</summary>
    public void Finish(IBufferWriter<byte> output)
    {
        if (binary)
        {
            return;
        }

        if (_pendingCr)
        {
            _pendingCr = false;
            WriteCrLf(output);
        }

        if (!_atLineStart)
        {
            WriteCrLf(output);
        }

        if (dotStuff)
        {
            Write(".\r\n"u8, output);
        }
    }

    private void WriteCrLf(IBufferWriter<byte> output)
    {
        Write("\r\n"u8, output);
        _atLineStart = true;
    }

    private void Write(ReadOnlySpan<byte> bytes, IBufferWriter<byte> output)
    {
        output.Write(bytes);
        Written += bytes.Length;
    }
}
