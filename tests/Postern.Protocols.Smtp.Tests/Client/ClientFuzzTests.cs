using System.Net.Security;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Protocols.Smtp.Client;
using static Postern.Protocols.Smtp.Tests.Client.ClientTestSupport;

namespace Postern.Protocols.Smtp.Tests.Client;

/// <summary>A whole client conversation against a peer that answers random bytes: only results or SmtpConnectionException come out.</summary>
public sealed class ClientFuzzTests
{
    [Fact]
    public void A_peer_answering_garbage_gets_results_or_connection_failures_never_other_exceptions_or_hangs()
    {
        var replies = Gen.Elements(
            "220 mx.test\r\n", "250-mx.test\r\n", "250-PIPELINING\r\n", "250-CHUNKING\r\n", "250-SIZE 10\r\n", "250-AUTH PLAIN LOGIN\r\n",
            "250-STARTTLS\r\n", "250-8BITMIME\r\n", "250 DSN\r\n", "250 ok\r\n", "354 go\r\n", "334 \r\n", "235 ok\r\n", "421 bye\r\n",
            "450 later\r\n", "550 5.1.1 no\r\n", "250-", "\r\n", "\n", "999 x\r\n", "250-a\r\n251 b\r\n");
        var noise = Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i)).Select(b => Encoding.Latin1.GetString(b));
        // Often a good start, so that the garbage also reaches the transaction, AUTH and STARTTLS.
        var start = Gen.Elements("", "220 mx.test\r\n250-mx.test\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250-DSN\r\n250 CHUNKING\r\n", "220 mx.test\r\n250 mx.test\r\n");
        var input = from prefix in start
                    from parts in Gen.ListOf(Gen.Frequency((6, replies), (1, noise)))
                    from chunk in Gen.Choose(1, 64)
                    from chunking in Gen.Elements(true, false)
                    select (Encoding.Latin1.GetBytes(prefix + string.Concat(parts)), chunk, chunking);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(input.ToArbitrary(), sample =>
        {
            var (bytes, chunk, chunking) = sample;
            var run = ConverseAsync(bytes, chunk, chunking);
            return run.Wait(TimeSpan.FromSeconds(20)) && run.Result;
        }));
    }

    private static async Task<bool> ConverseAsync(byte[] peer, int chunk, bool chunking)
    {
        var options = Options with { UseChunking = chunking, ChunkSize = 16, TlsHandshakeTimeout = TimeSpan.FromSeconds(5), MaxReplyLineLength = 256, MaxReplyLines = 10 };
        await using var session = new SmtpClientSession(new ReplayStream(peer, chunk), options);
        var steps = new Func<Task>[]
        {
            () => session.ReadGreetingAsync(),
            () => session.EhloAsync(),
            () => session.AuthenticateAsync("user", "password", allowPlaintext: true),
            () => session.SendAsync(Envelope("a@mx.test", "b@mx.test") with { EnvelopeId = "x" }, Content("Subject: x\r\n\r\n.body\r\n")),
            () => session.ProbeRecipientAsync("", "c@mx.test"),
            () => session.ResetAsync(),
            () => session.StartTlsAsync(new SslClientAuthenticationOptions { TargetHost = "mx.test", RemoteCertificateValidationCallback = (_, _, _, _) => true }),
            () => session.SendAsync(Envelope("d@mx.test"), Content("x")),
            () => session.QuitAsync(),
        };
        foreach (var step in steps)
        {
            try
            {
                await step();
            }
            catch (SmtpConnectionException) when (!session.IsUsable)
            {
                return true;
            }
        }

        return !session.IsUsable;
    }

    /// <summary>Plays the peer's bytes in reads of at most <paramref name="chunk"/> bytes, then EOF; writes vanish.</summary>
    private sealed class ReplayStream(byte[] peer, int chunk) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(chunk, count), peer.Length - _position);
            Array.Copy(peer, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
        }
    }
}
