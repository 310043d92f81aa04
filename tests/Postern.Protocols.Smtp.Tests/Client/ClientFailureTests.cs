using System.Diagnostics;
using Postern.Protocols.Smtp.Client;
using static Postern.Protocols.Smtp.Tests.Client.ClientTestSupport;

namespace Postern.Protocols.Smtp.Tests.Client;

/// <summary>Connection-level failures: one exception type, the stage named, the session unusable after.</summary>
public sealed class ClientFailureTests
{
    private static readonly SmtpClientOptions Short = Options with
    {
        GreetingTimeout = TimeSpan.FromMilliseconds(300),
        CommandTimeout = TimeSpan.FromMilliseconds(300),
        MailTimeout = TimeSpan.FromMilliseconds(300),
        RcptTimeout = TimeSpan.FromMilliseconds(300),
        DataInitiationTimeout = TimeSpan.FromMilliseconds(300),
        EndOfDataTimeout = TimeSpan.FromMilliseconds(300),
    };

    [Fact]
    public async Task A_greeting_that_never_comes_times_out_in_the_greeting_stage()
    {
        await using var server = ScriptedSmtpServer.Start(async peer => await peer.ClosedByClientAsync());
        var session = await server.ConnectAsync(Short);

        var watch = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.ReadGreetingAsync());
        watch.Stop();

        Assert.Equal(SmtpClientStage.Greeting, failure.Stage);
        Assert.Equal(SmtpConnectionFailure.Timeout, failure.Failure);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        Assert.False(session.IsUsable);
        var again = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.EhloAsync());
        Assert.Equal(SmtpConnectionFailure.SessionUnusable, again.Failure);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task A_silent_rcpt_times_out_in_the_rcpt_stage_with_the_partial_result()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync();
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ReplyAsync("250 ok");
            await peer.ExpectAsync("RCPT TO:");
            await peer.ClosedByClientAsync();
        });
        var session = await ReadyAsync(server, Short);

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.SendAsync(Envelope("a@mx.test"), Content("x\r\n")));
        await session.DisposeAsync();
        await server.CompletedAsync();

        Assert.Equal(SmtpClientStage.Rcpt, failure.Stage);
        Assert.Equal(SmtpConnectionFailure.Timeout, failure.Failure);
        Assert.Equal(250, failure.PartialResult!.MailReply!.Code);
        Assert.Equal(SmtpRecipientOutcome.Deferred, failure.PartialResult.Recipients[0].Outcome);
    }

    [Fact]
    public async Task No_reply_after_the_final_dot_times_out_in_the_end_of_data_stage()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING");
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ExpectAsync("RCPT TO:");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("250 ok", "250 ok", "354 go");
            await peer.ReadDataAsync();
            await peer.ClosedByClientAsync();
        });
        var session = await ReadyAsync(server, Short);

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.SendAsync(Envelope("a@mx.test"), Content("x\r\n")));
        await session.DisposeAsync();
        await server.CompletedAsync();

        Assert.Equal(SmtpClientStage.EndOfData, failure.Stage);
        Assert.Equal(SmtpConnectionFailure.Timeout, failure.Failure);
        Assert.True(failure.PartialResult!.ContentSent);
    }

    [Fact]
    public async Task The_connection_closing_in_the_middle_of_a_reply_is_a_connection_failure_in_that_stage()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync("220 mx.test");
            await peer.ExpectAsync("EHLO");
            await peer.SendAsync("250-mx.test\r\n250-PIPELINING\r\n250-SI");
            peer.Close();
        });
        var session = await server.ConnectAsync(Options);
        await session.ReadGreetingAsync();

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.EhloAsync());
        await server.CompletedAsync();

        Assert.Equal(SmtpClientStage.Ehlo, failure.Stage);
        Assert.Equal(SmtpConnectionFailure.ConnectionClosed, failure.Failure);
        Assert.Contains("middle of a reply", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hello there\r\n")]
    [InlineData("250-first\r\n251 second\r\n")]
    [InlineData("250x\r\n")]
    [InlineData("099 low\r\n")]
    public async Task A_malformed_reply_is_a_protocol_error_and_the_session_is_dropped(string reply)
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync("220 mx.test");
            await peer.ExpectAsync("EHLO");
            await peer.SendAsync(reply);
            await peer.ClosedByClientAsync();
        });
        var session = await server.ConnectAsync(Options);
        await session.ReadGreetingAsync();

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.EhloAsync());
        await session.DisposeAsync();
        await server.CompletedAsync();

        Assert.Equal(SmtpConnectionFailure.MalformedReply, failure.Failure);
        Assert.False(session.IsUsable);
    }

    [Fact]
    public async Task A_reply_line_over_the_limit_or_too_many_lines_is_refused_before_it_ends()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync("220 mx.test");
            await peer.ExpectAsync("EHLO");
            // Never a line end: a client without a limit would wait (and buffer) for ever.
            await peer.SendAsync("250-" + new string('x', 10_000));
            await peer.ClosedByClientAsync();
        });
        var session = await server.ConnectAsync(Options with { MaxReplyLineLength = 512 });
        await session.ReadGreetingAsync();

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.EhloAsync());
        await session.DisposeAsync();
        await server.CompletedAsync();
        Assert.Equal(SmtpConnectionFailure.MalformedReply, failure.Failure);
        Assert.Contains("longer than 512", failure.Message, StringComparison.Ordinal);

        await using var many = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync(Enumerable.Range(0, 50).Select(i => "220-line").Append("220 end").ToArray());
            await peer.ClosedByClientAsync();
        });
        var second = await many.ConnectAsync(Options with { MaxReplyLines = 20 });
        var tooMany = await Assert.ThrowsAsync<SmtpConnectionException>(() => second.ReadGreetingAsync());
        await second.DisposeAsync();
        await many.CompletedAsync();
        Assert.Equal(SmtpClientStage.Greeting, tooMany.Stage);
        Assert.Contains("more than 20 lines", tooMany.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_421_ends_the_transaction_deferred_and_the_session()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING");
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ExpectAsync("RCPT TO:");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("421 4.7.0 too busy, closing");
            peer.Close();
        });
        var session = await ReadyAsync(server);

        var result = await session.SendAsync(Envelope("a@mx.test"), Content("x\r\n"));
        await server.CompletedAsync();

        Assert.Equal(SmtpRecipientOutcome.Deferred, result.Recipients[0].Outcome);
        Assert.Equal(421, result.Recipients[0].Reply!.Code);
        Assert.False(result.ConnectionUsable);
        Assert.False(session.IsUsable);
        await session.QuitAsync();
    }

    [Fact]
    public async Task Quit_copes_with_a_peer_that_already_hung_up()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync();
            peer.Close();
        });
        var session = await ReadyAsync(server);
        await server.CompletedAsync();

        await session.QuitAsync();

        Assert.False(session.IsUsable);
    }

    [Fact]
    public async Task Cancellation_by_the_caller_is_not_a_timeout_but_ends_the_session()
    {
        await using var server = ScriptedSmtpServer.Start(async peer => await peer.ClosedByClientAsync());
        var session = await server.ConnectAsync(Options);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => session.ReadGreetingAsync(cts.Token));

        Assert.False(session.IsUsable);
        await session.DisposeAsync();
    }
}
