using System.Net;

namespace Postern.Security.Tests;

public sealed class ConnectionTrackerTests
{
    [Fact]
    public void Sessions_per_key_are_limited_and_freed_on_dispose()
    {
        var tracker = new ConnectionTracker();
        var client = IPAddress.Parse("2001:db8::1");

        Assert.True(tracker.TryOpen(client, 2, out var a));
        Assert.True(tracker.TryOpen(IPAddress.Parse("2001:db8::2"), 2, out var b));
        Assert.False(tracker.TryOpen(client, 2, out var none));
        Assert.Null(none);
        Assert.Equal("2001:db8::/64", tracker.KeyFor(client));

        a!.Dispose();
        a.Dispose(); // twice is harmless
        Assert.Equal(1, tracker.Count(tracker.KeyFor(client)));
        Assert.True(tracker.TryOpen(client, 2, out var c));
        b!.Dispose();
        c!.Dispose();
        Assert.Equal(0, tracker.Count(tracker.KeyFor(client)));

        for (var i = 0; i < 10; i++)
        {
            Assert.True(tracker.TryOpen("user@x.test", 0, out _));
        }
    }

    [Fact]
    public async Task Opening_and_closing_from_many_threads_keeps_the_count_exact()
    {
        var tracker = new ConnectionTracker();
        var opened = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                if (tracker.TryOpen("k", 5, out var lease))
                {
                    Interlocked.Increment(ref opened);
                    Assert.InRange(tracker.Count("k"), 1, 5);
                    lease!.Dispose();
                }
            }
        })));

        Assert.Equal(0, tracker.Count("k"));
        Assert.True(opened > 0);
    }
}
