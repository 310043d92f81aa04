using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Postern.ImapTest;

public enum ResponseKind
{
    Untagged,
    Tagged,
    Continuation,
}

/// <summary>One server response: its arguments (after "* " or after the tag), literals inline.</summary>
public sealed record ImapResponse(ResponseKind Kind, string? Tag, IReadOnlyList<ImapArg> Args, string Raw)
{
    public bool IsAtom(int index, string atom) =>
        Args.Count > index && Args[index].Kind == ImapArgKind.Atom && Args[index].Text.Equals(atom, StringComparison.OrdinalIgnoreCase);
}

/// <summary>A raw IMAP client connection for the runner: bytes in and out as Latin-1, responses parsed with literals.</summary>
public sealed class ImapConnection : IAsyncDisposable
{
    private readonly TcpClient _tcp = new();
    private readonly byte[] _buffer = new byte[64 * 1024];
    private NetworkStream? _stream;
    private int _start;
    private int _end;
    private int _tag;

    public ImapConnection(int index)
    {
        Index = index;
    }

    public int Index { get; }

    /// <summary>The message count this connection's selected mailbox has, as the server told it (EXISTS, EXPUNGE).</summary>
    public uint Exists { get; set; }

    public bool SawBye { get; set; }

    /// <summary>"name/uidvalidity" of the selected mailbox (null when none), and the UIDVALIDITY a SELECT in progress announced.</summary>
    public string? SelectedKey { get; set; }

    public string? PendingUidValidity { get; set; }

    public bool Closed { get; private set; }

    /// <summary>Capabilities last announced (greeting, LOGIN's OK, or CAPABILITY).</summary>
    public IReadOnlyList<string> Capabilities { get; set; } = [];

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(15);

    public async Task ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        await _tcp.ConnectAsync(host, port, cancellationToken);
        _tcp.NoDelay = true;
        _stream = _tcp.GetStream();
    }

    /// <summary>Tags look like imaptest's: "connection.counter".</summary>
    public string NextTag() => (Index + 1).ToString(CultureInfo.InvariantCulture) + "." + (++_tag).ToString(CultureInfo.InvariantCulture);

    public async Task SendAsync(string text, CancellationToken cancellationToken)
    {
        var bytes = ImapScript.Latin1.GetBytes(text);
        await _stream!.WriteAsync(bytes, cancellationToken);
        await _stream.FlushAsync(cancellationToken);
    }

    /// <summary>The next response, or null when the server closed the connection. Throws <see cref="TimeoutException"/>.</summary>
    public async Task<ImapResponse?> ReadAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            return await ReadCoreAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no reply within {Timeout.TotalSeconds:0} s");
        }
        catch (IOException)
        {
            Closed = true;
            return null;
        }
    }

    private async Task<ImapResponse?> ReadCoreAsync(CancellationToken cancellationToken)
    {
        var sb = new StringBuilder();
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken);
            if (line is null)
            {
                Closed = true;
                return null;
            }

            sb.Append(line);
            var n = LiteralSize(line);
            if (n < 0)
            {
                break;
            }

            sb.Append("\r\n");
            var data = await ReadBytesAsync(n, cancellationToken);
            if (data is null)
            {
                Closed = true;
                return null;
            }

            sb.Append(data);
        }

        var raw = sb.ToString();
        if (raw.StartsWith('+'))
        {
            return new ImapResponse(ResponseKind.Continuation, null, [], raw);
        }

        string? tag = null;
        string rest;
        if (raw.StartsWith("* ", StringComparison.Ordinal))
        {
            rest = raw[2..];
        }
        else
        {
            var sp = raw.IndexOf(' ', StringComparison.Ordinal);
            tag = sp < 0 ? raw : raw[..sp];
            rest = sp < 0 ? "" : raw[(sp + 1)..];
        }

        var args = ImapArgParser.TryParse(rest, out _) ?? [ImapArg.Atom("<unparseable>"), ImapArg.Str(rest)];
        return new ImapResponse(tag is null ? ResponseKind.Untagged : ResponseKind.Tagged, tag, args, raw);
    }

    /// <summary>N when the line ends with "{N}" or "~{N}", else -1.</summary>
    private static int LiteralSize(string line)
    {
        if (!line.EndsWith('}'))
        {
            return -1;
        }

        var open = line.LastIndexOf('{');
        return open >= 0 && int.TryParse(line.AsSpan(open + 1, line.Length - open - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
    }

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var sb = new StringBuilder();
        while (true)
        {
            for (var i = _start; i < _end; i++)
            {
                if (_buffer[i] == '\n')
                {
                    sb.Append(ImapScript.Latin1.GetString(_buffer, _start, i - _start));
                    _start = i + 1;
                    if (sb.Length > 0 && sb[^1] == '\r')
                    {
                        sb.Length--;
                    }

                    return sb.ToString();
                }
            }

            sb.Append(ImapScript.Latin1.GetString(_buffer, _start, _end - _start));
            _start = _end = 0;
            if (!await FillAsync(cancellationToken))
            {
                return null;
            }
        }
    }

    private async Task<string?> ReadBytesAsync(int count, CancellationToken cancellationToken)
    {
        var sb = new StringBuilder(count);
        while (count > 0)
        {
            if (_start == _end)
            {
                _start = _end = 0;
                if (!await FillAsync(cancellationToken))
                {
                    return null;
                }
            }

            var take = Math.Min(count, _end - _start);
            sb.Append(ImapScript.Latin1.GetString(_buffer, _start, take));
            _start += take;
            count -= take;
        }

        return sb.ToString();
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        var n = await _stream!.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
        _end += n;
        return n > 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync();
        }

        _tcp.Dispose();
    }
}
