using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;

namespace Postern.Mailboxes.Maildir;

public sealed record MaildirImportOptions
{
    /// <summary>
    /// Folders that already hold messages under their own UIDVALIDITY (mail delivered before the import) get the
    /// Maildir's messages with new UIDs. Off by default: such a folder is skipped, because a second run would
    /// import the same messages again.
    /// </summary>
    public bool Renumber { get; init; }

    /// <summary>Messages up to this size get their summary and search text at import, as at delivery.</summary>
    public long MaxIndexedBytes { get; init; } = MessageIndexer.DefaultMaxIndexedBytes;

    /// <summary>Larger files are reported and left alone (the import reads each message into memory once).</summary>
    public long MaxMessageBytes { get; init; } = 512L * 1024 * 1024;

    /// <summary>Messages per store transaction.</summary>
    public int BatchSize { get; init; } = 100;
}

/// <summary>What happened to one folder of the Maildir.</summary>
/// <param name="Folder">Our name for it (<c>/</c> between levels).</param>
/// <param name="Source">The directory it was read from, relative to the Maildir (<c>.</c> for INBOX).</param>
/// <param name="UidValidity">The folder's UIDVALIDITY after the import.</param>
/// <param name="UidsKept">True when the UIDVALIDITY and UIDs are Dovecot's.</param>
/// <param name="Imported">Messages stored by this run.</param>
/// <param name="AlreadyImported">Messages left alone because an earlier run stored them (their UID is below UIDNEXT).</param>
/// <param name="Failed">Messages that could not be imported (see the report's errors).</param>
/// <param name="Skipped">Why the whole folder was left alone, or null.</param>
public sealed record MaildirFolderResult(string Folder, string Source, long UidValidity, bool UidsKept, int Imported, int AlreadyImported, int Failed, string? Skipped);

/// <summary>A problem with one message or file; the import went on with the rest.</summary>
public sealed record MaildirImportProblem(string Folder, string File, string Message);

/// <summary>The outcome of importing one Maildir into one account.</summary>
public sealed record MaildirImportReport(
    string Maildir,
    IReadOnlyList<MaildirFolderResult> Folders,
    IReadOnlyList<string> Subscribed,
    IReadOnlyList<MaildirImportProblem> Problems)
{
    public int Imported => Folders.Sum(f => f.Imported);

    /// <summary>True when nothing was left out: no failed message, no skipped folder, no problem.</summary>
    public bool Complete => Problems.Count == 0 && Folders.All(f => f.Skipped is null && f.Failed == 0);
}

/// <summary>
/// Imports a Dovecot Maildir (Maildir++ <c>.Folder.Sub</c> directories or <c>LAYOUT=fs</c> nesting) into one account:
/// UIDVALIDITY and UIDs from <c>dovecot-uidlist</c>, flags and keywords from the file names and <c>dovecot-keywords</c>,
/// subscriptions, the file's modification time as the internal date. Messages get the same summary and search text
/// as delivered ones (<see cref="MessageIndexer"/>). Line ends become CRLF, as Dovecot serves them.
/// Idempotent: a folder already carrying the uidlist's UIDVALIDITY only gets the messages whose UID is not below its
/// UIDNEXT, so a second run imports what Dovecot received since (a final delta before the switch) and nothing twice.
/// A problem with one message is reported and the import goes on.
/// </summary>
public sealed class MaildirImporter(IMailboxStore mailboxes, IBlobStore blobs, MaildirImportOptions? options = null, TimeProvider? time = null)
{
    private readonly MaildirImportOptions _options = options ?? new MaildirImportOptions();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Imports <paramref name="maildir"/> into the account (registering its mailbox with the default folders if needed).</summary>
    /// <exception cref="DirectoryNotFoundException">The path is not a Maildir (no cur/ or new/ and no folders).</exception>
    public async Task<MaildirImportReport> ImportAsync(long accountId, long domainId, string maildir, CancellationToken cancellationToken)
    {
        var root = Path.GetFullPath(maildir);
        var sources = MaildirLayout.FindFolders(root, out var legacySeparator);
        if (sources.Count == 0)
        {
            throw new DirectoryNotFoundException($"'{root}' is not a Maildir: it has no cur/ or new/ and no folders");
        }

        await mailboxes.EnsureDefaultFoldersAsync(accountId, domainId, cancellationToken).ConfigureAwait(false);
        var problems = new List<MaildirImportProblem>();
        var results = new List<MaildirFolderResult>();
        try
        {
            foreach (var source in sources)
            {
                results.Add(await ImportFolderAsync(accountId, root, source, problems, cancellationToken).ConfigureAwait(false));
            }
        }
        catch (StoreFullException e)
        {
            problems.Add(new MaildirImportProblem("-", "-", $"import stopped: {e.Message}"));
        }

        var subscribed = await ImportSubscriptionsAsync(accountId, root, legacySeparator, sources, problems, cancellationToken).ConfigureAwait(false);
        return new MaildirImportReport(root, results, subscribed, problems);
    }

