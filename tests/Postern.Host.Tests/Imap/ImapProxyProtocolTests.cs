using Postern.Host.Tests.Smtp;

namespace Postern.Host.Tests.Imap;

/// <summary>The IMAP listeners behind a load balancer (<c>Listeners:imap:ProxyProtocolFrom</c>, as on SMTP): from a
/// trusted address a PROXY v1 or v2 header makes the session see the real client, for the plaintext-login rule and for
/// the brute-force guard; from anyone else the header is refused.</summary>
[Trait("Category", "EndToEnd")]
public sealed class ImapProxyProtocolTests : IAsyncLifetime
{
    private readonly SmtpTestBed _bed = new();

    public Task InitializeAsync() => _bed.SetUpDirectoryAsync();

    public Task DisposeAsync()
    {
        _bed.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Connections that act as HAProxy would (send-proxy / send-proxy-v2), and ones that must not.</summary>
    private const string Script = """
import socket, ssl, struct, sys, ipaddress, time
started = time.monotonic()
imap_port, imaps_port, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
transcript = []

def v1(src, dst='127.0.0.1', sport=40000, dport=143):
    family = 'TCP6' if ':' in src else 'TCP4'
    return f'PROXY {family} {src} {dst} {sport} {dport}\r\n'.encode()

def v2(src, dst, sport=40000, dport=993):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    body = s.packed + d.packed + struct.pack('!HH', sport, dport)
    family = 0x11 if s.version == 4 else 0x21
    return b'\r\n\r\n\x00\r\nQUIT\n' + bytes([0x21, family]) + struct.pack('!H', len(body)) + body

class Conn:
    def __init__(self, port, header=None, tls=False, source=None):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10, source_address=(source, 0) if source else None)
        if header is not None:
            self.sock.sendall(header)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock, server_hostname='mx.example.test')
        self.file = self.sock.makefile('rb')
        self.greeting = self.line()
    def line(self):
        l = self.file.readline().decode(errors='replace')
        transcript.append('S: ' + l.rstrip())
        return l
    def cmd(self, tag, text):
        transcript.append('C: ' + tag + ' ' + text)
        self.sock.sendall((tag + ' ' + text + '\r\n').encode())
        lines = []
        while True:
            l = self.line()
            if l == '':
                return lines + ['(closed)']
            lines.append(l.rstrip())
            if l.startswith(tag + ' '):
                return lines
    def closed_after(self, data):
        transcript.append('C: ' + repr(data))
        self.sock.sendall(data)
        try:
            rest = self.file.read()
        except ConnectionResetError:
            return True
        except TimeoutError:
            transcript.append('(still open after 10 s)')
            return False
        transcript.append('S: ' + repr(rest))
        return b' OK ' not in rest and b' BAD ' not in rest
    def close(self):
        self.sock.close()

def check(condition, what):
    if not condition:
        print('FAIL', what)
        print('\n'.join(transcript))
        sys.exit(1)
    print('ok', what, round(time.monotonic() - started, 1))

login = 'LOGIN alice@example.com ' + password

# v1 on the STARTTLS listener: the header's source decides the plaintext-login rule, not the proxy's loopback address.
c = Conn(imap_port, v1('198.51.100.7'))
check(c.greeting.startswith('* OK'), 'greeting after a PROXY v1 header')
caps = c.cmd('a', 'CAPABILITY')
check('LOGINDISABLED' in caps[0], 'a client at 198.51.100.7 (outside Imap:SecureNetworks) sees LOGINDISABLED without TLS')
check('PRIVACYREQUIRED' in c.cmd('b', login)[-1], 'and its plaintext LOGIN is refused')
c.close()
c = Conn(imap_port, v1('192.0.2.10'))
check('LOGINDISABLED' not in c.cmd('a', 'CAPABILITY')[0], 'a client at 192.0.2.10 (in Imap:SecureNetworks) may log in without TLS')
check(c.cmd('b', login)[-1].startswith('b OK'), 'and its LOGIN succeeds')
c.close()

# v2 on the implicit-TLS listener: the header comes first in plain text, then the TLS handshake.
for attempt in range(3):
    c = Conn(imaps_port, v2('203.0.113.5', '127.0.0.1'), tls=True)
    check('AUTHENTICATIONFAILED' in c.cmd('a', 'LOGIN alice@example.com wrong-password-' + str(attempt))[-1], f'wrong password {attempt + 1} from 203.0.113.5')
    c.close()
c = Conn(imaps_port, v2('203.0.113.5', '127.0.0.1'), tls=True)
check('UNAVAILABLE' in c.cmd('a', login)[-1], 'the brute-force guard now blocks 203.0.113.5, even with the right password')
c.close()
c = Conn(imaps_port, v2('203.0.113.6', '127.0.0.1'), tls=True)
check(c.cmd('a', login)[-1].startswith('a OK'), 'another client behind the same proxy (203.0.113.6) still logs in')
c.close()
c = Conn(imaps_port, v2('2001:db8::5', '::1'), tls=True)
check(c.cmd('a', login)[-1].startswith('a OK'), 'a PROXY v2 header with IPv6 addresses works too')
c.close()

# A trusted proxy must send the header: without one, no greeting and the connection is closed.
s = socket.create_connection(('127.0.0.1', imap_port), timeout=10)
s.sendall(b'a CAPABILITY\r\n')
data = s.makefile('rb').read()
transcript.append('S (no header from the proxy): ' + repr(data))
check(b'CAPABILITY' not in data, 'a trusted proxy that sends no PROXY header is not served')
s.close()

# From an address that is not a trusted proxy (127.0.0.2), a PROXY header is refused: the connection is closed.
c = Conn(imap_port, source='127.0.0.2')
check(c.greeting.startswith('* OK'), 'a direct client from 127.0.0.2 gets the greeting at once')
check(c.closed_after(v1('192.0.2.10')), 'and a PROXY v1 header from it closes the connection')
c = Conn(imap_port, source='127.0.0.2')
check(c.closed_after(v2('192.0.2.10', '127.0.0.1')), 'so does a PROXY v2 header')
c = Conn(imap_port, source='127.0.0.2')
check(c.cmd('a', login)[-1].startswith('a OK'), 'without a header that client is served as itself (loopback: plaintext login allowed)')
c.close()
print('proxy OK')
""";

    [Fact]
    public async Task PROXY_v1_and_v2_from_a_trusted_balancer_give_the_session_the_client_address_and_are_refused_from_anyone_else()
    {
        var server = await _bed.StartServerAsync(
            "--set", "Listeners:imap:ProxyProtocolFrom:0=127.0.0.1/32",
            "--set", "Listeners:imaps:ProxyProtocolFrom:0=127.0.0.1/32",
            "--set", "Imap:SecureNetworks:0=192.0.2.0/24",
            "--set", "Security:AuthMaxFailuresPerIp=3");
        var (code, output) = await SmtpTestBed.PythonAsync(Script, SmtpTestBed.Port(server, "imap"), SmtpTestBed.Port(server, "imaps"), SmtpTestBed.AlicePassword);
        Assert.True(code == 0, output + "\n" + server.Stdout + server.Stderr);
        Assert.Contains("proxy OK", output, StringComparison.Ordinal);
        var log = server.Stdout + server.Stderr;
        Assert.Contains("on imap PROXY header from untrusted peer 127.0.0.2", log, StringComparison.Ordinal);
        Assert.Contains("on imap Invalid or missing PROXY header from trusted peer 127.0.0.1", log, StringComparison.Ordinal);
        await SmtpTestBed.StopAsync(server);
    }
}
