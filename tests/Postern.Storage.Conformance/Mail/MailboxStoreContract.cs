using System.Text;
using Postern.Core.Storage;
using Postern.Core.Storage.Mailboxes;

namespace Postern.Storage.Conformance.Mail;

/// <summary>What every <see cref="IMailboxStore"/> must do: the mailbox model IMAP relies on.</summary>
public abstract class MailboxStoreContract : StorageContract
{
    private const long Account = 1;
    private const long Domain = 10;

    private IMailboxStore Mail => Storage.Mailboxes;

    [Fact]
    public async Task New_accounts_get_the_special_use_folders_subscribed_and_only_once()
    {
        var first = await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);
        var again = await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);

        Assert.Equal(first, again);
        Assert.Equal(
            new Dictionary<string, SpecialUse>
            {
                ["Archive"] = SpecialUse.Archive,
                ["Drafts"] = SpecialUse.Drafts,
                ["INBOX"] = SpecialUse.None,
                ["Junk"] = SpecialUse.Junk,
                ["Sent"] = SpecialUse.Sent,
                ["Trash"] = SpecialUse.Trash,
            },
            first.ToDictionary(f => f.Name, f => f.SpecialUse));
        Assert.Equal(first.Select(f => f.Name).Order(StringComparer.Ordinal), await Mail.ListSubscriptionsAsync(Account, Ct));
        Assert.Equal(6, first.Select(f => f.UidValidity).Distinct().Count());
        Assert.All(first, f => Assert.Equal(1, f.UidNext));
    }

    [Fact]
    public async Task A_folder_deleted_and_created_again_gets_a_new_uidvalidity_and_fresh_uids()
    {
        await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);
        var before = await Mail.CreateFolderAsync(Account, "Projects", SpecialUse.None, Ct);
        await AppendAsync(before.FolderId, "one", "two");

        Assert.True(await Mail.DeleteFolderAsync(Account, "Projects", Ct));
        var after = await Mail.CreateFolderAsync(Account, "Projects", SpecialUse.None, Ct);

        Assert.NotEqual(before.UidValidity, after.UidValidity);
        var all = await Mail.ListFoldersAsync(Account, Ct);
        Assert.Equal(all.Count, all.Select(f => f.UidValidity).Distinct().Count());
        Assert.Empty(await Mail.ListMessagesAsync(Account, after.FolderId, 1, long.MaxValue, null, Ct));
    }

    [Fact]
    public async Task Creating_an_existing_folder_is_a_conflict()
    {
        await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);

        await Assert.ThrowsAsync<StoreConflictException>(() => Mail.CreateFolderAsync(Account, "Sent", SpecialUse.None, Ct));
    }

    [Fact]
    public async Task Appended_messages_come_back_exactly_as_given()
    {
        var inbox = await InboxAsync();
        var blob = await WriteBlobAsync("Subject: hi\r\n\r\nHello\r\n");
        var prefix = "Return-Path: <a@example.org>\r\nDelivered-To: u@example.com\r\n"u8.ToArray();
        var internalDate = new DateTimeOffset(2026, 2, 3, 4, 5, 6, 789, TimeSpan.FromHours(-5) + TimeSpan.FromMinutes(-30));
        var saved = new DateTimeOffset(2026, 2, 3, 9, 0, 0, TimeSpan.Zero);

        var result = await Mail.AppendAsync(Account, inbox.FolderId,
            [new NewMessage(blob.Id, blob.Length, internalDate, prefix, MessageFlags.Seen | MessageFlags.Flagged, ["$Forwarded", "Work"], "Hello", "{\"envelope\":1}", saved)],
            null, Ct);

        Assert.True(result.Succeeded);
        Assert.Equal(inbox.UidValidity, result.UidValidity);
        var message = await Mail.GetMessageAsync(Account, inbox.FolderId, result.Uids[0], Ct);
        Assert.NotNull(message);
        Assert.Equal(blob.Id, message.Blob);
        Assert.Equal(prefix, message.HeaderPrefix.ToArray());
        Assert.Equal(prefix.Length + blob.Length, message.Size);
        Assert.Equal(internalDate, message.InternalDate);
        Assert.Equal(internalDate.Offset, message.InternalDate.Offset);
        Assert.Equal(MessageFlags.Seen | MessageFlags.Flagged, message.Flags);
        Assert.Equal(["$Forwarded", "Work"], message.Keywords);
        Assert.Equal("{\"envelope\":1}", message.Summary);
        Assert.Equal(saved, message.SavedDate);
        Assert.Equal(result.ModSeq, message.ModSeq);
    }

    [Fact]
    public async Task A_message_reads_back_as_prefix_then_body_with_exactly_its_size()
    {
        var inbox = await InboxAsync();
        var blob = await WriteBlobAsync("Subject: whole\r\n\r\nbody\r\n");
        var prefix = "Delivered-To: u@example.com\r\n"u8.ToArray();
        var appended = await Mail.AppendAsync(Account, inbox.FolderId, [new NewMessage(blob.Id, blob.Length, Time.GetUtcNow(), prefix)], null, Ct);
        var message = (await Mail.GetMessageAsync(Account, inbox.FolderId, appended.Uids[0], Ct))!;

        using var content = await Storage.Blobs.OpenAsync(message, Ct);
        var bytes = await ReadAllAsync(content!);

        Assert.Equal("Delivered-To: u@example.com\r\nSubject: whole\r\n\r\nbody\r\n", Encoding.ASCII.GetString(bytes));
        Assert.Equal(message.Size, bytes.Length);
    }

    [Fact]
    public async Task The_summary_can_be_filled_in_after_the_append()
    {
        var inbox = await InboxAsync();
        var appended = await AppendAsync(inbox.FolderId, "no summary yet");

        Assert.True(await Mail.SetSummaryAsync(Account, inbox.FolderId, 1, "{\"bodystructure\":[]}", Ct));
        Assert.False(await Mail.SetSummaryAsync(Account, inbox.FolderId, 2, "{}", Ct));
        Assert.False(await Mail.SetSummaryAsync(2, inbox.FolderId, 1, "{}", Ct));

        var message = await Mail.GetMessageAsync(Account, inbox.FolderId, 1, Ct);
        Assert.Equal("{\"bodystructure\":[]}", message!.Summary);
        Assert.Equal(appended.ModSeq, message.ModSeq);
    }

    [Fact]
    public async Task A_batch_append_gets_consecutive_uids_and_moves_uidnext()
    {
        var inbox = await InboxAsync();

        var result = await AppendAsync(inbox.FolderId, "a", "b", "c");

        Assert.Equal([1L, 2L, 3L], result.Uids);
        var status = await Mail.GetFolderStatusAsync(Account, inbox.FolderId, Ct);
        Assert.Equal(4, status!.UidNext);
        Assert.Equal(3, status.Messages);
        Assert.Equal(result.ModSeq, status.HighestModSeq);
    }

    [Fact]
    public async Task Uids_are_never_reused_after_expunge()
    {
        var inbox = await InboxAsync();
        await AppendAsync(inbox.FolderId, "a", "b", "c");
        await Mail.ExpungeAsync(Account, inbox.FolderId, [2, 3], onlyDeleted: false, Ct);

        var next = await AppendAsync(inbox.FolderId, "d");

        Assert.Equal([4L], next.Uids);
        Assert.Equal([1L, 4L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct)).Select(m => m.Uid));
    }

    [Fact]
    public async Task Rename_keeps_uidvalidity_messages_and_inferiors()
    {
        await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);
        var parent = await Mail.CreateFolderAsync(Account, "Work", SpecialUse.None, Ct);
        var child = await Mail.CreateFolderAsync(Account, "Work/2025", SpecialUse.None, Ct);
        await Mail.CreateFolderAsync(Account, "Workshop", SpecialUse.None, Ct);
        await AppendAsync(child.FolderId, "old report");

        Assert.True(await Mail.RenameFolderAsync(Account, "Work", "Jobs/Work", Ct));

        var renamed = await Mail.GetFolderAsync(Account, "Jobs/Work", Ct);
        var renamedChild = await Mail.GetFolderAsync(Account, "Jobs/Work/2025", Ct);
        Assert.Equal(parent.UidValidity, renamed!.UidValidity);
        Assert.Equal(child.UidValidity, renamedChild!.UidValidity);
        Assert.Single(await Mail.ListMessagesAsync(Account, renamedChild.FolderId, 1, long.MaxValue, null, Ct));
        Assert.Null(await Mail.GetFolderAsync(Account, "Work", Ct));
        Assert.NotNull(await Mail.GetFolderAsync(Account, "Workshop", Ct));
        Assert.False(await Mail.RenameFolderAsync(Account, "Work", "Other", Ct));
    }

    [Fact]
    public async Task Rename_onto_an_existing_name_is_a_conflict_and_changes_nothing()
    {
        await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);
        await Mail.CreateFolderAsync(Account, "A", SpecialUse.None, Ct);
        await Mail.CreateFolderAsync(Account, "A/x", SpecialUse.None, Ct);
        await Mail.CreateFolderAsync(Account, "B/x", SpecialUse.None, Ct);

        await Assert.ThrowsAsync<StoreConflictException>(() => Mail.RenameFolderAsync(Account, "A", "B", Ct));

        Assert.NotNull(await Mail.GetFolderAsync(Account, "A", Ct));
        Assert.NotNull(await Mail.GetFolderAsync(Account, "A/x", Ct));
    }

    [Fact]
    public async Task Store_flags_adds_removes_and_replaces_with_a_new_modseq()
    {
        var inbox = await InboxAsync();
        var appended = await AppendAsync(inbox.FolderId, "a", "b");

        var added = await Mail.StoreFlagsAsync(Account, inbox.FolderId, [1, 2, 99], new FlagChange(FlagChangeMode.Add, MessageFlags.Seen, ["Todo"]), null, Ct);
        Assert.Equal([1L, 2L], added.Changed.Select(c => c.Uid));
        Assert.All(added.Changed, c => Assert.Equal(MessageFlags.Seen, c.Flags));
        Assert.True(added.HighestModSeq > appended.ModSeq);

        var removed = await Mail.StoreFlagsAsync(Account, inbox.FolderId, [1], new FlagChange(FlagChangeMode.Remove, MessageFlags.Seen, ["todo"]), null, Ct);
        Assert.Equal(MessageFlags.None, removed.Changed.Single().Flags);
        Assert.Empty(removed.Changed.Single().Keywords);
        Assert.True(removed.HighestModSeq > added.HighestModSeq);

        var replaced = await Mail.StoreFlagsAsync(Account, inbox.FolderId, [2], new FlagChange(FlagChangeMode.Replace, MessageFlags.Answered | MessageFlags.Draft), null, Ct);
        var message = await Mail.GetMessageAsync(Account, inbox.FolderId, 2, Ct);
        Assert.Equal(MessageFlags.Answered | MessageFlags.Draft, message!.Flags);
        Assert.Empty(message.Keywords);
        Assert.Equal(replaced.HighestModSeq, message.ModSeq);
        Assert.Equal(replaced.HighestModSeq, (await Mail.GetFolderStatusAsync(Account, inbox.FolderId, Ct))!.HighestModSeq);
    }

    [Fact]
    public async Task A_store_that_changes_nothing_keeps_the_modseq()
    {
        var inbox = await InboxAsync();
        await AppendAsync(inbox.FolderId, "a");
        var first = await Mail.StoreFlagsAsync(Account, inbox.FolderId, [1], new FlagChange(FlagChangeMode.Add, MessageFlags.Seen), null, Ct);

        var second = await Mail.StoreFlagsAsync(Account, inbox.FolderId, [1], new FlagChange(FlagChangeMode.Add, MessageFlags.Seen), null, Ct);

        Assert.Empty(second.Changed);
        Assert.Equal(first.HighestModSeq, second.HighestModSeq);
    }

    [Fact]
    public async Task Unchangedsince_refuses_messages_modified_after_it()
    {
        var inbox = await InboxAsync();
        var appended = await AppendAsync(inbox.FolderId, "a", "b");
        await Mail.StoreFlagsAsync(Account, inbox.FolderId, [2], new FlagChange(FlagChangeMode.Add, MessageFlags.Flagged), null, Ct);

        var result = await Mail.StoreFlagsAsync(Account, inbox.FolderId, [1, 2], new FlagChange(FlagChangeMode.Add, MessageFlags.Deleted), appended.ModSeq, Ct);

        Assert.Equal([1L], result.Changed.Select(c => c.Uid));
        Assert.Equal([2L], result.Modified);
        Assert.Equal(MessageFlags.Flagged, (await Mail.GetMessageAsync(Account, inbox.FolderId, 2, Ct))!.Flags);
    }

    [Fact]
    public async Task Changedsince_lists_only_messages_changed_after_the_modseq()
    {
        var inbox = await InboxAsync();
        var appended = await AppendAsync(inbox.FolderId, "a", "b", "c");
        await Mail.StoreFlagsAsync(Account, inbox.FolderId, [2], new FlagChange(FlagChangeMode.Add, MessageFlags.Seen), null, Ct);

        var changed = await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, appended.ModSeq, Ct);
        var range = await Mail.ListMessagesAsync(Account, inbox.FolderId, 2, 3, null, Ct);

        Assert.Equal([2L], changed.Select(m => m.Uid));
        Assert.Equal([2L, 3L], range.Select(m => m.Uid));
    }

    [Fact]
    public async Task The_flag_listing_matches_the_messages()
    {
        var inbox = await InboxAsync();
        var appended = await AppendAsync(inbox.FolderId, "a", "b", "c");
        var stored = await Mail.StoreFlagsAsync(Account, inbox.FolderId, [3], new FlagChange(FlagChangeMode.Add, MessageFlags.Answered, ["$Label1"]), null, Ct);

        var all = await Mail.ListFlagsAsync(Account, inbox.FolderId, null, Ct);
        var changed = await Mail.ListFlagsAsync(Account, inbox.FolderId, appended.ModSeq, Ct);

        Assert.Equal([1L, 2L, 3L], all.Select(f => f.Uid));
        var only = Assert.Single(changed);
        Assert.Equal((3L, MessageFlags.Answered, stored.HighestModSeq), (only.Uid, only.Flags, only.ModSeq));
        Assert.Equal(["$Label1"], only.Keywords);
        Assert.Equal(appended.ModSeq, all[0].ModSeq);
        Assert.Empty(await Mail.ListFlagsAsync(2, inbox.FolderId, null, Ct));
    }

    [Fact]
    public async Task Copy_gives_new_uids_keeps_the_source_and_counts_quota()
    {
        var folders = await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);
        var inbox = folders.Single(f => f.Name == "INBOX");
        var archive = folders.Single(f => f.Name == "Archive");
        await AppendAsync(inbox.FolderId, "x", "y");
        await AppendAsync(archive.FolderId, "z");
        await Mail.StoreFlagsAsync(Account, inbox.FolderId, [2], new FlagChange(FlagChangeMode.Add, MessageFlags.Seen, ["Kept"]), null, Ct);
        var before = await Mail.GetAccountUsageAsync(Account, Ct);

        var copy = await Mail.CopyAsync(Account, inbox.FolderId, [1, 2], archive.FolderId, null, Ct);

        Assert.True(copy.Succeeded);
        Assert.Equal(archive.UidValidity, copy.TargetUidValidity);
        Assert.Equal([(1L, 2L), (2L, 3L)], copy.Uids);
        Assert.Equal(2, (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct)).Count);
        var copied = await Mail.GetMessageAsync(Account, archive.FolderId, 3, Ct);
        Assert.Equal(MessageFlags.Seen, copied!.Flags);
        Assert.Equal(["Kept"], copied.Keywords);
        var after = await Mail.GetAccountUsageAsync(Account, Ct);
        Assert.Equal(before.Messages + 2, after.Messages);
        Assert.Equal(before.StorageBytes + await SizeOfAsync(inbox.FolderId, 1) + await SizeOfAsync(inbox.FolderId, 2), after.StorageBytes);
        Assert.Equal(await SumOfSizesAsync(), after.StorageBytes);
    }

    [Fact]
    public async Task Move_renumbers_in_the_target_logs_vanished_in_the_source_and_keeps_quota()
    {
        var folders = await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);
        var inbox = folders.Single(f => f.Name == "INBOX");
        var trash = folders.Single(f => f.Name == "Trash");
        var appended = await AppendAsync(inbox.FolderId, "a", "b", "c");
        var before = await Mail.GetAccountUsageAsync(Account, Ct);

        var moved = await Mail.MoveAsync(Account, inbox.FolderId, [1, 3], trash.FolderId, Ct);

        Assert.Equal([(1L, 1L), (3L, 2L)], moved.Uids);
        Assert.Equal([2L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct)).Select(m => m.Uid));
        Assert.Equal([1L, 2L], (await Mail.ListMessagesAsync(Account, trash.FolderId, 1, long.MaxValue, null, Ct)).Select(m => m.Uid));
        Assert.Equal([1L, 3L], await Mail.ListExpungedAsync(Account, inbox.FolderId, appended.ModSeq, Ct));
        Assert.Equal(before, await Mail.GetAccountUsageAsync(Account, Ct));
        Assert.Equal(before, await Mail.GetDomainUsageAsync(Domain, Ct));
    }

    [Fact]
    public async Task Expunge_of_deleted_only_removes_flagged_messages_and_logs_them_for_qresync()
    {
        var inbox = await InboxAsync();
        var appended = await AppendAsync(inbox.FolderId, "a", "b", "c", "d");
        await Mail.StoreFlagsAsync(Account, inbox.FolderId, [2, 4], new FlagChange(FlagChangeMode.Add, MessageFlags.Deleted), null, Ct);
        var status = await Mail.GetFolderStatusAsync(Account, inbox.FolderId, Ct);
        Assert.Equal(2, status!.Deleted);

        var expunged = await Mail.ExpungeAsync(Account, inbox.FolderId, [1, 2, 3, 4], onlyDeleted: true, Ct);

        Assert.Equal([2L, 4L], expunged.Uids);
        Assert.Equal([1L, 3L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct)).Select(m => m.Uid));
        Assert.Equal([2L, 4L], await Mail.ListExpungedAsync(Account, inbox.FolderId, appended.ModSeq, Ct));
        Assert.Empty(await Mail.ListExpungedAsync(Account, inbox.FolderId, expunged.ModSeq, Ct));
        Assert.Equal(expunged.ModSeq, (await Mail.GetFolderStatusAsync(Account, inbox.FolderId, Ct))!.HighestModSeq);
    }

    [Fact]
    public async Task Status_counts_messages_unseen_deleted_and_size()
    {
        var inbox = await InboxAsync();
        await AppendAsync(inbox.FolderId, "a", "bb", "ccc");
        await Mail.StoreFlagsAsync(Account, inbox.FolderId, [1], new FlagChange(FlagChangeMode.Add, MessageFlags.Seen), null, Ct);
        await Mail.StoreFlagsAsync(Account, inbox.FolderId, [3], new FlagChange(FlagChangeMode.Add, MessageFlags.Deleted), null, Ct);

        var status = await Mail.GetFolderStatusAsync(Account, inbox.FolderId, Ct);

        Assert.Equal(3, status!.Messages);
        Assert.Equal(2, status.Unseen);
        Assert.Equal(1, status.Deleted);
        Assert.Equal(await SumOfSizesAsync(), status.Size);
    }

    [Fact]
    public async Task Quota_counters_stay_exact_for_account_and_domain()
    {
        var inbox = await InboxAsync();
        var otherInbox = (await Mail.EnsureDefaultFoldersAsync(2, Domain, Ct)).Single(f => f.Name == "INBOX");
        var elsewhere = (await Mail.EnsureDefaultFoldersAsync(3, 20, Ct)).Single(f => f.Name == "INBOX");
        var archive = (await Mail.GetFolderAsync(Account, "Archive", Ct))!;
        var trash = (await Mail.GetFolderAsync(Account, "Trash", Ct))!;

        await AppendAsync(inbox.FolderId, "12345", "1234567890");
        await AppendAsync(otherInbox.FolderId, "abc", account: 2);
        await AppendAsync(elsewhere.FolderId, "elsewhere", account: 3);
        await Mail.CopyAsync(Account, inbox.FolderId, [1, 2], archive.FolderId, null, Ct);
        await Mail.MoveAsync(Account, archive.FolderId, [1], trash.FolderId, Ct);
        await Mail.ExpungeAsync(Account, inbox.FolderId, [2], onlyDeleted: false, Ct);

        var account1 = await ActualUsageAsync(Account);
        var account2 = await ActualUsageAsync(2);
        Assert.Equal(3, account1.Messages);
        Assert.Equal(account1, await Mail.GetAccountUsageAsync(Account, Ct));
        Assert.Equal(account2, await Mail.GetAccountUsageAsync(2, Ct));
        Assert.Equal(new QuotaUsage(account1.StorageBytes + account2.StorageBytes, 4), await Mail.GetDomainUsageAsync(Domain, Ct));
        Assert.Equal(await ActualUsageAsync(3), await Mail.GetDomainUsageAsync(20, Ct));

        await Mail.DeleteFolderAsync(Account, "Trash", Ct);
        Assert.Equal(await ActualUsageAsync(Account), await Mail.GetAccountUsageAsync(Account, Ct));
        Assert.Equal(2, (await Mail.GetAccountUsageAsync(Account, Ct)).Messages);
    }

    [Fact]
    public async Task Append_within_limits_refuses_without_storing_anything()
    {
        var inbox = await InboxAsync();
        var otherInbox = (await Mail.EnsureDefaultFoldersAsync(2, Domain, Ct)).Single(f => f.Name == "INBOX");
        await AppendAsync(inbox.FolderId, "first message");
        var used = await Mail.GetAccountUsageAsync(Account, Ct);
        var blob = await WriteBlobAsync("second message");
        var message = new NewMessage(blob.Id, blob.Length, Time.GetUtcNow());

        var byBytes = await Mail.AppendAsync(Account, inbox.FolderId, [message], new QuotaLimits(AccountStorageBytes: used.StorageBytes + blob.Length - 1), Ct);
        var byCount = await Mail.AppendAsync(Account, inbox.FolderId, [message], new QuotaLimits(AccountMessages: 1), Ct);
        var byDomain = await Mail.AppendAsync(2, otherInbox.FolderId, [message], new QuotaLimits(DomainStorageBytes: used.StorageBytes + blob.Length - 1), Ct);
        var fits = await Mail.AppendAsync(Account, inbox.FolderId, [message], new QuotaLimits(used.StorageBytes + blob.Length, 2, used.StorageBytes + blob.Length, 2), Ct);

        Assert.Equal(AppendStatus.AccountQuotaExceeded, byBytes.Status);
        Assert.Equal(AppendStatus.AccountQuotaExceeded, byCount.Status);
        Assert.Equal(AppendStatus.DomainQuotaExceeded, byDomain.Status);
        Assert.Empty(await Mail.ListMessagesAsync(2, otherInbox.FolderId, 1, long.MaxValue, null, Ct));
        Assert.True(fits.Succeeded);
        Assert.Equal([2L], fits.Uids); // the refused appends used no UID
        Assert.Equal(new QuotaUsage(used.StorageBytes + blob.Length, 2), await Mail.GetAccountUsageAsync(Account, Ct));
    }

    [Fact]
    public async Task Copy_within_limits_refuses_when_the_copy_would_not_fit()
    {
        var inbox = await InboxAsync();
        var archive = (await Mail.GetFolderAsync(Account, "Archive", Ct))!;
        await AppendAsync(inbox.FolderId, "a message");
        var used = await Mail.GetAccountUsageAsync(Account, Ct);

        var refused = await Mail.CopyAsync(Account, inbox.FolderId, [1], archive.FolderId, new QuotaLimits(AccountStorageBytes: used.StorageBytes * 2 - 1), Ct);

        Assert.Equal(CopyStatus.AccountQuotaExceeded, refused.Status);
        Assert.Empty(await Mail.ListMessagesAsync(Account, archive.FolderId, 1, long.MaxValue, null, Ct));
        Assert.Equal(used, await Mail.GetAccountUsageAsync(Account, Ct));
    }

    [Fact]
    public async Task Acl_entries_are_kept_per_folder_replaced_removed_and_found_by_identifier()
    {
        var inbox = await InboxAsync();
        var archive = (await Mail.GetFolderAsync(Account, "Archive", Ct))!;
        await Mail.EnsureDefaultFoldersAsync(2, Domain, Ct);

        Assert.True(await Mail.SetAclAsync(Account, archive.FolderId, "user:2", "lr", Ct));
        Assert.True(await Mail.SetAclAsync(Account, archive.FolderId, "user:2", "lrsw", Ct));
        Assert.True(await Mail.SetAclAsync(Account, archive.FolderId, "anyone", "l", Ct));
        Assert.True(await Mail.SetAclAsync(Account, inbox.FolderId, "-user:2", "r", Ct));

        Assert.Equal([new AclEntry("anyone", "l"), new AclEntry("user:2", "lrsw")], await Mail.GetAclAsync(Account, archive.FolderId, Ct));
        Assert.Empty(await Mail.GetAclAsync(2, archive.FolderId, Ct)); // not account 2's folder
        Assert.False(await Mail.SetAclAsync(2, archive.FolderId, "user:3", "l", Ct));

        var shared = await Mail.ListSharedFoldersAsync(["user:2", "-user:2"], Ct);
        Assert.Equal(["INBOX", "Archive"], shared.Select(f => f.Folder.Name).Order(StringComparer.Ordinal).Reverse());
        Assert.Equal([new AclEntry("user:2", "lrsw")], shared.Single(f => f.Folder.Name == "Archive").Entries);
        Assert.Equal([new AclEntry("-user:2", "r")], shared.Single(f => f.Folder.Name == "INBOX").Entries);

        Assert.True(await Mail.SetAclAsync(Account, archive.FolderId, "user:2", null, Ct));
        Assert.Equal([new AclEntry("anyone", "l")], await Mail.GetAclAsync(Account, archive.FolderId, Ct));

        // The ACL follows a rename and goes with a deleted folder.
        Assert.True(await Mail.RenameFolderAsync(Account, "Archive", "Old", Ct));
        Assert.Equal([new AclEntry("anyone", "l")], await Mail.GetAclAsync(Account, archive.FolderId, Ct));
        Assert.True(await Mail.DeleteFolderAsync(Account, "Old", Ct));
        Assert.Empty(await Mail.ListSharedFoldersAsync(["anyone"], Ct));
    }

    [Fact]
    public async Task Copy_and_move_between_accounts_carry_the_usage_and_check_the_target_limits()
    {
        var inbox = await InboxAsync();
        var other = (await Mail.EnsureDefaultFoldersAsync(2, Domain, Ct)).Single(f => f.Name == "INBOX");
        await AppendAsync(inbox.FolderId, "one", "two");
        var ownerBefore = await Mail.GetAccountUsageAsync(Account, Ct);
        var size = await SizeOfAsync(inbox.FolderId, 1);

        var refused = await Mail.CopyBetweenAccountsAsync(Account, inbox.FolderId, [1], 2, other.FolderId, new QuotaLimits(AccountStorageBytes: size - 1), move: false, Ct);
        Assert.Equal(CopyStatus.AccountQuotaExceeded, refused.Status);
        Assert.Empty(await Mail.ListMessagesAsync(2, other.FolderId, 1, long.MaxValue, null, Ct));

        var copied = await Mail.CopyBetweenAccountsAsync(Account, inbox.FolderId, [1], 2, other.FolderId, null, move: false, Ct);
        Assert.Equal([(1L, 1L)], copied.Uids);
        Assert.Equal(ownerBefore, await Mail.GetAccountUsageAsync(Account, Ct));
        Assert.Equal(new QuotaUsage(size, 1), await Mail.GetAccountUsageAsync(2, Ct));

        var moved = await Mail.CopyBetweenAccountsAsync(Account, inbox.FolderId, [2], 2, other.FolderId, null, move: true, Ct);
        Assert.Equal([(2L, 2L)], moved.Uids);
        Assert.Equal([1L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct)).Select(m => m.Uid));
        Assert.Equal(new QuotaUsage(ownerBefore.StorageBytes - size, 1), await Mail.GetAccountUsageAsync(Account, Ct));
        Assert.Equal(2, (await Mail.GetAccountUsageAsync(2, Ct)).Messages);
        Assert.Equal(await ActualUsageAsync(Account), await Mail.GetAccountUsageAsync(Account, Ct));
        Assert.Equal(await ActualUsageAsync(2), await Mail.GetAccountUsageAsync(2, Ct));

        // A folder named for the wrong account is not found.
        var wrong = await Mail.CopyBetweenAccountsAsync(2, inbox.FolderId, [1], Account, other.FolderId, null, move: false, Ct);
        Assert.Equal(CopyStatus.FolderNotFound, wrong.Status);
    }

    [Fact]
    public async Task Full_text_search_finds_substrings_ignoring_case()
    {
        var inbox = await InboxAsync();
        await AppendAsync(inbox.FolderId, "The quarterly Invoice is attached", "Lunch on friday?", "invoices overdue");

        Assert.Equal([1L, 3L], await Mail.SearchTextAsync(Account, inbox.FolderId, "INVOICE", Ct));
        Assert.Equal([1L], await Mail.SearchTextAsync(Account, inbox.FolderId, "arterl", Ct));
        Assert.Equal([2L], await Mail.SearchTextAsync(Account, inbox.FolderId, "on fri", Ct));
        Assert.Empty((await Mail.SearchTextAsync(Account, inbox.FolderId, "dinner", Ct))!);
        Assert.Null(await Mail.SearchTextAsync(Account, inbox.FolderId, "on", Ct));
    }

    [Fact]
    public async Task Moving_within_the_same_folder_gives_new_uids_and_expunges_the_old_ones()
    {
        var inbox = await InboxAsync();
        await AppendAsync(inbox.FolderId, "one", "two");
        var before = (await Mail.GetFolderAsync(Account, inbox.FolderId, Ct))!;

        var moved = await Mail.MoveAsync(Account, inbox.FolderId, [1], inbox.FolderId, Ct);

        Assert.Equal([(1L, 3L)], moved.Uids);
        Assert.Equal([2L, 3L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct)).Select(m => m.Uid));
        Assert.Equal([1L], await Mail.ListExpungedAsync(Account, inbox.FolderId, before.HighestModSeq, Ct));
        Assert.Equal(new QuotaUsage((await ActualUsageAsync(Account)).StorageBytes, 2), await Mail.GetAccountUsageAsync(Account, Ct));
    }

    [Fact]
    public async Task Listing_by_summary_text_leaves_out_only_current_summaries_without_the_text()
    {
        var inbox = await InboxAsync();
        var summaries = new[] { "{\"V\":2,\"Subject\":\"Zebra crossing\"}", "{\"V\":2,\"Subject\":\"axb 100%\"}", null, "{\"V\":1,\"Subject\":\"old\"}" };
        var messages = new List<NewMessage>();
        foreach (var summary in summaries)
        {
            var blob = await WriteBlobAsync("Subject: test\r\n\r\nbody\r\n");
            messages.Add(new NewMessage(blob.Id, blob.Length, Time.GetUtcNow(), ReadOnlyMemory<byte>.Empty, Summary: summary));
        }

        Assert.True((await Mail.AppendAsync(Account, inbox.FolderId, messages, null, Ct)).Succeeded);

        async Task<long[]> Uids(string text, long first = 1, long last = long.MaxValue) =>
            [.. (await Mail.ListMessagesBySummaryAsync(Account, inbox.FolderId, first, last, "{\"V\":2,", text, Ct)).Select(m => m.Uid)];

        Assert.Equal(new long[] { 1, 3, 4 }, await Uids("ZEBRA"));
        Assert.Equal(new long[] { 3, 4 }, await Uids("a_b")); // LIKE wildcards in the text are literal
        Assert.Equal(new long[] { 2, 3, 4 }, await Uids("100%"));
        Assert.Equal(new long[] { 3 }, await Uids("zebra", 2, 3));
        Assert.Equal(summaries[0], (await Mail.ListMessagesBySummaryAsync(Account, inbox.FolderId, 1, 1, "{\"V\":2,", "zebra", Ct))[0].Summary);
    }

    [Fact]
    public async Task Full_text_search_always_names_messages_whose_text_was_never_indexed()
    {
        var inbox = await InboxAsync();
        await AppendAsync(inbox.FolderId, "The quarterly invoice");
        var blob = await WriteBlobAsync("Subject: test\r\n\r\nanother invoice\r\n");
        await Mail.AppendAsync(Account, inbox.FolderId, [new NewMessage(blob.Id, blob.Length, Time.GetUtcNow(), ReadOnlyMemory<byte>.Empty, SearchText: null)], null, Ct);

        // the caller confirms candidates, so an unindexed message must never be ruled out by the index
        Assert.Equal([1L, 2L], await Mail.SearchTextAsync(Account, inbox.FolderId, "invoice", Ct));
        Assert.Equal([2L], await Mail.SearchTextAsync(Account, inbox.FolderId, "dinner", Ct));
    }

    [Fact]
    public async Task Full_text_search_follows_copies_and_forgets_expunged_messages()
    {
        var inbox = await InboxAsync();
        var archive = (await Mail.GetFolderAsync(Account, "Archive", Ct))!;
        await AppendAsync(inbox.FolderId, "contract renewal", "holiday photos");
        await Mail.CopyAsync(Account, inbox.FolderId, [1], archive.FolderId, null, Ct);

        await Mail.ExpungeAsync(Account, inbox.FolderId, [1], onlyDeleted: false, Ct);
        Assert.Empty((await Mail.SearchTextAsync(Account, inbox.FolderId, "renewal", Ct))!);
        Assert.Equal([1L], await Mail.SearchTextAsync(Account, archive.FolderId, "renewal", Ct));

        await Mail.ExpungeAsync(Account, archive.FolderId, [1], onlyDeleted: false, Ct);
        Assert.Empty((await Mail.SearchTextAsync(Account, archive.FolderId, "renewal", Ct))!);
        Assert.Equal([2L], await Mail.SearchTextAsync(Account, inbox.FolderId, "photos", Ct));

        // the same text appended again is found again
        await AppendAsync(inbox.FolderId, "contract renewal");
        Assert.Equal([3L], await Mail.SearchTextAsync(Account, inbox.FolderId, "renewal", Ct));
    }

    [Fact]
    public async Task Subscriptions_can_name_folders_that_do_not_exist()
    {
        await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);

        await Mail.SetSubscribedAsync(Account, "Shared/Team", true, Ct);
        await Mail.SetSubscribedAsync(Account, "Junk", false, Ct);

        var subscriptions = await Mail.ListSubscriptionsAsync(Account, Ct);
        Assert.Contains("Shared/Team", subscriptions);
        Assert.DoesNotContain("Junk", subscriptions);
    }

    [Fact]
    public async Task Special_use_and_autoexpunge_are_kept()
    {
        await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);
        var folder = await Mail.CreateFolderAsync(Account, "Old Mail", SpecialUse.None, Ct);

        Assert.True(await Mail.SetSpecialUseAsync(Account, folder.FolderId, SpecialUse.Archive | SpecialUse.Flagged, Ct));
        Assert.True(await Mail.SetAutoExpungeDaysAsync(Account, folder.FolderId, 30, Ct));

        var read = await Mail.GetFolderAsync(Account, folder.FolderId, Ct);
        Assert.Equal(SpecialUse.Archive | SpecialUse.Flagged, read!.SpecialUse);
        Assert.Equal(30, read.AutoExpungeDays);
        Assert.True(await Mail.SetAutoExpungeDaysAsync(Account, folder.FolderId, null, Ct));
        Assert.Null((await Mail.GetFolderAsync(Account, folder.FolderId, Ct))!.AutoExpungeDays);
    }

    [Fact]
    public async Task Autoexpunge_finds_its_folders_and_the_messages_saved_before_the_cutoff()
    {
        var trash = (await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct)).Single(f => f.Name == "Trash");
        await Mail.SetAutoExpungeDaysAsync(Account, trash.FolderId, 30, Ct);
        var start = Time.GetUtcNow();
        var old = await WriteBlobAsync("old");
        var fresh = await WriteBlobAsync("fresh");
        await Mail.AppendAsync(Account, trash.FolderId,
        [
            new NewMessage(old.Id, old.Length, start - TimeSpan.FromDays(90), SavedDate: start - TimeSpan.FromDays(40)),
            new NewMessage(fresh.Id, fresh.Length, start - TimeSpan.FromDays(90), SavedDate: start - TimeSpan.FromDays(5)),
            new NewMessage(old.Id, old.Length, start - TimeSpan.FromDays(31)),
        ], null, Ct);

        var folders = await Mail.ListAutoExpungeFoldersAsync(Ct);
        var expired = await Mail.ListSavedBeforeAsync(Account, trash.FolderId, start - TimeSpan.FromDays(30), Ct);

        Assert.Equal([trash.FolderId], folders.Select(f => f.FolderId));
        Assert.Equal([1L, 3L], expired);
    }

    [Fact]
    public async Task Another_account_cannot_reach_a_folder_by_its_id()
    {
        var inbox = await InboxAsync();
        await Mail.EnsureDefaultFoldersAsync(2, Domain, Ct);
        await AppendAsync(inbox.FolderId, "private");

        Assert.Null(await Mail.GetFolderAsync(2, inbox.FolderId, Ct));
        Assert.Empty(await Mail.ListMessagesAsync(2, inbox.FolderId, 1, long.MaxValue, null, Ct));
        Assert.Null(await Mail.GetMessageAsync(2, inbox.FolderId, 1, Ct));
        Assert.Empty((await Mail.ExpungeAsync(2, inbox.FolderId, [1], onlyDeleted: false, Ct)).Uids);
        var blob = await WriteBlobAsync("intruder");
        Assert.Equal(AppendStatus.FolderNotFound, (await Mail.AppendAsync(2, inbox.FolderId, [new NewMessage(blob.Id, blob.Length, Time.GetUtcNow())], null, Ct)).Status);
        Assert.Single(await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct));
    }

    [Fact]
    public async Task Subscribers_hear_of_changes_to_their_account()
    {
        var inbox = await InboxAsync();
        using var subscription = Mail.Subscribe(Account);
        using var other = Mail.Subscribe(2);
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang guard, not a timing assertion

        var appended = await AppendAsync(inbox.FolderId, "wake up");
        var change = await subscription.Changes.ReadAsync(guard.Token);

        Assert.Equal(new MailboxChange(Account, inbox.FolderId, appended.ModSeq), change);
        Assert.False(other.Changes.TryRead(out _));
    }

    [Fact]
    public async Task A_fresh_folder_adopts_a_foreign_uidvalidity_and_later_folders_never_get_it()
    {
        await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct);
        var existing = (await Mail.ListFoldersAsync(Account, Ct)).Max(f => f.UidValidity);
        var imported = await Mail.CreateFolderAsync(Account, "Imported", SpecialUse.None, Ct);
        var foreign = existing + 1000;

        Assert.Equal(AdoptStatus.Adopted, await Mail.AdoptUidValidityAsync(Account, imported.FolderId, foreign, Ct));
        Assert.Equal(AdoptStatus.Adopted, await Mail.AdoptUidValidityAsync(Account, imported.FolderId, foreign, Ct));

        Assert.Equal(foreign, (await Mail.GetFolderAsync(Account, imported.FolderId, Ct))!.UidValidity);
        Assert.True(await Mail.DeleteFolderAsync(Account, "Imported", Ct));
        var again = await Mail.CreateFolderAsync(Account, "Imported", SpecialUse.None, Ct);
        Assert.True(again.UidValidity > foreign, $"{again.UidValidity} must be above the adopted {foreign}");
    }

    [Fact]
    public async Task A_folder_that_held_messages_keeps_its_uidvalidity()
    {
        var inbox = await InboxAsync();
        await AppendAsync(inbox.FolderId, "seen by a client");
        await Mail.ExpungeAsync(Account, inbox.FolderId, [1], onlyDeleted: false, Ct);

        Assert.Equal(AdoptStatus.FolderInUse, await Mail.AdoptUidValidityAsync(Account, inbox.FolderId, 12345, Ct));
        Assert.Equal(AdoptStatus.FolderNotFound, await Mail.AdoptUidValidityAsync(2, inbox.FolderId, 12345, Ct));
        Assert.Equal(inbox.UidValidity, (await Mail.GetFolderAsync(Account, inbox.FolderId, Ct))!.UidValidity);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Mail.AdoptUidValidityAsync(Account, inbox.FolderId, 1L << 32, Ct));
    }

    [Fact]
    public async Task Messages_appended_with_their_uids_keep_them_and_their_flags_and_count_without_quota()
    {
        var inbox = await InboxAsync();
        var one = await WriteBlobAsync("Subject: one\r\n\r\n1\r\n");
        var two = await WriteBlobAsync("Subject: two\r\n\r\n2\r\n");
        var date = new DateTimeOffset(2020, 5, 6, 7, 8, 9, TimeSpan.Zero);

        var result = await Mail.AppendWithUidsAsync(Account, inbox.FolderId,
        [
            new ImportedMessage(3, new NewMessage(one.Id, one.Length, date, Flags: MessageFlags.Seen | MessageFlags.Answered, Keywords: ["$Forwarded", "Work"])),
            new ImportedMessage(7, new NewMessage(two.Id, two.Length, date.AddDays(1))),
        ], uidNext: 5, Ct);

        Assert.True(result.Succeeded);
        Assert.Equal([3L, 7L], result.Uids);
        var messages = await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct);
        Assert.Equal([3L, 7L], messages.Select(m => m.Uid));
        Assert.Equal(MessageFlags.Seen | MessageFlags.Answered, messages[0].Flags);
        Assert.Equal(["$Forwarded", "Work"], messages[0].Keywords);
        Assert.Equal(date, messages[0].InternalDate);
        Assert.Equal(date.AddDays(1), messages[1].InternalDate);
        Assert.Equal(8, (await Mail.GetFolderStatusAsync(Account, inbox.FolderId, Ct))!.UidNext);
        Assert.Equal(await ActualUsageAsync(Account), await Mail.GetAccountUsageAsync(Account, Ct));
        Assert.Equal(new QuotaUsage(one.Length + two.Length, 2), await Mail.GetDomainUsageAsync(Domain, Ct));

        var next = await AppendAsync(inbox.FolderId, "delivered later");
        Assert.Equal([8L], next.Uids);
    }

    [Fact]
    public async Task The_other_servers_uidnext_is_kept_when_it_is_above_the_uids_given()
    {
        var inbox = await InboxAsync();
        var blob = await WriteBlobAsync("Subject: kept\r\n\r\nx\r\n");

        await Mail.AppendWithUidsAsync(Account, inbox.FolderId, [new ImportedMessage(2, new NewMessage(blob.Id, blob.Length, Time.GetUtcNow()))], uidNext: 10, Ct);
        Assert.Equal(10, (await Mail.GetFolderStatusAsync(Account, inbox.FolderId, Ct))!.UidNext);

        var sent = (await Mail.ListFoldersAsync(Account, Ct)).Single(f => f.Name == "Sent");
        var raised = await Mail.AppendWithUidsAsync(Account, sent.FolderId, [], uidNext: 4, Ct);
        Assert.True(raised.Succeeded);
        Assert.Equal(4, (await Mail.GetFolderStatusAsync(Account, sent.FolderId, Ct))!.UidNext);
        Assert.Equal([4L], (await AppendAsync(sent.FolderId, "after the import")).Uids);
    }

    [Fact]
    public async Task Uids_at_or_below_uidnext_or_repeated_are_refused_and_nothing_is_stored()
    {
        var inbox = await InboxAsync();
        await AppendAsync(inbox.FolderId, "a", "b", "c");
        await Mail.ExpungeAsync(Account, inbox.FolderId, [3], onlyDeleted: false, Ct);
        var blob = await WriteBlobAsync("Subject: late\r\n\r\nlate\r\n");
        var usage = await Mail.GetAccountUsageAsync(Account, Ct);

        var reused = await Mail.AppendWithUidsAsync(Account, inbox.FolderId,
            [new ImportedMessage(3, new NewMessage(blob.Id, blob.Length, Time.GetUtcNow())), new ImportedMessage(9, new NewMessage(blob.Id, blob.Length, Time.GetUtcNow()))], 0, Ct);
        var repeated = await Mail.AppendWithUidsAsync(Account, inbox.FolderId,
            [new ImportedMessage(5, new NewMessage(blob.Id, blob.Length, Time.GetUtcNow())), new ImportedMessage(5, new NewMessage(blob.Id, blob.Length, Time.GetUtcNow()))], 0, Ct);
        var foreign = await Mail.AppendWithUidsAsync(2, inbox.FolderId, [new ImportedMessage(5, new NewMessage(blob.Id, blob.Length, Time.GetUtcNow()))], 0, Ct);

        Assert.Equal(AppendStatus.UidsNotAvailable, reused.Status);
        Assert.Equal(AppendStatus.UidsNotAvailable, repeated.Status);
        Assert.Equal(AppendStatus.FolderNotFound, foreign.Status);
        Assert.Equal([1L, 2L], (await Mail.ListMessagesAsync(Account, inbox.FolderId, 1, long.MaxValue, null, Ct)).Select(m => m.Uid));
        Assert.Equal(4, (await Mail.GetFolderStatusAsync(Account, inbox.FolderId, Ct))!.UidNext);
        Assert.Equal(usage, await Mail.GetAccountUsageAsync(Account, Ct));
    }

    private async Task<Folder> InboxAsync() =>
        (await Mail.EnsureDefaultFoldersAsync(Account, Domain, Ct)).Single(f => f.Name == "INBOX");

    private async Task<AppendResult> AppendAsync(long folderId, params string[] texts) => await AppendAsync(folderId, texts, Account);

    private async Task<AppendResult> AppendAsync(long folderId, string text, long account) => await AppendAsync(folderId, [text], account);

    private async Task<AppendResult> AppendAsync(long folderId, string[] texts, long account)
    {
        var messages = new List<NewMessage>();
        foreach (var text in texts)
        {
            var blob = await WriteBlobAsync("Subject: test\r\n\r\n" + text + "\r\n");
            var prefix = Encoding.ASCII.GetBytes($"Delivered-To: user{account}@example.com\r\n");
            messages.Add(new NewMessage(blob.Id, blob.Length, Time.GetUtcNow(), prefix, SearchText: text));
        }

        var result = await Mail.AppendAsync(account, folderId, messages, null, Ct);
        Assert.True(result.Succeeded);
        return result;
    }

    private async Task<long> SizeOfAsync(long folderId, long uid) => (await Mail.GetMessageAsync(Account, folderId, uid, Ct))!.Size;

    private async Task<long> SumOfSizesAsync() => (await ActualUsageAsync(Account)).StorageBytes;

    /// <summary>Usage recomputed from the messages themselves.</summary>
    private async Task<QuotaUsage> ActualUsageAsync(long account)
    {
        long bytes = 0, count = 0;
        foreach (var folder in await Mail.ListFoldersAsync(account, Ct))
        {
            foreach (var message in await Mail.ListMessagesAsync(account, folder.FolderId, 1, long.MaxValue, null, Ct))
            {
                bytes += message.Size;
                count++;
            }
        }

        return new QuotaUsage(bytes, count);
    }
}
