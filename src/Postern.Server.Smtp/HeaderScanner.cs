using System.Buffers;
using System.Text;

namespace Postern.Server.Smtp;

/// <summary>
/// Watches the start of a message as it streams in and notes what the session must decide on before the
/// 250: how many Received fields it carries (the loop limit), and the raw From and Message-ID values.
/// Reads nothing past the blank line that ends the header section, keeps at most
/// <see cref="MaxFieldBytes"/> of one field and looks at no more than <see cref="MaxHeaderBytes"/>.
/// </summary>
public sealed class HeaderScanner
{
    public const int MaxFieldBytes = 16 * 1024;
    public const int MaxHeaderBytes = 1024 * 1024;

    private readonly ArrayBufferWriter<byte> _field = new(256);
    private bool _atLineStart = true;
    private bool _pendingCr;
    private bool _fieldOverflow;
    private long _scanned;

    /// <summary>True once the header section ended (or the scan limit was reached): later bytes are ignored.</summary>
    public bool Done { get; private set; }

    public int ReceivedCount { get; private set; }

    /// <summary>The first From field's raw value (without the name and colon), if there was one.</summary>
    public byte[]? From { get; private set; }

    /// <summary>The number of From fields (RFC 5322 allows exactly one).</summary>
    public int FromCount { get; private set; }

    public string? MessageId { get; private set; }

    public void Feed(ReadOnlySpan<byte> data)
    {
        for (var i = 0; i < data.Length && !Done; i++)
        {
            if (++_scanned > MaxHeaderBytes)
            {
                Finish();
                return;
            }

            var b = data[i];
            if (_atLineStart)
            {
                if (b == (byte)'\r')
                {
                    _pendingCr = true;
                    continue;
                }

                if (b == (byte)'\n')
                {
                    // A blank line (CRLF or a bare LF): the header section is over.
                    Finish();
                    return;
                }

                if (_pendingCr)
                {
                    // CR + something else at a line start: not a header any more.
                    Finish();
                    return;
                }

                _atLineStart = false;
                if (b is not ((byte)' ' or (byte)'\t'))
                {
                    EndField();
                }
            }

            if (b == (byte)'\n')
            {
                _atLineStart = true;
                _pendingCr = false;
            }

            if (_field.WrittenCount < MaxFieldBytes)
            {
                _field.GetSpan(1)[0] = b;
                _field.Advance(1);
            }
            else
            {
                _fieldOverflow = true;
            }
        }
    }

    /// <summary>The message ended: a message with no body still has its last field counted.</summary>
    public void Complete() => Finish();

    private void Finish()
    {
        if (!Done)
        {
            EndField();
            Done = true;
        }
    }

    private void EndField()
    {
        var field = _field.WrittenSpan;
        var colon = field.IndexOf((byte)':');
        if (colon > 0)
        {
            var name = field[..colon].TrimEnd((byte)' ');
            var value = field[(colon + 1)..];
            if (name.Length == 8 && Ascii.EqualsIgnoreCase(name, "Received"u8))
            {
                ReceivedCount++;
            }
            else if (name.Length == 4 && Ascii.EqualsIgnoreCase(name, "From"u8))
            {
                FromCount++;
                if (FromCount == 1 && !_fieldOverflow)
                {
                    From = value.ToArray();
                }
            }
            else if (name.Length == 10 && Ascii.EqualsIgnoreCase(name, "Message-ID"u8) && MessageId is null && !_fieldOverflow)
            {
                var text = Encoding.UTF8.GetString(value).Trim();
                MessageId = text.Length <= 998 ? text.Replace("\r\n", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal) : null;
            }
        }

        _field.ResetWrittenCount();
        _fieldOverflow = false;
    }
}
