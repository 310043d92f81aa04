using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.Extensions.Logging;
using Postern.Core.Tenants;
using Postern.Networking;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal enum ImapState
{
    NotAuthenticated,
    Authenticated,
    Selected,
    Logout,
}

/// <summary>
/// One IMAP connection: reads commands with <see cref="ImapCommandReader"/>, runs them against the
/// mailbox store and writes the responses. Commands run one at a time in the order received; responses
/// are flushed when the client has nothing more pipelined, so a pipelined batch goes out in few writes.
/// </summary>
internal sealed partial class ImapSession
{
    private readonly ConnectionContext _connection;
    private readonly ImapServices _services;
    private readonly ILogger _logger;
    private readonly ImapCommandReader _reader;
    private PipeReader _input;
    private PipeWriter _output;
    private ImapResponseWriter _w;
    private ImapState _state = ImapState.NotAuthenticated;
    private Account? _account;
    private string? _user;
    private SelectedFolder? _selected;
    private bool _rev2;
    private bool _utf8;
    private bool _condStore;
    private bool _qresync;
    private bool _compressed;
    private System.IO.Compression.DeflateStream? _inflate;
    private System.IO.Compression.DeflateStream? _deflate;
    private int _badCommands;
    private int _authFailures;
    private bool _counted;
    private AppendState? _append;

    public ImapSession(ConnectionContext connection, ImapServices services, ILogger logger)
    {
        _connection = connection;
        _services = services;
        _logger = logger;
        _reader = new ImapCommandReader(services.Policy.Limits);
        _input = connection.Transport.Input;
        _output = connection.Transport.Output;
        _w = new ImapResponseWriter(_output);
    }

    private ImapPolicy Policy => _services.Policy;

    private CancellationToken Closed => _connection.ConnectionClosed;

    private bool TlsActive => _connection.IsTls;

    private bool AuthAllowed => TlsActive || Policy.AllowPlaintextAuth || Policy.IsTrusted(_connection.RemoteEndPoint.Address);

    public async Task RunAsync()
    {
        _connection.Timeout.SetIdleTimeout(Policy.PreAuthIdleTimeout);
        try
        {
            if (_connection.Limit != ConnectionLimit.None)
            {
                _w.Untagged(ImapStatus.Bye, "Too many connections, try again later", ImapResponseCode.Unavailable);
                await FlushAsync().ConfigureAwait(false);
                return;
            }

            _w.Untagged(ImapStatus.Ok, $"{Policy.Hostname} Postern IMAP ready", ImapResponseCode.Capability(Capabilities()));
            await FlushAsync().ConfigureAwait(false);
            await LoopAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException && Closed.IsCancellationRequested)
        {
            // The client went away, the idle timeout fired, or the server is stopping.
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            _append?.Dispose();
            _subscription?.Dispose();
            ReleaseCompression();
            if (_counted && _account is not null)
            {
                _services.Sessions.Leave(_account.Id);
            }
        }
    }

    private async Task LoopAsync()
    {
        while (_state != ImapState.Logout)
        {
            if (!_input.TryRead(out var read))
            {
                // Nothing more pipelined: what the commands so far answered goes out now.
                await FlushAsync().ConfigureAwait(false);
                read = await ReadAsync().ConfigureAwait(false);
            }

            var buffer = read.Buffer;
            if (buffer.IsEmpty && read.IsCompleted)
            {
                return;
            }

            var result = _reader.Read(buffer, out var consumed);
            switch (result.Status)
            {
                case ImapReadStatus.NeedMoreData:
                    _input.AdvanceTo(consumed, buffer.End);
                    if (read.IsCompleted)
                    {
                        return;
                    }

                    continue;
                case ImapReadStatus.LiteralData:
                    // The bytes must be taken before the pipe moves on.
                    _append?.Write(result.Data);
                    _input.AdvanceTo(consumed);
                    continue;
            }

            _input.AdvanceTo(consumed);
            switch (result.Status)
            {
                case ImapReadStatus.Command:
                    _connection.Timeout.SetIdleTimeout(_state == ImapState.NotAuthenticated ? Policy.PreAuthIdleTimeout : Policy.IdleTimeout);
                    await ExecuteAsync(result.Command!).ConfigureAwait(false);
                    break;
                case ImapReadStatus.Error:
                    await OnErrorAsync(result.Error!).ConfigureAwait(false);
                    break;
                case ImapReadStatus.ContinuationRequest:
                    await OnLiteralAnnouncedAsync(result.Literal!).ConfigureAwait(false);
                    break;
                case ImapReadStatus.LiteralStart:
                    await OnAppendStartAsync(result.Literal!).ConfigureAwait(false);
                    break;
                case ImapReadStatus.LiteralEnd:
                    await OnAppendEndAsync(result.Literal!).ConfigureAwait(false);
                    break;
            }
        }

        await FlushAsync().ConfigureAwait(false);
    }

