using System.Text;
using System.Text.Json;
using Postern.Host.Tests.Smtp;

namespace Postern.Host.Tests.Imap;

/// <summary>One message as a peer test compares it: its Message-ID, its flags and its bytes with LF line ends.</summary>
internal sealed record PeerMessage(string MessageId, string Flags, string Body, long Uid = 0);

/// <summary>Python imaplib helpers the IMAP peer tests share: the server's state as an independent client sees it.</summary>
internal static class ImapPeerScripts
{
    /// <summary>Prints every selectable folder with UID, FLAGS and BODY.PEEK[] of each message, as JSON.</summary>
    private const string DumpScript = """
import imaplib, sys, json, re, base64
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
typ, data = M.login(sys.argv[2], sys.argv[3])
assert typ == 'OK', data
result = {}
typ, lines = M.list()
assert typ == 'OK', lines
for line in lines:
    m = re.match(r'\((.*?)\) (?:"(?:[^"\\]|\\.)"|NIL) (.*)$', line.decode())
    assert m, line
    if '\\noselect' in m.group(1).lower() or '\\nonexistent' in m.group(1).lower():
        continue
    name = m.group(2)
    if name.startswith('"'):
        name = name[1:-1].replace('\\"', '"').replace('\\\\', '\\')
    typ, data = M.select('"' + name + '"', readonly=True)
    assert typ == 'OK', (name, data)
    messages = []
    if int(data[0]) > 0:
        typ, data = M.uid('FETCH', '1:*', '(UID FLAGS BODY.PEEK[])')
        assert typ == 'OK', data
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0].decode()
            uid = int(re.search(r'UID (\d+)', head).group(1))
            flags = re.search(r'FLAGS \((.*?)\)', head).group(1)
            messages.append({'uid': uid, 'flags': flags, 'body': base64.b64encode(item[1]).decode()})
    result[name] = messages
M.logout()
print(json.dumps(result))
""";

    /// <summary>Every selectable folder of <paramref name="user"/> and its messages, by folder name.</summary>
    public static async Task<Dictionary<string, List<PeerMessage>>> DumpAsync(PosternProcess server, string user, string password)
    {
        var (code, output) = await SmtpTestBed.PythonAsync(DumpScript, SmtpTestBed.Port(server, "imap"), user, password);
        Assert.True(code == 0, "imap dump failed: " + output);
        using var json = JsonDocument.Parse(output);
        var result = new Dictionary<string, List<PeerMessage>>(StringComparer.Ordinal);
        foreach (var folder in json.RootElement.EnumerateObject())
        {
            result[folder.Name] = [.. folder.Value.EnumerateArray().Select(m =>
            {
                var bytes = Convert.FromBase64String(m.GetProperty("body").GetString()!);
                var body = Encoding.UTF8.GetString(bytes).Replace("\r\n", "\n", StringComparison.Ordinal);
                return new PeerMessage(MessageIdOf(body), NormalizeFlags(m.GetProperty("flags").GetString()!), body, m.GetProperty("uid").GetInt64());
            })];
        }

        return result;
    }

    /// <summary>The flags as a sorted, space-separated list, without \Recent (which depends on who looked first).</summary>
    public static string NormalizeFlags(string flags) => string.Join(' ', flags
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)
        .Where(f => !f.Equals("\\Recent", StringComparison.OrdinalIgnoreCase))
        .Order(StringComparer.Ordinal));

    /// <summary>The Message-ID header's value, or "" when there is none.</summary>
    public static string MessageIdOf(string message)
    {
        foreach (var line in message.Split('\n'))
        {
            if (line.Length == 0)
            {
                break;
            }

            if (line.StartsWith("Message-ID:", StringComparison.OrdinalIgnoreCase))
            {
                return line["Message-ID:".Length..].Trim();
            }
        }

        return string.Empty;
    }
}