    private async Task<MaildirFolderResult> ImportFolderAsync(long accountId, string root, MaildirFolderSource source, List<MaildirImportProblem> problems, CancellationToken cancellationToken)
    {
        var relative = Path.GetRelativePath(root, source.Path);
        var folder = await EnsureFolderAsync(accountId, source.Name, cancellationToken).ConfigureAwait(false);
        if (!source.IsMailbox)
        {
            return new MaildirFolderResult(folder.Name, relative, folder.UidValidity, false, 0, 0, 0, null);
        }

        var uidList = ReadUidList(source, problems);
        var keywords = DovecotKeywords.Parse(ReadText(Path.Combine(source.Path, "dovecot-keywords"), source.Name, problems) ?? string.Empty);
        var files = ListMessageFiles(source, problems);

        var fresh = folder.UidNext == 1;
        var keepUids = false;
        if (uidList is not null)
        {
            if (folder.UidValidity == uidList.UidValidity)
            {
                keepUids = true;
            }
            else if (fresh)
            {
                var adopted = await mailboxes.AdoptUidValidityAsync(accountId, folder.FolderId, uidList.UidValidity, cancellationToken).ConfigureAwait(false);
                keepUids = adopted == AdoptStatus.Adopted;
            }
        }

        if (!keepUids && !fresh && !_options.Renumber)
        {
            var why = uidList is null
                ? "the folder already has messages and the Maildir has no dovecot-uidlist to tell which are new (use --renumber to import them anyway)"
                : $"the folder already has messages under UIDVALIDITY {folder.UidValidity}, not Dovecot's {uidList.UidValidity} (use --renumber to import with new UIDs)";
            return new MaildirFolderResult(folder.Name, relative, folder.UidValidity, false, 0, 0, 0, why);
        }

        var listed = new List<(long Uid, MessageFile File)>();
        var unlisted = new List<MessageFile>();
        foreach (var file in files)
        {
            if (keepUids && uidList!.Uids.TryGetValue(file.Base, out var uid))
            {
                listed.Add((uid, file));
            }
            else
            {
                unlisted.Add(file);
            }
        }

        var imported = 0;
        var failed = 0;
        var already = 0;
        if (keepUids)
        {
            var current = (await mailboxes.GetFolderAsync(accountId, folder.FolderId, cancellationToken).ConfigureAwait(false))?.UidNext ?? 1;
            already = listed.Count(m => m.Uid < current);
            var todo = listed.Where(m => m.Uid >= current).OrderBy(m => m.Uid).ToList();
            foreach (var batch in todo.Chunk(Math.Max(1, _options.BatchSize)))
            {
                // UIDNEXT moves to Dovecot's only after the last batch: the next batch's UIDs must stay above it.
                var (ok, bad) = await AppendBatchAsync(accountId, folder, batch, 0, keywords, problems, cancellationToken).ConfigureAwait(false);
                imported += ok;
                failed += bad;
            }

            // UIDs Dovecot gave to messages expunged since must not come back: UIDNEXT goes to Dovecot's.
            await mailboxes.AppendWithUidsAsync(accountId, folder.FolderId, [], uidList!.NextUid, cancellationToken).ConfigureAwait(false);
        }

        if (unlisted.Count > 0)
        {
            if (keepUids && !fresh)
            {
                // Without a UID there is no telling whether an earlier run stored them; importing again could duplicate.
                already += unlisted.Count;
                problems.Add(new MaildirImportProblem(folder.Name, relative, $"{unlisted.Count} message(s) not in dovecot-uidlist were left alone: they are imported only by the first run"));
            }
            else
            {
                foreach (var batch in unlisted.OrderBy(f => f.Modified).ThenBy(f => f.Name, StringComparer.Ordinal).Chunk(Math.Max(1, _options.BatchSize)))
                {
                    var (ok, bad) = await AppendBatchAsync(accountId, folder, batch.Select(f => (0L, f)).ToList(), 0, keywords, problems, cancellationToken).ConfigureAwait(false);
                    imported += ok;
                    failed += bad;
                }
            }
        }

        var after = await mailboxes.GetFolderAsync(accountId, folder.FolderId, cancellationToken).ConfigureAwait(false);
        return new MaildirFolderResult(folder.Name, relative, after?.UidValidity ?? folder.UidValidity, keepUids, imported, already, failed, null);
    }