    private ValueTask<ReadResult> ReadAsync() => _input.ReadAsync(Closed);

    private async ValueTask FlushAsync()
    {
        var flushed = await _output.FlushAsync(Closed).ConfigureAwait(false);
        if (flushed.IsCompleted)
        {
            throw new IOException("The client closed the connection.");
        }
    }

    /// <summary>Writes out what is buffered when it has grown large (big FETCH responses).</summary>
    private ValueTask FlushIfLargeAsync() => _output.UnflushedBytes > 256 * 1024 ? FlushAsync() : ValueTask.CompletedTask;

    private async Task OnErrorAsync(ImapCommandError error)
    {
        _append?.Dispose();
        _append = null;
        _w.Error(error);
        if (error.CloseConnection || ++_badCommands > Policy.MaxBadCommands)
        {
            if (!error.CloseConnection)
            {
                _w.Untagged(ImapStatus.Bye, "Too many invalid commands");
            }

            _state = ImapState.Logout;
        }

        await FlushAsync().ConfigureAwait(false);
    }

    private async Task ExecuteAsync(ImapCommand command)
    {
        if (command is not UnknownCommand)
        {
            _badCommands = 0;
        }

        if (!IsAllowedInState(command))
        {
            var text = _state == ImapState.NotAuthenticated ? "Log in first" : _state == ImapState.Authenticated ? "Select a mailbox first" : "Not allowed now";
            Bad(command.Tag, text);
            return;
        }

        try
        {
            await DispatchAsync(command).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not (IOException or OperationCanceledException or ObjectDisposedException))
        {
            LogCommandFailed(_logger, e, _connection.SessionId, command.Name.ToString());
            _w.Tagged(command.Tag, ImapStatus.No, "Internal error, try again later", ImapResponseCode.ServerBug);
        }
    }

    private bool IsAllowedInState(ImapCommand command) => command.Name switch
    {
        ImapCommandName.Capability or ImapCommandName.Noop or ImapCommandName.Logout or ImapCommandName.Id or ImapCommandName.Unknown => true,
        ImapCommandName.StartTls or ImapCommandName.Authenticate or ImapCommandName.Login => _state == ImapState.NotAuthenticated,
        ImapCommandName.Check or ImapCommandName.Close or ImapCommandName.Unselect or ImapCommandName.Expunge or ImapCommandName.Search
            or ImapCommandName.Fetch or ImapCommandName.Store or ImapCommandName.Copy or ImapCommandName.Move or ImapCommandName.Sort
            or ImapCommandName.Thread => _state == ImapState.Selected,
        _ => _state is ImapState.Authenticated or ImapState.Selected,
    };

