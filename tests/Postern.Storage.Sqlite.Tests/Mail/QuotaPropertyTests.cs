using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Core.Storage.Mailboxes;
using Postern.Storage.Conformance;
using Postern.Storage.Conformance.Mail;

namespace Postern.Storage.Sqlite.Tests.Mail;

/// <summary>Any sequence of appends, copies, moves, expunges and folder deletions keeps the quota counters equal to the messages stored.</summary>
public sealed class QuotaPropertyTests : IDisposable
{
    private static readonly CancellationToken Ct = CancellationToken.None;
    private readonly ManualTimeProvider _time = new();
    private readonly StorageUnderTest _storage;
    private long _nextAccount;

    public QuotaPropertyTests() => _storage = SqliteStorageFactory.Create(_time);

    public void Dispose() => _storage.Dispose();

    [Fact]
    public void Quota_counters_equal_the_stored_messages_after_any_sequence_of_operations()
    {
        // Short sequences, few runs: each step is a durable (fsynced) write.
        var operations = from length in Gen.Choose(1, 12)
                         from ops in Gen.ArrayOf(Gen.Choose(0, 59), length)
                         select ops;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(20), Prop.ForAll(Arb.From(operations), ops => RunAsync(ops).GetAwaiter().GetResult()));
    }

    private async Task<bool> RunAsync(int[] ops)
    {
        var mail = _storage.Mailboxes;
        var account = Interlocked.Increment(ref _nextAccount);
        const long domain = 7; // every case's account is in one domain, so the domain counter sums them all
        var folders = (await mail.EnsureDefaultFoldersAsync(account, domain, Ct)).Take(3).Select(f => f.FolderId).ToList();
        var extra = await mail.CreateFolderAsync(account, "Temp", SpecialUse.None, Ct);
        folders.Add(extra.FolderId);
        foreach (var op in ops)
        {
            var folder = folders[op / 5 % folders.Count];
            var other = folders[(op / 5 + 1) % folders.Count];
            var uids = (await mail.ListMessagesAsync(account, folder, 1, long.MaxValue, null, Ct)).Select(m => m.Uid).Where((_, i) => i % 2 == op % 2).ToList();
            switch (op % 5)
            {
                case 0:
                    using (var body = new MemoryStream(Encoding.ASCII.GetBytes(new string('x', op * 7))))
                    {
                        var blob = await _storage.Blobs.WriteAsync(body, Ct);
                        await mail.AppendAsync(account, folder, [new NewMessage(blob.Id, blob.Length, _time.GetUtcNow(), new byte[op])], null, Ct);
                    }

                    break;
                case 1:
                    await mail.CopyAsync(account, folder, uids, other, null, Ct);
                    break;
                case 2:
                    await mail.MoveAsync(account, folder, uids, other, Ct);
                    break;
                case 3:
                    await mail.ExpungeAsync(account, folder, uids, onlyDeleted: false, Ct);
                    break;
                default:
                    await mail.DeleteFolderAsync(account, "Temp", Ct);
                    folders[^1] = (await mail.CreateFolderAsync(account, "Temp", SpecialUse.None, Ct)).FolderId;
                    break;
            }
        }

        long bytes = 0, count = 0;
        foreach (var f in await mail.ListFoldersAsync(account, Ct))
        {
            foreach (var message in await mail.ListMessagesAsync(account, f.FolderId, 1, long.MaxValue, null, Ct))
            {
                bytes += message.Size;
                count++;
            }
        }

        var domainTotal = new QuotaUsage(0, 0);
        for (var a = 1; a <= account; a++)
        {
            var usage = await mail.GetAccountUsageAsync(a, Ct);
            domainTotal = new QuotaUsage(domainTotal.StorageBytes + usage.StorageBytes, domainTotal.Messages + usage.Messages);
        }

        return await mail.GetAccountUsageAsync(account, Ct) == new QuotaUsage(bytes, count)
            && await mail.GetDomainUsageAsync(domain, Ct) == domainTotal;
    }
}
