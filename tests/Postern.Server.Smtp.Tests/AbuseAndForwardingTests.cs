using Postern.Delivery.Srs;
using Postern.Protocols.Smtp.Session;
using Postern.Security;

namespace Postern.Server.Smtp.Tests;

/// <summary>Brute-force protection, rate limits, SRS for forwards and the idle timeout, through the real server layer.</summary>
public sealed class AbuseAndForwardingTests
{
    private static SmtpSessionOptions Session => new() { Hostname = "mx.example.com" };

    private static SmtpPolicy Untrusted => new() { MxGreetingDelay = TimeSpan.Zero, TrustedNetworks = [] };

    [Fact]
    public async Task Repeated_failed_logins_lock_the_client_out_with_454_even_with_the_right_password()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, Untrusted, session: Session,
            configure: (h, s) => s with { AuthGuard = new AuthGuard(h.Storage.KeyValue, new AuthProtectionOptions { IpMaxFailures = 3, TarpitInitial = TimeSpan.Zero, TarpitMax = TimeSpan.Zero }) });
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        for (var i = 0; i < 3; i++)
        {
            var reply = await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0alice@example.com\0guess{i}")));
            Assert.StartsWith("535 5.7.8", reply, StringComparison.Ordinal);
        }

        Assert.StartsWith("454 4.7.0", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("\0alice@example.com\0alice-pw"u8.ToArray())), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failed_logins_are_answered_after_a_growing_delay()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, Untrusted, session: Session,
            configure: (h, s) => s with { AuthGuard = new AuthGuard(h.Storage.KeyValue, new AuthProtectionOptions { TarpitInitial = TimeSpan.FromMilliseconds(300), TarpitMax = TimeSpan.FromSeconds(2) }) });
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        var timer = System.Diagnostics.Stopwatch.StartNew();
        Assert.StartsWith("535", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("\0alice@example.com\0nope1"u8.ToArray())), StringComparison.Ordinal);
        Assert.True(timer.Elapsed >= TimeSpan.FromMilliseconds(250), timer.Elapsed.ToString());
    }

    [Fact]
    public async Task Messages_over_the_hourly_limit_of_a_client_get_450_4_7_1()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, Untrusted,
            configure: (h, s) => s with { RateLimits = new RateLimiter(h.Storage.KeyValue, new RateLimitOptions { MessagesPerIpPerHour = 2 }) });
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        for (var i = 0; i < 2; i++)
        {
            Assert.StartsWith("250 2.0.0", await client.SendMessageAsync("a@remote.test", ["alice@example.com"], "Subject: n\r\n\r\nx"), StringComparison.Ordinal);
        }

        Assert.StartsWith("450 4.7.1", await client.CommandAsync("MAIL FROM:<a@remote.test>"), StringComparison.Ordinal);
        Assert.Equal(2, (await server.InboxAsync("alice@example.com")).Count);
    }

    [Fact]
    public async Task Connections_over_the_per_minute_limit_get_421_instead_of_the_greeting()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, Untrusted,
            configure: (h, s) => s with { RateLimits = new RateLimiter(h.Storage.KeyValue, new RateLimitOptions { ConnectionsPerIpPerMinute = 2 }) });
        for (var i = 0; i < 2; i++)
        {
            await using var ok = await server.ConnectAsync();
        }

        await using var refused = await server.ConnectAsync(readGreeting: false);
        Assert.StartsWith("421 4.7.0", await refused.ReadReplyAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forwarded_mail_leaves_with_an_srs_sender_and_a_bounce_to_it_returns_to_the_original_sender()
    {
        SrsRewriter? srs = null;
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, configure: (h, s) =>
        {
            srs = new SrsRewriter(new SrsOptions { Domain = "mx.example.com" }, new SrsKeyRing(["test-secret"]));
            return s with { Srs = srs };
        });
        await server.AddStandardTenantsAsync();
        await server.Admin.SetForwardAsync("bob@example.com", ["bob@elsewhere.test"], keepCopy: true);
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        Assert.StartsWith("250 2.0.0", await client.SendMessageAsync("carol@origin.test", ["bob@example.com"], "Subject: fwd\r\n\r\nx"), StringComparison.Ordinal);

        var queued = Assert.Single(await server.QueuedAsync());
        Assert.StartsWith("SRS0=", queued.ReversePath, StringComparison.Ordinal);
        Assert.EndsWith("@mx.example.com", queued.ReversePath, StringComparison.Ordinal);
        Assert.Equal("bob@elsewhere.test", Assert.Single(queued.Recipients).Address);
        Assert.Single(await server.InboxAsync("bob@example.com"));

        // The downstream server bounces to the SRS address: we accept it (no AUTH) and send it to carol.
        var bounce = await client.SendMessageAsync(string.Empty, [queued.ReversePath], "Subject: Undelivered\r\n\r\nbounce");
        Assert.StartsWith("250 2.0.0", bounce, StringComparison.Ordinal);
        Assert.Contains(await server.QueuedAsync(), m => m.ReversePath.Length == 0 && m.Recipients.Any(r => r.Address == "carol@origin.test"));

        // A forged or damaged SRS address is not a way to relay.
        var forged = queued.ReversePath.Replace("SRS0=", "SRS0=ZZ", StringComparison.Ordinal);
        await client.CommandAsync("MAIL FROM:<>");
        Assert.StartsWith("550 5.1.1", await client.CommandAsync($"RCPT TO:<{forged}>"), StringComparison.Ordinal);
        Assert.StartsWith("550 5.1.1", await client.CommandAsync("RCPT TO:<SRS0=abcd=TT=victim.test=spam@mx.example.com>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silent_client_is_disconnected_with_421_4_4_2()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, new SmtpPolicy { MxGreetingDelay = TimeSpan.Zero, IdleTimeout = TimeSpan.FromSeconds(1) });
        await using var client = await server.ConnectAsync();
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.remote.test"), StringComparison.Ordinal);
        Assert.StartsWith("421 4.4.2", await client.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("(closed)", await client.ReadReplyAsync());
    }

    [Fact]
    public async Task A_busy_client_is_still_disconnected_at_the_session_time_limit()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, new SmtpPolicy
        {
            MxGreetingDelay = TimeSpan.Zero,
            IdleTimeout = TimeSpan.FromMinutes(5),
            MaxSessionTime = TimeSpan.FromSeconds(2),
        });
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.remote.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<sender@remote.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<alice@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await client.CommandAsync("DATA"), StringComparison.Ordinal);

        // Never silent for long (the idle timeout does not fire), but the message never ends.
        var replyTask = client.ReadReplyAsync();
        var started = DateTime.UtcNow;
        while (!replyTask.IsCompleted && DateTime.UtcNow - started < TimeSpan.FromSeconds(25))
        {
            try
            {
                await client.SendAsync("X-Trickle: one more line\r\n");
            }
            catch (IOException)
            {
                break;
            }

            await Task.WhenAny(replyTask, Task.Delay(200));
        }

        var reply = await replyTask;
        Assert.StartsWith("421 4.4.2", reply, StringComparison.Ordinal);
        Assert.Contains("session time limit", reply, StringComparison.Ordinal);
        Assert.Equal(0, await server.QueuedRecipientsAsync());
        Assert.Empty(await server.InboxAsync("alice@example.com"));
    }
}