    private Task DispatchAsync(ImapCommand command) => command switch
    {
        SimpleCommand { Name: ImapCommandName.Capability } c => CapabilityAsync(c),
        SimpleCommand { Name: ImapCommandName.Noop or ImapCommandName.Check } c => NoopAsync(c),
        SimpleCommand { Name: ImapCommandName.Logout } c => LogoutAsync(c),
        SimpleCommand { Name: ImapCommandName.StartTls } c => StartTlsAsync(c),
        SimpleCommand { Name: ImapCommandName.Namespace } c => NamespaceAsync(c),
        SimpleCommand { Name: ImapCommandName.Idle } c => IdleAsync(c),
        SimpleCommand { Name: ImapCommandName.Close } c => CloseAsync(c, expunge: true),
        SimpleCommand { Name: ImapCommandName.Unselect } c => CloseAsync(c, expunge: false),
        SimpleCommand { Name: ImapCommandName.Expunge } c => ExpungeAsync(c.Tag, null),
        ExpungeCommand c => ExpungeAsync(c.Tag, c.UidSet),
        IdCommand c => IdAsync(c),
        EnableCommand c => EnableAsync(c),
        LoginCommand c => LoginAsync(c),
        AuthenticateCommand c => AuthenticateAsync(c),
        SelectCommand c => SelectAsync(c),
        CreateCommand c => CreateAsync(c),
        MailboxCommand { Name: ImapCommandName.Delete } c => DeleteAsync(c),
        MailboxCommand { Name: ImapCommandName.Subscribe or ImapCommandName.Unsubscribe } c => SubscribeAsync(c),
        MailboxCommand { Name: ImapCommandName.GetQuotaRoot } c => GetQuotaRootAsync(c),
        MailboxCommand { Name: ImapCommandName.GetQuota } c => GetQuotaAsync(c),
        SetQuotaCommand c => NoPermAsync(c.Tag, "Quotas are set by the administrator"),
        RenameCommand c => RenameAsync(c),
        ListCommand c => ListAsync(c),
        StatusCommand c => StatusAsync(c),
        AppendCommand c => AppendAsync(c),
        FetchCommand c => FetchAsync(c),
        StoreCommand c => StoreAsync(c),
        CopyCommand c => CopyAsync(c),
        SearchCommand c => SearchAsync(c),
        SortCommand c => SortAsync(c),
        ThreadCommand c => ThreadAsync(c),
        CompressCommand c => CompressAsync(c),
        UnknownCommand c => UnknownAsync(c),
        _ => UnsupportedAsync(command),
    };

    private Task UnknownAsync(UnknownCommand command)
    {
        _badCommands++;
        Bad(command.Tag, $"Unknown command {Sanitize(command.Verb)}");
        return Task.CompletedTask;
    }

    private Task UnsupportedAsync(ImapCommand command)
    {
        Bad(command.Tag, $"{command.Name} is not supported");
        return Task.CompletedTask;
    }

    private Task NoPermAsync(string tag, string text)
    {
        _w.Tagged(tag, ImapStatus.No, text, ImapResponseCode.NoPerm);
        return Task.CompletedTask;
    }

    private void Ok(string tag, string text, ImapResponseCode? code = null) => _w.Tagged(tag, ImapStatus.Ok, text, code);

    private void No(string tag, string text, ImapResponseCode? code = null) => _w.Tagged(tag, ImapStatus.No, text, code);

    private void Bad(string tag, string text, ImapResponseCode? code = null) => _w.Tagged(tag, ImapStatus.Bad, text, code);

    private static string Sanitize(string text) => text.Length > 40 ? text[..40] : text;

