using System.Diagnostics;
using Postern.Primitives;

namespace Postern.Tenants.Tests;

/// <summary>The command line (its own store instance on the same files) changes the directory while the server resolves under load.</summary>
public sealed class CliBesideServerTests : IDisposable
{
    private readonly TestDirectory _d = new();

    public void Dispose() => _d.Dispose();

    [Fact]
    public async Task Accounts_added_beside_a_loaded_resolver_are_seen_within_a_second_without_lock_errors()
    {
        await _d.HostedDomainAsync();
        for (var i = 0; i < 50; i++)
        {
            await _d.Service.AddAccountAsync($"existing{i}@example.com", "pw", null, 0);
        }

        var server = new RecipientResolver(_d.Store, new RecipientResolverOptions { ChangePollInterval = TimeSpan.FromMilliseconds(250) });
        var cli = new DirectoryService(_d.OpenSecondInstance(), new TestHasher(), TestDirectory.Lenient);
        using var stop = new CancellationTokenSource();
        var errors = new List<Exception>();
        long resolved = 0;
        var load = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var r = await server.ResolveAsync(EmailAddress.Parse($"existing{random.Next(50)}@example.com"));
                    Assert.Equal(RecipientKind.Account, r.Kind);
                    Interlocked.Increment(ref resolved);
                }
                catch (Exception e)
                {
                    lock (errors)
                    {
                        errors.Add(e);
                    }
                }
            }
        })).ToList();

        for (var i = 0; i < 10; i++)
        {
            var address = EmailAddress.Parse($"new{i}@example.com");
            Assert.Equal(RecipientKind.Unknown, (await server.ResolveAsync(address)).Kind); // cached as a negative answer
            await cli.AddAccountAsync(address.ToString(), "pw", null, 0);
            var seen = Stopwatch.StartNew();
            while ((await server.ResolveAsync(address)).Kind != RecipientKind.Account)
            {
                Assert.True(seen.Elapsed < TimeSpan.FromSeconds(10), $"{address} not seen after {seen.Elapsed}");
                await Task.Delay(10);
            }
        }

        await stop.CancelAsync();
        await Task.WhenAll(load);
        Assert.Empty(errors);
        Assert.True(resolved > 0);
    }

    [Fact]
    public async Task The_cache_is_refreshed_once_the_poll_interval_has_passed_and_not_before()
    {
        await _d.HostedDomainAsync();
        var clock = new ManualClock();
        var server = new RecipientResolver(_d.Store, new RecipientResolverOptions { ChangePollInterval = TimeSpan.FromMilliseconds(250) }, clock);
        var address = EmailAddress.Parse("late@example.com");
        Assert.Equal(RecipientKind.Unknown, (await server.ResolveAsync(address)).Kind);

        await new DirectoryService(_d.OpenSecondInstance(), new TestHasher(), TestDirectory.Lenient).AddAccountAsync("late@example.com", "pw", null, 0);
        clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(RecipientKind.Unknown, (await server.ResolveAsync(address)).Kind); // still the cached negative answer
        clock.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(RecipientKind.Account, (await server.ResolveAsync(address)).Kind);
    }

    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1_000_000;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
