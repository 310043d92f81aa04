using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Protocols.Smtp.Session;

namespace Postern.Protocols.Smtp.Tests.Session;

public sealed class SessionFuzzTests
{
    [Fact]
    public void Garbage_never_escapes_as_an_exception_and_every_reply_is_well_formed()
    {
        var fragments = Gen.Elements(
            "EHLO c.test\r\n", "MAIL FROM:<a@c.test>\r\n", "RCPT TO:<b@mx.test>\r\n", "DATA\r\n", "BDAT 3\r\n", "BDAT 2 LAST\r\n",
            "AUTH PLAIN\r\n", "AUTH LOGIN\r\n", "STARTTLS\r\n", "RSET\r\n", ".\r\n", "\r\n", "\n", "\r", ".", "*\r\n", "AGFsaWNlAHNlY3JldA==\r\n");
        var noise = Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i)).Select(b => Encoding.Latin1.GetString(b));
        var input = Gen.ListOf(Gen.OneOf(fragments, noise))
            .Select(parts => Encoding.Latin1.GetBytes(string.Concat(parts)));
        Check.QuickThrowOnFailure(Prop.ForAll(input.ToArbitrary(), Survives));
    }

    private static bool Survives(byte[] input) => SurvivesAsync(input).GetAwaiter().GetResult();

    private static async Task<bool> SurvivesAsync(byte[] input)
    {
        var options = new SmtpSessionOptions
        {
            Hostname = "mx.test",
            MaxMessageSize = 100,
            MaxLineLength = 64,
            StartTlsOffered = true,
            AuthOffered = true,
            AuthAllowedWithoutTls = true,
        };
        var client = new SmtpTestClient(options);
        await client.SendAsync(input);
        var reading = client.ReadAllAsync();
        await client.HangUpAsync();
        var lines = await reading;
        return lines.Count > 0
            && lines.All(l => l.Length >= 4 && l[..3].All(char.IsAsciiDigit) && l[3] is ' ' or '-')
            && lines[0].StartsWith("220 ", StringComparison.Ordinal);
    }
}
