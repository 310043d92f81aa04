namespace Postern.Host.Tests.Smtp;

/// <summary>LMTP on a Unix socket, as an MTA on the same machine uses it (Python's smtplib.LMTP takes a socket path).</summary>
[Trait("Category", "EndToEnd")]
public sealed class LmtpUnixSocketTests : IDisposable
{
    private readonly SmtpTestBed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Python_lmtp_over_a_unix_socket_delivers_with_one_reply_per_recipient_and_the_socket_goes_away_at_stop()
    {
        await _bed.SetUpDirectoryAsync();
        // Short and absolute: a Unix socket address holds at most 107 bytes of path.
        var socket = Path.Combine("/tmp", "postern-lmtp-" + Guid.NewGuid().ToString("N")[..8] + ".sock");
        var server = await _bed.StartServerAsync("--set", "Listeners:lmtp:UnixSocket=" + socket);
        Assert.True(File.Exists(socket));
        const string script = """
            import smtplib, sys
            s = smtplib.LMTP(sys.argv[1])
            s.ehlo("mta.example.test")
            s.mail("sender@remote.test")
            print("rcpt", s.rcpt("alice@example.com")[0], s.rcpt("ghost@example.com")[0], s.rcpt("bob@example.com")[0])
            s.putcmd("DATA"); print("data", s.getreply()[0])
            s.send(b"Subject: over a unix socket\r\n\r\nhello\r\n.\r\n")
            print("replies", s.getreply()[0], s.getreply()[0])
            s.quit()
            """;
        var (code, output) = await SmtpTestBed.PythonAsync(script, socket);
        Assert.True(code == 0, output);
        Assert.Contains("rcpt 250 550 250", output, StringComparison.Ordinal);
        Assert.Contains("replies 250 250", output, StringComparison.Ordinal);
        await SmtpTestBed.StopAsync(server);
        Assert.False(File.Exists(socket));
        var inbox = Assert.Single(await _bed.InboxAsync("alice@example.com"));
        Assert.Contains("with LMTP id ", inbox, StringComparison.Ordinal);
        Assert.Single(await _bed.InboxAsync("bob@example.com"));
    }
}