    /// <summary>Stores one batch: UIDs given (Uid &gt; 0) through <see cref="IMailboxStore.AppendWithUidsAsync"/>, else new UIDs; one by one again if the batch fails.</summary>
    private async Task<(int Imported, int Failed)> AppendBatchAsync(
        long accountId,
        Folder folder,
        IReadOnlyList<(long Uid, MessageFile File)> batch,
        long uidNext,
        IReadOnlyDictionary<int, string> keywords,
        List<MaildirImportProblem> problems,
        CancellationToken cancellationToken)
    {
        var prepared = new List<(long Uid, MessageFile File, NewMessage Message)>();
        var failed = 0;
        foreach (var (uid, file) in batch)
        {
            var message = await PrepareAsync(folder.Name, file, keywords, problems, cancellationToken).ConfigureAwait(false);
            if (message is null)
            {
                failed++;
            }
            else
            {
                prepared.Add((uid, file, message));
            }
        }

        if (prepared.Count == 0)
        {
            return (0, failed);
        }

        try
        {
            var status = await StoreAsync(accountId, folder.FolderId, prepared, uidNext, cancellationToken).ConfigureAwait(false);
            if (status == AppendStatus.Appended)
            {
                return (prepared.Count, failed);
            }

            if (prepared.Count == 1)
            {
                problems.Add(new MaildirImportProblem(folder.Name, prepared[0].File.Name, Explain(status, prepared[0].Uid)));
                return (0, failed + 1);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException and not StoreFullException)
        {
            if (prepared.Count == 1)
            {
                problems.Add(new MaildirImportProblem(folder.Name, prepared[0].File.Name, e.Message));
                return (0, failed + 1);
            }
        }

        // Find the message(s) at fault: store the rest one by one.
        var imported = 0;
        foreach (var one in prepared)
        {
            try
            {
                var status = await StoreAsync(accountId, folder.FolderId, [one], uidNext, cancellationToken).ConfigureAwait(false);
                if (status == AppendStatus.Appended)
                {
                    imported++;
                    continue;
                }

                problems.Add(new MaildirImportProblem(folder.Name, one.File.Name, Explain(status, one.Uid)));
            }
            catch (Exception e) when (e is not OperationCanceledException and not StoreFullException)
            {
                problems.Add(new MaildirImportProblem(folder.Name, one.File.Name, e.Message));
            }

            failed++;
        }

        return (imported, failed);
    }

    private async Task<AppendStatus> StoreAsync(long accountId, long folderId, IReadOnlyList<(long Uid, MessageFile File, NewMessage Message)> messages, long uidNext, CancellationToken cancellationToken)
    {
        var result = messages[0].Uid > 0
            ? await mailboxes.AppendWithUidsAsync(accountId, folderId, messages.Select(m => new ImportedMessage(m.Uid, m.Message)).ToList(), uidNext, cancellationToken).ConfigureAwait(false)
            : await mailboxes.AppendAsync(accountId, folderId, messages.Select(m => m.Message).ToList(), limits: null, cancellationToken).ConfigureAwait(false);
        return result.Status;
    }

    private static string Explain(AppendStatus status, long uid) => status switch
    {
        AppendStatus.UidsNotAvailable => $"UID {uid} is already used in this folder (mail arrived here meanwhile); not imported",
        AppendStatus.FolderNotFound => "the folder was deleted during the import",
        _ => $"not stored: {status}",
    };

    /// <summary>Reads one message file, writes its blob (CRLF line ends) and builds the message to append; null (reported) on any problem.</summary>
    private async Task<NewMessage?> PrepareAsync(string folder, MessageFile file, IReadOnlyDictionary<int, string> keywords, List<MaildirImportProblem> problems, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            var length = new FileInfo(file.Path).Length;
            if (length > _options.MaxMessageBytes || length > Array.MaxLength / 2)
            {
                problems.Add(new MaildirImportProblem(folder, file.Name, $"{length} bytes is more than the {_options.MaxMessageBytes} the import reads; not imported"));
                return null;
            }

            bytes = ToCrlf(await File.ReadAllBytesAsync(file.Path, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add(new MaildirImportProblem(folder, file.Name, $"cannot read: {e.Message}"));
            return null;
        }

        if (bytes.Length == 0)
        {
            problems.Add(new MaildirImportProblem(folder, file.Name, "empty file; not imported"));
            return null;
        }

        // Files in new/ have not been seen by a client: no flags (and no \Recent, which is not stored).
        var unknown = string.Empty;
        var (flags, words) = file.InCur ? MaildirFileName.ParseInfo(file.Name, keywords, out unknown) : (MessageFlags.None, new List<string>());
        if (unknown.Length > 0)
        {
            problems.Add(new MaildirImportProblem(folder, file.Name, $"keyword letter(s) '{unknown}' are not in dovecot-keywords; imported without them"));
        }

        var bad = words.Where(k => !MaildirFileName.IsKeyword(k)).ToList();
        if (bad.Count > 0)
        {
            problems.Add(new MaildirImportProblem(folder, file.Name, $"'{string.Join("', '", bad)}' cannot be IMAP keywords; imported without them"));
            words.RemoveAll(bad.Contains);
        }

        var blob = await blobs.WriteAsync(new MemoryStream(bytes, writable: false), cancellationToken).ConfigureAwait(false);
        var index = bytes.Length <= _options.MaxIndexedBytes ? MessageIndexer.Build(bytes) : null;
        return new NewMessage(blob.Id, blob.Length, file.Modified, Flags: flags, Keywords: words, SearchText: index?.SearchText, Summary: index?.Summary, SavedDate: _time.GetUtcNow());
    }

    /// <summary>Maildir files end lines with LF alone; IMAP (and Dovecot serving them) uses CRLF.</summary>
    public static byte[] ToCrlf(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var bare = 0;
        for (var i = 0; i < data.Length; i++)
        {
            if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
            {
                bare++;
            }
        }

        if (bare == 0)
        {
            return data;
        }

        var result = new byte[data.Length + bare];
        var o = 0;
        for (var i = 0; i < data.Length; i++)
        {
            if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
            {
                result[o++] = (byte)'\r';
            }

            result[o++] = data[i];
        }

        return result;
    }

    private async Task<Folder> EnsureFolderAsync(long accountId, string name, CancellationToken cancellationToken)
    {
        // Superiors first, as IMAP CREATE makes them (RFC 9051 §6.3.4).
        for (var i = name.IndexOf('/', StringComparison.Ordinal); i > 0; i = name.IndexOf('/', i + 1))
        {
            await GetOrCreateAsync(accountId, name[..i], cancellationToken).ConfigureAwait(false);
        }

        return await GetOrCreateAsync(accountId, name, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Folder> GetOrCreateAsync(long accountId, string name, CancellationToken cancellationToken)
    {
        if (await mailboxes.GetFolderAsync(accountId, name, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            return existing;
        }

        try
        {
            return await mailboxes.CreateFolderAsync(accountId, name, SpecialUse.None, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreConflictException)
        {
            return (await mailboxes.GetFolderAsync(accountId, name, cancellationToken).ConfigureAwait(false))!;
        }
    }

    /// <summary>
    /// Each folder the Maildir has is subscribed exactly when Dovecot's <c>subscriptions</c> names it (INBOX always stays
    /// subscribed); subscribed names that are not folders are added too (IMAP allows that); folders only Postern has
    /// keep theirs. Without a subscriptions file nothing changes.
    /// </summary>
    private async Task<IReadOnlyList<string>> ImportSubscriptionsAsync(long accountId, string root, char legacySeparator, IReadOnlyList<MaildirFolderSource> sources, List<MaildirImportProblem> problems, CancellationToken cancellationToken)
    {
        var text = ReadText(Path.Combine(root, "subscriptions"), "INBOX", problems);
        if (text is null)
        {
            return [];
        }

        var names = DovecotSubscriptions.Parse(text, legacySeparator);
        foreach (var source in sources.Where(s => s.Name != "INBOX" && !names.Contains(s.Name, StringComparer.Ordinal)))
        {
            await mailboxes.SetSubscribedAsync(accountId, source.Name, false, cancellationToken).ConfigureAwait(false);
        }

        foreach (var name in names)
        {
            await mailboxes.SetSubscribedAsync(accountId, name, true, cancellationToken).ConfigureAwait(false);
        }

        return names;
    }

    private static DovecotUidList? ReadUidList(MaildirFolderSource source, List<MaildirImportProblem> problems)
    {
        var text = ReadText(Path.Combine(source.Path, "dovecot-uidlist"), source.Name, problems);
        if (text is null)
        {
            return null;
        }

        var list = DovecotUidList.Parse(text, out var problem, out var badLines);
        if (problem is not null)
        {
            problems.Add(new MaildirImportProblem(source.Name, "dovecot-uidlist", problem + "; the folder's messages get new UIDs"));
        }

        if (badLines > 0)
        {
            problems.Add(new MaildirImportProblem(source.Name, "dovecot-uidlist", $"{badLines} line(s) could not be read; those messages get new UIDs"));
        }

        return list;
    }

    private static string? ReadText(string path, string folder, List<MaildirImportProblem> problems)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add(new MaildirImportProblem(folder, Path.GetFileName(path), $"cannot read: {e.Message}"));
            return null;
        }
    }

    private static List<MessageFile> ListMessageFiles(MaildirFolderSource source, List<MaildirImportProblem> problems)
    {
        var files = new List<MessageFile>();
        foreach (var (sub, inCur) in new[] { ("cur", true), ("new", false) })
        {
            var dir = Path.Combine(source.Path, sub);
            if (!Directory.Exists(dir))
            {
                continue;
            }

            try
            {
                foreach (var info in new DirectoryInfo(dir).EnumerateFiles())
                {
                    if (info.Name.StartsWith('.'))
                    {
                        continue;
                    }

                    files.Add(new MessageFile(info.FullName, info.Name, MaildirFileName.BaseOf(info.Name), inCur, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero)));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problems.Add(new MaildirImportProblem(source.Name, sub, $"cannot list: {e.Message}"));
            }
        }

        return files;
    }

    private sealed record MessageFile(string Path, string Name, string Base, bool InCur, DateTimeOffset Modified);
}
