using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Postern.Core.Storage.Mailboxes;

/// <summary>
/// In-process fan-out of <see cref="MailboxChange"/>s to subscribers of an account. A backend publishes
/// after its transaction commits (PostgreSQL would publish what LISTEN/NOTIFY brings). Each subscriber
/// has a small bounded channel that keeps the newest changes: IDLE only needs to know "something changed".
/// </summary>
public sealed class MailboxChangeHub
{
    private readonly ConcurrentDictionary<long, ConcurrentDictionary<Subscription, byte>> _byAccount = new();

    public IMailboxChangeSubscription Subscribe(long accountId)
    {
        var subscription = new Subscription(this, accountId);
        _byAccount.GetOrAdd(accountId, _ => new()).TryAdd(subscription, 0);
        return subscription;
    }

    public void Publish(MailboxChange change)
    {
        if (_byAccount.TryGetValue(change.AccountId, out var subscribers))
        {
            foreach (var subscriber in subscribers.Keys)
            {
                subscriber.Writer.TryWrite(change);
            }
        }
    }

    private void Remove(Subscription subscription)
    {
        if (_byAccount.TryGetValue(subscription.AccountId, out var subscribers))
        {
            subscribers.TryRemove(subscription, out _);
        }
    }

    private sealed class Subscription : IMailboxChangeSubscription
    {
        private readonly MailboxChangeHub _hub;
        private readonly Channel<MailboxChange> _channel = Channel.CreateBounded<MailboxChange>(
            new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

        public Subscription(MailboxChangeHub hub, long accountId)
        {
            _hub = hub;
            AccountId = accountId;
        }

        public long AccountId { get; }

        public ChannelWriter<MailboxChange> Writer => _channel.Writer;

        public ChannelReader<MailboxChange> Changes => _channel.Reader;

        public void Dispose()
        {
            _hub.Remove(this);
            _channel.Writer.TryComplete();
        }
    }
}
