using System.Text;
using Postern.Protocols.Smtp.Client;

namespace Postern.Protocols.Smtp.Tests.Client;

internal static class ClientTestSupport
{
    public static SmtpClientOptions Options { get; } = new() { LocalHostname = "client.test" };

    public static SmtpMessageContent Content(string text, BodyType? body = null) =>
        SmtpMessageContent.FromBytes(Encoding.UTF8.GetBytes(text), body);

    public static SmtpEnvelope Envelope(params string[] recipients) =>
        new("sender@client.test", recipients.Select(r => new SmtpRecipient(r)).ToList());

    /// <summary>Greeting and EHLO, as every transaction test starts.</summary>
    public static async Task<SmtpClientSession> ReadyAsync(ScriptedSmtpServer server, SmtpClientOptions? options = null)
    {
        var session = await server.ConnectAsync(options ?? Options);
        await session.ReadGreetingAsync();
        await session.EhloAsync();
        return session;
    }
}

/// <summary>A stream that hands out at most a few bytes per read, so content crosses many read blocks.</summary>
internal sealed class TrickleStream(byte[] content, int step) : Stream
{
    private int _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = Math.Min(Math.Min(step, count), content.Length - _position);
        Array.Copy(content, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
