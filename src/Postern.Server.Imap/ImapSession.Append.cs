using System.Buffers;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Protocols.Imap;

namespace Postern.Server.Imap;

/// <summary>An APPEND under way: the messages received so far (as blobs) and why it will fail, if it will.</summary>
internal sealed class AppendState : IDisposable
{
    public required string Tag { get; init; }

    public Folder? Folder { get; set; }

    public (string Text, ImapResponseCode Code)? Failure { get; set; }

    /// <summary>
    /// The messages received so far, in order. Each is prepared (summary, search text) in the background while the
    /// next one arrives; their blobs are written in batches (<see cref="IBlobStore.WriteManyAsync"/>), one commit for
    /// many small messages.
    /// </summary>
    public List<Task<PreparedAppend>> Messages { get; } = [];

    /// <summary>Messages whose blobs are written, in order (a prefix of <see cref="Messages"/>).</summary>
    public List<NewMessage> Written { get; } = [];

    /// <summary>Bytes held by prepared messages whose blobs are not written yet.</summary>
    public long PendingBytes { get; set; }

    public MemoryStream? Spool { get; set; }

    public void Write(ReadOnlySequence<byte> data)
    {
        if (Spool is null)
        {
            return;
        }

        foreach (var segment in data)
        {
            Spool.Write(segment.Span);
        }
    }

    public void Dispose()
    {
        Spool?.Dispose();
        Spool = null;
        foreach (var m in Messages.Skip(Written.Count))
        {
            // Spools of messages not written (the APPEND failed or the client left) are dropped when prepared.
            _ = m.ContinueWith(t => t.Result.Spool.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }
    }

    /// <summary>Writes the blobs of every prepared message not yet written, in one batch.</summary>
    public async Task WritePendingAsync(IBlobStore blobs, CancellationToken cancellationToken)
    {
        var pending = await Task.WhenAll(Messages.Skip(Written.Count)).ConfigureAwait(false);
        if (pending.Length == 0)
        {
            return;
        }

        try
        {
            var infos = await blobs.WriteManyAsync([.. pending.Select(p => (Stream)p.Spool)], cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < pending.Length; i++)
            {
                Written.Add(pending[i].Message with { Blob = infos[i].Id, BlobLength = infos[i].Length });
            }
        }
        finally
        {
            foreach (var p in pending)
            {
                p.Spool.Dispose();
            }
        }

        PendingBytes = 0;
    }
}

/// <summary>A received APPEND message, prepared: its bytes and the row to store once its blob is written.</summary>
internal sealed record PreparedAppend(MemoryStream Spool, NewMessage Message);

internal sealed partial class ImapSession
{
    /// <summary>A synchronizing literal is announced: an APPEND message is checked before the client sends it.</summary>
    private async Task OnLiteralAnnouncedAsync(ImapLiteralInfo literal)
    {
        if (literal.Message is null)
        {
            // A literal inside a command (a LOGIN password, a SEARCH string): the reader bounds its size.
            _reader.AcceptLiteral();
            _w.Continuation();
            await FlushAsync().ConfigureAwait(false);
            return;
        }

        var failure = await CheckAppendAsync(literal).ConfigureAwait(false);
        if (failure is { } f)
        {
            _reader.RejectLiteral();
            _append?.Dispose();
            _append = null;
            if (literal.Tag is { } tag)
            {
                _w.Tagged(tag, f.Status, f.Text, f.Code);
            }

            await FlushAsync().ConfigureAwait(false);
            return;
        }

        _reader.AcceptLiteral();
        _w.Continuation();
        await FlushAsync().ConfigureAwait(false);
    }

    private async Task<(ImapStatus Status, string Text, ImapResponseCode? Code)?> CheckAppendAsync(ImapLiteralInfo literal)
    {
        if (_state is not (ImapState.Authenticated or ImapState.Selected))
        {
            return (ImapStatus.Bad, "Log in first", null);
        }

        if (literal.Length > Policy.Limits.MaxLiteralSize)
        {
            return (ImapStatus.No, "Message too large", ImapResponseCode.TooBig);
        }

        if (literal.Length == 0)
        {
            return (ImapStatus.No, "Empty messages are not stored", null);
        }

        if (_append is null || literal.Message!.Index == 0)
        {
            var folder = literal.Mailbox is { } wire && DecodeName(wire) is { } name ? await FindFolderAsync(name).ConfigureAwait(false) : null;
            if (folder is null)
            {
                return (ImapStatus.No, "Mailbox does not exist", ImapResponseCode.TryCreate);
            }

            _append?.Dispose();
            _append = new AppendState { Tag = literal.Tag ?? "*", Folder = folder };
        }

        return null;
    }