    private async Task CapabilityAsync(SimpleCommand command)
    {
        _w.Star().Atom("CAPABILITY");
        foreach (var c in Capabilities())
        {
            _w.Atom(c);
        }

        _w.EndLine();
        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, "CAPABILITY completed");
    }

    /// <summary>The capabilities for the current state (RFC 9051 §6.1.1: they may change after STARTTLS and login).</summary>
    private IEnumerable<string> Capabilities()
    {
        yield return "IMAP4rev1";
        yield return "IMAP4rev2";
        yield return "LITERAL+";
        yield return "SASL-IR";
        yield return "ID";
        yield return "ENABLE";
        yield return "IDLE";
        if (_state == ImapState.NotAuthenticated)
        {
            if (_connection.CanStartTls)
            {
                yield return "STARTTLS";
            }

            if (AuthAllowed)
            {
                yield return "AUTH=PLAIN";
            }
            else
            {
                yield return "LOGINDISABLED";
            }

            yield break;
        }

        foreach (var c in AuthenticatedCapabilities)
        {
            yield return c;
        }

        yield return "APPENDLIMIT=" + Policy.Limits.MaxLiteralSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (!_compressed)
        {
            yield return "COMPRESS=DEFLATE";
        }
    }

    private static readonly string[] AuthenticatedCapabilities =
    [
        "UIDPLUS", "MOVE", "NAMESPACE", "UNSELECT", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
        "STATUS=SIZE", "CONDSTORE", "QRESYNC", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", "MULTIAPPEND", "BINARY",
        "UTF8=ACCEPT", "SAVEDATE", "ESEARCH", "SEARCHRES", "WITHIN", "PARTIAL", "SORT", "SORT=DISPLAY", "ESORT",
        "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES",
    ];

    private async Task NoopAsync(SimpleCommand command)
    {
        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, command.Name == ImapCommandName.Check ? "CHECK completed" : "NOOP completed");
    }

    private Task LogoutAsync(SimpleCommand command)
    {
        _w.Untagged(ImapStatus.Bye, "Logging out");
        Ok(command.Tag, "LOGOUT completed");
        _state = ImapState.Logout;
        return Task.CompletedTask;
    }

    private async Task IdAsync(IdCommand command)
    {
        _w.Star().Atom("ID").OpenList().String("name").String("Postern").String("vendor").String("Postern").CloseList().EndLine();
        if (command.Parameters is { } p)
        {
            LogClientId(_logger, _connection.SessionId, string.Join(", ", p.Take(10).Select(kv => $"{kv.Key}={kv.Value}")));
        }

        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, "ID completed");
    }

    private Task EnableAsync(EnableCommand command)
    {
        var enabled = new List<string>();
        foreach (var cap in command.Capabilities)
        {
            switch (cap.ToUpperInvariant())
            {
                case "IMAP4REV2" when !_rev2:
                    _rev2 = true;
                    _utf8 = true;
                    _w.Utf8Enabled = true;
                    enabled.Add("IMAP4rev2");
                    break;
                case "UTF8=ACCEPT" when !_utf8:
                    _utf8 = true;
                    _w.Utf8Enabled = true;
                    enabled.Add("UTF8=ACCEPT");
                    break;
                case "CONDSTORE" when !_condStore:
                    _condStore = true;
                    enabled.Add("CONDSTORE");
                    break;
                case "QRESYNC" when !_qresync:
                    _qresync = true;
                    _condStore = true;
                    enabled.Add("QRESYNC");
                    break;
            }
        }

        _w.Star().Atom("ENABLED");
        foreach (var e in enabled)
        {
            _w.Atom(e);
        }

        _w.EndLine();
        Ok(command.Tag, "ENABLE completed");
        return Task.CompletedTask;
    }

    private Task NamespaceAsync(SimpleCommand command)
    {
        // Personal folders only for now; the shared namespace comes with ACL.
        _w.Star().Atom("NAMESPACE").OpenList().OpenList().String("").String("/").CloseList().CloseList().Nil().Nil().EndLine();
        Ok(command.Tag, "NAMESPACE completed");
        return Task.CompletedTask;
    }

    private async Task StartTlsAsync(SimpleCommand command)
    {
        if (!_connection.CanStartTls)
        {
            Bad(command.Tag, TlsActive ? "TLS is already active" : "STARTTLS is not available");
            return;
        }

        Ok(command.Tag, "Begin TLS negotiation now");
        await FlushAsync().ConfigureAwait(false);
        var result = await _connection.UpgradeToTlsAsync(Closed).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            _state = ImapState.Logout;
            return;
        }

        // Nothing sent before the handshake counts (CVE-2011-0411): the reader starts afresh.
        _input = _connection.Transport.Input;
        _output = _connection.Transport.Output;
        _w = new ImapResponseWriter(_output) { Utf8Enabled = _utf8 };
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Session {SessionId}: {Command} failed")]
    private static partial void LogCommandFailed(ILogger logger, Exception exception, string sessionId, string command);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Session {SessionId}: client ID {Id}")]
    private static partial void LogClientId(ILogger logger, string sessionId, string id);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Session {SessionId}: {User} logged in from {Client} ({Mechanism})")]
    private static partial void LogLogin(ILogger logger, string sessionId, string user, string client, string mechanism);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Session {SessionId}: authentication failed for {User} from {Client} ({Mechanism})")]
    private static partial void LogAuthFailed(ILogger logger, string sessionId, string user, string client, string mechanism);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Session {SessionId}: authentication refused for {User} from {Client}: {Reason}")]
    private static partial void LogAuthBlocked(ILogger logger, string sessionId, string user, string client, string reason);

    private static string Utf8(ReadOnlySequence<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
