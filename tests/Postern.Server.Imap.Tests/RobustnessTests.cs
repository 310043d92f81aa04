using System.Net;
using System.Net.Sockets;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Server.Imap.Tests;

/// <summary>Random and damaged input: no exception escapes a session, no session hangs, the server keeps serving.</summary>
public sealed class RobustnessTests
{
    private static readonly string Script = string.Join("\r\n",
    [
        "a1 LOGIN alice@example.com alice-pw",
        "a2 SELECT INBOX (CONDSTORE)",
        "a3 APPEND INBOX (\\Seen $Kw) \"07-Dec-2026 10:00:00 +0000\" {40+}",
        "Subject: fuzz\r\nFrom: a@example.com\r\n\r\nbody1",
        "a4 FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[1]<0.10> BINARY[1] MODSEQ)",
        "a5 UID STORE 1:* +FLAGS.SILENT (\\Flagged)",
        "a6 STORE 1 (UNCHANGEDSINCE 1) -FLAGS (\\Seen)",
        "a7 COPY 1 Archive",
        "a8 UID MOVE 1 Trash",
        "a9 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\" \"%\") RETURN (CHILDREN STATUS (MESSAGES SIZE))",
        "b1 STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)",
        "b2 CREATE \"a/&AOk-/c\"",
        "b3 RENAME \"a/&AOk-/c\" x",
        "b4 ENABLE QRESYNC UTF8=ACCEPT",
        "b5 SELECT INBOX (QRESYNC (1 1 1:5))",
        "b6 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
        "b7 IDLE",
        "DONE",
        "b8 GETQUOTAROOT INBOX",
        "b9 EXPUNGE",
        "c1 NOOP",
        "",
    ]);

    [Fact]
    public async Task Mutated_sessions_never_crash_or_hang_the_server()
    {
        await using var server = new ImapServerHarness();
        await server.AddStandardTenantsAsync();
        var original = Encoding.UTF8.GetBytes(Script);
        var mutations = from count in Gen.Choose(1, 8)
                        from edits in Gen.ArrayOf(
                            from kind in Gen.Choose(0, 4)
                            from position in Gen.Choose(0, original.Length - 1)
                            from value in Gen.Choose(0, 255)
                            from length in Gen.Choose(1, 64)
                            select (kind, position, value, length), count)
                        select edits;
        var cases = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.ForAll(mutations.ToArbitrary(), edits =>
        {
            var input = Mutate(original, edits);
            RunAsync(server, input).GetAwaiter().GetResult();
            cases++;
            return server.Failures.IsEmpty;
        }));

        Assert.Empty(server.Failures);
        Assert.True(cases >= 60);
        await using var client = await server.LoginAsync();
        Assert.True((await client.CommandAsync("NOOP")).Ok);
    }

    [Fact]
    public async Task Random_bytes_before_login_get_answers_and_the_connection_ends()
    {
        await using var server = new ImapServerHarness();
        await server.AddStandardTenantsAsync();
        var bytes = Gen.ArrayOf(Gen.Frequency((6, Gen.Choose(0x20, 0x7E)), (1, Gen.Elements(13, 10, 0, 123, 125, 40, 41, 34, 255))).Select(b => (byte)b));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), Prop.ForAll(bytes.ToArbitrary(), input =>
        {
            RunAsync(server, input).GetAwaiter().GetResult();
            return server.Failures.IsEmpty;
        }));
        Assert.Empty(server.Failures);
    }

    private static byte[] Mutate(byte[] original, IEnumerable<(int Kind, int Position, int Value, int Length)> edits)
    {
        var data = new List<byte>(original);
        foreach (var (kind, position, value, length) in edits)
        {
            var p = Math.Min(position, Math.Max(0, data.Count - 1));
            switch (kind)
            {
                case 0 when data.Count > 0:
                    data[p] = (byte)value;
                    break;
                case 1:
                    data.InsertRange(p, Enumerable.Repeat((byte)value, length));
                    break;
                case 2:
                    data.RemoveRange(p, Math.Min(length, data.Count - p));
                    break;
                case 3:
                    data.InsertRange(p, data.Skip(p).Take(length).ToList());
                    break;
                default:
                    data.InsertRange(p, Encoding.ASCII.GetBytes("{" + (value * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture) + "}\r\n"));
                    break;
            }
        }

        return [.. data];
    }

    /// <summary>Sends the bytes, half-closes, and reads until the server closes; the server must close within the bound.</summary>
    private static async Task RunAsync(ImapServerHarness server, byte[] input)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
        var stream = tcp.GetStream();
        var reading = DrainAsync(stream);
        try
        {
            await stream.WriteAsync(input);
            tcp.Client.Shutdown(SocketShutdown.Send);
        }
        catch (IOException)
        {
            // The server may close first (too many errors): that is an answer too.
        }

        var finished = await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.True(finished == reading, "the session did not end after the client stopped sending");
    }

    private static async Task DrainAsync(Stream stream)
    {
        var buffer = new byte[8192];
        try
        {
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        }
        catch (IOException)
        {
        }
    }
}
