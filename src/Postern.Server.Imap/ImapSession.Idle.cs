using System.IO.Pipelines;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

internal sealed partial class ImapSession
{
    /// <summary>IDLE (RFC 2177): changes are pushed as they happen until the client sends DONE.</summary>
    private async Task IdleAsync(SimpleCommand command)
    {
        _subscription ??= _services.Mailboxes.Subscribe(AccountId);
        _w.Continuation("idling");
        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);

        var changes = _subscription.Changes;
        Task<ReadResult>? read = null;
        while (_state != ImapState.Logout)
        {
            read ??= _input.ReadAsync(Closed).AsTask();
            var changed = changes.WaitToReadAsync(Closed).AsTask();
            var timer = Task.Delay(Policy.IdlePollInterval, _services.Time, Closed);
            var done = await Task.WhenAny(read, changed, timer).ConfigureAwait(false);
            if (done == read)
            {
                var result = await read.ConfigureAwait(false);
                read = null;
                if (ImapCommandReader.TryReadLine(result.Buffer, 1024, out var line, out var consumed, out var tooLong))
                {
                    var isDone = ImapCommandReader.IsDone(line);
                    _input.AdvanceTo(consumed);
                    if (isDone)
                    {
                        Ok(command.Tag, "IDLE terminated");
                    }
                    else
                    {
                        Bad(command.Tag, "Expected DONE");
                    }

                    return;
                }

                if (tooLong)
                {
                    _input.AdvanceTo(consumed);
                    Bad(command.Tag, "Expected DONE");
                    return;
                }

                if (result.IsCompleted)
                {
                    _input.AdvanceTo(result.Buffer.End);
                    _state = ImapState.Logout;
                    return;
                }

                _input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                continue;
            }

            if (done == changed)
            {
                var relevant = false;
                while (changes.TryRead(out var change))
                {
                    relevant |= _selected is not null && change.FolderId == _selected.FolderId;
                }

                if (!relevant)
                {
                    continue;
                }
            }

            await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
            await FlushAsync().ConfigureAwait(false);
        }
    }
}