    private async Task OnAppendStartAsync(ImapLiteralInfo literal)
    {
        if (_append is null || literal.Message?.Index == 0 && _append.Messages.Count > 0)
        {
            // A non-synchronizing literal: nothing was checked yet.
            _append?.Dispose();
            _append = new AppendState { Tag = literal.Tag ?? "*" };
            var failure = await CheckAppendAsync(literal).ConfigureAwait(false);
            if (failure is { } f)
            {
                _append ??= new AppendState { Tag = literal.Tag ?? "*" };
                _append.Failure = (f.Text, f.Code ?? ImapResponseCode.Cannot);
            }
        }

        if (_append.Failure is null)
        {
            _append.Spool = new MemoryStream((int)Math.Min(literal.Length, 1024 * 1024));
        }
    }

    private async Task OnAppendEndAsync(ImapLiteralInfo literal)
    {
        var append = _append;
        if (append?.Spool is null || append.Failure is not null)
        {
            return;
        }

        var spool = append.Spool;
        append.Spool = null;
        var info = literal.Message!;
        var (flags, keywords, error) = ParseFlags(info.Flags);
        if (error is not null)
        {
            spool.Dispose();
            append.Failure = (error, ImapResponseCode.Cannot);
            return;
        }

        var now = _services.Time.GetUtcNow();
        var internalDate = info.InternalDate ?? now;
        var preparer = _services.Preparer;
        append.Messages.Add(Task.Run(() =>
        {
            var bytes = spool.GetBuffer().AsMemory(0, (int)spool.Length);
            string? summary = null, searchText = null;
            if (preparer is not null)
            {
                (summary, searchText) = preparer.Prepare(bytes);
            }

            spool.Position = 0;
            return new PreparedAppend(spool, new NewMessage(default, 0, internalDate, Flags: flags, Keywords: keywords,
                SearchText: searchText, Summary: summary, SavedDate: now));
        }));

        // Bound what waiting messages hold in memory.
        append.PendingBytes += literal.Length;
        if (append.PendingBytes > MaxPendingAppendBytes)
        {
            await append.WritePendingAsync(_services.Blobs, Closed).ConfigureAwait(false);
        }
    }

    private const long MaxPendingAppendBytes = 32 * 1024 * 1024;

    private async Task AppendAsync(AppendCommand command)
    {
        var append = _append;
        _append = null;
        using var _ = append;
        if (append is null)
        {
            No(command.Tag, "No message received", ImapResponseCode.Cannot);
            return;
        }

        if (append.Failure is { } failure)
        {
            No(command.Tag, failure.Text, failure.Code);
            return;
        }

        if (append.Folder is null || append.Messages.Count != command.Messages.Count)
        {
            No(command.Tag, "Mailbox does not exist", ImapResponseCode.TryCreate);
            return;
        }

        await append.WritePendingAsync(_services.Blobs, Closed).ConfigureAwait(false);
        var result = await _services.Mailboxes.AppendAsync(AccountId, append.Folder.FolderId, append.Written, Limits(), Closed).ConfigureAwait(false);
        switch (result.Status)
        {
            case AppendStatus.FolderNotFound:
                No(command.Tag, "Mailbox does not exist", ImapResponseCode.TryCreate);
                return;
            case AppendStatus.AccountQuotaExceeded or AppendStatus.DomainQuotaExceeded:
                No(command.Tag, "Quota exceeded", ImapResponseCode.OverQuota);
                return;
        }

        await UpdatesAsync(allowExpunge: true).ConfigureAwait(false);
        Ok(command.Tag, "APPEND completed", ImapResponseCode.AppendUid((uint)result.UidValidity, UidList(result.Uids)));
    }
}
